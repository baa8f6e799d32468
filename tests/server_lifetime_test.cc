// Regression (found by the session fuzzer, tests/fuzz/session_target.cc): an append whose
// engine completion arrives after the Server was stopped and destroyed must not touch freed
// server memory. The client here closes its connection while the append is in flight, so
// Stop() does not wait for it; the engine then completes it. Before the fix the completion
// called Loop::Post on a freed Loop (heap-use-after-free, reported by the ASan+UBSan build:
// `BUILD_DIR=build-asan bash tools/test.sh -DTLDB_SANITIZE=ON`). A normal build runs the same
// sequence but cannot observe the use-after-free itself.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "io/sim_file_system.h"
#include "protocol/frame.h"
#include "protocol/messages.h"
#include "tldb/db.h"
#include "tldb/server.h"
#include "util/forwarding_db.h"

namespace tldb {
namespace {

// Forwards to a real Db but keeps async append / fan-out callbacks until Release() (an engine
// that has not finished the group commit yet).
class HoldingDb : public testing::ForwardingDb {
 public:
  using ForwardingDb::ForwardingDb;
  void AppendAsync(std::string_view, std::string_view, std::string_view, const AppendOptions&,
                   AppendCallback done) override {
    std::lock_guard l(mu_);
    held_appends_.push_back(std::move(done));
  }
  void AppendFanoutAsync(std::string_view, std::span<const std::string_view>, std::string_view,
                         const AppendOptions&, FanoutCallback done) override {
    std::lock_guard l(mu_);
    held_fanouts_.push_back(std::move(done));
  }

  size_t held() {
    std::lock_guard l(mu_);
    return held_appends_.size() + held_fanouts_.size();
  }
  // Completes every held request (as the engine's committer thread would), then drops the
  // callbacks.
  void Release() {
    std::vector<AppendCallback> a;
    std::vector<FanoutCallback> f;
    {
      std::lock_guard l(mu_);
      a.swap(held_appends_);
      f.swap(held_fanouts_);
    }
    std::thread engine([&] {
      for (auto& cb : a) cb(AppendResult{1, 1'700'000'000'000, false});
      for (auto& cb : f) cb(std::vector<AppendResult>{{1, 1'700'000'000'000, false}});
      a.clear();
      f.clear();
    });
    engine.join();
  }

 private:
  std::mutex mu_;
  std::vector<AppendCallback> held_appends_;
  std::vector<FanoutCallback> held_fanouts_;
};

std::string Frame(proto::Op op, uint64_t id, const auto& request) {
  std::string body;
  proto::WireWriter w(&body);
  proto::Encode(request, w);
  return proto::EncodeFrame(static_cast<uint8_t>(op), 0, id, body);
}

TEST(ServerLifetimeTest, CompletionAfterTheServerIsGoneTouchesNothingFreed) {
  Options o;
  o.file_system = std::make_shared<SimFileSystem>();
  o.prezero = Options::Prezero::kInline;
  auto real = Db::Open("/db", o);
  ASSERT_TRUE(real.ok());
  HoldingDb db(std::move(real).value());
  ASSERT_TRUE(db.CreateNamespace("store", {}).ok());
  ServerConfig cfg;
  cfg.listen = "127.0.0.1:0";
  cfg.threads = 1;
  cfg.log = [](std::string_view) {};
  auto server = Server::Start(&db, cfg);
  ASSERT_TRUE(server.ok()) << server.status().ToString();

  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons((*server)->port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const std::vector<std::string_view> group = {"g1", "g2"};
  const std::string session =
      Frame(proto::Op::kHello, 1, proto::HelloRequest{proto::kVersion, "test", ""}) +
      Frame(proto::Op::kAppend, 2,
            proto::AppendRequest{"store", "t", "", false, 0, Durability::kSync, "in flight"}) +
      Frame(proto::Op::kAppendFanout, 3,
            proto::AppendFanoutRequest{"store", group, "", Durability::kSync, "fan"});
  ASSERT_EQ(::send(fd, session.data(), session.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(session.size()));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (db.held() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(db.held(), 2u);
  ::close(fd);  // the client goes away: Stop() has nothing of this connection to drain
  (*server)->Stop();
  server.value().reset();
  db.Release();  // the engine finishes the group commit after the server is gone
  EXPECT_TRUE(db.Close().ok());
}

}  // namespace
}  // namespace tldb
