// DbImpl: the Db behind tldb/db.h. Owns the directory lock, the catalog and one NamespaceLog
// per namespace; validates every argument before anything is queued.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>

#include "store/catalog.h"
#include "store/maintenance_scheduler.h"
#include "store/namespace_log.h"
#include "tldb/db.h"
#include "tldb/file_system.h"

namespace tldb {

class DbImpl : public Db {
 public:
  DbImpl(std::string dir, Options options);
  ~DbImpl() override;
  Status Init();

  Status CreateNamespace(std::string_view name, const NamespaceOptions& options) override;
  Result<std::vector<NamespaceInfo>> ListNamespaces() override;
  Result<NamespaceInfo> DescribeNamespace(std::string_view name) override;

  Result<AppendResult> Append(std::string_view ns, std::string_view timeline,
                              std::string_view payload, const AppendOptions& options) override;
  void AppendAsync(std::string_view ns, std::string_view timeline, std::string_view payload,
                   const AppendOptions& options, AppendCallback done) override;
  Result<std::vector<AppendResult>> AppendFanout(std::string_view ns,
                                                 std::span<const std::string_view> timelines,
                                                 std::string_view payload,
                                                 const AppendOptions& options) override;
  void AppendFanoutAsync(std::string_view ns, std::span<const std::string_view> timelines,
                         std::string_view payload, const AppendOptions& options,
                         FanoutCallback done) override;

  Result<AppendResult> Import(std::string_view ns, std::string_view timeline, const Message& m,
                              Durability durability) override;
  Result<MutationResult> Mutate(std::string_view ns, const Mutation& m) override;
  void MutateAsync(std::string_view ns, const Mutation& m, MutationCallback done) override;
  Status SetNamespaceOptions(std::string_view ns, const NamespaceOptions& options) override;
  Result<CompactionProgress> Compact(std::string_view ns, const CompactOptions& o) override;
  // One step of namespace `ns`'s scrub (NamespaceLog::Scrub): what the maintenance thread runs
  // each tick, callable directly by tests and benchmarks (with background_maintenance off).
  Status Scrub(std::string_view ns, uint64_t bytes_budget, bool force, ScrubStepResult* out);
  // Whether namespace `ns`'s committer thread waits for work (tests; false if no such namespace).
  bool CommitterParked(std::string_view ns);
  Result<Message> Get(std::string_view ns, std::string_view timeline, Seq seq) override;
  Result<std::vector<Message>> Scan(std::string_view ns, std::string_view timeline,
                                    const ScanOptions& options) override;
  Result<uint32_t> ScanVisit(std::string_view ns, std::string_view timeline,
                             const ScanOptions& options, const MessageVisitor& visit) override;
  Result<std::vector<Seq>> LastSeq(std::string_view ns,
                                   std::span<const std::string_view> timelines) override;

  Result<LogEnds> LogEnd(std::string_view ns) override;
  Status ApplyFrame(std::string_view ns, const LogFrame& frame) override;
  Result<std::vector<LogFrame>> ReadFrames(std::string_view ns, LogPosition from,
                                           uint64_t bytes_max) override;
  void SetFollower(bool follower) override;
  void RetainLogFrom(std::string_view ns, uint64_t segment) override;
  void SetTimelineOwnership(TimelineOwnership owned) override;
  Result<SnapshotInfo> Snapshot(const std::string& target_dir,
                                const SnapshotOptions& options) override;
  Status Sync() override;
  DbStats Stats() override;
  Status Close() override;

 private:
  Result<NamespaceLog*> Find(std::string_view ns);
  // Validates and fills `r` (views point at the caller's arguments).
  // Validates what every request checks (payload and client_msg_id sizes) and sets durability.
  Status PrepareCommon(NamespaceLog* log, std::string_view payload, std::string_view cmid,
                       Durability durability, AppendRequest* r);
  Status PrepareMessage(NamespaceLog* log, std::string_view timeline, std::string_view payload,
                        const AppendOptions& options, AppendRequest* r);
  Status PrepareFanout(NamespaceLog* log, std::span<const std::string_view> targets,
                       std::string_view payload, const AppendOptions& options, AppendRequest* r);
  Status PrepareMutation(NamespaceLog* log, const Mutation& m, AppendRequest* r);

  const std::string dir_;
  Options options_;
  std::shared_ptr<FileSystem> fs_;
  std::unique_ptr<FileLock> lock_;
  std::shared_mutex mu_;  // guards namespaces_ and catalog_
  std::vector<CatalogEntry> catalog_;
  std::map<std::string, std::unique_ptr<NamespaceLog>, std::less<>> namespaces_;
  // Namespaces of the catalog that failed to open with Corruption (Options::
  // refuse_damaged_namespaces): the status every request naming them answers. Set in Init only.
  std::map<std::string, Status, std::less<>> refused_;
  bool closed_ = false;
  std::atomic<bool> follower_{false};
  // What SetTimelineOwnership set last (null: every timeline), for namespaces created later.
  // owned_mu_ is taken after mu_ (shared or exclusive), before a namespace's option lock.
  std::mutex owned_mu_;
  std::shared_ptr<const TimelineOwnership> owned_;

  std::shared_ptr<BlockCache> block_cache_;
  std::mutex catalog_mu_;  // serialises catalog writers (taken before mu_)
  // Last: it stops (in Close, or here first on destruction) before the namespaces go.
  std::unique_ptr<MaintenanceScheduler> maintenance_;
};

Status ValidateTimelineKey(std::string_view key);

}  // namespace tldb
