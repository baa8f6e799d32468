// Server session fuzz target (see fuzz_targets.h).
//
// One in-process tldb-server (one event loop, Db on the simulated backend, two access tokens)
// serves every input; it is replaced every kInputsPerServer inputs so memory stays bounded.
// An input is a session: HELLO (usually with a valid token), then up to 48 requests whose
// frames are valid but whose fields are input-chosen (opcodes, request ids, namespaces,
// timeline names of any length, seqs, limits, durability, payload sizes, WAIT timeouts,
// subscriptions), occasionally with a damaged body or flags. A final PING carries a marker.
// Invariants: the server never crashes; every byte it sends parses as frames whose bodies
// decode as the response their opcode defines; every response answers a request of the
// session (same request id and opcode, once) and every push a SUBSCRIBE it accepted; an error
// is FATAL exactly when docs/protocol.md says (codes 64 and up but SHUTTING_DOWN); the server
// closes the connection only after a FATAL error frame, and sends nothing after that frame;
// within kSessionSecondsMax (no hang) it either answers the marker PING and every request that may
// not park (all but a WAIT longer than 30 ms), or closes after a FATAL error.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "fuzz/fuzz_targets.h"
#include "fuzz/session_builder.h"
#include "io/sim_file_system.h"
#include "protocol/frame.h"
#include "protocol/messages.h"
#include "tldb/db.h"
#include "tldb/server.h"

namespace tldb::fuzz {
namespace {

using proto::Op;

constexpr int kInputsPerServer = 500;
// Wall-clock bound of one session. A session needs milliseconds; the bound is that long because
// a long run at nice 19 beside compilers on every core gets about 1.5% of a core, and a 10 s
// bound then reported hangs that replayed in under a second.
constexpr int kSessionSecondsMax = 30;

class TestServer {
 public:
  TestServer() {
    Options o;
    o.background_maintenance = false;  // deterministic: no compaction or TTL thread
    o.file_system = std::make_shared<SimFileSystem>();
    o.prezero = Options::Prezero::kInline;
    auto db = Db::Open("/db", o);
    TLDB_FUZZ_CHECK(db.ok());
    db_ = std::move(db).value();
    TLDB_FUZZ_CHECK(CreateDefaultNamespaces(*db_).ok());
    ServerConfig cfg;
    cfg.listen = "127.0.0.1:0";
    cfg.threads = 1;
    cfg.shutdown_drain_ms = 2000;
    cfg.log = [](std::string_view) {};
    // Every session comes from 127.0.0.1 and many fail their HELLO on purpose: with the
    // per-address budgets on, a long run would soon be refused at accept and explore nothing.
    cfg.peer_budgets = false;
    cfg.tokens.push_back({"writer", "secret-w", {}, {"*"}});
    cfg.tokens.push_back({"reader", "secret-r", {"store"}, {"sync"}});
    auto server = Server::Start(db_.get(), cfg);
    TLDB_FUZZ_CHECK(server.ok());
    server_ = std::move(server).value();
  }
  ~TestServer() {
    server_->Stop();
    server_.reset();
    (void)db_->Close();
  }
  uint16_t port() const { return server_->port(); }

