// TLS between tldb-server and its clients: a round trip through TLS (append, get, scan,
// subscribe, pipelined and large frames), mutual TLS, and the failures each client must see
// clearly (unknown CA, expired certificate, wrong name, missing or foreign client certificate,
// a plain-text client on a TLS port, a TLS client on a plain port, a stalled handshake) while
// the server goes on serving everyone else. The certificates are made at run time with the
// openssl command, in a temporary directory.
#include <sys/wait.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <thread>

#include "server_test_util.h"
#include "tls/tls_context.h"
#include "tls/tls_session.h"
#include "util/test_pki.h"

namespace tldb::testing {
namespace {

using namespace std::chrono_literals;

// A CA with a server certificate (127.0.0.1 and localhost) and a client certificate, an
// expired server certificate from the same CA, and a second CA nobody trusts with a server
// and a client certificate of its own.
class ServerPki : public TestPki {
 public:
  ServerPki() {
    MakeCa("ca");
    MakeCa("other-ca");
    MakeCert("server", "ca", "localhost", "1", kServerCertExt);
    MakeCert("expired", "ca", "localhost", "-1", kServerCertExt);
    MakeCert("client", "ca", "tldb-test-client", "1", kClientCertExt);
    MakeCert("other-server", "other-ca", "localhost", "1", kServerCertExt);
    MakeCert("other-client", "other-ca", "tldb-test-client", "1", kClientCertExt);
  }
};

class ServerTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new ServerPki(); }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }

  static ServerConfig TlsConfig(const std::string& cert = "server", bool mutual = false) {
    ServerConfig cfg;
    cfg.tls_cert_file = pki_->pem(cert);
    cfg.tls_key_file = pki_->key(cert);
    if (mutual) cfg.tls_client_ca_file = pki_->pem("ca");
    return cfg;
  }
  static ClientOptions TlsClient(const TestServer& s, const std::string& ca = "ca",
                                 const std::string& client_cert = "") {
    ClientOptions o;
    o.server = s.address();
    o.tls = true;
    o.tls_ca_file = pki_->pem(ca);
    if (!client_cert.empty()) {
      o.tls_cert_file = pki_->pem(client_cert);
      o.tls_key_file = pki_->key(client_cert);
    }
    o.request_timeout_ms = 5'000;
    o.reconnect_attempts = 0;
    return o;
  }
  // Connects and expects a failure whose message contains every one of `needles`.
  static void ExpectRefused(const ClientOptions& o, std::initializer_list<std::string> needles) {
    auto c = Client::Connect(o);
    ASSERT_FALSE(c.ok()) << "connected, but should not have";
    const std::string text = StatusText(c.status());
    for (const auto& n : needles) EXPECT_NE(text.find(n), std::string::npos) << text;
  }
  // A TLS client that appends and reads back: the server still serves.
  static void ExpectServes(const TestServer& s, const ClientOptions& o) {
    auto c = Client::Connect(o);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    auto a = (*c)->Append("store", "still:serving", "yes");
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    auto g = (*c)->Get("store", "still:serving", a->seq);
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    EXPECT_EQ(g->payload, "yes");
    (void)s;
  }
  static uint64_t TlsFailures(Client& c) {
    auto st = c.Stats();
    EXPECT_TRUE(st.ok());
    return st.ok() ? st->Get("tls_failures") : 0;
  }

  static TestPki* pki_;
};

TestPki* ServerTlsTest::pki_ = nullptr;

