// Client: typed operations over ClientImpl (encode request, decode response).
#include "tldb/client.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "client_impl.h"
#include "protocol/backup_messages.h"
#include "protocol/messages.h"
#include "wire_status.h"

namespace tldb {

namespace {

using proto::Op;

template <typename Msg>
std::string Body(const Msg& m) {
  std::string body;
  proto::WireWriter w(&body);
  proto::Encode(m, w);
  return body;
}

// Wraps a typed callback into a raw one: decode with `decode`, or report Corruption.
template <typename T, typename DecodeFn>
ClientImpl::RawCallback Typed(Callback<T> done, DecodeFn decode) {
  return [done = std::move(done), decode](Status s, std::string_view body) {
    if (!s.ok()) return done(Result<T>(s));
    T value{};
    if (!decode(body, &value)) return done(Result<T>(Status::Corruption("malformed response")));
    done(Result<T>(std::move(value)));
  };
}

// Runs an async call as a blocking one (ClientImpl::Blocking: this thread reads the response).
template <typename T, typename StartFn>
Result<T> Await(ClientImpl* impl, StartFn start) {
  if (impl->OnIoThread()) {
    return Status::InvalidArgument("blocking tldb::Client call from a client callback");
  }
  return impl->Blocking<T>(start);
}

bool DecodeWait(std::string_view b, WaitResult* out) {
  proto::WaitResponse r;
  if (!proto::Decode(b, &r)) return false;
  *out = {r.ready, r.last_seq};
  return true;
}
TimelineRead FromWire(proto::TimelineRead&& r) {
  return TimelineRead{r.last_seq, r.more, std::move(r.messages)};
}
bool DecodeWaitRead(std::string_view b, WaitReadResult* out) {
  proto::WaitMessagesResponse r;
  if (!proto::Decode(b, &r)) return false;
  out->ready = r.ready;
  out->read = FromWire(std::move(r.read));
  return true;
}
bool DecodeReadMulti(std::string_view b, std::vector<TimelineRead>* out) {
  proto::ReadMultiResponse r;
  if (!proto::Decode(b, &r)) return false;
  out->reserve(r.timelines.size());
  for (auto& t : r.timelines) out->push_back(FromWire(std::move(t)));
  return true;
}
bool DecodeStats(std::string_view b, ServerStatsSnapshot* out) {
  proto::StatsResponse r;
  if (!proto::Decode(b, &r)) return false;
  out->counters = std::move(r.counters);
  out->io_backend = std::move(r.io_backend);
  return true;
}
bool DecodePing(std::string_view b, std::string* out) {
  proto::PingRequest r;
  if (!proto::Decode(b, &r)) return false;
  out->assign(r.data);
  return true;
}
bool DecodeCursorSet(std::string_view b, CursorSetResult* out) {
  proto::CursorSetResponse r;
  if (!proto::Decode(b, &r)) return false;
  *out = {r.cursor, r.moved};
  return true;
}
bool DecodeCursors(std::string_view b, std::vector<CursorState>* out) {
  std::vector<proto::CursorInfo> r;
  if (!proto::DecodeCursorInfos(b, &r)) return false;
  for (const auto& c : r) out->push_back({c.cursor, c.last_seq, c.unread});
  return true;
}

bool DecodeCompactStart(std::string_view b, uint64_t* out) {
  proto::CompactResponse r;
  if (!proto::Decode(b, &r)) return false;
  *out = r.job_id;
  return true;
}
bool DecodeCompactStatus(std::string_view b, CompactionStatus* out) {
  proto::CompactStatusResponse r;
  if (!proto::Decode(b, &r)) return false;
  out->job_id = r.job_id;
  out->ns = std::move(r.ns);
  out->full = r.full;
  out->state = static_cast<CompactionStatus::State>(r.state);
  if (r.state == proto::CompactState::kFailed) {
    out->error = StatusFromWire(r.error_code, r.error_message);
    if (out->error.ok()) out->error = Status::IOError(r.error_message);
  }
  out->progress = r.progress;
  return true;
}
bool DecodeBackupOpen(std::string_view b, BackupManifest* out) {
  proto::BackupOpenResponse r;
  if (!proto::Decode(b, &r)) return false;
  out->backup_id = r.backup_id;
  out->chunk_bytes_max = r.chunk_bytes_max;
  for (auto& f : r.files) out->files.push_back({std::move(f.path), f.bytes, f.xxh3});
  for (auto& n : r.namespaces) {
    out->namespaces.push_back({std::move(n.ns), LogPosition{n.segment, n.offset}});
  }
  return true;
}
// The wire form of an update: the mask of set fields and their values.
proto::NsSetOptionsRequest SetOptionsRequest(std::string_view name,
                                             const NamespaceOptionsUpdate& u) {
  proto::NsSetOptionsRequest m;
  m.name = name;
  auto set = [&m](const auto& field, uint16_t bit, auto* dst) {
    if (!field) return;
    m.mask |= bit;
    *dst = *field;
  };
  set(u.ttl_ms, proto::kOptTtlMs, &m.options.ttl_ms);
  set(u.messages_per_timeline_max, proto::kOptMessagesPerTimelineMax,
      &m.options.messages_per_timeline_max);
  set(u.compact_live_pct, proto::kOptCompactLivePct, &m.options.compact_live_pct);
  set(u.compress_block_bytes, proto::kOptCompressBlockBytes, &m.options.compress_block_bytes);
  set(u.compress_level, proto::kOptCompressLevel, &m.options.compress_level);
  set(u.durability, proto::kOptDurability, &m.options.durability);
  set(u.segment_bytes_max, proto::kOptSegmentBytesMax, &m.options.segment_bytes_max);
  return m;
}

}  // namespace

uint64_t ServerStatsSnapshot::Get(std::string_view name) const {
  for (const auto& [k, v] : counters) {
    if (k == name) return v;
  }
  return 0;
}

Result<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  auto impl = ClientImpl::Connect(options);
  if (!impl.ok()) return impl.status();
  return std::unique_ptr<Client>(new Client(std::move(impl).value()));
}

