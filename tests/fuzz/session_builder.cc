// The session fuzz target's request builder (see session_builder.h).
#include "fuzz/session_builder.h"

#include <string_view>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "protocol/frame.h"
#include "protocol/messages.h"

namespace tldb::fuzz {
namespace {

using proto::Op;

class Session {
 public:
  Session(FuzzInput& in, std::string& body_buffer, std::multimap<uint64_t, SentRequest>& sent)
      : in_(in), sent_(sent), body_(body_buffer) {
    sent_.clear();
  }

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
    proto::Encode(proto::PingRequest{kSessionMarker}, w);
    out += proto::EncodeFrame(static_cast<uint8_t>(Op::kPing), 0, kSessionMarkerId, body);
    sent_.insert({kSessionMarkerId, {static_cast<uint8_t>(Op::kPing), false}});
  }

 private:
  FuzzInput& in_;
  std::vector<uint64_t> ids_;
  std::multimap<uint64_t, SentRequest>& sent_;  // every request Build() put in the session
  bool may_park_ = false;                       // the request Body() just encoded
  bool big_payload_sent_ = false;
  std::string& body_;    // the request being built (the caller's buffer)
  std::string payload_;  // what Payload() returned last, unless the big one
};

}  // namespace

void BuildSession(const uint8_t* data, size_t size, std::string* out, std::string* body,
                  std::multimap<uint64_t, SentRequest>* sent) {
  FuzzInput in(data, size);
  Session s(in, *body, *sent);
  s.Build(out);
}

}  // namespace tldb::fuzz
