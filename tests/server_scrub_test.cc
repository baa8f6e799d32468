// tldb-server (the binary) and the background scrub (docs/design.md "Scrubbing"): a bit flipped
// at rest in a sealed segment is found by the scrub the server runs from its start, the log says
// where in verify's words, STATS counts it, and a GET that needs the segment answers CORRUPTION
// naming the file and offset while the namespace's other segments serve.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "common/server_process.h"
#include "common/temp_dir.h"
#include "log/record_format.h"
#include "server_test_util.h"

namespace tldb::testing {
namespace {

namespace stdfs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

struct Server {
  explicit Server(const std::string& dir, const std::string& log)
      : process(common::ServerProcessOptions{
            .binary = TLDB_SERVER_PATH,
            .data_dir = dir,
            // The scrub's flags, so that a flag
            // that does not reach the engine fails this.
            .extra_args = {"--threads", "1", "--scrub-period-h", "1", "--scrub-mb-per-s", "64"},
            .log_path = log}) {
    started = process.Start();
  }
  std::unique_ptr<Client> Connect() {
    ClientOptions o;
    o.server = process.address();
    o.request_timeout_ms = 10'000;
    auto c = Client::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  common::ServerProcess process;
  Status started;
};

TEST(ServerScrubTest, DamageAtRestIsFoundAndItsSegmentAnswersCorruption) {
  common::TempDir dir;
  const std::string log = dir.path() + "/server.log", data = dir.path() + "/data";
  const std::string payload(1000, 'm');
  {
    Server server(data, log);
    ASSERT_TRUE(server.started.ok()) << ReadFile(log);
    auto c = server.Connect();
    ASSERT_TRUE(c);
    NamespaceOptions n;
    n.segment_bytes_max = 64 << 10;
    n.ttl_ms = 10ull * 365 * 24 * 3600 * 1000;  // fully live: background compaction leaves it
    ASSERT_TRUE(c->CreateNamespace("chat", n).ok());
    for (int i = 0; i < 200; ++i) ASSERT_TRUE(c->Append("chat", "conv:1", payload).ok());
    c.reset();
    ASSERT_EQ(*server.process.Stop(30'000), 0) << ReadFile(log);
  }
  const std::string ns_dir = data + "/ns/chat";
  const std::string seg = ns_dir + "/0000000000000001.seg";
  ASSERT_TRUE(stdfs::exists(ns_dir + "/0000000000000001.idx"));
  {  // one bit of the first record's payload (conv:1 seq 1) flips at rest
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(format::kSegmentHeaderBytes + 600);
    char b = 0;
    f.get(b);
    f.seekp(format::kSegmentHeaderBytes + 600);
    f.put(static_cast<char>(b ^ 0x04));
  }
  // The first run's pass is over and the next one is due a week later: without its SCRUB file
  // the namespace starts a new pass at once (docs/format.md "Scrub position").
  stdfs::remove(ns_dir + "/SCRUB");

  Server server(data, log);
  ASSERT_TRUE(server.started.ok()) << ReadFile(log);
  auto c = server.Connect();
  ASSERT_TRUE(c);
  uint64_t quarantined = 0;
  for (int i = 0; i < 600 && quarantined == 0; ++i) {  // waits on the event, bounded generously
    auto st = c->Stats();
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    quarantined = st->Get("db_scrub_segments_quarantined");
    if (quarantined == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(quarantined, 1u) << ReadFile(log);
  auto st = c->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_GE(st->Get("db_scrub_damaged_segments"), 1u);
  EXPECT_GE(st->Get("db_scrub_segments_verified"), 1u);
  // seq 2 is intact but lives in the quarantined segment.
  auto get = c->Get("chat", "conv:1", 2);
  ASSERT_FALSE(get.ok());
  EXPECT_TRUE(get.status().IsCorruption()) << get.status().ToString();
  EXPECT_NE(get.status().message().find("0000000000000001.seg offset 64"), std::string::npos)
      << get.status().ToString();
  auto last = c->Get("chat", "conv:1", 200);  // in a later segment
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ(last->payload, payload);
  c.reset();
  EXPECT_EQ(*server.process.Stop(30'000), 0);
  EXPECT_NE(ReadFile(log).find("scrub: error: " + seg + " offset 64: sealed segment damaged"),
            std::string::npos)
      << ReadFile(log);
}

// Bad values of the scrub's flags (and of --background-compaction, a bool,
// --compaction-mb-per-s, --background-writeback-mb-per-s and --groups-in-flight) are refused
// with a message naming the flag.
TEST(ServerScrubTest, BadScrubFlagsAreRefused) {
  for (const std::string bad :
       {"--scrub-mb-per-s 0", "--scrub-period-h -1", "--background-compaction maybe",
        "--compaction-mb-per-s -1", "--compaction-mb-per-s 99999",
        "--background-writeback-mb-per-s -1", "--background-writeback-mb-per-s 99999",
        "--groups-in-flight 0", "--groups-in-flight 17"}) {
    int rc = 0;
    const std::string out =
        RunShell(std::string(TLDB_SERVER_PATH) + " --data-dir /nonexistent " + bad + " 2>&1", &rc);
    EXPECT_NE(rc, 0) << bad;
    EXPECT_NE(out.find(bad.substr(0, bad.find(' '))), std::string::npos) << bad << ": " << out;
  }
}

}  // namespace
}  // namespace tldb::testing