TEST_F(ServerTlsTest, RoundTripAppendGetScanSubscribe) {
  TestServer s(TlsConfig());
  auto c = Client::Connect(TlsClient(s));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  Client& client = **c;

  // A subscription on another TLS connection sees the appends as pushes.
  auto watcher = Client::Connect(TlsClient(s));
  ASSERT_TRUE(watcher.ok()) << watcher.status().ToString();
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Seq> pushed;
  auto sub = (*watcher)->Subscribe("store", "conv:tls", 0, false, [&](const SubscriptionEvent& e) {
    if (!e.status.ok()) return;
    std::lock_guard lock(mu);
    pushed.push_back(e.message.seq);
    cv.notify_all();
  });
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();

  for (int i = 1; i <= 5; ++i) {
    auto a = client.Append("store", "conv:tls", "message " + std::to_string(i));
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ(a->seq, static_cast<Seq>(i));
  }
  // 300 KiB: many TLS records each way, in one frame.
  const std::string big(300 << 10, 'x');
  auto a = client.Append("store", "conv:tls", big);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto g = client.Get("store", "conv:tls", a->seq);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->payload, big);
  g = client.Get("store", "conv:tls", 3);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->payload, "message 3");

  // 500 pipelined appends: responses arrive in batches larger than one record.
  std::atomic<int> done{0}, failed{0};
  for (int i = 0; i < 500; ++i) {
    client.AppendAsync("store", "conv:pipelined", "p" + std::to_string(i), {},
                       [&](Result<AppendResult> r) {
                         if (!r.ok()) ++failed;
                         ++done;
                       });
  }
  for (int i = 0; i < 500 && done < 500; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(done.load(), 500);
  EXPECT_EQ(failed.load(), 0);

  ScanOptions latest{.direction = Direction::kBackward, .limit = 20};
  auto page = client.Scan("store", "conv:pipelined", latest);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->size(), 20u);
  EXPECT_EQ(page->front().seq, 500u);

  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return pushed.size() >= 6; }));
  EXPECT_EQ(pushed, (std::vector<Seq>{1, 2, 3, 4, 5, 6}));
  lock.unlock();
  EXPECT_EQ(TlsFailures(client), 0u);
}

// 32 MiB of answers queued at once on one connection, while the client stops reading for a
// moment (its first callback sleeps, holding the I/O thread): the server's TLS writes fill the
// socket (partial writes, "want write", the output buffer growing between attempts), then the
// client reads everything back through its read-ahead; every byte arrives, in order.
TEST_F(ServerTlsTest, LargePipelinedAnswersArriveWhole) {
  TestServer s(TlsConfig());
  auto c = Client::Connect(TlsClient(s));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::vector<std::string> payloads;
  for (int i = 0; i < 8; ++i) {
    payloads.push_back(std::string(512 << 10, static_cast<char>('a' + i)));
    ASSERT_TRUE((*c)->Append("store", "conv:big", payloads.back()).ok());
  }
  // The server caps one SCAN answer at half the frame limit (2 MiB: 4 of these messages).
  constexpr int kScans = 16;
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  std::vector<std::string> errors;
  for (int i = 0; i < kScans; ++i) {
    (*c)->ScanAsync(
        "store", "conv:big", ScanOptions{.limit = 8, .bytes_max = 8u << 20},
        [&, i](Result<std::vector<Message>> r) {
          if (i == 0) std::this_thread::sleep_for(500ms);  // a slow reader
          std::string why;
          if (!r.ok()) {
            why = r.status().ToString();
          } else if (r->size() != 4) {
            why = "scan returned " + std::to_string(r->size()) + " messages";
          } else {
            for (size_t j = 0; j < r->size(); ++j) {
              if ((*r)[j].payload != payloads[j]) why = "payload differs";
            }
          }
          std::lock_guard lock(mu);
          if (!why.empty()) errors.push_back(why);
          ++done;
          cv.notify_all();
        },
        CallOptions{.timeout_ms = 60'000});  // sanitizer builds are slow
  }
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 90s, [&] { return done == kScans; })) << done << " of " << kScans;
  EXPECT_TRUE(errors.empty()) << errors.front();
}

