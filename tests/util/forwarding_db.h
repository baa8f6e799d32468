// ForwardingDb: a Db that forwards every call to a wrapped Db. Tests derive from it and
// override only what they intercept (hold callbacks, log calls, block the caller).
//
// Contract: owns the wrapped Db; every method, virtual in Db, calls the same method of db()
// with the same arguments and returns what it returns.
#pragma once

#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "tldb/db.h"

namespace tldb::testing {

class ForwardingDb : public Db {
 public:
  explicit ForwardingDb(std::unique_ptr<Db> db) : db_(std::move(db)) {}

  Status CreateNamespace(std::string_view n, const NamespaceOptions& o) override {
    return db_->CreateNamespace(n, o);
  }
  Result<std::vector<NamespaceInfo>> ListNamespaces() override { return db_->ListNamespaces(); }
  Result<NamespaceInfo> DescribeNamespace(std::string_view n) override {
    return db_->DescribeNamespace(n);
  }
  Result<AppendResult> Append(std::string_view ns, std::string_view t, std::string_view p,
                              const AppendOptions& o) override {
    return db_->Append(ns, t, p, o);
  }
  void AppendAsync(std::string_view ns, std::string_view t, std::string_view p,
                   const AppendOptions& o, AppendCallback done) override {
    db_->AppendAsync(ns, t, p, o, std::move(done));
  }
  Result<std::vector<AppendResult>> AppendFanout(std::string_view ns,
                                                 std::span<const std::string_view> t,
                                                 std::string_view p,
                                                 const AppendOptions& o) override {
    return db_->AppendFanout(ns, t, p, o);
  }
  void AppendFanoutAsync(std::string_view ns, std::span<const std::string_view> t,
                         std::string_view p, const AppendOptions& o, FanoutCallback done) override {
    db_->AppendFanoutAsync(ns, t, p, o, std::move(done));
  }
  Result<AppendResult> Import(std::string_view ns, std::string_view t, const Message& m,
                              Durability d) override {
    return db_->Import(ns, t, m, d);
  }
  Result<MutationResult> Mutate(std::string_view ns, const Mutation& m) override {
    return db_->Mutate(ns, m);
  }
  void MutateAsync(std::string_view ns, const Mutation& m, MutationCallback done) override {
    db_->MutateAsync(ns, m, std::move(done));
  }
  Status SetNamespaceOptions(std::string_view ns, const NamespaceOptions& o) override {
    return db_->SetNamespaceOptions(ns, o);
  }
  Result<CompactionProgress> Compact(std::string_view ns, const CompactOptions& o) override {
    return db_->Compact(ns, o);
  }
  Result<Message> Get(std::string_view ns, std::string_view t, Seq s) override {
    return db_->Get(ns, t, s);
  }
  Result<std::vector<Message>> Scan(std::string_view ns, std::string_view t,
                                    const ScanOptions& o) override {
    return db_->Scan(ns, t, o);
  }
  Result<std::vector<Seq>> LastSeq(std::string_view ns,
                                   std::span<const std::string_view> t) override {
    return db_->LastSeq(ns, t);
  }
  Result<LogEnds> LogEnd(std::string_view ns) override { return db_->LogEnd(ns); }
  Status ApplyFrame(std::string_view ns, const LogFrame& f) override {
    return db_->ApplyFrame(ns, f);
  }
  Result<std::vector<LogFrame>> ReadFrames(std::string_view ns, LogPosition from,
                                           uint64_t bytes_max) override {
    return db_->ReadFrames(ns, from, bytes_max);
  }
  void SetFollower(bool follower) override { db_->SetFollower(follower); }
  void SetTimelineOwnership(TimelineOwnership owned) override {
    db_->SetTimelineOwnership(std::move(owned));
  }
  void RetainLogFrom(std::string_view ns, uint64_t segment) override {
    db_->RetainLogFrom(ns, segment);
  }
  Result<SnapshotInfo> Snapshot(const std::string& target_dir,
                                const SnapshotOptions& options) override {
    return db_->Snapshot(target_dir, options);
  }
  Status Sync() override { return db_->Sync(); }
  DbStats Stats() override { return db_->Stats(); }
  Status Close() override { return db_->Close(); }

 protected:
  Db* db() { return db_.get(); }

 private:
  std::unique_ptr<Db> db_;
};

}  // namespace tldb::testing
