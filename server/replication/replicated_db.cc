#include "replication/replicated_db.h"

namespace tldb::repl {

Status ReplicatedDb::Serving() const {
  Status s = r_.CheckServing();
  if (s.ok()) return s;
  const auto primary = r_.status().primary;
  const std::string address = primary ? address_of_(*primary) : "";
  if (address.empty()) return s;
  return Status::NotPrimary(s.message() + "; primary=" + address);
}

template <typename T>
Result<T> ReplicatedDb::Any(const std::function<Result<T>(Db&)>& fn) {
  Result<T> out = Status::Closed("replica stopped");
  (void)r_.WithDb([&](Db& db) {
    out = fn(db);
    return Status::Ok();
  });
  return out;
}

template <typename T>
Result<T> ReplicatedDb::Primary(const std::function<Result<T>(Db&)>& fn) {
  TLDB_RETURN_IF_ERROR(Serving());
  return Any<T>(fn);
}

template <typename Done>
void ReplicatedDb::Async(Done& done, const std::function<void(Db&)>& submit) {
  if (Status s = Serving(); !s.ok()) return done(s);
  Status s = r_.WithDb([&](Db& db) {
    submit(db);
    return Status::Ok();
  });
  if (!s.ok() && done) done(s);  // no Db: `done` was not handed on
}

Status ReplicatedDb::CreateNamespace(std::string_view name, const NamespaceOptions& options) {
  TLDB_RETURN_IF_ERROR(Serving());
  return r_.CreateNamespace(name, options);
}

Result<std::vector<NamespaceInfo>> ReplicatedDb::ListNamespaces() {
  return Any<std::vector<NamespaceInfo>>([&](Db& db) { return db.ListNamespaces(); });
}

Result<NamespaceInfo> ReplicatedDb::DescribeNamespace(std::string_view name) {
  return Any<NamespaceInfo>([&](Db& db) { return db.DescribeNamespace(name); });
}

Result<AppendResult> ReplicatedDb::Append(std::string_view ns, std::string_view timeline,
                                          std::string_view payload, const AppendOptions& o) {
  return Primary<AppendResult>([&](Db& db) { return db.Append(ns, timeline, payload, o); });
}

void ReplicatedDb::AppendAsync(std::string_view ns, std::string_view timeline,
                               std::string_view payload, const AppendOptions& o,
                               AppendCallback done) {
  Async(done, [&](Db& db) { db.AppendAsync(ns, timeline, payload, o, std::move(done)); });
}

Result<std::vector<AppendResult>> ReplicatedDb::AppendFanout(
    std::string_view ns, std::span<const std::string_view> timelines, std::string_view payload,
    const AppendOptions& o) {
  return Primary<std::vector<AppendResult>>(
      [&](Db& db) { return db.AppendFanout(ns, timelines, payload, o); });
}

void ReplicatedDb::AppendFanoutAsync(std::string_view ns,
                                     std::span<const std::string_view> timelines,
                                     std::string_view payload, const AppendOptions& o,
                                     FanoutCallback done) {
  Async(done, [&](Db& db) { db.AppendFanoutAsync(ns, timelines, payload, o, std::move(done)); });
}

Result<AppendResult> ReplicatedDb::Import(std::string_view ns, std::string_view timeline,
                                          const Message& m, Durability d) {
  return Primary<AppendResult>([&](Db& db) { return db.Import(ns, timeline, m, d); });
}

Result<MutationResult> ReplicatedDb::Mutate(std::string_view ns, const Mutation& m) {
  return Primary<MutationResult>([&](Db& db) { return db.Mutate(ns, m); });
}

void ReplicatedDb::MutateAsync(std::string_view ns, const Mutation& m, MutationCallback done) {
  Async(done, [&](Db& db) { db.MutateAsync(ns, m, std::move(done)); });
}

Status ReplicatedDb::SetNamespaceOptions(std::string_view ns, const NamespaceOptions& options) {
  TLDB_RETURN_IF_ERROR(Serving());
  return r_.SetNamespaceOptions(ns, options);
}

Result<CompactionProgress> ReplicatedDb::Compact(std::string_view ns, const CompactOptions& o) {
  return Any<CompactionProgress>([&](Db& db) { return db.Compact(ns, o); });
}

Result<Message> ReplicatedDb::Get(std::string_view ns, std::string_view timeline, Seq seq) {
  return Primary<Message>([&](Db& db) { return db.Get(ns, timeline, seq); });
}

Result<std::vector<Message>> ReplicatedDb::Scan(std::string_view ns, std::string_view timeline,
                                                const ScanOptions& o) {
  return Primary<std::vector<Message>>([&](Db& db) { return db.Scan(ns, timeline, o); });
}

Result<std::vector<Seq>> ReplicatedDb::LastSeq(std::string_view ns,
                                               std::span<const std::string_view> timelines) {
  return Primary<std::vector<Seq>>([&](Db& db) { return db.LastSeq(ns, timelines); });
}

Result<LogEnds> ReplicatedDb::LogEnd(std::string_view ns) {
  return Any<LogEnds>([&](Db& db) { return db.LogEnd(ns); });
}

Status ReplicatedDb::ApplyFrame(std::string_view, const LogFrame&) {
  return Status::NotSupported("frames reach a replica through its replication protocol only");
}

Result<std::vector<LogFrame>> ReplicatedDb::ReadFrames(std::string_view ns, LogPosition from,
                                                       uint64_t bytes_max) {
  return Any<std::vector<LogFrame>>([&](Db& db) { return db.ReadFrames(ns, from, bytes_max); });
}

void ReplicatedDb::SetFollower(bool) {}  // the replica decides

void ReplicatedDb::RetainLogFrom(std::string_view, uint64_t) {}  // the replica decides

void ReplicatedDb::SetTimelineOwnership(TimelineOwnership owned) {
  r_.SetTimelineOwnership(std::move(owned));
}

Result<SnapshotInfo> ReplicatedDb::Snapshot(const std::string& target_dir,
                                            const SnapshotOptions& options) {
  // The serving primary's only: its snapshot holds committed bytes and can seed a replica.
  TLDB_RETURN_IF_ERROR(Serving());
  return r_.Snapshot(target_dir, options);
}

Status ReplicatedDb::Sync() {
  return Any<bool>([&](Db& db) -> Result<bool> {
           TLDB_RETURN_IF_ERROR(db.Sync());
           return true;
         })
      .status();
}

DbStats ReplicatedDb::Stats() {
  DbStats s;
  (void)r_.WithDb([&](Db& db) {
    s = db.Stats();
    return Status::Ok();
  });
  return s;
}

Status ReplicatedDb::Close() {
  return Status::Ok();  // the replica owns the Db and closes it when it stops
}

}  // namespace tldb::repl
