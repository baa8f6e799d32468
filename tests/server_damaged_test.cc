// tldb-server (the binary) with a damaged namespace (issue #16): bytes inserted into the active
// segment of "store" before its durable point. The server starts, the other namespaces serve,
// every request to "store" answers CORRUPTION naming the namespace and the file, STATS and the
// log say so; `tldb repair` (server stopped) removes the inserted bytes and everything is
// served again.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/server_process.h"
#include "common/temp_dir.h"
#include "log/record_format.h"
#include "server_test_util.h"
#include "util/coding.h"

namespace tldb::testing {
namespace {

namespace stdfs = std::filesystem;

// A tldb-server process (tools/common) with one loop thread; its stderr is appended to `log`.
class ServerProcess {
 public:
  ServerProcess(const std::string& dir, const std::string& log)
      : process_(common::ServerProcessOptions{.binary = TLDB_SERVER_PATH,
                                              .data_dir = dir,
                                              .extra_args = {"--threads", "1"},
                                              .log_path = log}) {
    started_ = process_.Start();
  }
  // Empty when the server did not start.
  std::string address() const { return started_.ok() ? process_.address() : std::string(); }
  // SIGTERM; the exit status.
  int Stop() {
    auto code = process_.Stop(30'000);
    return code.ok() ? *code : -1;
  }
  std::unique_ptr<Client> Connect() {
    ClientOptions o;
    o.server = address();
    o.request_timeout_ms = 10'000;
    auto c = Client::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }

 private:
  common::ServerProcess process_;
  Status started_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// The active segment of a namespace: the highest-numbered .seg without an index.
std::string ActiveSegment(const std::string& ns_dir) {
  std::string best;
  for (const auto& e : stdfs::directory_iterator(ns_dir)) {
    const std::string p = e.path().string();
    if (e.path().extension() != ".seg") continue;
    if (stdfs::exists(stdfs::path(p).replace_extension(".idx"))) continue;
    if (p > best) best = p;
  }
  return best;
}

TEST(ServerDamagedTest, DamagedNamespaceIsRefusedWhileTheOthersServe) {
  common::TempDir dir;
  const std::string log = dir.path() + "/server.log", data = dir.path() + "/data";
  constexpr int kN = 100;
  {
    ServerProcess server(data, log);
    ASSERT_FALSE(server.address().empty()) << ReadFile(log);
    auto c = server.Connect();
    ASSERT_TRUE(c);
    for (int i = 1; i <= kN; ++i) {
      ASSERT_TRUE(c->Append("store", "conv:1", "message " + std::to_string(i)).ok());
    }
    ASSERT_TRUE(c->Append("sync", "device:1", "still here").ok());
    c.reset();
    ASSERT_EQ(server.Stop(), 0) << ReadFile(log);
  }
  // 37 bytes inserted inside the 41st record of store's active segment.
  const std::string seg = ActiveSegment(data + "/ns/store");
  ASSERT_FALSE(seg.empty());
  std::string image = ReadFile(seg);
  uint64_t off = format::kSegmentHeaderBytes;
  for (int i = 0; i < 40; ++i) off += DecodeFixed32(image.data() + off + format::kOffLength);
  image.insert(off + 9, std::string(37, '\x5c'));
  {
    std::ofstream out(seg, std::ios::binary | std::ios::trunc);
    out << image;
  }

  {
    ServerProcess server(data, log);
    ASSERT_FALSE(server.address().empty()) << "the server did not start:\n" << ReadFile(log);
    auto c = server.Connect();
    ASSERT_TRUE(c);
    auto other = c->Get("sync", "device:1", 1);
    ASSERT_TRUE(other.ok()) << other.status().ToString();
    EXPECT_EQ(other->payload, "still here");
    EXPECT_TRUE(c->Append("sync", "device:1", "and writable").ok());
    auto get = c->Get("store", "conv:1", 1);
    ASSERT_FALSE(get.ok());
    EXPECT_TRUE(get.status().IsCorruption()) << get.status().ToString();
    EXPECT_NE(get.status().message().find("namespace 'store'"), std::string::npos)
        << get.status().ToString();
    EXPECT_NE(get.status().message().find(stdfs::path(seg).filename().string() + " offset " +
                                          std::to_string(off)),
              std::string::npos)
        << get.status().ToString();
    auto append = c->Append("store", "conv:1", "lost?");
    ASSERT_FALSE(append.ok());
    EXPECT_TRUE(append.status().IsCorruption()) << append.status().ToString();
    auto stats = c->Stats();
    ASSERT_TRUE(stats.ok()) << stats.status().ToString();
    EXPECT_EQ(stats->Get("db_namespaces_refused"), 1u);
    EXPECT_EQ(stats->Get("namespace_refused:store"), 1u);
    c.reset();
    EXPECT_EQ(server.Stop(), 0);
    EXPECT_NE(ReadFile(log).find("namespace store refused"), std::string::npos) << ReadFile(log);
  }

  // Repaired offline (server stopped): every message is back.
  const std::string repair = std::string(TLDB_CLI_PATH) + " repair " + data + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(repair.c_str()), 0);
  ServerProcess server(data, log);
  ASSERT_FALSE(server.address().empty()) << ReadFile(log);
  auto c = server.Connect();
  ASSERT_TRUE(c);
  for (int i = 1; i <= kN; ++i) {
    auto m = c->Get("store", "conv:1", static_cast<Seq>(i));
    ASSERT_TRUE(m.ok()) << i << ": " << m.status().ToString();
    EXPECT_EQ(m->payload, "message " + std::to_string(i));
  }
  auto stats = c->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->Get("db_namespaces_refused"), 0u);
}

}  // namespace
}  // namespace tldb::testing
