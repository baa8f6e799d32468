#include "hostile_cases.h"

#include <chrono>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <thread>

#include "common/raw_conn.h"
#include "kill_run.h"
#include "protocol/codes.h"
#include "tldb/client.h"

namespace tldb::faults {

using common::RawConn;

namespace {

using proto::ErrorCode;
using proto::Op;
using std::chrono::milliseconds;

constexpr uint16_t Code(ErrorCode c) {
  return static_cast<uint16_t>(c);
}
constexpr uint16_t Code(Status::Code c) {
  return static_cast<uint16_t>(c);
}
constexpr uint64_t kU64Max = ~uint64_t{0};
constexpr uint32_t kU32Max = ~uint32_t{0};

template <typename T>
void Put(std::string* out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // little-endian host (x86-64, arm64)
  out->append(b, sizeof(T));
}

// A frame header with any field values, valid or not.
std::string Header(uint8_t op, uint32_t body_length, uint16_t magic = proto::kMagic,
                   uint8_t version = proto::kVersion, uint16_t flags = 0, uint16_t reserved = 0,
                   uint64_t id = 1) {
  std::string h;
  Put(&h, magic);
  Put(&h, version);
  Put(&h, op);
  Put(&h, flags);
  Put(&h, reserved);
  Put(&h, id);
  Put(&h, body_length);
  return h;
}

template <typename M>
std::string Body(const M& m) {
  std::string body;
  proto::WireWriter w(&body);
  proto::Encode(m, w);
  return body;
}

// The server's refusal of a new connection: TOO_MANY_CONNECTIONS, fatal, request_id 0.
bool IsRefusal(const RawConn::Frame& f) {
  return f.fatal() && f.header.request_id == 0 &&
         f.ErrorCode() == Code(ErrorCode::kTooManyConnections);
}

// How a HELLO went: answered, refused (per-address budgets) or failed.
enum class HelloResult { kOk, kRefused, kFailed };
HelloResult HelloAs(RawConn& c, std::string_view token) {
  if (!c.connected() ||
      !c.SendMsg(Op::kHello, 0, proto::HelloRequest{proto::kVersion, "hostile", token})) {
    return HelloResult::kFailed;
  }
  auto f = c.ReadFrame(5'000);
  if (!f) return HelloResult::kFailed;
  if (IsRefusal(*f)) return HelloResult::kRefused;
  return f->error() ? HelloResult::kFailed : HelloResult::kOk;
}

// A fatal error frame with `code`, then the connection closed. `*refused`: the connection was
// refused instead (TOO_MANY_CONNECTIONS on accept), which is not a deviation.
bool ExpectFatal(RawConn& c, uint16_t code, std::string* why, bool* refused = nullptr) {
  auto f = c.ReadFrame(4 * kHostileFrameDeadlineMs);
  if (!f) {
    *why = "no error frame (connection " + std::string(c.eof() ? "closed)" : "still open)");
    return false;
  }
  if (refused && IsRefusal(*f)) {
    *refused = true;
    return false;
  }
  if (!f->fatal() || f->ErrorCode() != code) {
    *why = "got code " + std::to_string(f->ErrorCode()) + " fatal=" + std::to_string(f->fatal()) +
           ", expected fatal " + std::to_string(code);
    return false;
  }
  if (!c.WaitEof(3'000)) {
    *why = "connection not closed after a fatal error";
    return false;
  }
  return true;
}

// The answer to request `id`: 0 for success, else its error code; -1 for none or fatal.
int AnswerCode(RawConn& c, uint64_t id, std::string* body = nullptr) {
  while (auto f = c.ReadFrame(5'000)) {
    if (f->header.request_id != id || !(f->header.flags & proto::kFlagResponse)) continue;
    if (f->fatal()) return -1;
    if (body) *body = f->body;
    return f->ErrorCode();
  }
  return -1;
}

bool OneOf(int code, const std::vector<int>& codes) {
  for (int c : codes) {
    if (c == code) return true;
  }
  return false;
}

void OversizedRound(uint16_t port, uint64_t round, HostileOutcome* out) {
  RawConn c(port);
  std::string why;
  bool ok = c.connected(), refused = false;
  if (ok && round % 2 == 0) {
    const HelloResult h = HelloAs(c, kHostileAdminToken);
    refused = h == HelloResult::kRefused;
    ok = h == HelloResult::kOk &&
         c.Send(Header(uint8_t(Op::kAppend), proto::kFrameBodyBytesMaxDefault + 1) +
                std::string(100, 'x')) &&
         ExpectFatal(c, Code(ErrorCode::kFrameTooLarge), &why);
  } else if (ok) {  // before HELLO, the largest length a header can carry
    ok = c.Send(Header(uint8_t(Op::kPing), kU32Max)) &&
         ExpectFatal(c, Code(ErrorCode::kFrameTooLarge), &why, &refused);
  }
  if (refused) return out->NoteRefused();
  out->Note(ok, "oversized frame (round " + std::to_string(round % 2) + "): " + why);
}

void MalformedRound(uint16_t port, uint64_t round, HostileOutcome* out) {
  RawConn c(port);
  const HelloResult h = HelloAs(c, kHostileAdminToken);
  if (h == HelloResult::kRefused) return out->NoteRefused();
  if (h != HelloResult::kOk) {
    out->Note(false, "connect/HELLO failed");
    return;
  }
  const uint64_t v = round % 9;
  std::string frame;
  uint16_t expect = Code(ErrorCode::kMalformedFrame);
  proto::AppendRequest append{kHostileOpenNs, "t", "", false, 0, Durability::kDefault, "hi"};
  const std::string good = Body(append);
  switch (v) {
    case 0:
      frame = Header(uint8_t(Op::kPing), 4, 0x1234) + std::string(4, '\0');
      break;
    case 1:
      frame = Header(uint8_t(Op::kPing), 4, proto::kMagic, 1, 0, 7) + std::string(4, 0);
      break;
    case 2:
      frame = Header(uint8_t(Op::kPing), 4, proto::kMagic, 1, 1) + std::string(4, 0);
      break;
    case 3:
      frame = Header(uint8_t(Op::kPing), 4, proto::kMagic, 2) + std::string(4, 0);
      expect = Code(ErrorCode::kUnsupportedVersion);
      break;
    case 4:
      frame = Header(0x65, 0);
      expect = Code(ErrorCode::kUnknownOpcode);
      break;
    case 5:
      frame = Header(uint8_t(Op::kAppend), good.size() - 3) + good.substr(0, good.size() - 3);
      break;
    case 6:
      frame = Header(uint8_t(Op::kAppend), good.size() + 1) + good + "!";
      break;
    case 7: {  // LAST_SEQ whose list count claims 4 billion timelines
      std::string body;
      Put<uint16_t>(&body, 4);
      body += kHostileOpenNs;
      Put<uint32_t>(&body, kU32Max);
      frame = Header(uint8_t(Op::kLastSeq), body.size()) + body;
      break;
    }
    default: {  // garbage
      frame = "xy";
      for (int i = 0; i < 62; ++i) frame.push_back(static_cast<char>(round * 31 + i * 7));
    }
  }
  std::string why;
  bool ok = c.Send(frame) && ExpectFatal(c, expect, &why);
  out->Note(ok, "malformed variant " + std::to_string(v) + ": " + why);
}

void SlowlorisRound(uint16_t port, const HostileCaseOptions& o, HostileOutcome* out) {
  std::vector<std::unique_ptr<RawConn>> conns;
  uint32_t refused = 0;
  for (uint32_t i = 0; i < o.slowloris_connections; ++i) {
    auto c = std::make_unique<RawConn>(port);
    const HelloResult h = HelloAs(*c, kHostileAdminToken);
    refused += h == HelloResult::kRefused;
    if (h != HelloResult::kOk) continue;
    // Half of them stop inside the header, half inside the body.
    std::string f = Header(uint8_t(Op::kPing), 100) + std::string(100, 'p');
    c->Send(std::string_view(f).substr(0, i % 2 ? 10 : 40));
    conns.push_back(std::move(c));
  }
  uint32_t closed = 0;
  std::string why;
  for (auto& c : conns) {
    if (ExpectFatal(*c, Code(ErrorCode::kTimedOutConnection), &why)) closed++;
  }
  if (conns.empty() && refused == o.slowloris_connections) return out->NoteRefused();
  out->Note(conns.size() + refused == o.slowloris_connections && closed == conns.size(),
            "slowloris: " + std::to_string(closed) + " of " + std::to_string(conns.size()) +
                " half-sent frames closed with CONNECTION_TIMED_OUT (" + std::to_string(refused) +
                " connections refused); " + why);
}

void LargeHalfSentRound(uint16_t port, const HostileCaseOptions& o, HostileOutcome* out) {
  std::vector<std::unique_ptr<RawConn>> conns;
  const uint32_t body = proto::kFrameBodyBytesMaxDefault - 1'000;
  const std::string frame = Header(uint8_t(Op::kAppend), body) + std::string(body - 1'000, 'z');
  uint32_t refused = 0;
  for (uint32_t i = 0; i < o.large_frame_connections; ++i) {
    auto c = std::make_unique<RawConn>(port);
    const HelloResult h = HelloAs(*c, kHostileAdminToken);
    refused += h == HelloResult::kRefused;
    if (h != HelloResult::kOk) continue;
    conns.push_back(std::move(c));
  }
  if (conns.empty() && refused == o.large_frame_connections) return out->NoteRefused();
  // Push as much of each frame as the server takes (it may stop reading), never completing it.
  std::vector<size_t> sent(conns.size(), 0);
  const auto end = std::chrono::steady_clock::now() + milliseconds(kHostileFrameDeadlineMs / 2);
  while (std::chrono::steady_clock::now() < end) {
    bool moved = false;
    for (size_t i = 0; i < conns.size(); ++i) {
      long n = conns[i]->SendSome(std::string_view(frame).substr(sent[i]));
      if (n > 0) sent[i] += static_cast<size_t>(n), moved = true;
    }
    if (!moved) std::this_thread::sleep_for(milliseconds(5));
  }
  uint32_t closed = 0;
  std::string why;
  for (auto& c : conns) {
    if (c->WaitEof(6 * kHostileFrameDeadlineMs)) closed++;
  }
  out->Note(conns.size() + refused == o.large_frame_connections && closed == conns.size(),
            "large half-sent frames: " + std::to_string(closed) + " of " +
                std::to_string(conns.size()) + " closed (" + std::to_string(refused) +
                " connections refused)");
}

void IdleRun(uint16_t port, const HostileCaseOptions& o, const std::atomic<bool>& stop,
             HostileOutcome* out) {
  std::vector<std::unique_ptr<RawConn>> conns;
  uint32_t opened = 0, refused = 0;
  // Every connection is opened, however long a loaded machine takes (not only those opened
  // before the run's stop): a generous bound instead of the run's wall-clock window.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  for (uint32_t i = 0; i < o.idle_connections && std::chrono::steady_clock::now() < give_up; ++i) {
    auto c = std::make_unique<RawConn>(port);
    // Half complete the handshake, half never send a byte (a refusal of those shows at the
    // end: the server closed them at once).
    if (i % 2 == 0) {
      const HelloResult h = HelloAs(*c, kHostileAdminToken);
      refused += h == HelloResult::kRefused;
      if (h != HelloResult::kOk) continue;
      opened++;
    } else if (c->connected()) {
      opened++;
    }
    conns.push_back(std::move(c));
  }
  while (!stop) std::this_thread::sleep_for(milliseconds(20));
  uint32_t still_open = 0, silent_refused = 0;
  for (size_t i = 0; i < conns.size(); ++i) {
    RawConn& c = *conns[i];
    if (c.connected() && !c.PeerClosed()) {
      still_open++;
    } else if (auto f = c.ReadFrame(100); f && IsRefusal(*f)) {
      silent_refused++;  // one that never sent a byte, refused on accept
    }
  }
  opened -= silent_refused;
  refused += silent_refused;
  if (refused > 0) out->refused += 1;
  out->Note(opened + refused == o.idle_connections && still_open == opened,
            "idle: " + std::to_string(opened) + " opened, " + std::to_string(still_open) +
                " still open at the end, " + std::to_string(refused) + " refused (expected " +
                std::to_string(o.idle_connections) + " opened or refused)");
}

void NonReaderRound(uint16_t port, const std::atomic<bool>& stop, HostileOutcome* out) {
  RawConn c(port, 4096);
  const HelloResult h = HelloAs(c, kHostileAdminToken);
  if (h == HelloResult::kRefused) return out->NoteRefused();
  if (h != HelloResult::kOk) {
    out->Note(false, "non-reader: HELLO failed");
    return;
  }
  proto::ScanRequest scan{kHostileOpenNs, "big", 0, 0, Direction::kForward, 8, 0};
  const std::string body = Body(scan);
  uint64_t sent = 0;
  auto last_progress = std::chrono::steady_clock::now();
  std::string pending;
  // Pipeline big scans without reading until the socket stops taking requests.
  while (!stop && std::chrono::steady_clock::now() - last_progress < milliseconds(300)) {
    if (pending.empty()) pending = proto::EncodeFrame(uint8_t(Op::kScan), 0, ++sent, body);
    long n = c.SendSome(pending);
    if (n < 0) break;  // the server already closed
    if (n > 0) {
      pending.erase(0, static_cast<size_t>(n));
      last_progress = std::chrono::steady_clock::now();
    } else {
      std::this_thread::sleep_for(milliseconds(5));
    }
  }
  if (sent == 0) return;  // stopped before the round began: nothing to judge
  const auto t0 = std::chrono::steady_clock::now();
  while (!c.PeerClosed() && std::chrono::steady_clock::now() - t0 < milliseconds(15'000)) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  out->Note(c.PeerClosed(), "non-reader: the server kept a connection that never reads (" +
                                std::to_string(sent) + " scans pipelined)");
}

void NoAuthRound(uint16_t port, uint64_t round, HostileOutcome* out) {
  RawConn c(port);
  std::string why;
  bool ok = c.connected(), refused = false;
  const uint64_t v = round % 3;
  if (ok && v == 0) {
    proto::AppendRequest a{kHostileOpenNs, "t", "", false, 0, Durability::kDefault, "x"};
    ok = c.SendMsg(Op::kAppend, 1, a) &&
         ExpectFatal(c, Code(ErrorCode::kHandshakeRequired), &why, &refused);
  } else if (ok) {
    ok = c.SendMsg(Op::kHello, 0, proto::HelloRequest{1, "h", v == 1 ? "" : "wrong-secret"}) &&
         ExpectFatal(c, Code(ErrorCode::kAuthFailed), &why, &refused);
  }
  if (refused) return out->NoteRefused();
  out->Note(ok, "no-auth variant " + std::to_string(v) + ": " + why);
}

void WrongNamespaceRound(uint16_t port, HostileOutcome* out) {
  RawConn c(port);
  const HelloResult h = HelloAs(c, kHostileLimitedToken);
  if (h == HelloResult::kRefused) return out->NoteRefused();
  if (h != HelloResult::kOk) {
    out->Note(false, "limited token: HELLO failed");
    return;
  }
  const int denied = Code(Status::Code::kPermissionDenied);
  struct Try {
    std::string what;
    Op op;
    std::string body;
    int expect;
  };
  const std::vector<Try> tries = {
      {"APPEND store", Op::kAppend,
       Body(proto::AppendRequest{"store", "t", "", false, 0, Durability::kDefault, "x"}), denied},
      {"SCAN store", Op::kScan, Body(proto::ScanRequest{"store", "t"}), denied},
      {"READ_MULTI store", Op::kReadMulti,
       Body(proto::ReadMultiRequest{"store", 0, 0, 0, {{"t", 0}}}), denied},
      {"GET __cursors", Op::kGet, Body(proto::GetRequest{"__cursors", "t", 1}), denied},
      {"APPEND __cursors", Op::kAppend,
       Body(proto::AppendRequest{"__cursors", "t", "", false, 0, Durability::kDefault, "x"}),
       denied},
      {"NS_CREATE other", Op::kNsCreate, Body(proto::NsCreateRequest{"other", {}}), denied},
      {"NS_DESCRIBE store", Op::kNsDescribe, Body(proto::NsDescribeRequest{"store"}), denied},
      {"PING", Op::kPing, Body(proto::PingRequest{"still here"}), 0},
  };
  uint64_t id = 1;
  for (const auto& t : tries) {
    c.SendFrame(t.op, ++id, t.body);
    int got = AnswerCode(c, id);
    if (got != t.expect) {
      out->Note(false, "limited token " + t.what + ": got " + std::to_string(got) + ", expected " +
                           std::to_string(t.expect));
      return;
    }
  }
  out->Note(true, "");
}

void ExtremeValuesRound(uint16_t port, HostileOutcome* out) {
  RawConn c(port);
  const HelloResult h = HelloAs(c, kHostileAdminToken);
  if (h == HelloResult::kRefused) return out->NoteRefused();
  if (h != HelloResult::kOk) {
    out->Note(false, "extreme values: HELLO failed");
    return;
  }
  const int ok = 0, invalid = Code(Status::Code::kInvalidArgument),
            not_found = Code(Status::Code::kNotFound), conflict = Code(Status::Code::kConflict);
  const std::string_view ns = kHostileOpenNs;
  struct Try {
    std::string what;
    Op op;
    std::string body;
    std::vector<int> expect;  // not an initializer_list: its array would not outlive `tries`
  };
  const std::vector<Try> tries = {
      {"GET seq 0", Op::kGet, Body(proto::GetRequest{ns, "chat", 0}), {invalid}},
      {"GET seq 2^64-1", Op::kGet, Body(proto::GetRequest{ns, "chat", kU64Max}), {not_found}},
      {"GET seq 2^63 (negative as i64)",
       Op::kGet,
       Body(proto::GetRequest{ns, "chat", uint64_t{1} << 63}),
       {not_found}},
      {"SCAN from 2^64-1, limit 0",
       Op::kScan,
       Body(proto::ScanRequest{ns, "chat", kU64Max, 0, Direction::kForward, 0, 0}),
       {ok}},
      {"SCAN from 500 to 2",
       Op::kScan,
       Body(proto::ScanRequest{ns, "chat", 500, 2, Direction::kForward, 10, 0}),
       {ok, invalid}},
      {"SCAN limit 2^32-1, bytes 2^32-1",
       Op::kScan,
       Body(proto::ScanRequest{ns, "chat", 0, 0, Direction::kBackward, kU32Max, kU32Max}),
       {ok}},
      {"SCAN backward to 2^64-1",
       Op::kScan,
       Body(proto::ScanRequest{ns, "chat", 0, kU64Max, Direction::kBackward, 1, 0}),
       {ok}},
      {"WAIT timeout 2^32-1",
       Op::kWait,
       Body(proto::WaitRequest{ns, "chat", 0, kU32Max}),
       {invalid}},
      {"WAIT after 2^64-1, timeout 0",
       Op::kWait,
       Body(proto::WaitRequest{ns, "chat", kU64Max, 0}),
       {ok}},
      {"APPEND expected_last_seq 2^64-1",
       Op::kAppend,
       Body(proto::AppendRequest{ns, "chat", "", true, kU64Max, Durability::kDefault, "x"}),
       {conflict}},
      {"LAST_SEQ of no timeline", Op::kLastSeq, Body(proto::LastSeqRequest{ns, {}}), {ok}},
      {"READ_MULTI after 2^64-1, every limit 2^32-1",
       Op::kReadMulti,
       Body(proto::ReadMultiRequest{ns, ~0u, ~0u, ~0u, {{"chat", kU64Max}, {"chat", 0}}}),
       {ok}},
      {"WAIT with messages after 2^64-1, timeout 0",
       Op::kWait,
       Body(proto::WaitRequest{ns, "chat", kU64Max, 0, true, ~0u, ~0u}),
       {ok}},
      {"CURSOR_SET seq 2^64-1",
       Op::kCursorSet,
       Body(proto::CursorSetRequest{"dev", ns, "chat", kU64Max, false}),
       {invalid}},
      {"PING", Op::kPing, Body(proto::PingRequest{"still here"}), {ok}},
  };
  uint64_t id = 1;
  for (const auto& t : tries) {
    c.SendFrame(t.op, ++id, t.body);
    std::string body;
    int got = AnswerCode(c, id, &body);
    if (!OneOf(got, t.expect)) {
      out->Note(false, t.what + ": got " + std::to_string(got));
      return;
    }
    if (t.op == Op::kScan && got == ok) {
      std::vector<Message> msgs;
      if (!proto::DecodeMessages(body, &msgs) || msgs.size() > 10'000) {
        out->Note(false, t.what + ": bad or oversized answer");
        return;
      }
    }
  }
  out->Note(true, "");
}

// Repeats `round` until stop.
template <typename F>
void Repeat(const std::atomic<bool>& stop, uint32_t pause_us, F round) {
  uint64_t r = 0;
  do {  // at least one round, however late a loaded machine starts this thread
    round(r++);
    if (pause_us) std::this_thread::sleep_for(std::chrono::microseconds(pause_us));
  } while (!stop);
}

}  // namespace

void HostileOutcome::Note(bool ok, const std::string& what) {
  rounds++;
  if (ok) {
    as_expected++;
    return;
  }
  std::lock_guard lock(mu_);
  if (deviations_.size() < 10) deviations_.push_back(what);
}

void HostileOutcome::NoteRefused() {
  refused++;
  Note(true, "");
}

std::vector<std::string> HostileOutcome::Deviations() const {
  std::lock_guard lock(mu_);
  return deviations_;
}

std::vector<std::string> HostileServerArgs() {
  return {"--token",
          std::string("admin:") + kHostileAdminToken + ":rw=*",
          "--token",
          std::string("limited:") + kHostileLimitedToken + ":rw=" + kHostileOpenNs,
          "--frame-deadline-ms",
          std::to_string(kHostileFrameDeadlineMs),
          "--send-stall-ms",
          std::to_string(kHostileSendStallMs),
          "--output-buffer-bytes-max",
          std::to_string(16u << 20),
          "--buffers-bytes-max",
          std::to_string(kHostileBuffersBytesMax)};
}

Status PrepareHostileTarget(const std::string& address) {
  ClientOptions co = FaultClientOptions(address);
  co.token = kHostileAdminToken;
  auto c = Client::Connect(co);
  if (!c.ok()) return c.status();
  if (auto s = (*c)->CreateNamespace(kHostileOpenNs, {}); !s.ok()) return s;
  const std::string big(256u << 10, 'b');
  for (int i = 0; i < 8; ++i) {
    if (auto r = (*c)->Append(kHostileOpenNs, "big", big); !r.ok()) return r.status();
  }
  for (int i = 0; i < 1'000; ++i) {
    auto r = (*c)->Append(kHostileOpenNs, "chat", "message " + std::to_string(i),
                          {.durability = Durability::kBuffered});
    if (!r.ok()) return r.status();
  }
  return Status::Ok();
}

std::vector<HostileCase> HostileCases(const HostileCaseOptions& o) {
  using Stop = const std::atomic<bool>&;
  return {
      {"oversized frames", "FRAME_TOO_LARGE (fatal) from the header alone, then close",
       [o](uint16_t p, Stop s, HostileOutcome* out) {
         Repeat(s, o.round_pause_us, [&](uint64_t r) { OversizedRound(p, r, out); });
       }},
      {"malformed frames",
       "bad magic/reserved/flags, truncated or trailing body, huge list count, garbage: "
       "MALFORMED_FRAME; version 2: UNSUPPORTED_VERSION; opcode 0x65: UNKNOWN_OPCODE; all "
       "fatal, then close",
       [o](uint16_t p, Stop s, HostileOutcome* out) {
         Repeat(s, o.round_pause_us, [&](uint64_t r) { MalformedRound(p, r, out); });
       }},
      {"slowloris", "half-sent frames closed with CONNECTION_TIMED_OUT after the frame deadline",
       [o](uint16_t p, Stop s, HostileOutcome* out) {
         Repeat(s, o.round_pause_us, [&](uint64_t) { SlowlorisRound(p, o, out); });
       }},
      {"large half-sent frames",
       "connections holding ~4 MiB partial frames: reading pauses at the server-wide buffer "
       "budget, each is closed after the frame deadline",
       [o](uint16_t p, Stop s, HostileOutcome* out) {
         Repeat(s, o.round_pause_us, [&](uint64_t) { LargeHalfSentRound(p, o, out); });
       }},
      {"idle connections", "all accepted and kept (idle timeout 300 s), memory bounded",
       [o](uint16_t p, Stop s, HostileOutcome* out) { IdleRun(p, o, s, out); }},
      {"never-reading client", "disconnected once its output stalls (send-stall 1 s)",
       [o](uint16_t p, Stop s, HostileOutcome* out) {
         Repeat(s, o.round_pause_us, [&](uint64_t) { NonReaderRound(p, s, out); });
       }},
      {"no auth",
       "request before HELLO: HANDSHAKE_REQUIRED; no or wrong token: AUTH_FAILED; "
       "fatal, then close",
       [o](uint16_t p, Stop s, HostileOutcome* out) {
         Repeat(s, o.round_pause_us, [&](uint64_t r) { NoAuthRound(p, r, out); });
       }},
      {"token outside its namespace",
       "PERMISSION_DENIED for other namespaces and __cursors, connection stays usable",
       [o](uint16_t p, Stop s, HostileOutcome* out) {
         Repeat(s, o.round_pause_us, [&](uint64_t) { WrongNamespaceRound(p, out); });
       }},
      {"extreme seqs and limits",
       "seq 0 / WAIT over 60 s: INVALID_ARGUMENT; seq 2^64-1 or 2^63: NOT_FOUND; limit and "
       "bytes 2^32-1: capped answer; expected_last_seq 2^64-1: CONFLICT; connection stays usable",
       [o](uint16_t p, Stop s, HostileOutcome* out) {
         Repeat(s, o.round_pause_us, [&](uint64_t) { ExtremeValuesRound(p, out); });
       }},
  };
}

}  // namespace tldb::faults