 private:
  std::unique_ptr<Db> db_;
  std::unique_ptr<Server> server_;
};

// A server frame's body must decode as what its opcode answers with.
// A TimelineRead: seqs increasing, none above the timeline's last seq.
void CheckRead(const proto::TimelineRead& t) {
  for (size_t i = 0; i < t.messages.size(); ++i) {
    TLDB_FUZZ_CHECK(t.messages[i].seq != 0 && t.messages[i].seq <= t.last_seq);
    if (i > 0) TLDB_FUZZ_CHECK(t.messages[i].seq > t.messages[i - 1].seq);
  }
}

void CheckResponse(const proto::Frame& f) {
  const auto& h = f.header;
  const std::string_view b = f.body;
  TLDB_FUZZ_CHECK(h.flags & (proto::kFlagResponse | proto::kFlagPush));
  if (h.flags & proto::kFlagError) {
    proto::ErrorBody e;
    TLDB_FUZZ_CHECK(proto::Decode(b, &e));
    // docs/protocol.md 4: codes 64 and up are fatal, except SHUTTING_DOWN; engine codes never.
    const bool fatal_code =
        e.code >= 64 && e.code != static_cast<uint16_t>(proto::ErrorCode::kShuttingDown);
    TLDB_FUZZ_CHECK(((h.flags & proto::kFlagFatal) != 0) == fatal_code);
    return;
  }
  TLDB_FUZZ_CHECK(!(h.flags & proto::kFlagFatal));
  if (h.flags & proto::kFlagPush) {
    proto::PushMessage p;
    TLDB_FUZZ_CHECK(h.op == static_cast<uint8_t>(Op::kPushMessage) && proto::Decode(b, &p));
    return;
  }
  switch (static_cast<Op>(h.op)) {
    case Op::kHello: {
      proto::HelloResponse r;
      TLDB_FUZZ_CHECK(proto::Decode(b, &r));
      break;
    }
    case Op::kPing: {
      proto::PingRequest r;
      TLDB_FUZZ_CHECK(proto::Decode(b, &r));
      break;
    }
    case Op::kStats: {
      proto::StatsResponse r;
      TLDB_FUZZ_CHECK(proto::Decode(b, &r));
      break;
    }
    case Op::kAppend: {
      AppendResult r;
      TLDB_FUZZ_CHECK(proto::DecodeAppendResult(b, &r) && r.seq != 0);
      break;
    }
    case Op::kAppendFanout: {
      std::vector<AppendResult> r;
      TLDB_FUZZ_CHECK(proto::DecodeAppendResults(b, &r));
      break;
    }
    case Op::kGet: {
      Message m;
      TLDB_FUZZ_CHECK(proto::DecodeMessage(b, &m));
      break;
    }
    case Op::kScan: {
      std::vector<Message> m;
      TLDB_FUZZ_CHECK(proto::DecodeMessages(b, &m));
      for (size_t i = 1; i < m.size(); ++i) TLDB_FUZZ_CHECK(m[i].seq != m[i - 1].seq);
      break;
    }
    case Op::kLastSeq:
    case Op::kCursorGet: {
      std::vector<Seq> s;
      std::vector<proto::CursorInfo> c;
      TLDB_FUZZ_CHECK(h.op == static_cast<uint8_t>(Op::kLastSeq) ? proto::DecodeSeqs(b, &s)
                                                                 : proto::DecodeCursorInfos(b, &c));
      break;
    }
    case Op::kWait: {
      // Without messages, or with them (WAIT's optional fields): oldest first, at most last_seq.
      proto::WaitResponse r;
      proto::WaitMessagesResponse m;
      if (!proto::Decode(b, &r)) {
        TLDB_FUZZ_CHECK(proto::Decode(b, &m));
        CheckRead(m.read);
      }
      break;
    }
    case Op::kReadMulti: {
      proto::ReadMultiResponse r;
      TLDB_FUZZ_CHECK(proto::Decode(b, &r));
      for (const auto& t : r.timelines) CheckRead(t);
      break;
    }
    case Op::kSubscribe: {
      proto::SubscribeResponse r;
      TLDB_FUZZ_CHECK(proto::Decode(b, &r));
      break;
    }
    case Op::kUnsubscribe:
    case Op::kNsCreate:
      TLDB_FUZZ_CHECK(b.empty());
      break;
    case Op::kNsList: {
      std::vector<NamespaceInfo> r;
      TLDB_FUZZ_CHECK(proto::DecodeNamespaceInfos(b, &r));
      break;
    }
    case Op::kNsDescribe: {
      NamespaceInfo r;
      TLDB_FUZZ_CHECK(proto::DecodeNamespaceInfo(b, &r));
      break;
    }
    case Op::kCursorSet: {
      proto::CursorSetResponse r;
      TLDB_FUZZ_CHECK(proto::Decode(b, &r));
      break;
    }
    default:
      Fail("response with an opcode no request has");
  }
}

int Connect(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  TLDB_FUZZ_CHECK(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  if (rc != 0 && errno == EINTR) {  // a signal (libFuzzer's timers): the connect goes on
    pollfd p{fd, POLLOUT, 0};
    while (::poll(&p, 1, 10'000) < 0 && errno == EINTR) {
    }
    int err = 0;
    socklen_t len = sizeof err;
    rc = ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0 ? 0 : -1;
    if (err != 0) errno = err;
  }
  if (rc != 0) {
    Fail(("cannot connect to the server: " + std::string(std::strerror(errno))).c_str());
  }
  return fd;
}

std::string Describe(const proto::Frame& f) {
  std::string d = "opcode " + std::to_string(f.header.op) + ", request id " +
                  std::to_string(f.header.request_id) + ", flags " + std::to_string(f.header.flags);
  proto::ErrorBody e;
  if ((f.header.flags & proto::kFlagError) && proto::Decode(f.body, &e)) {
    d += ", error " + std::to_string(e.code) + " '" + e.message + "'";
  }
  return d;
}

// What came back so far, against what was sent.
class Ledger {
 public:
  explicit Ledger(const std::multimap<uint64_t, SentRequest>& sent) : pending_(sent) {}

  // One frame from the server, already checked by CheckResponse.
  void Received(const proto::Frame& f) {
    const auto& h = f.header;
    // The server closes right after a FATAL frame: nothing follows it, not even the answer of
    // a request that was in progress (docs/protocol.md "Flags").
    if (fatal_seen_) Fail(("a frame after the FATAL frame: " + Describe(f)).c_str());
    if (h.flags & proto::kFlagPush) {
      TLDB_FUZZ_CHECK(subscribed_.count(h.request_id) == 1);  // an accepted SUBSCRIBE's id
      return;
    }
    // A response answers exactly one request sent with its id and opcode.
    auto [first, last] = pending_.equal_range(h.request_id);
    auto it = first;
    while (it != last && it->second.op != h.op) ++it;
    if (it == last)
      Fail(("a response that answers no request of the session: " + Describe(f)).c_str());
    pending_.erase(it);
    const bool error = (h.flags & proto::kFlagError) != 0;
    if (!error && h.op == static_cast<uint8_t>(Op::kSubscribe)) subscribed_.insert(h.request_id);
    if (h.flags & proto::kFlagFatal) fatal_seen_ = true;
    if (!error && h.request_id == kSessionMarkerId && h.op == static_cast<uint8_t>(Op::kPing) &&
        f.body.find(kSessionMarker) != std::string_view::npos) {
      marker_answered_ = true;
    }
  }
  // The marker PING and every request that may not park are answered.
  bool Complete() const {
    if (!marker_answered_) return false;
    for (const auto& [id, r] : pending_) {
      if (!r.may_park) return false;
    }
    return true;
  }
  bool fatal_seen() const { return fatal_seen_; }
  bool marker_answered() const { return marker_answered_; }

 private:
  std::multimap<uint64_t, SentRequest> pending_;
  std::set<uint64_t> subscribed_;
  bool fatal_seen_ = false, marker_answered_ = false;
};

// Sends the session while reading what comes back (a big session must not deadlock on full
// socket buffers); returns once the marker PING and every request that may not park are
// answered, or once the server closed the connection after a FATAL error frame.
void Run(uint16_t port, const std::string& session,
         const std::multimap<uint64_t, SentRequest>& sent) {
  const int fd = Connect(port);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kSessionSecondsMax);
  size_t sent_bytes = 0;
  bool can_send = true;
  std::string in;
  size_t parsed = 0;
  Ledger ledger(sent);
  while (!ledger.Complete()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      const std::string bound = std::to_string(kSessionSecondsMax) + " s";
      const std::string what =
          ledger.fatal_seen() ? "no close within " + bound + " of a FATAL error frame (hang)"
          : ledger.marker_answered()
              ? "a request left unanswered for " + bound + " (hang)"
              : "server did not answer the final PING within " + bound + " (hang)";
      Fail(what.c_str());
    }
    const bool sending = can_send && sent_bytes < session.size();
    pollfd p{fd, static_cast<short>(POLLIN | (sending ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    if ((p.revents & POLLOUT) && sending) {
      const ssize_t n = ::send(fd, session.data() + sent_bytes, session.size() - sent_bytes,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) sent_bytes += static_cast<size_t>(n);
      // The server closed; what it sent before (a FATAL frame) is still to be read.
      if (n < 0 && errno != EAGAIN && errno != EINTR) can_send = false;
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[64 << 10];
      const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {  // the server closed
        if (!ledger.fatal_seen()) Fail("the server closed the connection without a FATAL frame");
        TLDB_FUZZ_CHECK(parsed == in.size());  // and not in the middle of a frame
        break;
      }
      if (n > 0) in.append(buf, static_cast<size_t>(n));
      for (;;) {
        proto::Frame f;
        const proto::ParseResult r =
            proto::ParseFrame(in.data() + parsed, in.size() - parsed, 64u << 20, &f);
        if (r.outcome == proto::ParseOutcome::kNeedMore) break;
        TLDB_FUZZ_CHECK(r.outcome == proto::ParseOutcome::kFrame);
        CheckResponse(f);
        ledger.Received(f);
        parsed += r.frame_bytes;
      }
    }
  }
  ::close(fd);
}

}  // namespace

void SessionTarget(const uint8_t* data, size_t size) {
  static std::unique_ptr<TestServer> server;
  static int inputs = 0;
  if (!server || ++inputs % kInputsPerServer == 0) {
    server.reset();
    server = std::make_unique<TestServer>();
  }
  static std::string session, body;  // kept across inputs: see BuildSession
  static std::multimap<uint64_t, SentRequest> sent;
  BuildSession(data, size, &session, &body, &sent);
  Run(server->port(), session, sent);
}

}  // namespace tldb::fuzz
