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
constexpr char kMarker[] = "fuzz-session-end";
constexpr uint64_t kMarkerId = 0x5E55'10E1'D000'0001ull;

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

// A request of the session, as sent: a response must carry its id and opcode.
struct SentRequest {
  uint8_t op = 0;
  bool may_park = false;  // a WAIT longer than 30 ms: it may still be parked at the end
};

class Session {
 public:
  Session(FuzzInput& in, std::string& body_buffer) : in_(in), body_(body_buffer) {}
  // Every request Build() put in the session, by request id (ids may repeat).
  const std::multimap<uint64_t, SentRequest>& sent() const { return sent_; }

  std::string Ns() {
    switch (in_.Range(0, 7)) {
      case 0:
        return "sync";
      case 1:
        return "__cursors";
      case 2:
        return "nope";
      case 3:
        return in_.String(70);
      default:
        return "store";
    }
  }
  std::string Timeline() {
    const uint64_t k = in_.Range(0, 9);
    if (k < 4) return "t" + std::to_string(k);
    if (k < 7) return "conv:" + std::to_string(in_.Range(0, 3));
    if (k == 7) return std::string(in_.Range(250, 260), 'x');  // around the 255-byte limit
    return in_.String(20);
  }
  // Valid until the next call.
  std::string_view Payload() {
    // Around the 1 MiB payload limit, rarely and once per session: each such payload is copied
    // a few times on both sides and, under ASan, every copy into fresh memory faults its pages
    // in. Sessions holding several were most of the target's time, and one finds what several
    // do. The big one is a view of one buffer kept for the process.
    if (!big_payload_sent_ && in_.Range(0, 63) == 0) {
      big_payload_sent_ = true;
      static const std::string big((1u << 20) + 4, 'p');
      return std::string_view(big).substr(0, in_.Range((1u << 20) - 4, (1u << 20) + 4));
    }
    payload_ = in_.String(300);
    return payload_;
  }
  std::string Cmid() {
    return in_.Bool() ? "" : in_.Range(0, 7) == 0 ? in_.String(70) : "c" + in_.String(3);
  }
  Seq SeqValue() {
    switch (in_.Range(0, 3)) {
      case 0:
        return 0;
      case 1:
        return in_.U64();
      default:
        return in_.Range(1, 12);
    }
  }
  Durability Dur() { return static_cast<Durability>(in_.Range(0, 2)); }
  // A read limit (messages or bytes): 0 (the default), small, or any u32.
  uint32_t Limit() { return in_.Bool() ? static_cast<uint32_t>(in_.Range(0, 5)) : in_.U32(); }
  std::vector<std::string> Timelines() {
    std::vector<std::string> t(in_.Range(0, 6));
    for (auto& s : t) s = Timeline();
    return t;
  }
  static std::vector<std::string_view> Views(const std::vector<std::string>& v) {
    return {v.begin(), v.end()};
  }

