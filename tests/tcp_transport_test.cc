// The replicas' TCP transport (docs/replication.md "Message encoding", "Peer TLS"): messages
// arrive whole and in order over plain TCP and over mutual TLS, and with TLS nothing arrives
// from a peer whose certificate another CA signed, from a plain-text peer, or at a peer whose
// certificate does not name the address it was dialled at.
#include "replication/tcp_transport.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "util/test_pki.h"

namespace tldb::repl {
namespace {

using testing::TestPki;

class PeerPki : public TestPki {
 public:
  PeerPki() {
    MakeCa("ca");
    MakeCa("other-ca");
    MakeCert("a", "ca", "replica-a", "1", testing::kPeerCertExt);
    MakeCert("b", "ca", "replica-b", "1", testing::kPeerCertExt);
    MakeCert("stranger", "other-ca", "replica-x", "1", testing::kPeerCertExt);
    // Signed by the right CA, but for another host than 127.0.0.1.
    MakeCert("elsewhere", "ca", "replica-e", "1",
             "subjectAltName=DNS:elsewhere.example\nextendedKeyUsage=serverAuth,clientAuth\n");
  }
};

// One node: its transport and what it received.
struct Node {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> got;
  std::string peer_address;  // where node 1 (the other one) listens
  std::unique_ptr<TcpTransport> transport;

  // `cert` empty: plain TCP.
  void Start(const PeerPki& pki, const std::string& cert) {
    TcpTransport::Options o;
    o.listen = "127.0.0.1:0";
    o.on_message = [this](std::string bytes) {
      std::lock_guard l(mu);
      got.push_back(std::move(bytes));
      cv.notify_all();
    };
    o.address_of = [this](uint32_t) { return peer_address; };
    if (!cert.empty()) {
      ASSERT_TRUE(TcpTransport::LoadTls(pki.pem(cert), pki.key(cert), pki.pem("ca"), &o).ok());
    }
    auto t = TcpTransport::Start(std::move(o));
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    transport = std::move(t).value();
  }
  // Waits up to `ms` for `n` messages; returns what arrived.
  std::vector<std::string> Wait(size_t n, int ms) {
    std::unique_lock l(mu);
    cv.wait_for(l, std::chrono::milliseconds(ms), [&] { return got.size() >= n; });
    return got;
  }
};

std::vector<std::string> Messages() {
  return {"first", std::string(3 << 20, 'x'), "", std::string(100, '\0'), "last"};
}

// Node `from` (with `from_cert`) sends Messages() to node `to` (with `to_cert`): what `to` got
// within `wait_ms` (the sender retries while it cannot connect; the protocol above resends).
std::vector<std::string> Deliver(const PeerPki& pki, const std::string& from_cert,
                                 const std::string& to_cert, int wait_ms) {
  Node to, from;
  to.Start(pki, to_cert);
  from.Start(pki, from_cert);
  from.peer_address = to.transport->listen_address();
  for (const std::string& m : Messages()) from.transport->Send(0, 1, m);
  return to.Wait(Messages().size(), wait_ms);
}

class TcpTransportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new PeerPki(); }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }
  static PeerPki* pki_;
};
PeerPki* TcpTransportTest::pki_ = nullptr;

TEST_F(TcpTransportTest, MessagesArriveWholeAndInOrderOverPlainTcp) {
  EXPECT_EQ(Deliver(*pki_, "", "", 30'000), Messages());
}

TEST_F(TcpTransportTest, MessagesArriveWholeAndInOrderOverMutualTls) {
  EXPECT_EQ(Deliver(*pki_, "a", "b", 30'000), Messages());
}

TEST_F(TcpTransportTest, NothingArrivesFromOrAtAPeerThatFailsTheChecks) {
  // A peer whose certificate another CA signed: refused by the receiver (and it refuses the
  // receiver's certificate too).
  EXPECT_TRUE(Deliver(*pki_, "stranger", "b", 1'500).empty());
  // A plain-text peer at a TLS port, and a TLS peer at a plain port.
  EXPECT_TRUE(Deliver(*pki_, "", "b", 1'500).empty());
  EXPECT_TRUE(Deliver(*pki_, "a", "", 1'500).empty());
  // The receiver's certificate does not name 127.0.0.1, where it was dialled.
  EXPECT_TRUE(Deliver(*pki_, "a", "elsewhere", 1'500).empty());
  // And the good pair still works after all that.
  EXPECT_EQ(Deliver(*pki_, "a", "b", 30'000), Messages());
}

TEST_F(TcpTransportTest, TlsNeedsACertificateItsKeyAndTheCa) {
  TcpTransport::Options o;
  EXPECT_EQ(TcpTransport::LoadTls(pki_->pem("a"), pki_->key("a"), "", &o).code(),
            Status::Code::kInvalidArgument);
  EXPECT_FALSE(TcpTransport::LoadTls(pki_->pem("a"), pki_->key("b"), pki_->pem("ca"), &o).ok())
      << "a key that is not the certificate's";
}

}  // namespace
}  // namespace tldb::repl
