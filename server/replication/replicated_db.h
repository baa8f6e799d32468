// ReplicatedDb: the Db a tldb-server in cluster mode serves (docs/replication.md "Serving"):
// every call goes to the Replica's current Db, which the replica may reopen (a cut, a step
// down). Writes and reads are served by the partition's serving primary only; elsewhere they
// answer NotPrimary, naming the primary's client address ("primary=HOST:PORT") when known, so
// clients go there. Namespace listings and descriptions are answered by any replica;
// creating a namespace and changing its options go through the replicated catalog on the
// serving primary (Replica::CreateNamespace).
//
// Contract: thread-safe, like Db; the replica must outlive it.
#pragma once

#include <functional>
#include <string>

#include "replication/replica.h"
#include "tldb/db.h"

namespace tldb::repl {

class ReplicatedDb : public Db {
 public:
  // client_address_of(node): the client address of a node ("" when unknown).
  ReplicatedDb(Replica& replica, std::function<std::string(uint32_t)> client_address_of)
      : r_(replica), address_of_(std::move(client_address_of)) {}

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
  Result<Message> Get(std::string_view ns, std::string_view timeline, Seq seq) override;
  Result<std::vector<Message>> Scan(std::string_view ns, std::string_view timeline,
                                    const ScanOptions& options) override;
  Result<std::vector<Seq>> LastSeq(std::string_view ns,
                                   std::span<const std::string_view> timelines) override;
  Result<LogEnds> LogEnd(std::string_view ns) override;
  Status ApplyFrame(std::string_view ns, const LogFrame& frame) override;
  Result<std::vector<LogFrame>> ReadFrames(std::string_view ns, LogPosition from,
                                           uint64_t bytes_max) override;
  void SetFollower(bool follower) override;
  void RetainLogFrom(std::string_view ns, uint64_t segment) override;
  // The replica keeps it and gives it to every Db it opens (Replica::SetTimelineOwnership).
  void SetTimelineOwnership(TimelineOwnership owned) override;
  Result<SnapshotInfo> Snapshot(const std::string& target_dir,
                                const SnapshotOptions& options) override;
  Status Sync() override;
  DbStats Stats() override;
  Status Close() override;

 private:
  // OK on the serving primary; NotPrimary with the primary's address otherwise.
  Status Serving() const;
  // fn(db) under the replica's lock, for a call that any replica answers.
  template <typename T>
  Result<T> Any(const std::function<Result<T>(Db&)>& fn);
  // The same, on the serving primary only.
  template <typename T>
  Result<T> Primary(const std::function<Result<T>(Db&)>& fn);
  // An async write on the serving primary: submit(db) hands `done` on, or done(error) runs.
  template <typename Done>
  void Async(Done& done, const std::function<void(Db&)>& submit);

  Replica& r_;
  const std::function<std::string(uint32_t)> address_of_;
};

}  // namespace tldb::repl
