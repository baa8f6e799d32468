// SocketSends (tldb/socket_sends.h): the sends of one event-loop iteration, through io_uring
// or one send() each. Each test runs on both backends.
#include "tldb/socket_sends.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>
#include <vector>

namespace tldb {
namespace {

struct SocketPair {
  int mine = -1;  // the side SocketSends sends on
  int peer = -1;
  SocketPair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0) << errno;
    mine = fds[0];
    peer = fds[1];
  }
  ~SocketPair() {
    if (mine >= 0) ::close(mine);
    if (peer >= 0) ::close(peer);
  }
  SocketPair(const SocketPair&) = delete;
  SocketPair& operator=(const SocketPair&) = delete;
  // Everything the peer can read now.
  std::string Drain() const {
    std::string got;
    char buf[65536];
    for (ssize_t n; (n = ::recv(peer, buf, sizeof buf, MSG_DONTWAIT)) > 0;) got.append(buf, n);
    return got;
  }
};

class SocketSendsTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<SocketSends> Open() {
    auto s = SocketSends::Open(GetParam());
    if (!s.ok()) {
      // Only the io_uring backend may be refused, and only as unsupported by the kernel.
      EXPECT_EQ(GetParam(), "uring") << s.status().ToString();
      EXPECT_EQ(s.status().code(), Status::Code::kNotSupported) << s.status().ToString();
      return nullptr;
    }
    EXPECT_EQ((*s)->Name(), GetParam());
    return std::move(s).value();
  }
};

// More sockets than one submission carries: every item reaches its own socket, whole, and
// its result is its size.
TEST_P(SocketSendsTest, EachItemReachesItsSocket) {
  auto sends = Open();
  if (!sends) GTEST_SKIP() << "io_uring refused by this kernel";
  constexpr size_t kSockets = SocketSends::kSendsPerSubmitMax + 45;
  std::vector<std::unique_ptr<SocketPair>> pairs;
  std::vector<std::string> payloads;
  std::vector<SocketSends::Item> items;
  for (size_t i = 0; i < kSockets; ++i) {
    pairs.push_back(std::make_unique<SocketPair>());
    payloads.push_back("answer " + std::to_string(i) + std::string(i % 97, 'x'));
  }
  for (size_t i = 0; i < kSockets; ++i) {
    items.push_back({pairs[i]->mine, payloads[i].data(), payloads[i].size(), -1});
  }
  sends->Send(items);
  for (size_t i = 0; i < kSockets; ++i) {
    EXPECT_EQ(items[i].result, static_cast<int64_t>(payloads[i].size())) << i;
    EXPECT_EQ(pairs[i]->Drain(), payloads[i]) << i;
  }
  sends->Send({});  // nothing to send: returns at once
}

// A socket whose buffer fills takes part of an item (a short send), then reports EAGAIN
// instead of blocking; the bytes taken are the item's first ones.
TEST_P(SocketSendsTest, AFullSocketTakesPartThenSaysAgain) {
  auto sends = Open();
  if (!sends) GTEST_SKIP() << "io_uring refused by this kernel";
  SocketPair p;
  const int small = 4096;
  ASSERT_EQ(::setsockopt(p.mine, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  std::string big(4u << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  SocketSends::Item item{p.mine, big.data(), big.size(), 0};
  sends->Send({&item, 1});
  ASSERT_GT(item.result, 0);
  ASSERT_LT(item.result, static_cast<int64_t>(big.size()));
  const size_t taken = static_cast<size_t>(item.result);
  SocketSends::Item rest{p.mine, big.data() + taken, big.size() - taken, 0};
  sends->Send({&rest, 1});
  EXPECT_EQ(rest.result, -EAGAIN);
  EXPECT_EQ(p.Drain(), big.substr(0, taken));
}

// A closed peer is an error result (EPIPE), not a SIGPIPE that would end the process, and the
// other items of the same call are sent.
TEST_P(SocketSendsTest, AClosedPeerIsAnErrorOfItsItemOnly) {
  auto sends = Open();
  if (!sends) GTEST_SKIP() << "io_uring refused by this kernel";
  SocketPair gone;
  SocketPair fine;
  ::close(gone.peer);
  gone.peer = -1;
  std::string a = "to a closed peer";
  std::string b = "to a reading peer";
  std::vector<SocketSends::Item> items = {{gone.mine, a.data(), a.size(), 0},
                                          {fine.mine, b.data(), b.size(), 0}};
  sends->Send(items);
  EXPECT_EQ(items[0].result, -EPIPE);
  EXPECT_EQ(items[1].result, static_cast<int64_t>(b.size()));
  EXPECT_EQ(fine.Drain(), b);
}

INSTANTIATE_TEST_SUITE_P(Backends, SocketSendsTest, ::testing::Values("uring", "posix"),
                         [](const auto& info) { return info.param; });

TEST(SocketSendsOpenTest, AutoPicksABackendAndAnUnknownOneIsRefused) {
  auto a = SocketSends::Open("auto");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE((*a)->Name() == "uring" || (*a)->Name() == "posix");
  auto bad = SocketSends::Open("epoll");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("expected auto, uring or posix"), std::string::npos);
}

}  // namespace
}  // namespace tldb