  // Encodes one request with input-chosen fields; returns its opcode.
  uint8_t Body(std::string* body) {
    proto::WireWriter w(body);
    const uint64_t pick = in_.Range(0, 17);
    switch (pick) {
      case 0: {
        const std::string name = in_.String(8), token = Token();
        proto::Encode(proto::HelloRequest{static_cast<uint8_t>(in_.Range(0, 2)), name, token}, w);
        return static_cast<uint8_t>(Op::kHello);
      }
      case 1: {
        const std::string data = in_.String(64);
        proto::Encode(proto::PingRequest{data}, w);
        return static_cast<uint8_t>(Op::kPing);
      }
      case 2:
        return static_cast<uint8_t>(Op::kStats);
      case 3:
      case 4:
      case 5: {
        const std::string ns = Ns(), tl = Timeline(), cmid = Cmid();
        const std::string_view payload = Payload();
        proto::AppendRequest r{ns, tl, cmid};
        r.has_expected_last_seq = in_.Range(0, 3) == 0;
        r.expected_last_seq = SeqValue();
        r.durability = Dur();
        r.payload = payload;
        proto::Encode(r, w);
        return static_cast<uint8_t>(Op::kAppend);
      }
      case 6: {
        const std::string ns = Ns(), cmid = Cmid();
        const std::string_view payload = Payload();
        const std::vector<std::string> tls = Timelines();
        proto::AppendFanoutRequest r{ns, Views(tls), cmid, Dur(), payload};
        proto::Encode(r, w);
        return static_cast<uint8_t>(Op::kAppendFanout);
      }
      case 7: {
        const std::string ns = Ns(), tl = Timeline();
        proto::Encode(proto::GetRequest{ns, tl, SeqValue()}, w);
        return static_cast<uint8_t>(Op::kGet);
      }
      case 8:
      case 9: {
        const std::string ns = Ns(), tl = Timeline();
        proto::ScanRequest r{ns, tl};
        r.from_seq = SeqValue();
        r.to_seq = SeqValue();
        r.direction = in_.Bool() ? Direction::kBackward : Direction::kForward;
        r.limit = in_.Bool() ? static_cast<uint32_t>(in_.Range(0, 20)) : in_.U32();
        r.bytes_max = in_.Bool() ? static_cast<uint32_t>(in_.Range(0, 600)) : in_.U32();
        proto::Encode(r, w);
        return static_cast<uint8_t>(Op::kScan);
      }
      case 10: {
        const std::string ns = Ns();
        const std::vector<std::string> tls = Timelines();
        if (in_.Range(0, 3) == 0) {  // the same timelines read with READ_MULTI
          proto::ReadMultiRequest r{ns, Limit(), Limit(), Limit(), {}};
          for (const auto& t : tls) r.timelines.push_back({t, SeqValue()});
          proto::Encode(r, w);
          return static_cast<uint8_t>(Op::kReadMulti);
        }
        proto::Encode(proto::LastSeqRequest{ns, Views(tls)}, w);
        return static_cast<uint8_t>(Op::kLastSeq);
      }
      case 11: {
        const std::string ns = Ns(), tl = Timeline();
        // Short timeouts: a session must end within the replay budget. Long ones still park
        // and are answered when the connection closes.
        const uint32_t timeout = in_.Range(0, 15) == 0 ? in_.U32() : in_.Range(0, 30);
        may_park_ = timeout > 30;
        proto::WaitRequest r{ns, tl, SeqValue(), timeout};
        if (in_.Bool()) {  // WAIT with messages
          r.with_messages = true;
          r.limit = Limit();
          r.bytes_max = Limit();
        }
        proto::Encode(r, w);
        return static_cast<uint8_t>(Op::kWait);
      }
      case 12: {
        const std::string ns = Ns(), tl = Timeline();
        proto::Encode(proto::SubscribeRequest{ns, tl, SeqValue(), in_.Byte()}, w);
        return static_cast<uint8_t>(Op::kSubscribe);
      }
      case 13:
        proto::Encode(proto::UnsubscribeRequest{in_.Range(0, 3) == 0 ? in_.U64() : ids_.back()}, w);
        return static_cast<uint8_t>(Op::kUnsubscribe);
      case 14: {
        const std::string name = in_.Bool() ? Ns() : "n" + std::to_string(in_.Range(0, 3));
        proto::NsCreateRequest r{name};
        r.options.ttl_ms = in_.Bool() ? 0 : in_.U64();
        r.options.segment_bytes_max = in_.Bool() ? kSegmentBytesMin : in_.U64();
        r.options.durability = static_cast<Durability>(in_.Range(0, 3));
        proto::Encode(r, w);
        return static_cast<uint8_t>(Op::kNsCreate);
      }
      case 15:
        if (in_.Bool()) {
          const std::string ns = Ns();
          proto::Encode(proto::NsDescribeRequest{ns}, w);
          return static_cast<uint8_t>(Op::kNsDescribe);
        }
        return static_cast<uint8_t>(Op::kNsList);
      case 16: {
        const std::string dev = in_.Bool() ? "d1" : in_.String(80), ns = Ns(), tl = Timeline();
        proto::Encode(proto::CursorSetRequest{dev, ns, tl, SeqValue(), in_.Bool()}, w);
        return static_cast<uint8_t>(Op::kCursorSet);
      }
      default: {
        const std::string dev = in_.Bool() ? "d1" : in_.String(80), ns = Ns();
        const std::vector<std::string> tls = Timelines();
        proto::Encode(proto::CursorGetRequest{dev, ns, Views(tls)}, w);
        return static_cast<uint8_t>(Op::kCursorGet);
      }
    }
  }

