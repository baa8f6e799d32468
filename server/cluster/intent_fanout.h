// IntentFanout: a fan-out whose targets live on several partitions (docs/cluster.md
// "Cross-partition fan-out"), accepted by the home partition's primary as an intent record and
// delivered from there.
//
// Records (protocol/intent_record.h), all in the system namespace __intents of the home
// partition:
// - the intent: timeline IntentKey(ns, targets, client_msg_id) = "<slot>|<ns>|<client_msg_id>"
//   (slot = the slot of the smallest target; the home is that slot's partition), payload
//   EncodeIntent; the same record is appended (one APPEND_FANOUT) to the partition's journal
//   timeline kJournalTimeline, which a new primary scans to resume;
// - a delivered mark per delivered part, appended to the intent's timeline (EncodeMark): the
//   part's targets and their SeqIds (0: stored earlier, SeqId not known).
// Every member part is an APPEND_FANOUT with the caller's client_msg_id, so the member's
// dedupe window makes a repeated part harmless.
//
// Contract:
// - Accept() never blocks: InvalidArgument at once without a client_msg_id or with a timeline
//   named twice; else it queues the request for the accept thread, which (as the home's
//   serving primary) checks the namespace, writes the intent (unless a retry finds it already),
//   writes the home's own targets, and answers: the home's targets' AppendResults, the others
//   {seq 0} (pending); `done` runs on that thread. Then the intent is queued for delivery.
//   Moved when the home partition has no replica here.
// - The delivery thread delivers each intent's undelivered targets (grouped by partition at
//   the current map: a local serving primary directly, another through a ClusterClient that
//   follows MOVED), appends a mark for each delivered part, and retries failures every
//   retry_ms. Each pass (at least every retry_ms) it notes the local replicas that have become
//   serving primaries and scans their journals: intents without marks for every target are
//   delivered again. An intent is delivered only by the partition that owns its slot at the
//   current map (after a split both sides hold a copy of the journal: the child's new primary
//   scans its copy, the parent leaves the intents whose slot moved).
// - Every write to a local partition enters its WriteGate (ShardHost::Admit): an accept for a
//   home frozen by a split is answered Busy, a delivery waits for the next pass.
// - Neither thread runs on a request loop thread; Stop() (the destructor) ends both, answering
//   queued accepts Closed. The ShardHost must outlive it.
// - One mutex (mu_) guards both queues and the stopping flag; no Db call is made under it.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster/shard_host.h"
#include "protocol/intent_record.h"
#include "tldb/db.h"

namespace tldb {
class ClusterClient;
}

namespace tldb::cluster {

using proto::DecodeIntent;
using proto::DecodeMark;
using proto::EncodeIntent;
using proto::EncodeMark;
using proto::Intent;
using proto::IntentKey;
using proto::IntentSlot;
using proto::kIntentNamespace;
using proto::kJournalTimeline;

struct IntentFanoutOptions {
  // False: accept only, never deliver nor resume (tests: a primary that died right after
  // accepting).
  bool deliver = true;
  // A failed part is retried this often (the remote partition may be failing over: ~3 s).
  int64_t retry_ms = 500;
};

class IntentFanout {
 public:
  IntentFanout(ShardHost& host, IntentFanoutOptions options);
  ~IntentFanout();
  IntentFanout(const IntentFanout&) = delete;
  IntentFanout& operator=(const IntentFanout&) = delete;

  void Accept(std::string_view ns, std::span<const std::string_view> timelines,
              std::string_view payload, const AppendOptions& options, FanoutCallback done);
  void Stop();

 private:
  struct Request {
    Intent intent;
    std::vector<std::string> order;  // the request's order
    FanoutCallback done;
  };
  struct Pending {
    std::string key;
    uint32_t home = 0;
  };
  Result<std::vector<AppendResult>> AcceptNow(const Request& req);
  // Delivers what `p` lacks. Ok: complete (or no longer ours); an error: retry later.
  Status Deliver(const Pending& p);
  Result<std::vector<AppendResult>> DeliverPart(const std::shared_ptr<const ShardRouting>& r,
                                                uint32_t partition, const Intent& intent,
                                                const std::vector<std::string_view>& targets);
  void ScanJournal(uint32_t partition, Db* db);
  void AcceptLoop();
  void DeliverLoop();

  ShardHost& host_;
  const IntentFanoutOptions o_;
  std::unique_ptr<ClusterClient> client_;  // delivery thread
  std::set<uint32_t> serving_;             // delivery thread: local serving primaries seen

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;           // guarded by mu_
  std::deque<Request> accepts_;     // guarded by mu_
  std::deque<Pending> deliveries_;  // guarded by mu_
  std::thread accept_thread_, deliver_thread_;
};

}  // namespace tldb::cluster