TEST_F(ServerTlsTest, MutualTlsAcceptsAGoodClientCertificateAndRefusesNoneOrAForeignOne) {
  TestServer s(TlsConfig("server", /*mutual=*/true));
  ExpectServes(s, TlsClient(s, "ca", "client"));
  // No certificate: TLS 1.3 reports the refusal after the handshake, on the first read.
  ExpectRefused(TlsClient(s), {"TLS with 127.0.0.1:", "certificate required"});
  // A certificate signed by a CA the server does not trust.
  ExpectRefused(TlsClient(s, "ca", "other-client"), {"TLS with", "unknown ca"});
  auto c = Client::Connect(TlsClient(s, "ca", "client"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(TlsFailures(**c), 2u);
  EXPECT_TRUE(s.LogContains("peer did not return a certificate"));
}

TEST_F(ServerTlsTest, UnknownCaIsRefusedByTheClientAndTheServerGoesOn) {
  TestServer s(TlsConfig("other-server"));  // its certificate is signed by other-ca
  ExpectRefused(TlsClient(s, "ca"),
                {"certificate verify failed", "unable to get local issuer certificate"});
  ExpectServes(s, TlsClient(s, "other-ca"));
}

TEST_F(ServerTlsTest, ExpiredCertificateIsRefused) {
  TestServer s(TlsConfig("expired"));
  ExpectRefused(TlsClient(s), {"certificate verify failed", "certificate has expired"});
}

TEST_F(ServerTlsTest, CertificateForAnotherNameIsRefused) {
  TestServer s(TlsConfig());
  ClientOptions o = TlsClient(s);
  o.tls_server_name = "db.example.org";
  ExpectRefused(o, {"certificate verify failed", "hostname mismatch"});
  o.tls_server_name = "localhost";  // a DNS name the certificate has
  ExpectServes(s, o);
}

TEST_F(ServerTlsTest, PlainTextClientOnATlsPortIsToldAndOthersAreServed) {
  TestServer s(TlsConfig());
  ClientOptions plain;
  plain.server = s.address();
  plain.reconnect_attempts = 0;
  ExpectRefused(plain, {"TLS required"});
  // Raw garbage that is not a TLS record either.
  RawConn raw(s.port());
  raw.Send("GET / HTTP/1.1\r\n\r\n");
  auto f = raw.ReadFrame(5000);
  ASSERT_TRUE(f.has_value());
  EXPECT_TRUE(f->fatal());
  EXPECT_EQ(f->ErrorCode(), static_cast<uint16_t>(proto::ErrorCode::kHandshakeRequired));
  EXPECT_TRUE(raw.WaitEof(5000));
  ExpectServes(s, TlsClient(s));
  auto c = Client::Connect(TlsClient(s));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(TlsFailures(**c), 2u);
  EXPECT_TRUE(s.LogContains("not TLS (plain-text bytes on the TLS listener)"));
}

TEST_F(ServerTlsTest, TlsClientOnAPlainPortIsTold) {
  TestServer s;  // plain TCP
  ExpectRefused(TlsClient(s), {"TLS with", "does not speak TLS"});
  auto c = s.Connect();
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->Append("store", "plain", "still works").ok());
}

TEST_F(ServerTlsTest, StalledHandshakeIsClosedAtTheFrameDeadline) {
  ServerConfig cfg = TlsConfig();
  cfg.frame_deadline_ms = 300;
  TestServer s(cfg);
  RawConn raw(s.port());  // connects and says nothing
  EXPECT_TRUE(raw.WaitEof(5000));
  EXPECT_TRUE(s.LogContains("TLS handshake not completed within frame-deadline-ms"));
  ExpectServes(s, TlsClient(s));
}

// Past connections-max a TLS listener closes the new connection at once (no plain frame: the
// client expects TLS); the client says the server closed it, and the server goes on.
TEST_F(ServerTlsTest, ConnectionsMaxClosesNewTlsConnections) {
  ServerConfig cfg = TlsConfig();
  cfg.connections_max = 1;
  TestServer s(cfg);
  auto first = Client::Connect(TlsClient(s));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = Client::Connect(TlsClient(s));
  ASSERT_FALSE(second.ok());
  const std::string why = second.status().ToString();
  // EOF, or a reset when the ClientHello arrived after the server closed (the client then
  // reports "TLS with <peer>: TLS handshake: Connection reset by peer").
  EXPECT_TRUE(why.find("TLS handshake") != std::string::npos &&
              (why.find("closed the connection") != std::string::npos ||
               why.find("reset") != std::string::npos))
      << why;
  EXPECT_TRUE(s.LogContains("too many connections"));
  EXPECT_TRUE((*first)->Append("store", "conv:max", "still served").ok());
}

TEST_F(ServerTlsTest, ConfigurationErrorsAreReported) {
  ServerConfig cfg;
  cfg.listen = "127.0.0.1:0";
  cfg.tls_cert_file = pki_->pem("server");
  EXPECT_FALSE(ValidateServerConfig(cfg).ok());  // no key
  cfg.tls_key_file = pki_->key("client");        // the key of another certificate
  TempDir dir;
  auto db = Db::Open(dir.path(), {});
  ASSERT_TRUE(db.ok());
  auto srv = Server::Start(db->get(), cfg);
  ASSERT_FALSE(srv.ok());
  EXPECT_NE(srv.status().message().find("key values mismatch"), std::string::npos)
      << srv.status().ToString();
  ClientOptions o;
  o.tls = true;
  o.tls_ca_file = pki_->dir() + "/missing.pem";
  auto c = Client::Connect(o);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("missing.pem"), std::string::npos) << c.status().ToString();
}

