#include "store/db_impl.h"

#include <algorithm>
#include <bit>
#include <mutex>

#include "index/segment_index.h"
#include "log/file_names.h"
#include "log/record_format.h"
#include "tldb/clock.h"

namespace tldb {

Result<std::unique_ptr<Db>> Db::Open(const std::string& dir, const Options& options) {
  auto db = std::make_unique<DbImpl>(dir, options);
  TLDB_RETURN_IF_ERROR(db->Init());
  return std::unique_ptr<Db>(std::move(db));
}

DbImpl::DbImpl(std::string dir, Options options)
    : dir_(std::move(dir)), options_(std::move(options)) {}

DbImpl::~DbImpl() {
  (void)Close();
}

Status DbImpl::Init() {
  if (options_.payload_bytes_max > kPayloadBytesCeiling) {
    return Status::InvalidArgument("payload_bytes_max exceeds the 16 MiB ceiling");
  }
  if (options_.fanout_timelines_max == 0 ||
      options_.fanout_timelines_max > kFanoutTimelinesCeiling) {
    return Status::InvalidArgument("fanout_timelines_max must be 1.." +
                                   std::to_string(kFanoutTimelinesCeiling));
  }
  if (options_.maintenance_nice < 0 || options_.maintenance_nice > 19) {
    return Status::InvalidArgument("maintenance_nice must be 0..19, got " +
                                   std::to_string(options_.maintenance_nice));
  }
  if (options_.scrub_period_ms != 0 && options_.scrub_bytes_per_s == 0) {
    return Status::InvalidArgument("scrub_bytes_per_s must be > 0 when scrub_period_ms is set");
  }
  if (!options_.clock) options_.clock = Clock::System();
  follower_ = options_.follower;
  block_cache_ = std::make_shared<BlockCache>(options_.block_cache_bytes);
  maintenance_ = std::make_unique<MaintenanceScheduler>(options_, [this] {
    std::vector<NamespaceLog*> logs;
    std::shared_lock l(mu_);
    if (closed_) return logs;
    for (auto& [name, log] : namespaces_) logs.push_back(log.get());
    return logs;
  });
  if (options_.file_system) {
    fs_ = options_.file_system;
  } else {
    TLDB_ASSIGN_OR_RETURN(fs_, NewFileSystem(options_.io_backend));
  }
  TLDB_ASSIGN_OR_RETURN(bool exists, fs_->Exists(dir_));
  if (!exists && !options_.create_if_missing) {
    return Status::NotFound("data directory " + dir_ + " does not exist");
  }
  TLDB_RETURN_IF_ERROR(fs_->CreateDir(dir_));
  TLDB_ASSIGN_OR_RETURN(lock_, fs_->Lock(LockFileName(dir_)));
  TLDB_RETURN_IF_ERROR(fs_->CreateDir(NamespacesDirName(dir_)));
  TLDB_ASSIGN_OR_RETURN(bool has_catalog, fs_->Exists(CatalogFileName(dir_)));
  if (has_catalog) {
    TLDB_ASSIGN_OR_RETURN(std::string bytes, fs_->ReadFileToString(CatalogFileName(dir_)));
    TLDB_ASSIGN_OR_RETURN(catalog_, DecodeCatalog(bytes, CatalogFileName(dir_)));
  }
  for (const auto& e : catalog_) {
    auto opened = NamespaceLog::Open(dir_, e, options_, fs_, options_.clock);
    if (!opened.ok() && opened.status().IsCorruption() && options_.refuse_damaged_namespaces) {
      Status refused = Status::Corruption("namespace '" + e.name +
                                          "' is damaged and refused: " + opened.status().message());
      if (options_.on_event) options_.on_event("recovery: " + refused.message());
      refused_.emplace(e.name, std::move(refused));
      continue;
    }
    TLDB_ASSIGN_OR_RETURN(auto log, std::move(opened));
    log->set_on_seal([this] { maintenance_->Wake(); });
    log->set_block_cache(block_cache_);
    namespaces_.emplace(e.name, std::move(log));
  }
  if (options_.background_maintenance) maintenance_->Start();
  return Status::Ok();
}

Status DbImpl::CreateNamespace(std::string_view name, const NamespaceOptions& options) {
  TLDB_RETURN_IF_ERROR(ValidateNamespaceName(name));
  TLDB_RETURN_IF_ERROR(ValidateNamespaceOptions(options));
  // Catalog writers take catalog_mu_; mu_ is held exclusively only to publish the result, so
  // reads and appends never wait for the directory and catalog fsyncs.
  std::lock_guard c(catalog_mu_);
  std::vector<CatalogEntry> next;
  {
    std::shared_lock l(mu_);
    if (closed_) return Status::Closed("db is closed");
    if (auto r = refused_.find(name); r != refused_.end()) return r->second;
    for (const auto& e : catalog_) {
      if (e.name != name) continue;
      if (e.options == options) return Status::Ok();
      return Status::AlreadyExists("namespace '" + std::string(name) +
                                   "' exists with other options");
    }
    next = catalog_;
  }
  CatalogEntry e;
  e.name = std::string(name);
  e.options = options;
  for (const auto& x : next) e.id = std::max(e.id, x.id);
  e.id += 1;
  next.push_back(e);
  // The namespace directory and its first segment exist before the catalog names them.
  TLDB_ASSIGN_OR_RETURN(auto log, NamespaceLog::Open(dir_, e, options_, fs_, options_.clock));
  TLDB_RETURN_IF_ERROR(fs_->SyncDir(NamespacesDirName(dir_)));
  const std::string bytes = EncodeCatalog(next);
  TLDB_RETURN_IF_ERROR(fs_->WriteFileAtomic(CatalogFileName(dir_), bytes));
  log->set_on_seal([this] { maintenance_->Wake(); });
  log->set_block_cache(block_cache_);
  std::unique_lock l(mu_);
  if (closed_) return Status::Closed("db closed while the namespace was created");
  log->SetFollower(follower_);
  {
    std::lock_guard o(owned_mu_);
    log->SetOwnership(owned_);
  }
  catalog_ = std::move(next);
  namespaces_.emplace(e.name, std::move(log));
  return Status::Ok();
}

Result<std::vector<NamespaceInfo>> DbImpl::ListNamespaces() {
  std::shared_lock l(mu_);
  std::vector<NamespaceInfo> out;
  for (const auto& [name, log] : namespaces_) out.push_back(log->Info());
  return out;
}

Result<NamespaceInfo> DbImpl::DescribeNamespace(std::string_view name) {
  TLDB_ASSIGN_OR_RETURN(NamespaceLog * log, Find(name));
  return log->Info();
}

Result<NamespaceLog*> DbImpl::Find(std::string_view ns) {
  std::shared_lock l(mu_);
  if (closed_) return Status::Closed("db is closed");
  auto it = namespaces_.find(ns);
  if (it == namespaces_.end()) {
    if (auto r = refused_.find(ns); r != refused_.end()) return r->second;
    return Status::NotFound("namespace '" + std::string(ns) + "' does not exist");
  }
  return it->second.get();
}

Status ValidateTimelineKey(std::string_view key) {
  if (key.empty() || key.size() > kTimelineKeyBytesMax) {
    return Status::InvalidArgument("timeline key must be 1-255 bytes, got " +
                                   std::to_string(key.size()));
  }
  return Status::Ok();
}

Status DbImpl::PrepareCommon(NamespaceLog* log, std::string_view payload, std::string_view cmid,
                             Durability durability, AppendRequest* r) {
  if (payload.size() > options_.payload_bytes_max) {
    return Status::InvalidArgument("payload of " + std::to_string(payload.size()) +
                                   " bytes exceeds payload_bytes_max " +
                                   std::to_string(options_.payload_bytes_max));
  }
  if (cmid.size() > kClientMsgIdBytesMax) {
    return Status::InvalidArgument("client_msg_id longer than 64 bytes");
  }
  const Durability d = durability == Durability::kDefault ? log->default_durability() : durability;
  r->sync = d != Durability::kBuffered;
  return Status::Ok();
}

Status DbImpl::PrepareMessage(NamespaceLog* log, std::string_view timeline,
                              std::string_view payload, const AppendOptions& o, AppendRequest* r) {
  TLDB_RETURN_IF_ERROR(PrepareCommon(log, payload, o.client_msg_id, o.durability, r));
  TLDB_RETURN_IF_ERROR(ValidateTimelineKey(timeline));
  r->op = MessageAppend{timeline, payload, o.client_msg_id, o.expected_last_seq};
  r->bytes_estimate = EncodedMessageBytes(timeline, o.client_msg_id, payload);
  return Status::Ok();
}

Status DbImpl::PrepareFanout(NamespaceLog* log, std::span<const std::string_view> targets,
                             std::string_view payload, const AppendOptions& o, AppendRequest* r) {
  TLDB_RETURN_IF_ERROR(PrepareCommon(log, payload, o.client_msg_id, o.durability, r));
  if (targets.empty() || targets.size() > options_.fanout_timelines_max) {
    return Status::InvalidArgument("fan-out needs 1.." +
                                   std::to_string(options_.fanout_timelines_max) +
                                   " timelines, got " + std::to_string(targets.size()));
  }
  if (o.expected_last_seq) {
    return Status::InvalidArgument("expected_last_seq is not supported for fan-out");
  }
  // A timeline listed twice is found in a table of the targets' hashes (open addressing, at
  // most half full): a std::set of the keys cost a node allocation and ~11 key comparisons per
  // target, ~20% of a synced fan-out's CPU time to 2,000 members; sorting the hashes ~7%.
  const size_t mask = std::bit_ceil(targets.size() * 2) - 1;
  std::vector<std::pair<uint64_t, uint32_t>> table(mask + 1);  // (KeyHash, index + 1; 0: free)
  std::vector<FanoutTarget> sizes;
  sizes.reserve(targets.size());
  std::vector<uint64_t> hashes;
  hashes.reserve(targets.size());
  for (uint32_t i = 0; i < targets.size(); ++i) {
    const std::string_view t = targets[i];
    TLDB_RETURN_IF_ERROR(ValidateTimelineKey(t));
    const uint64_t h = KeyHash(t);
    size_t p = h & mask;
    while (table[p].second != 0 && (table[p].first != h || targets[table[p].second - 1] != t)) {
      p = (p + 1) & mask;
    }
    if (table[p].second != 0) {
      return Status::InvalidArgument("fan-out lists timeline '" + std::string(t) + "' twice");
    }
    table[p] = {h, i + 1};
    sizes.push_back({t, 1});
    hashes.push_back(h);
  }
  r->op =
      FanoutAppend{{targets.begin(), targets.end()}, payload, o.client_msg_id, std::move(hashes)};
  r->bytes_estimate = EncodedFanoutBytes(sizes, o.client_msg_id, payload);
  return Status::Ok();
}

Result<AppendResult> DbImpl::Append(std::string_view ns, std::string_view timeline,
                                    std::string_view payload, const AppendOptions& options) {
  TLDB_ASSIGN_OR_RETURN(NamespaceLog * log, Find(ns));
  AppendRequest r;
  TLDB_RETURN_IF_ERROR(PrepareMessage(log, timeline, payload, options, &r));
  log->Submit(&r);
  if (!r.status.ok()) return r.status;
  return r.results.at(0);
}

void DbImpl::AppendAsync(std::string_view ns, std::string_view timeline, std::string_view payload,
                         const AppendOptions& options, AppendCallback done) {
  auto found = Find(ns);
  if (!found.ok()) return done(found.status());
  auto r = std::make_unique<AppendRequest>();
  Status s = PrepareMessage(*found, timeline, payload, options, r.get());
  if (!s.ok()) return done(s);
  r->Own();
  r->on_done = [done = std::move(done)](AppendRequest* req) {
    std::unique_ptr<AppendRequest> owned(req);
    if (req->status.ok()) {
      done(req->results.at(0));
    } else {
      done(req->status);
    }
  };
  (*found)->Submit(r.release());
}

Result<std::vector<AppendResult>> DbImpl::AppendFanout(std::string_view ns,
                                                       std::span<const std::string_view> timelines,
                                                       std::string_view payload,
                                                       const AppendOptions& options) {
  TLDB_ASSIGN_OR_RETURN(NamespaceLog * log, Find(ns));
  AppendRequest r;
  TLDB_RETURN_IF_ERROR(PrepareFanout(log, timelines, payload, options, &r));
  log->Submit(&r);
  if (!r.status.ok()) return r.status;
  return std::move(r.results);
}

void DbImpl::AppendFanoutAsync(std::string_view ns, std::span<const std::string_view> timelines,
                               std::string_view payload, const AppendOptions& options,
                               FanoutCallback done) {
  auto found = Find(ns);
  if (!found.ok()) return done(found.status());
  auto r = std::make_unique<AppendRequest>();
  Status s = PrepareFanout(*found, timelines, payload, options, r.get());
  if (!s.ok()) return done(s);
  r->Own();
  r->on_done = [done = std::move(done)](AppendRequest* req) {
    std::unique_ptr<AppendRequest> owned(req);
    if (req->status.ok()) {
      done(std::move(req->results));
    } else {
      done(req->status);
    }
  };
  (*found)->Submit(r.release());
}

Result<AppendResult> DbImpl::Import(std::string_view ns, std::string_view timeline,
                                    const Message& m, Durability durability) {
  TLDB_ASSIGN_OR_RETURN(NamespaceLog * log, Find(ns));
  if (m.seq == 0) return Status::InvalidArgument("imported message has seq 0");
  AppendRequest r;
  TLDB_RETURN_IF_ERROR(PrepareCommon(log, m.payload, m.client_msg_id, durability, &r));
  TLDB_RETURN_IF_ERROR(ValidateTimelineKey(timeline));
  r.op = ImportAppend{timeline, m.payload, m.client_msg_id, m.seq, m.timestamp_ms};
  r.bytes_estimate = EncodedMessageBytes(timeline, m.client_msg_id, m.payload);
  log->Submit(&r);
  if (!r.status.ok()) return r.status;
  return r.results.at(0);
}

Status DbImpl::PrepareMutation(NamespaceLog* log, const Mutation& m, AppendRequest* r) {
  TLDB_RETURN_IF_ERROR(ValidateTimelineKey(m.timeline));
  switch (m.kind) {
    case MutationKind::kRecall:
    case MutationKind::kEdit:
    case MutationKind::kTrim:
      if (m.seq == 0) return Status::InvalidArgument("mutation needs a seq >= 1");
      break;
    case MutationKind::kDeleteTimeline:
      break;
    default:
      return Status::InvalidArgument("unknown mutation kind " +
                                     std::to_string(static_cast<int>(m.kind)));
  }
  if (m.kind != MutationKind::kEdit && !m.payload.empty()) {
    return Status::InvalidArgument("only an edit carries a payload");
  }
  TLDB_RETURN_IF_ERROR(PrepareCommon(log, m.payload, {}, m.durability, r));
  r->op = MutationAppend{m.kind, m.timeline, m.seq, m.payload};
  r->bytes_estimate = EncodedMessageBytes(m.timeline, {}, m.payload);
  // An edit record carries the message's client_msg_id: reserve room for the longest.
  if (m.kind == MutationKind::kEdit) r->bytes_estimate += kClientMsgIdBytesMax;
  return Status::Ok();
}

namespace {
MutationResult ToMutationResult(const AppendRequest& r) {
  const AppendResult& a = r.results.at(0);
  return {a.seq, a.deduplicated};
}
}  // namespace

Result<MutationResult> DbImpl::Mutate(std::string_view ns, const Mutation& m) {
  TLDB_ASSIGN_OR_RETURN(NamespaceLog * log, Find(ns));
  AppendRequest r;
  TLDB_RETURN_IF_ERROR(PrepareMutation(log, m, &r));
  log->Submit(&r);
  if (!r.status.ok()) return r.status;
  return ToMutationResult(r);
}

void DbImpl::MutateAsync(std::string_view ns, const Mutation& m, MutationCallback done) {
  auto found = Find(ns);
  if (!found.ok()) return done(found.status());
  auto r = std::make_unique<AppendRequest>();
  Status s = PrepareMutation(*found, m, r.get());
  if (!s.ok()) return done(s);
  r->Own();
  r->on_done = [done = std::move(done)](AppendRequest* req) {
    std::unique_ptr<AppendRequest> owned(req);
    if (req->status.ok()) {
      done(ToMutationResult(*req));
    } else {
      done(req->status);
    }
  };
  (*found)->Submit(r.release());
}

Status DbImpl::SetNamespaceOptions(std::string_view ns, const NamespaceOptions& options) {
  TLDB_RETURN_IF_ERROR(ValidateNamespaceOptions(options));
  std::lock_guard c(catalog_mu_);  // see CreateNamespace
  std::vector<CatalogEntry> next;
  NamespaceLog* log = nullptr;
  {
    std::shared_lock l(mu_);
    if (closed_) return Status::Closed("db is closed");
    auto it = namespaces_.find(ns);
    if (it == namespaces_.end()) {
      if (auto r = refused_.find(ns); r != refused_.end()) return r->second;
      return Status::NotFound("namespace '" + std::string(ns) + "' does not exist");
    }
    log = it->second.get();
    next = catalog_;
  }
  for (auto& e : next) {
    if (e.name == ns) e.options = options;
  }
  TLDB_RETURN_IF_ERROR(fs_->WriteFileAtomic(CatalogFileName(dir_), EncodeCatalog(next)));
  {
    std::unique_lock l(mu_);
    catalog_ = std::move(next);
    log->SetOptions(options);
  }
  maintenance_->Wake();  // a shorter TTL may make segments due now
  return Status::Ok();
}

Status DbImpl::Scrub(std::string_view ns, uint64_t bytes_budget, bool force, ScrubStepResult* out) {
  TLDB_ASSIGN_OR_RETURN(NamespaceLog * log, Find(ns));
  return log->Scrub(bytes_budget, force, out);
}

bool DbImpl::CommitterParked(std::string_view ns) {
  auto log = Find(ns);
  return log.ok() && (*log)->CommitterParked();
}

Result<CompactionProgress> DbImpl::Compact(std::string_view ns, const CompactOptions& o) {
  std::vector<NamespaceLog*> logs;
  if (ns.empty()) {
    std::shared_lock l(mu_);
    if (closed_) return Status::Closed("db is closed");
    for (auto& [name, log] : namespaces_) logs.push_back(log.get());
  } else {
    TLDB_ASSIGN_OR_RETURN(NamespaceLog * log, Find(ns));
    logs.push_back(log);
  }
  CompactionProgress total;
  for (NamespaceLog* log : logs) {
    TLDB_RETURN_IF_ERROR(log->Compact(o, &total));
  }
  return total;
}

Result<Message> DbImpl::Get(std::string_view ns, std::string_view timeline, Seq seq) {
  TLDB_ASSIGN_OR_RETURN(NamespaceLog * log, Find(ns));
  TLDB_RETURN_IF_ERROR(ValidateTimelineKey(timeline));
  if (seq == 0) return Status::InvalidArgument("seq 0 does not exist: SeqIds start at 1");
  return log->Get(timeline, seq);
}

Result<std::vector<Message>> DbImpl::Scan(std::string_view ns, std::string_view timeline,
                                          const ScanOptions& options) {
  TLDB_ASSIGN_OR_RETURN(NamespaceLog * log, Find(ns));
  TLDB_RETURN_IF_ERROR(ValidateTimelineKey(timeline));
  if (options.from_seq != 0 && options.to_seq != 0 && options.from_seq > options.to_seq) {
    return Status::InvalidArgument("scan from_seq is greater than to_seq");
  }
  return log->Scan(timeline, options);
}

Result<uint32_t> DbImpl::ScanVisit(std::string_view ns, std::string_view timeline,
                                   const ScanOptions& options, const MessageVisitor& visit) {
  TLDB_ASSIGN_OR_RETURN(NamespaceLog * log, Find(ns));
  TLDB_RETURN_IF_ERROR(ValidateTimelineKey(timeline));
  if (options.from_seq != 0 && options.to_seq != 0 && options.from_seq > options.to_seq) {
    return Status::InvalidArgument("scan from_seq is greater than to_seq");
  }
  return log->ScanVisit(timeline, options, visit);
}

Result<std::vector<Seq>> DbImpl::LastSeq(std::string_view ns,
                                         std::span<const std::string_view> timelines) {
  TLDB_ASSIGN_OR_RETURN(NamespaceLog * log, Find(ns));
  std::vector<Seq> out;
  out.reserve(timelines.size());
  for (std::string_view t : timelines) {
    TLDB_RETURN_IF_ERROR(ValidateTimelineKey(t));
    out.push_back(log->LastSeq(t));
  }
  return out;
}

Result<LogEnds> DbImpl::LogEnd(std::string_view ns) {
  TLDB_ASSIGN_OR_RETURN(NamespaceLog * log, Find(ns));
  return log->Ends();
}

Status DbImpl::ApplyFrame(std::string_view ns, const LogFrame& frame) {
  TLDB_ASSIGN_OR_RETURN(NamespaceLog * log, Find(ns));
  if (frame.kind != FrameKind::kRecords && frame.kind != FrameKind::kRoll) {
    return Status::InvalidArgument("unknown frame kind " +
                                   std::to_string(static_cast<int>(frame.kind)));
  }
  if (frame.bytes.size() > options_.group_bytes_max + format::kRecordBytesMax) {
    return Status::InvalidArgument("frame of " + std::to_string(frame.bytes.size()) +
                                   " bytes is larger than any group");
  }
  return log->ApplyFrame(frame);
}

Result<std::vector<LogFrame>> DbImpl::ReadFrames(std::string_view ns, LogPosition from,
                                                 uint64_t bytes_max) {
  TLDB_ASSIGN_OR_RETURN(NamespaceLog * log, Find(ns));
  return log->ReadFrames(from, bytes_max);
}

void DbImpl::SetFollower(bool follower) {
  std::shared_lock l(mu_);
  follower_ = follower;
  for (auto& [name, log] : namespaces_) log->SetFollower(follower);
}

void DbImpl::RetainLogFrom(std::string_view ns, uint64_t segment) {
  auto log = Find(ns);
  if (log.ok()) (*log)->RetainLogFrom(segment);
}

void DbImpl::SetTimelineOwnership(TimelineOwnership owned) {
  std::shared_ptr<const TimelineOwnership> p;
  if (owned) p = std::make_shared<const TimelineOwnership>(std::move(owned));
  // mu_ shared keeps namespaces from being added meanwhile (CreateNamespace takes owned_ under
  // mu_ exclusively); owned_mu_ orders concurrent calls, so the last one wins everywhere.
  std::shared_lock l(mu_);
  std::lock_guard o(owned_mu_);
  owned_.swap(p);  // the previous one is released after the locks
  for (auto& [name, log] : namespaces_) log->SetOwnership(owned_);
}

Result<SnapshotInfo> DbImpl::Snapshot(const std::string& target_dir,
                                      const SnapshotOptions& options) {
  TLDB_ASSIGN_OR_RETURN(bool exists, fs_->Exists(target_dir));
  if (exists) return Status::AlreadyExists("snapshot directory " + target_dir + " already exists");
  // mu_ is held shared, as Sync() does, so that Close() waits for the snapshot and no namespace
  // goes away under it; appends and reads take it shared too, so they never wait for it. (A
  // namespace created meanwhile waits to be published, and is not in the snapshot.)
  std::shared_lock l(mu_);
  if (closed_) return Status::Closed("db is closed");
  SnapshotInfo info;
  TLDB_RETURN_IF_ERROR(fs_->CreateDir(target_dir));
  TLDB_RETURN_IF_ERROR(fs_->CreateDir(NamespacesDirName(target_dir)));
  const std::string catalog = EncodeCatalog(catalog_);
  {
    TLDB_ASSIGN_OR_RETURN(auto f, fs_->OpenWritable(CatalogFileName(target_dir), true, true));
    TLDB_RETURN_IF_ERROR(f->Write(0, catalog));
    if (options.sync) TLDB_RETURN_IF_ERROR(f->Sync());
    TLDB_RETURN_IF_ERROR(f->Close());
  }
  info.files.push_back({"CATALOG", catalog.size()});
  for (const auto& e : catalog_) {
    auto it = namespaces_.find(e.name);
    if (it == namespaces_.end()) continue;
    TLDB_RETURN_IF_ERROR(
        it->second->Snapshot(NamespaceDirName(target_dir, e.name), "ns/" + e.name, options, &info));
  }
  if (options.sync) {
    TLDB_RETURN_IF_ERROR(fs_->SyncDir(NamespacesDirName(target_dir)));
    TLDB_RETURN_IF_ERROR(fs_->SyncDir(target_dir));
    TLDB_RETURN_IF_ERROR(fs_->SyncDir(DirName(target_dir)));
  }
  return info;
}

Status DbImpl::Sync() {
  std::shared_lock l(mu_);
  for (auto& [name, log] : namespaces_) TLDB_RETURN_IF_ERROR(log->Sync());
  return Status::Ok();
}

DbStats DbImpl::Stats() {
  DbStats s;
  s.io_backend = fs_ ? fs_->Name() : "";
  s.block_cache_bytes = options_.block_cache_bytes;
  if (block_cache_) {
    s.block_cache_hits = block_cache_->hits();
    s.block_cache_misses = block_cache_->misses();
  }
  std::shared_lock l(mu_);
  for (const auto& [name, why] : refused_) s.refused_namespaces.emplace_back(name, why.message());
  for (auto& [name, log] : namespaces_) {
    const auto& c = log->counters();
    s.appends += c.appends;
    s.appends_deduplicated += c.deduplicated;
    s.groups_committed += c.groups;
    s.syncs += c.syncs;
    s.bytes_written += c.bytes_written;
    s.gets += c.gets.Load();
    s.scans += c.scans.Load();
    s.mutations += c.mutations;
    s.segments_expired += c.segments_expired;
    s.compactions += c.compactions;
    s.compaction_bytes_read += c.compaction_bytes_read;
    s.compaction_bytes_written += c.compaction_bytes_written;
    s.prezero_skipped += c.prezero_skipped;
    s.prezero_ahead_bytes += c.prezero_ahead_bytes;
    s.index_spare_rolls += c.index_spare_rolls;
    s.index_buffer_rolls += c.index_buffer_rolls;
    s.records_written_back_bytes += c.records_written_back_bytes;
    s.rolls += c.rolls;
    s.roll_us += c.roll_us;
    s.scrub_segments_verified += c.scrub_segments_verified;
    s.scrub_bytes_read += c.scrub_bytes_read;
    s.scrub_damaged_segments += c.scrub_damaged_segments;
    s.scrub_passes_completed += c.scrub_passes_completed;
    log->AddMemoryStats(&s);
  }
  return s;
}

Status DbImpl::Close() {
  if (maintenance_) {
    {
      std::shared_lock l(mu_);
      for (auto& [name, log] : namespaces_) log->AbortMaintenance();
    }
    maintenance_->Stop();
  }
  std::unique_lock l(mu_);
  if (closed_) return Status::Ok();
  closed_ = true;
  Status first;
  for (auto& [name, log] : namespaces_) {
    Status s = log->Close();
    if (first.ok() && !s.ok()) first = s;
  }
  namespaces_.clear();
  lock_.reset();
  return first;
}

}  // namespace tldb
