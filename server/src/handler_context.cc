// HandlerContext: failure answers, rights checks and async-request bookkeeping.
#include "handler_context.h"

#include "async_call.h"
#include "loop.h"
#include "protocol/intent_record.h"

namespace tldb::server {

HandlerContext::HandlerContext(Loop* loop)
    : loop_(loop), core_(&loop->core()), stats_(&loop->stats()) {}

bool HandlerContext::CheckRead(Connection& c, uint8_t op, uint64_t id, std::string_view ns) {
  if (c.rights()->CanRead(ns)) return true;
  Fail(c, op, id, Status::PermissionDenied("no read right on namespace '" + std::string(ns) + "'"));
  return false;
}

bool HandlerContext::CheckReadTimeline(Connection& c, uint8_t op, uint64_t id, std::string_view ns,
                                       std::string_view timeline) {
  if (ns == proto::kIntentNamespace) {
    if (auto about = proto::IntentNamespaceOf(timeline); about && c.rights()->CanRead(*about)) {
      return true;
    }
  }
  return CheckRead(c, op, id, ns);
}

bool HandlerContext::CheckWrite(Connection& c, uint8_t op, uint64_t id, std::string_view ns) {
  if (c.rights()->CanWrite(ns)) return true;
  Fail(c, op, id,
       Status::PermissionDenied("no write right on namespace '" + std::string(ns) + "'"));
  return false;
}

bool HandlerContext::CheckAdmin(Connection& c, uint8_t op, uint64_t id, std::string_view ns) {
  if (c.rights()->CanAdmin(ns)) return true;
  Fail(c, op, id,
       Status::PermissionDenied(ns.empty()
                                    ? std::string("no admin right on every namespace ('*')")
                                    : "no admin right on namespace '" + std::string(ns) + "'"));
  return false;
}

bool HandlerContext::CheckTimelineCount(Connection& c, uint8_t op, uint64_t id, size_t count) {
  const uint32_t max = core_->config.fanout_timelines_max;
  if (count <= max) return true;
  Fail(c, op, id,
       Status::InvalidArgument(std::to_string(count) + " timelines in one request (at most " +
                               std::to_string(max) + ", fanout_timelines_max)"));
  return false;
}

void HandlerContext::Fail(Connection& c, uint8_t op, uint64_t id, const Status& s) {
  stats_->CountError(static_cast<uint16_t>(s.code()));
  if (s.code() == Status::Code::kPermissionDenied) core_->ChargeRefused(c);
  c.Error(op, id, static_cast<uint16_t>(s.code()), s.message(), /*fatal=*/false);
}

void HandlerContext::Malformed(Connection& c, uint8_t op, uint64_t id) {
  Fatal(c, op, id, proto::ErrorCode::kMalformedFrame,
        "malformed " + std::string(proto::OpName(op)) + " body");
}

void HandlerContext::Fatal(Connection& c, uint8_t op, uint64_t id, proto::ErrorCode code,
                           std::string_view message) {
  stats_->CountError(static_cast<uint16_t>(code));
  c.Error(op, id, static_cast<uint16_t>(code), message, /*fatal=*/true);
}

void HandlerContext::Empty(Connection& c, proto::Op op, uint64_t id) {
  c.End(c.Begin(op, proto::kFlagResponse, id));
}

AsyncCall HandlerContext::StartAsync(Connection& c, uint8_t op, uint64_t id) {
  c.AddInflight();
  return ContinueAsync(c.id(), op, id, NowUs());
}

AsyncCall HandlerContext::ContinueAsync(uint64_t conn_id, uint8_t op, uint64_t id,
                                        int64_t start_us) {
  return AsyncCall(this, core_->shared_from_this(), conn_id, op, id, start_us);
}

Connection* HandlerContext::Completed(uint64_t conn_id, int64_t start_us, uint8_t op) {
  int64_t micros = NowUs() - start_us;
  stats_->RecordLatency(op, static_cast<uint64_t>(micros));
  if (micros / 1000 > static_cast<int64_t>(core_->config.slow_request_ms)) {
    ServerStats::Inc(stats_->slow_requests);
    core_->Log("slow request: " + std::to_string(micros / 1000) + " ms");
  }
  Connection* c = loop_->Find(conn_id);
  if (!c) return nullptr;
  c->DropInflight();
  loop_->MarkDirty(*c);
  return c;
}

}  // namespace tldb::server