// A session whose peer is gone fails with an error, not with SIGPIPE (which this test process
// does not ignore, like a program using the client library).
TEST_F(ServerTlsTest, WritingToAVanishedPeerIsAnErrorNotSigpipe) {
  auto ctx = tls::TlsContext::ForClient(pki_->pem("ca"), "", "");
  ASSERT_TRUE(ctx.ok()) << ctx.status().ToString();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  ::close(sv[1]);
  auto session = tls::TlsSession::Connect(*ctx, sv[0], "localhost");
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  const tls::TlsSession::Outcome o = (*session)->Handshake();  // writes the ClientHello
  EXPECT_EQ(o.io, tls::TlsSession::Io::kError);
  EXPECT_NE((*session)->error().find("Broken pipe"), std::string::npos) << (*session)->error();
  ::close(sv[0]);
}

#if defined(TLDB_CLI_PATH) && defined(TLDB_SERVER_PATH)
// The binaries: tldb-server with TLS from a --config file, the tldb command with --tls-ca.
TEST_F(ServerTlsTest, ServerConfigFileAndCliSpeakTls) {
  TempDir dir;
  const std::string conf = dir.path() + "/tldb.conf";
  std::ofstream(conf) << "tls-cert = \"" << pki_->pem("server") << "\"\n"
                      << "tls-key = \"" << pki_->key("server") << "\"\n"
                      << "tls-client-ca = \"" << pki_->pem("ca") << "\"\n";
  // Port 0 is not usable by the CLI: pick a free one by binding and releasing it.
  int probe = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  ASSERT_EQ(::bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ::getsockname(probe, reinterpret_cast<sockaddr*>(&a), &len);
  const std::string addr = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  ::close(probe);
  const std::string log = dir.path() + "/server.log";
  const std::string server_cmd = std::string(TLDB_SERVER_PATH) + " --config " + conf +
                                 " --data-dir " + dir.path() + "/data --listen " + addr;
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", ("exec " + server_cmd + " >" + log + " 2>&1").c_str(), nullptr);
    ::_exit(127);
  }
  const std::string cli = std::string(TLDB_CLI_PATH) + " --server " + addr;
  const std::string creds = " --tls-ca " + pki_->pem("ca") + " --tls-cert " + pki_->pem("client") +
                            " --tls-key " + pki_->key("client");
  std::pair<int, std::string> r{-1, ""};
  for (int i = 0; i < 100; ++i) {  // until the server listens
    r = Shell(cli + " ping" + creds);
    if (r.first == 0) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(r.first, 0) << r.second;
  r = Shell(cli + " append --timeline conv:cli" + creds + " 'over tls'");
  EXPECT_EQ(r.first, 0) << r.second;
  r = Shell(cli + " get --timeline conv:cli" + creds + " 1");
  EXPECT_EQ(r.first, 0) << r.second;
  EXPECT_NE(r.second.find("over tls"), std::string::npos) << r.second;
  r = Shell(cli + " ping --tls-ca " + pki_->pem("ca"));  // no client certificate
  EXPECT_EQ(r.first, 1) << r.second;
  EXPECT_NE(r.second.find("certificate required"), std::string::npos) << r.second;
  r = Shell(cli + " ping");  // plain text
  EXPECT_EQ(r.first, 1) << r.second;
  EXPECT_NE(r.second.find("TLS required"), std::string::npos) << r.second;
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(text.find("mutual TLS"), std::string::npos) << text;
}
#endif

}  // namespace
}  // namespace tldb::testing
