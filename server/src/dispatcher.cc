// Dispatcher: routing, handshake, rights checks and the administrative operations.
#include "dispatcher.h"

#include "async_call.h"
#include "loop.h"
#include "protocol/codes.h"

namespace tldb::server {

using proto::ErrorCode;
using proto::Op;

namespace {
uint16_t Code(ErrorCode c) {
  return static_cast<uint16_t>(c);
}
constexpr char kServerName[] = "tldb-server/0.1.0";
}  // namespace

void Dispatcher::Handle(Connection& c, const proto::Frame& f) {
  const uint8_t op = f.header.op;
  const uint64_t id = f.header.request_id;
  ServerStats::Inc(loop_->stats().ops[op]);
  if (f.header.flags != 0) return Malformed(c, op, id);  // clients send no flags
  if (!proto::IsKnownOp(op) || op == static_cast<uint8_t>(Op::kPushMessage)) {
    c.Error(op, id, Code(ErrorCode::kUnknownOpcode), "unknown opcode " + std::to_string(op),
            /*fatal=*/true);
    return;
  }
  if (!c.handshaken() && op != static_cast<uint8_t>(Op::kHello)) {
    c.Error(op, id, Code(ErrorCode::kHandshakeRequired), "send HELLO first", /*fatal=*/true);
    return;
  }
  switch (static_cast<Op>(op)) {
    case Op::kHello:
      return Hello(c, id, f.body);
    case Op::kPing:
      return Ping(c, id, f.body);
    case Op::kStats:
      return Stats(c, id, f.body);
    case Op::kAppend:
      return Append(c, id, f.body);
    case Op::kAppendFanout:
      return AppendFanout(c, id, f.body);
    case Op::kGet:
      return Get(c, id, f.body);
    case Op::kScan:
      return Scan(c, id, f.body);
    case Op::kLastSeq:
      return LastSeq(c, id, f.body);
    case Op::kWait:
      return Wait(c, id, f.body);
    case Op::kSubscribe:
      return Subscribe(c, id, f.body);
    case Op::kUnsubscribe:
      return Unsubscribe(c, id, f.body);
    case Op::kNsCreate:
      return NsCreate(c, id, f.body);
    case Op::kNsList:
      return NsList(c, id, f.body);
    case Op::kNsDescribe:
      return NsDescribe(c, id, f.body);
    case Op::kCursorSet:
      return CursorSet(c, id, f.body);
    case Op::kCursorGet:
      return CursorGet(c, id, f.body);
    case Op::kMutate:
      return Mutate(c, id, f.body);
    case Op::kNsSetOptions:
      return NsSetOptions(c, id, f.body);
    case Op::kCompact:
      return Compact(c, id, f.body);
    case Op::kCompactStatus:
      return CompactStatus(c, id, f.body);
    case Op::kPushMessage:
      break;
  }
}

void Dispatcher::Hello(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kHello);
  proto::HelloRequest req;
  if (!proto::Decode(body, &req)) return Malformed(c, op, id);
  if (c.handshaken()) {
    return Fail(c, op, id, Status::InvalidArgument("HELLO already done on this connection"));
  }
  if (req.version != proto::kVersion) {
    c.Error(op, id, Code(ErrorCode::kUnsupportedVersion),
            "server speaks protocol version " + std::to_string(proto::kVersion), true);
    return;
  }
  ServerCore& core = loop_->core();
  std::string token_name;  // not kept: the rights are what the connection needs
  const AccessRights* rights = core.auth.Authenticate(req.token, &token_name);
  if (!rights) {
    core.Log("client " + c.peer() + ": authentication failed");
    c.Error(op, id, Code(ErrorCode::kAuthFailed),
            req.token.empty() ? "this server requires a token" : "unknown token", true);
    return;
  }
  c.Handshaken(rights);
  const ServerConfig& cfg = core.config;
  proto::HelloResponse resp;
  resp.server_name = kServerName;
  resp.frame_body_bytes_max = cfg.frame_body_bytes_max;
  resp.payload_bytes_max = cfg.payload_bytes_max;
  resp.inflight_requests_max = cfg.inflight_requests_max;
  resp.fanout_timelines_max = cfg.fanout_timelines_max;
  resp.wait_timeout_ms_max = proto::kWaitTimeoutMsMax;
  resp.grants = rights->Grants();
  size_t start = c.Begin(Op::kHello, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::Encode(resp, w);
  c.End(start);
}

void Dispatcher::Ping(Connection& c, uint64_t id, std::string_view body) {
  proto::PingRequest req;
  if (!proto::Decode(body, &req)) return Malformed(c, static_cast<uint8_t>(Op::kPing), id);
  size_t start = c.Begin(Op::kPing, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::Encode(req, w);  // req.data views the input buffer, not `out`: safe to copy
  c.End(start);
}

void Dispatcher::Stats(Connection& c, uint64_t id, std::string_view body) {
  if (!proto::DecodeEmpty(body)) return Malformed(c, static_cast<uint8_t>(Op::kStats), id);
  ServerCore& core = loop_->core();
  std::vector<const ServerStats*> all;
  for (auto& l : core.loops) all.push_back(&l->stats());
  proto::StatsResponse resp;
  resp.counters = CollectStats(all);
  DbStats d = core.db->Stats();
  auto add = [&resp](const char* name, uint64_t v) { resp.counters.emplace_back(name, v); };
  add("connections_max", core.config.connections_max);
  add("uptime_ms", static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::steady_clock::now() - core.started)
                                             .count()));
  add("loops", core.loops.size());
  add("db_appends", d.appends);
  add("db_appends_deduplicated", d.appends_deduplicated);
  add("db_groups_committed", d.groups_committed);
  // Group-commit batch size: messages per group commit, times 100 (two decimals).
  add("db_group_commit_avg_messages_x100",
      d.groups_committed ? d.appends * 100 / d.groups_committed : 0);
  add("db_syncs", d.syncs);
  add("db_bytes_written", d.bytes_written);
  add("db_gets", d.gets);
  add("db_scans", d.scans);
  add("db_timelines", d.timelines);
  add("db_dedupe_entries", d.dedupe_entries);
  add("db_memory_timeline_bytes", d.memory_timeline_bytes);
  add("db_memory_active_index_bytes", d.memory_active_index_bytes);
  add("db_memory_dedupe_bytes", d.memory_dedupe_bytes);
  // The engine's maintenance, background and requested: mutations written, TTL segment drops,
  // compaction runs, and the decompressed-block cache.
  add("db_mutations", d.mutations);
  add("db_segments_expired", d.segments_expired);
  add("db_compactions", d.compactions);
  add("db_compaction_bytes_read", d.compaction_bytes_read);
  add("db_compaction_bytes_written", d.compaction_bytes_written);
  add("db_block_cache_hits", d.block_cache_hits);
  add("db_block_cache_misses", d.block_cache_misses);
  add("db_block_cache_bytes", d.block_cache_bytes);
  // The COMPACT jobs of this server (per job, with their outcome).
  const CompactionJobs::Totals ct = core.compactions.totals();
  add("compactions_started", ct.started);
  add("compactions_done", ct.done);
  add("compactions_failed", ct.failed);
  add("compaction_bytes_read", ct.bytes_read);
  add("compaction_bytes_written", ct.bytes_written);
  add("compaction_records_dropped", ct.records_dropped);
  add("compaction_segments_expired", ct.segments_expired);
  resp.io_backend = d.io_backend;
  size_t start = c.Begin(Op::kStats, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::Encode(resp, w);
  c.End(start);
}

void Dispatcher::NsCreate(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kNsCreate);
  proto::NsCreateRequest req;
  if (!proto::Decode(body, &req)) return Malformed(c, op, id);
  if (!CheckWrite(c, op, id, req.name)) return;
  proto::FillNamespaceDefaults(&req.options);
  // Creating a namespace writes files and fsyncs the catalog: on the admin thread.
  auto task = [call = StartAsync(c, id), name = std::string(req.name), options = req.options] {
    Status s = call.core().db->CreateNamespace(name, options);
    if (s.ok()) call.core().Log("namespace created: " + name);
    call.Complete([id = call.id(), s](Dispatcher& d, Connection& c) {
      if (!s.ok()) return d.Fail(c, static_cast<uint8_t>(Op::kNsCreate), id, s);
      d.Empty(c, Op::kNsCreate, id);
    });
  };
  if (!loop_->core().admin.Post(std::move(task))) {
    c.DropInflight();
    Fail(c, op, id, Status::Closed("server stopping"));
  }
}

