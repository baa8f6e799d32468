// Dispatcher: maintenance operations. MUTATE goes through Db::MutateAsync like an append
// (durable before its answer, completed through the loop's queue); NS_SET_OPTIONS runs on the
// admin thread (the catalog is rewritten and fsynced); COMPACT queues a job on the compaction
// thread and answers at once with its id, and COMPACT_STATUS reports that job's progress.
#include "async_call.h"
#include "dispatcher.h"
#include "loop.h"

namespace tldb::server {

using proto::Op;

void Dispatcher::Mutate(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kMutate);
  proto::MutateRequest req;
  if (!proto::Decode(body, &req)) return Malformed(c, op, id);
  if (!CheckWrite(c, op, id, req.ns)) return;
  if (req.kind != MutationKind::kEdit && !req.payload.empty()) {
    return Fail(c, op, id, Status::InvalidArgument("only an edit carries a payload"));
  }
  Mutation m{req.kind, req.timeline, req.seq, req.payload, req.durability};
  MutationKind kind = req.kind;
  // The engine copies the mutation's strings before MutateAsync returns; the callback may run
  // on an engine thread (or here, for an argument error), so it only posts the result.
  loop_->core().db->MutateAsync(
      req.ns, m, [call = StartAsync(c, id), kind](Result<MutationResult> r) mutable {
        call.Post([conn_id = call.conn_id(), id = call.id(), start = call.start_us(), kind,
                   r = std::move(r)](Dispatcher& d) { d.MutateDone(conn_id, id, kind, start, r); });
      });
}

void Dispatcher::MutateDone(uint64_t conn_id, uint64_t id, MutationKind kind, int64_t start_us,
                            const Result<MutationResult>& r) {
  if (r.ok()) {
    ServerStats& st = loop_->stats();
    switch (kind) {
      case MutationKind::kRecall:
        ServerStats::Inc(st.recalls);
        break;
      case MutationKind::kEdit:
        ServerStats::Inc(st.edits);
        break;
      case MutationKind::kTrim:
        ServerStats::Inc(st.trims);
        break;
      case MutationKind::kDeleteTimeline:
        ServerStats::Inc(st.timeline_deletes);
        break;
    }
    if (r->noop) ServerStats::Inc(st.mutations_noop);
  }
  Connection* c = Completed(conn_id, start_us, /*append=*/true);
  if (!c) return;
  if (!r.ok()) return Fail(*c, static_cast<uint8_t>(Op::kMutate), id, r.status());
  size_t start = c->Begin(Op::kMutate, proto::kFlagResponse, id);
  auto w = c->Writer();
  proto::EncodeMutationResult(r.value(), w);
  c->End(start);
}

void Dispatcher::NsSetOptions(Connection& c, uint64_t id, std::string_view body) {
  uint8_t op = static_cast<uint8_t>(Op::kNsSetOptions);
  proto::NsSetOptionsRequest req;
  if (!proto::Decode(body, &req)) return Malformed(c, op, id);
  if (!CheckAdmin(c, op, id, req.name)) return;
  // Read-modify-write on the admin thread: requests of all loops are serialized there, so two
  // NS_SET_OPTIONS changing different fields cannot undo each other.
  auto task = [call = StartAsync(c, id), op, name = std::string(req.name), mask = req.mask,
               wanted = req.options] {
    Db* db = call.core().db;
    Result<NamespaceInfo> info = db->DescribeNamespace(name);
    if (info.ok()) {
      NamespaceOptions next = info->options;
      proto::ApplyNsOptions(mask, wanted, &next);
      proto::FillNamespaceDefaults(&next);
      Status s = next == info->options ? Status::Ok() : db->SetNamespaceOptions(name, next);
      info = s.ok() ? db->DescribeNamespace(name) : Result<NamespaceInfo>(s);
      if (s.ok()) call.core().Log("namespace options changed: " + name);
    }
    call.Complete([id = call.id(), op, info = std::move(info)](Dispatcher& d, Connection& c) {
      if (!info.ok()) return d.Fail(c, op, id, info.status());
      size_t f = c.Begin(Op::kNsSetOptions, proto::kFlagResponse, id);
      auto w = c.Writer();
      proto::EncodeNamespaceInfo(*info, w);
      c.End(f);
    });
  };
  if (!loop_->core().admin.Post(std::move(task))) {
    c.DropInflight();
    Fail(c, op, id, Status::Closed("server stopping"));
  }
}

void Dispatcher::Compact(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kCompact);
  proto::CompactRequest req;
  if (!proto::Decode(body, &req)) return Malformed(c, op, id);
  if (!CheckAdmin(c, op, id, req.ns)) return;
  ServerCore& core = loop_->core();
  if (!req.ns.empty()) {
    // Known namespaces only, so that a typo fails now instead of in COMPACT_STATUS.
    auto info = core.db->DescribeNamespace(req.ns);
    if (!info.ok()) return Fail(c, op, id, info.status());
  }
  auto job = core.compactions.Start(req.ns, req.full);
  if (!job.ok()) return Fail(c, op, id, job.status());
  core.Log("compaction job " + std::to_string(*job) + " queued for " +
           (req.ns.empty() ? std::string("every namespace") : "namespace " + std::string(req.ns)));
  size_t start = c.Begin(Op::kCompact, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::Encode(proto::CompactResponse{*job}, w);
  c.End(start);
}

void Dispatcher::CompactStatus(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kCompactStatus);
  proto::CompactStatusRequest req;
  if (!proto::Decode(body, &req)) return Malformed(c, op, id);
  auto job = loop_->core().compactions.Get(req.job_id);
  if (!job.ok()) return Fail(c, op, id, job.status());
  if (!CheckAdmin(c, op, id, job->ns)) return;
  size_t start = c.Begin(Op::kCompactStatus, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::Encode(*job, w);
  c.End(start);
}

}  // namespace tldb::server