  std::string Token() {
    switch (in_.Range(0, 7)) {
      case 0:
        return "secret-r";
      case 1:
        return "";
      case 2:
        return in_.String(12);
      default:
        return "secret-w";
    }
  }

  // The whole session's bytes, into *out (cleared first). `out` and the body buffer given to
  // the constructor are kept by the caller across inputs: a session may hold a 1 MiB request,
  // and memory reused is not faulted in again.
  void Build(std::string* out_bytes) {
    std::string& out = *out_bytes;
    out.clear();
    ids_.push_back(1);
    if (in_.Range(0, 15) != 0) {  // usually a proper handshake first
      std::string body;
      proto::WireWriter w(&body);
      const std::string token = Token();
      proto::Encode(proto::HelloRequest{proto::kVersion, "fuzz", token}, w);
      out += proto::EncodeFrame(static_cast<uint8_t>(Op::kHello), 0, 1, body);
      sent_.insert({1, {static_cast<uint8_t>(Op::kHello), false}});
    }
    const size_t n = in_.Range(0, 48);
    for (size_t i = 0; i < n && !in_.empty(); ++i) {
      std::string& body = body_;
      body.clear();
      may_park_ = false;
      uint8_t op = Body(&body);
      const uint8_t original_op = op;
      // Kept for a WAIT only (below); a body may hold a 1 MiB payload.
      const std::string original = op == static_cast<uint8_t>(Op::kWait) ? body : std::string();
      uint16_t flags = 0;
      switch (in_.Range(0, 31)) {  // rarely: a field of the frame itself is off
        case 0:
          if (!body.empty()) body.resize(in_.Range(0, body.size() - 1));
          break;
        case 1:
          body += static_cast<char>(in_.Byte());
          break;
        case 2:
          if (!body.empty()) body[in_.Range(0, body.size() - 1)] = static_cast<char>(in_.Byte());
          break;
        case 3:
          op = in_.Byte();
          break;
        case 4:
          flags = static_cast<uint16_t>(in_.Range(1, 15));
          break;
        default:
          break;
      }
      // A WAIT whose body or opcode was changed above may carry any timeout: it may park.
      if (op == static_cast<uint8_t>(Op::kWait) && (op != original_op || body != original)) {
        may_park_ = true;
      }
      const uint64_t id = in_.Range(0, 7) == 0 ? in_.U64() : ids_.back() + 1;
      ids_.push_back(id);
      const size_t frame = proto::BeginFrame(&out, op, flags, id);
      out += body;
      proto::EndFrame(&out, frame);
      sent_.insert({id, {op, may_park_}});
    }
    std::string body;
    proto::WireWriter w(&body);
    proto::Encode(proto::PingRequest{kMarker}, w);
    out += proto::EncodeFrame(static_cast<uint8_t>(Op::kPing), 0, kMarkerId, body);
    sent_.insert({kMarkerId, {static_cast<uint8_t>(Op::kPing), false}});
  }

 private:
  FuzzInput& in_;
  std::vector<uint64_t> ids_;
  std::multimap<uint64_t, SentRequest> sent_;
  bool may_park_ = false;  // the request Body() just encoded
  bool big_payload_sent_ = false;
  std::string& body_;    // the request being built (the caller's buffer)
  std::string payload_;  // what Payload() returned last, unless the big one
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
    if (!error && h.request_id == kMarkerId && h.op == static_cast<uint8_t>(Op::kPing) &&
        f.body.find(kMarker) != std::string_view::npos) {
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
  static std::string session, body;  // kept: see Session::Build
  FuzzInput in(data, size);
  Session s(in, body);
  s.Build(&session);
  Run(server->port(), session, s.sent());
}

}  // namespace tldb::fuzz