void Dispatcher::NsList(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kNsList);
  if (!proto::DecodeEmpty(body)) return Malformed(c, op, id);
  auto list = loop_->core().db->ListNamespaces();
  if (!list.ok()) return Fail(c, op, id, list.status());
  std::vector<NamespaceInfo> visible;
  for (auto& ns : *list) {
    if (c.rights()->CanRead(ns.name)) visible.push_back(std::move(ns));
  }
  size_t start = c.Begin(Op::kNsList, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::EncodeNamespaceInfos(visible, w);
  c.End(start);
}

void Dispatcher::NsDescribe(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kNsDescribe);
  proto::NsDescribeRequest req;
  if (!proto::Decode(body, &req)) return Malformed(c, op, id);
  if (!CheckRead(c, op, id, req.name)) return;
  auto info = loop_->core().db->DescribeNamespace(req.name);
  if (!info.ok()) return Fail(c, op, id, info.status());
  size_t start = c.Begin(Op::kNsDescribe, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::EncodeNamespaceInfo(*info, w);
  c.End(start);
}

bool Dispatcher::CheckRead(Connection& c, uint8_t op, uint64_t id, std::string_view ns) {
  if (c.rights()->CanRead(ns)) return true;
  Fail(c, op, id, Status::PermissionDenied("no read right on namespace '" + std::string(ns) + "'"));
  return false;
}

