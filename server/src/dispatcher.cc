// Dispatcher: request validation and routing by opcode.
#include "dispatcher.h"

#include "loop.h"
#include "server_stats.h"

namespace tldb::server {

using proto::ErrorCode;
using proto::Op;

Dispatcher::Dispatcher(Loop* loop)
    : ctx_(loop),
      session_(ctx_),
      watch_(ctx_),
      data_(ctx_, watch_),
      cursor_(ctx_),
      maint_(ctx_),
      backup_(ctx_) {}

void Dispatcher::Handle(Connection& c, const proto::Frame& f) {
  const uint8_t op = f.header.op;
  const uint64_t id = f.header.request_id;
  ServerStats::Inc(ctx_.stats().ops[op]);
  if (f.header.flags != 0) return ctx_.Malformed(c, op, id);  // clients send no flags
  if (!proto::IsKnownOp(op) || op == static_cast<uint8_t>(Op::kPushMessage)) {
    return ctx_.Fatal(c, op, id, ErrorCode::kUnknownOpcode, "unknown opcode " + std::to_string(op));
  }
  // Id 0 is reserved for the server's connection-level errors (docs/protocol.md 1); HELLO may
  // still carry it (it comes before any other request, and clients have always sent it so).
  if (id == 0 && op != static_cast<uint8_t>(Op::kHello)) {
    return ctx_.Fatal(c, op, id, ErrorCode::kMalformedFrame,
                      "request_id 0 is reserved for connection-level errors");
  }
  if (!c.handshaken() && op != static_cast<uint8_t>(Op::kHello)) {
    return ctx_.Fatal(c, op, id, ErrorCode::kHandshakeRequired, "send HELLO first");
  }
  if (ServerStats::CompletesAsync(op)) return Route(c, op, id, f.body);
  // A request answered here: its latency is its handler's run.
  const int64_t t0 = NowUs();
  Route(c, op, id, f.body);
  if (c.scan()) return;  // a SCAN goes on in later turns: recorded when answered
  ctx_.stats().RecordLatency(op, static_cast<uint64_t>(NowUs() - t0));
}

void Dispatcher::Route(Connection& c, uint8_t op, uint64_t id, std::string_view body) {
  switch (static_cast<Op>(op)) {
    case Op::kHello:
      return session_.Hello(c, id, body);
    case Op::kPing:
      return session_.Ping(c, id, body);
    case Op::kStats:
      return maint_.Stats(c, id, body);
    case Op::kAppend:
      return data_.Append(c, id, body);
    case Op::kAppendFanout:
      return data_.AppendFanout(c, id, body);
    case Op::kGet:
      return data_.Get(c, id, body);
    case Op::kScan:
      return data_.Scan(c, id, body);
    case Op::kLastSeq:
      return data_.LastSeq(c, id, body);
    case Op::kReadMulti:
      return data_.ReadMulti(c, id, body);
    case Op::kWait:
      return watch_.Wait(c, id, body);
    case Op::kSubscribe:
      return watch_.Subscribe(c, id, body);
    case Op::kUnsubscribe:
      return watch_.Unsubscribe(c, id, body);
    case Op::kNsCreate:
      return maint_.NsCreate(c, id, body);
    case Op::kNsList:
      return maint_.NsList(c, id, body);
    case Op::kNsDescribe:
      return maint_.NsDescribe(c, id, body);
    case Op::kCursorSet:
      return cursor_.CursorSet(c, id, body);
    case Op::kCursorGet:
      return cursor_.CursorGet(c, id, body);
    case Op::kMutate:
      return data_.Mutate(c, id, body);
    case Op::kNsSetOptions:
      return maint_.NsSetOptions(c, id, body);
    case Op::kCompact:
      return maint_.Compact(c, id, body);
    case Op::kCompactStatus:
      return maint_.CompactStatus(c, id, body);
    case Op::kBackupOpen:
      return backup_.Open(c, id, body);
    case Op::kBackupRead:
      return backup_.Read(c, id, body);
    case Op::kBackupClose:
      return backup_.Close(c, id, body);
    case Op::kClusterMap:
      return maint_.ClusterMap(c, id, body);
    case Op::kPushMessage:
      break;
  }
}

}  // namespace tldb::server