Client::Client(std::unique_ptr<ClientImpl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;
const ServerInfo& Client::server_info() const {
  return impl_->info();
}

const std::string& Client::server_address() const {
  return impl_->options().server;
}
void Client::Close() {
  impl_->Close();
}

// ---------------------------------------------------------------- async

void Client::AppendAsync(std::string_view ns, std::string_view timeline, std::string_view payload,
                         const AppendOptions& opts, Callback<AppendResult> done, CallOptions call) {
  proto::AppendRequest m{ns,
                         timeline,
                         opts.client_msg_id,
                         opts.expected_last_seq.has_value(),
                         opts.expected_last_seq.value_or(0),
                         opts.durability,
                         payload};
  impl_->Call(Op::kAppend, Body(m), call.timeout_ms, !opts.client_msg_id.empty(),
              Typed<AppendResult>(std::move(done), proto::DecodeAppendResult));
}

void Client::AppendFanoutAsync(std::string_view ns, std::span<const std::string_view> timelines,
                               std::string_view payload, const AppendOptions& opts,
                               Callback<std::vector<AppendResult>> done, CallOptions call) {
  proto::AppendFanoutRequest m{
      ns, {timelines.begin(), timelines.end()}, opts.client_msg_id, opts.durability, payload};
  impl_->Call(Op::kAppendFanout, Body(m), call.timeout_ms, !opts.client_msg_id.empty(),
              Typed<std::vector<AppendResult>>(std::move(done), proto::DecodeAppendResults));
}

void Client::GetAsync(std::string_view ns, std::string_view timeline, Seq seq,
                      Callback<Message> done, CallOptions call) {
  impl_->Call(Op::kGet, Body(proto::GetRequest{ns, timeline, seq}), call.timeout_ms, false,
              Typed<Message>(std::move(done), proto::DecodeMessage));
}

void Client::ScanAsync(std::string_view ns, std::string_view timeline, const ScanOptions& opts,
                       Callback<std::vector<Message>> done, CallOptions call) {
  proto::ScanRequest m{ns,
                       timeline,
                       opts.from_seq,
                       opts.to_seq,
                       opts.direction,
                       opts.limit,
                       static_cast<uint32_t>(std::min<uint64_t>(opts.bytes_max, UINT32_MAX))};
  impl_->Call(Op::kScan, Body(m), call.timeout_ms, false,
              Typed<std::vector<Message>>(std::move(done), proto::DecodeMessages));
}

void Client::LastSeqAsync(std::string_view ns, std::span<const std::string_view> timelines,
                          Callback<std::vector<Seq>> done, CallOptions call) {
  proto::LastSeqRequest m{ns, {timelines.begin(), timelines.end()}};
  impl_->Call(Op::kLastSeq, Body(m), call.timeout_ms, false,
              Typed<std::vector<Seq>>(std::move(done), proto::DecodeSeqs));
}

void Client::WaitAsync(std::string_view ns, std::string_view timeline, Seq after_seq,
                       uint32_t timeout_ms, Callback<WaitResult> done, CallOptions call) {
  uint32_t deadline = impl_->Deadline(call.timeout_ms) + timeout_ms;
  impl_->Call(Op::kWait, Body(proto::WaitRequest{ns, timeline, after_seq, timeout_ms}), deadline,
              false, Typed<WaitResult>(std::move(done), DecodeWait));
}

void Client::ReadMultiAsync(std::string_view ns, std::span<const TimelineAfter> timelines,
                            const ReadLimits& limits, Callback<std::vector<TimelineRead>> done,
                            CallOptions call) {
  proto::ReadMultiRequest m{ns, limits.timeline_limit, limits.limit, limits.bytes_max, {}};
  m.timelines.reserve(timelines.size());
  for (const auto& t : timelines) m.timelines.push_back({t.timeline, t.after_seq});
  impl_->Call(Op::kReadMulti, Body(m), call.timeout_ms, false,
              Typed<std::vector<TimelineRead>>(std::move(done), DecodeReadMulti));
}

void Client::WaitReadAsync(std::string_view ns, std::string_view timeline, Seq after_seq,
                           uint32_t timeout_ms, const ReadLimits& limits,
                           Callback<WaitReadResult> done, CallOptions call) {
  uint32_t deadline = impl_->Deadline(call.timeout_ms) + timeout_ms;
  proto::WaitRequest m{ns, timeline, after_seq, timeout_ms, true, limits.limit, limits.bytes_max};
  impl_->Call(Op::kWait, Body(m), deadline, false,
              Typed<WaitReadResult>(std::move(done), DecodeWaitRead));
}

void Client::CreateNamespaceAsync(std::string_view name, const NamespaceOptions& opts,
                                  StatusCallback done, CallOptions call) {
  impl_->Call(Op::kNsCreate, Body(proto::NsCreateRequest{name, opts}), call.timeout_ms, false,
              [done = std::move(done)](Status s, std::string_view) { done(s); });
}

void Client::ListNamespacesAsync(Callback<std::vector<NamespaceInfo>> done, CallOptions call) {
  impl_->Call(Op::kNsList, {}, call.timeout_ms, false,
              Typed<std::vector<NamespaceInfo>>(std::move(done), proto::DecodeNamespaceInfos));
}

void Client::DescribeNamespaceAsync(std::string_view name, Callback<NamespaceInfo> done,
                                    CallOptions call) {
  impl_->Call(Op::kNsDescribe, Body(proto::NsDescribeRequest{name}), call.timeout_ms, false,
              Typed<NamespaceInfo>(std::move(done), proto::DecodeNamespaceInfo));
}

void Client::StatsAsync(Callback<ServerStatsSnapshot> done, CallOptions call) {
  impl_->Call(Op::kStats, {}, call.timeout_ms, false,
              Typed<ServerStatsSnapshot>(std::move(done), DecodeStats));
}

void Client::PingAsync(std::string_view data, Callback<std::string> done, CallOptions call) {
  impl_->Call(Op::kPing, Body(proto::PingRequest{data}), call.timeout_ms, false,
              Typed<std::string>(std::move(done), DecodePing));
}

void Client::ClusterMapAsync(Callback<proto::SlotMap> done, CallOptions call) {
  // Not Typed(): a SlotMap is only made by its checked constructors.
  impl_->Call(Op::kClusterMap, {}, call.timeout_ms, false,
              [done = std::move(done)](Status s, std::string_view body) {
                if (!s.ok()) return done(Result<proto::SlotMap>(s));
                auto map = proto::SlotMap::DecodeWire(body);
                if (!map.ok()) {
                  return done(Result<proto::SlotMap>(Status::Corruption(
                      "malformed CLUSTER_MAP answer: " + map.status().message())));
                }
                done(std::move(map));
              });
}

void Client::SetCursorAsync(std::string_view device, std::string_view ns, std::string_view timeline,
                            Seq seq, bool reset, Callback<CursorSetResult> done, CallOptions call) {
  impl_->Call(Op::kCursorSet, Body(proto::CursorSetRequest{device, ns, timeline, seq, reset}),
              call.timeout_ms, false, Typed<CursorSetResult>(std::move(done), DecodeCursorSet));
}

void Client::GetCursorsAsync(std::string_view device, std::string_view ns,
                             std::span<const std::string_view> timelines,
                             Callback<std::vector<CursorState>> done, CallOptions call) {
  proto::CursorGetRequest m{device, ns, {timelines.begin(), timelines.end()}};
  impl_->Call(Op::kCursorGet, Body(m), call.timeout_ms, false,
              Typed<std::vector<CursorState>>(std::move(done), DecodeCursors));
}

void Client::MutateAsync(std::string_view ns, const Mutation& m, Callback<MutationResult> done,
                         CallOptions call) {
  if (m.kind == MutationKind::kDeleteTimeline && m.seq == 0) {
    // Resolve "through the last" first: the request then names a SeqId, so a retry after a
    // reconnection cannot delete a message appended after the first attempt.
    std::string_view keys[] = {m.timeline};
    LastSeqAsync(
        ns, keys,
        [this, ns = std::string(ns), timeline = std::string(m.timeline), durability = m.durability,
         done = std::move(done), call](Result<std::vector<Seq>> r) mutable {
          if (!r.ok()) return done(r.status());
          if (r->size() != 1 || r->front() == 0) return done(MutationResult{0, true});
          Mutation resolved{MutationKind::kDeleteTimeline, timeline, r->front(), {}, durability};
          MutateAsync(ns, resolved, std::move(done), call);
        },
        call);
    return;
  }
  proto::MutateRequest req{m.kind, ns, m.timeline, m.seq, m.durability, m.payload};
  impl_->Call(Op::kMutate, Body(req), call.timeout_ms, /*retriable=*/true,
              Typed<MutationResult>(std::move(done), proto::DecodeMutationResult));
}

void Client::RecallAsync(std::string_view ns, std::string_view timeline, Seq seq,
                         Callback<MutationResult> done, CallOptions call) {
  MutateAsync(ns, {MutationKind::kRecall, timeline, seq, {}, Durability::kDefault}, std::move(done),
              call);
}

void Client::EditAsync(std::string_view ns, std::string_view timeline, Seq seq,
                       std::string_view payload, Callback<MutationResult> done, CallOptions call) {
  MutateAsync(ns, {MutationKind::kEdit, timeline, seq, payload, Durability::kDefault},
              std::move(done), call);
}

void Client::TrimAsync(std::string_view ns, std::string_view timeline, Seq below_seq,
                       Callback<MutationResult> done, CallOptions call) {
  MutateAsync(ns, {MutationKind::kTrim, timeline, below_seq, {}, Durability::kDefault},
              std::move(done), call);
}

void Client::DeleteTimelineAsync(std::string_view ns, std::string_view timeline, Seq through_seq,
                                 Callback<MutationResult> done, CallOptions call) {
  MutateAsync(ns, {MutationKind::kDeleteTimeline, timeline, through_seq, {}, Durability::kDefault},
              std::move(done), call);
}

void Client::SetNamespaceOptionsAsync(std::string_view name, const NamespaceOptionsUpdate& update,
                                      Callback<NamespaceInfo> done, CallOptions call) {
  // Not re-sent after a reconnection: setting the same values twice is harmless, but the
  // caller should see that the outcome is unknown.
  impl_->Call(Op::kNsSetOptions, Body(SetOptionsRequest(name, update)), call.timeout_ms, false,
              Typed<NamespaceInfo>(std::move(done), proto::DecodeNamespaceInfo));
}

void Client::StartCompactionAsync(std::string_view ns, bool full, Callback<uint64_t> done,
                                  CallOptions call) {
  impl_->Call(Op::kCompact, Body(proto::CompactRequest{ns, full}), call.timeout_ms, false,
              Typed<uint64_t>(std::move(done), DecodeCompactStart));
}

void Client::GetCompactionAsync(uint64_t job_id, Callback<CompactionStatus> done,
                                CallOptions call) {
  impl_->Call(Op::kCompactStatus, Body(proto::CompactStatusRequest{job_id}), call.timeout_ms, false,
              Typed<CompactionStatus>(std::move(done), DecodeCompactStatus));
}

void Client::OpenBackupAsync(Callback<BackupManifest> done, CallOptions call) {
  impl_->Call(Op::kBackupOpen, {}, call.timeout_ms, false,
              Typed<BackupManifest>(std::move(done), DecodeBackupOpen));
}

void Client::ReadBackupAsync(uint64_t backup_id, uint32_t file_index, uint64_t offset,
                             uint32_t bytes_max, Callback<std::string> done, CallOptions call) {
  auto decode = [offset](std::string_view b, std::string* out) {
    proto::BackupReadResponse r;
    if (!proto::Decode(b, &r) || r.offset != offset) return false;
    out->assign(r.data);
    return true;
  };
  impl_->Call(Op::kBackupRead,
              Body(proto::BackupReadRequest{backup_id, file_index, offset, bytes_max}),
              call.timeout_ms, false, Typed<std::string>(std::move(done), decode));
}

void Client::CloseBackupAsync(uint64_t backup_id, StatusCallback done, CallOptions call) {
  impl_->Call(Op::kBackupClose, Body(proto::BackupCloseRequest{backup_id}), call.timeout_ms, false,
              [done = std::move(done)](Status s, std::string_view) { done(s); });
}

// ---------------------------------------------------------------- blocking

Result<AppendResult> Client::Append(std::string_view ns, std::string_view timeline,
                                    std::string_view payload, const AppendOptions& opts,
                                    CallOptions call) {
  return Await<AppendResult>(impl_.get(),
                             [&](auto cb) { AppendAsync(ns, timeline, payload, opts, cb, call); });
}

Result<std::vector<AppendResult>> Client::AppendFanout(std::string_view ns,
                                                       std::span<const std::string_view> timelines,
                                                       std::string_view payload,
                                                       const AppendOptions& opts,
                                                       CallOptions call) {
  return Await<std::vector<AppendResult>>(
      impl_.get(), [&](auto cb) { AppendFanoutAsync(ns, timelines, payload, opts, cb, call); });
}

Result<Message> Client::Get(std::string_view ns, std::string_view timeline, Seq seq,
                            CallOptions call) {
  return Await<Message>(impl_.get(), [&](auto cb) { GetAsync(ns, timeline, seq, cb, call); });
}

Result<std::vector<Message>> Client::Scan(std::string_view ns, std::string_view timeline,
                                          const ScanOptions& opts, CallOptions call) {
  return Await<std::vector<Message>>(impl_.get(),
                                     [&](auto cb) { ScanAsync(ns, timeline, opts, cb, call); });
}

Result<std::vector<Message>> Client::Latest(std::string_view ns, std::string_view timeline,
                                            uint32_t n, CallOptions call) {
  ScanOptions opts;
  opts.direction = Direction::kBackward;
  opts.limit = n;
  auto r = Scan(ns, timeline, opts, call);
  if (r.ok()) std::reverse(r->begin(), r->end());
  return r;
}

Result<std::vector<Seq>> Client::LastSeq(std::string_view ns,
                                         std::span<const std::string_view> timelines,
                                         CallOptions call) {
  return Await<std::vector<Seq>>(impl_.get(),
                                 [&](auto cb) { LastSeqAsync(ns, timelines, cb, call); });
}

Result<WaitResult> Client::Wait(std::string_view ns, std::string_view timeline, Seq after_seq,
                                uint32_t timeout_ms, CallOptions call) {
  return Await<WaitResult>(
      impl_.get(), [&](auto cb) { WaitAsync(ns, timeline, after_seq, timeout_ms, cb, call); });
}

Result<std::vector<TimelineRead>> Client::ReadMulti(std::string_view ns,
                                                    std::span<const TimelineAfter> timelines,
                                                    const ReadLimits& limits, CallOptions call) {
  return Await<std::vector<TimelineRead>>(
      impl_.get(), [&](auto cb) { ReadMultiAsync(ns, timelines, limits, cb, call); });
}

Result<WaitReadResult> Client::WaitRead(std::string_view ns, std::string_view timeline,
                                        Seq after_seq, uint32_t timeout_ms,
                                        const ReadLimits& limits, CallOptions call) {
  return Await<WaitReadResult>(impl_.get(), [&](auto cb) {
    WaitReadAsync(ns, timeline, after_seq, timeout_ms, limits, cb, call);
  });
}

Status Client::CreateNamespace(std::string_view name, const NamespaceOptions& opts,
                               CallOptions call) {
  auto r = Await<bool>(impl_.get(), [&](auto cb) {
    CreateNamespaceAsync(
        name, opts, [cb](Status s) { s.ok() ? cb(true) : cb(Result<bool>(s)); }, call);
  });
  return r.status();
}

Result<std::vector<NamespaceInfo>> Client::ListNamespaces(CallOptions call) {
  return Await<std::vector<NamespaceInfo>>(impl_.get(),
                                           [&](auto cb) { ListNamespacesAsync(cb, call); });
}

Result<NamespaceInfo> Client::DescribeNamespace(std::string_view name, CallOptions call) {
  return Await<NamespaceInfo>(impl_.get(),
                              [&](auto cb) { DescribeNamespaceAsync(name, cb, call); });
}

Result<ServerStatsSnapshot> Client::Stats(CallOptions call) {
  return Await<ServerStatsSnapshot>(impl_.get(), [&](auto cb) { StatsAsync(cb, call); });
}

Result<std::string> Client::Ping(std::string_view data, CallOptions call) {
  return Await<std::string>(impl_.get(), [&](auto cb) { PingAsync(data, cb, call); });
}

Result<proto::SlotMap> Client::ClusterMap(CallOptions call) {
  return Await<proto::SlotMap>(impl_.get(), [&](auto cb) { ClusterMapAsync(cb, call); });
}

Result<CursorSetResult> Client::SetCursor(std::string_view device, std::string_view ns,
                                          std::string_view timeline, Seq seq, bool reset,
                                          CallOptions call) {
  return Await<CursorSetResult>(
      impl_.get(), [&](auto cb) { SetCursorAsync(device, ns, timeline, seq, reset, cb, call); });
}

Result<std::vector<CursorState>> Client::GetCursors(std::string_view device, std::string_view ns,
                                                    std::span<const std::string_view> timelines,
                                                    CallOptions call) {
  return Await<std::vector<CursorState>>(
      impl_.get(), [&](auto cb) { GetCursorsAsync(device, ns, timelines, cb, call); });
}

Result<MutationResult> Client::Mutate(std::string_view ns, const Mutation& m, CallOptions call) {
  return Await<MutationResult>(impl_.get(), [&](auto cb) { MutateAsync(ns, m, cb, call); });
}

Result<MutationResult> Client::Recall(std::string_view ns, std::string_view timeline, Seq seq,
                                      CallOptions call) {
  return Mutate(ns, {MutationKind::kRecall, timeline, seq, {}, Durability::kDefault}, call);
}

Result<MutationResult> Client::Edit(std::string_view ns, std::string_view timeline, Seq seq,
                                    std::string_view payload, CallOptions call) {
  return Mutate(ns, {MutationKind::kEdit, timeline, seq, payload, Durability::kDefault}, call);
}

Result<MutationResult> Client::Trim(std::string_view ns, std::string_view timeline, Seq below_seq,
                                    CallOptions call) {
  return Mutate(ns, {MutationKind::kTrim, timeline, below_seq, {}, Durability::kDefault}, call);
}

Result<MutationResult> Client::DeleteTimeline(std::string_view ns, std::string_view timeline,
                                              Seq through_seq, CallOptions call) {
  return Mutate(
      ns, {MutationKind::kDeleteTimeline, timeline, through_seq, {}, Durability::kDefault}, call);
}

Result<NamespaceInfo> Client::SetNamespaceOptions(std::string_view name,
                                                  const NamespaceOptionsUpdate& update,
                                                  CallOptions call) {
  return Await<NamespaceInfo>(impl_.get(),
                              [&](auto cb) { SetNamespaceOptionsAsync(name, update, cb, call); });
}

Result<uint64_t> Client::StartCompaction(std::string_view ns, bool full, CallOptions call) {
  return Await<uint64_t>(impl_.get(), [&](auto cb) { StartCompactionAsync(ns, full, cb, call); });
}

Result<CompactionStatus> Client::GetCompaction(uint64_t job_id, CallOptions call) {
  return Await<CompactionStatus>(impl_.get(),
                                 [&](auto cb) { GetCompactionAsync(job_id, cb, call); });
}

Result<CompactionStatus> Client::Compact(std::string_view ns, bool full,
                                         const CompactionProgressFn& progress, uint32_t poll_ms,
                                         CallOptions call) {
  auto job = StartCompaction(ns, full, call);
  if (!job.ok()) return job.status();
  while (true) {
    auto st = GetCompaction(*job, call);
    if (!st.ok()) return st.status();
    if (progress) progress(*st);
    if (st->state == CompactionStatus::State::kFailed) return st->error;
    if (st->finished()) return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::max<uint32_t>(poll_ms, 1)));
  }
}