bool Dispatcher::CheckWrite(Connection& c, uint8_t op, uint64_t id, std::string_view ns) {
  if (c.rights()->CanWrite(ns)) return true;
  Fail(c, op, id,
       Status::PermissionDenied("no write right on namespace '" + std::string(ns) + "'"));
  return false;
}

bool Dispatcher::CheckAdmin(Connection& c, uint8_t op, uint64_t id, std::string_view ns) {
  if (c.rights()->CanAdmin(ns)) return true;
  Fail(c, op, id,
       Status::PermissionDenied(ns.empty()
                                    ? std::string("no admin right on every namespace ('*')")
                                    : "no admin right on namespace '" + std::string(ns) + "'"));
  return false;
}

void Dispatcher::Fail(Connection& c, uint8_t op, uint64_t id, const Status& s) {
  ServerStats::Inc(loop_->stats().errors);
  c.Error(op, id, static_cast<uint16_t>(s.code()), s.message(), /*fatal=*/false);
}

void Dispatcher::Malformed(Connection& c, uint8_t op, uint64_t id) {
  ServerStats::Inc(loop_->stats().errors);
  c.Error(op, id, Code(ErrorCode::kMalformedFrame),
          "malformed " + std::string(proto::OpName(op)) + " body", /*fatal=*/true);
}

void Dispatcher::Empty(Connection& c, Op op, uint64_t id) {
  c.End(c.Begin(op, proto::kFlagResponse, id));
}

AsyncCall Dispatcher::StartAsync(Connection& c, uint64_t id) {
  c.AddInflight();
  return AsyncCall(loop_, loop_->core().shared_from_this(), c.id(), id, NowUs());
}

Connection* Dispatcher::Completed(uint64_t conn_id, int64_t start_us, bool append) {
  int64_t micros = NowUs() - start_us;
  ServerStats& st = loop_->stats();
  (append ? st.append_latency : st.read_latency).Record(static_cast<uint64_t>(micros));
  if (micros / 1000 > static_cast<int64_t>(loop_->core().config.slow_request_ms)) {
    ServerStats::Inc(st.slow_requests);
    loop_->core().Log("slow request: " + std::to_string(micros / 1000) + " ms");
  }
  Connection* c = loop_->Find(conn_id);
  if (!c) return nullptr;
  c->DropInflight();
  loop_->MarkDirty(*c);
  return c;
}

}  // namespace tldb::server