Result<BackupManifest> Client::OpenBackup(CallOptions call) {
  return Await<BackupManifest>(impl_.get(), [&](auto cb) { OpenBackupAsync(cb, call); });
}

Result<std::string> Client::ReadBackup(uint64_t backup_id, uint32_t file_index, uint64_t offset,
                                       uint32_t bytes_max, CallOptions call) {
  return Await<std::string>(impl_.get(), [&](auto cb) {
    ReadBackupAsync(backup_id, file_index, offset, bytes_max, cb, call);
  });
}

Status Client::CloseBackup(uint64_t backup_id, CallOptions call) {
  auto r = Await<bool>(impl_.get(), [&](auto cb) {
    CloseBackupAsync(
        backup_id, [cb](Status s) { s.ok() ? cb(true) : cb(Result<bool>(s)); }, call);
  });
  return r.status();
}

Result<SubscriptionId> Client::Subscribe(std::string_view ns, std::string_view timeline,
                                         Seq after_seq, bool from_latest,
                                         SubscriptionHandler handler, CallOptions call) {
  return impl_->Subscribe(std::string(ns), std::string(timeline), after_seq, from_latest,
                          std::move(handler), call.timeout_ms);
}

Status Client::Unsubscribe(SubscriptionId id, CallOptions call) {
  return impl_->Unsubscribe(id, call.timeout_ms);
}

}  // namespace tldb
