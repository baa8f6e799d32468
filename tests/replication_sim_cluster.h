// SimCluster: a partition of three replicas in one process for the replication tests: each
// replica on its own simulated file system, over a SimTransport and a SimCoordinator, driven
// step by step on the test's thread with a simulated clock (1 ms per step). A client ledger
// issues appends with client_msg_ids to whichever replica serves, retries the failed ones with
// the same id, and remembers every acknowledgement for the checker.
//
// What is seeded: message loss, duplication and reordering, the faults the tests choose, and
// the power-loss modes. What is not: the interleaving of the engines' own threads (group
// commit), so two runs of one seed may differ in detail, never in what they must guarantee.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "admin/verify.h"
#include "io/sim_file_system.h"
#include "replication/replica.h"
#include "replication/replicated_db.h"
#include "replication/sim_coordinator.h"
#include "replication/sim_transport.h"

namespace tldb::repl {

inline const std::vector<std::string> kSimNamespaces = {"chat", "inbox"};

// The client side: what was asked, what was acknowledged.
class Ledger {
 public:
  struct Op {
    std::string ns, timeline, payload, cmid;
    std::optional<AppendResult> acked;  // the first acknowledgement
    bool in_flight = false;
    int attempts = 0;
  };
  // A new append (returns its index).
  size_t Add(std::string ns, std::string timeline, std::string payload) {
    std::lock_guard l(mu_);
    ops_.push_back({std::move(ns), std::move(timeline), std::move(payload),
                    "cmid-" + std::to_string(ops_.size()), std::nullopt, false, 0});
    return ops_.size() - 1;
  }
  // Ops to send now: new ones and failed ones to retry (with the same client_msg_id).
  std::vector<size_t> Due(size_t max) {
    std::lock_guard l(mu_);
    std::vector<size_t> out;
    for (size_t i = 0; i < ops_.size() && out.size() < max; ++i) {
      if (!ops_[i].acked && !ops_[i].in_flight) out.push_back(i);
    }
    return out;
  }
  Op Get(size_t i) {
    std::lock_guard l(mu_);
    return ops_[i];
  }
  void Sent(size_t i) {
    std::lock_guard l(mu_);
    ops_[i].in_flight = true;
    ops_[i].attempts++;
  }
  void Done(size_t i, const Result<AppendResult>& r) {
    std::lock_guard l(mu_);
    Op& op = ops_[i];
    op.in_flight = false;
    if (!r.ok()) return;
    if (op.acked) {
      // A second acknowledgement (a retry that raced the first): the same SeqId or a bug.
      if (op.acked->seq != r->seq) {
        problems_.push_back(op.cmid + " acknowledged at seq " + std::to_string(op.acked->seq) +
                            " and at " + std::to_string(r->seq));
      }
      return;
    }
    op.acked = *r;
    if (r->deduplicated) deduplicated_++;
  }
  size_t in_flight() {
    std::lock_guard l(mu_);
    size_t n = 0;
    for (const Op& op : ops_) n += op.in_flight ? 1 : 0;
    return n;
  }
  std::vector<Op> All() {
    std::lock_guard l(mu_);
    return ops_;
  }
  std::vector<std::string> problems() {
    std::lock_guard l(mu_);
    return problems_;
  }
  size_t deduplicated() {
    std::lock_guard l(mu_);
    return deduplicated_;
  }

 private:
  std::mutex mu_;
  std::vector<Op> ops_;
  std::vector<std::string> problems_;
  size_t deduplicated_ = 0;
};

class SimCluster {
 public:
  static constexpr uint32_t kNodes = 3;
  // Node id kNodes is the partition's spare (ReplicaConfig::node): StartSpare, MoveSpareTo.
  static constexpr uint32_t kSpare = kNodes;
  static constexpr uint32_t kSlots = kNodes + 1;

  // `tweak` adjusts every replica's configuration before it opens.
  explicit SimCluster(uint64_t seed, std::function<void(ReplicaConfig&)> tweak = {})
      : seed_(seed),
        tweak_(std::move(tweak)),
        net_(seed),
        coord_([this] { return now_ms_.load(); }, /*lease_ttl_ms=*/2000) {
    for (uint32_t n = 0; n < kNodes; ++n) {
      fs_[n] = std::make_shared<SimFileSystem>();
      Start(n);
    }
  }
  ~SimCluster() {
    for (auto& r : replicas_) {
      if (r) r->Stop();
    }
  }

  void Start(uint32_t n) {
    ReplicaConfig c;
    c.node = n;
    c.nodes = kNodes;
    if (dirs_[n].empty()) dirs_[n] = "/replica" + std::to_string(n);
    c.dir = dirs_[n];
    c.db_options.file_system = fs_[n];
    c.db_options.prezero = Options::Prezero::kInline;
    c.db_options.background_maintenance = false;
    c.db_options.group_commit_wait_us = 0;
    for (const std::string& ns : kSimNamespaces) c.namespaces.emplace_back(ns, NamespaceOptions{});
    c.now_ms = [this] { return now_ms_.load(); };
    c.seed = seed_ * 7 + restarts_++;
    // Each start is a new run of the position, registered at once (etcd's node key).
    c.incarnation = 1000 + restarts_;
    registered_[n] = c.incarnation;
    c.peer_incarnation = [this](uint32_t node) { return registered_[node].load(); };
    c.on_other_incarnation = [this](uint32_t) { other_incarnations_++; };
    {
      std::lock_guard l(events_mu_);
      events_[n].clear();
    }
    c.db_options.on_event = [this, n](std::string_view e) {
      std::lock_guard l(events_mu_);
      events_[n].emplace_back(e);
    };
    if (tweak_) tweak_(c);
    auto r = Replica::Open(std::move(c), &net_, &coord_);
    ASSERT_TRUE(r.ok()) << "replica " << n << ": " << r.status().ToString();
    replicas_[n] = std::move(r).value();
  }
  // kill -9 and power loss: unsynced bytes go by `mode`; the replica restarts at once unless
  // `restart` is false.
  void Crash(uint32_t n, UnsyncedMode mode, bool restart = true) {
    fs_[n]->CrashAfterOps(0);
    replicas_[n]->Stop();
    replicas_[n].reset();
    net_.DropQueued(n);
    fs_[n]->PowerLoss(mode, seed_ * 31 + now_ms_.load());
    if (restart) Start(n);
  }
  // The replica's disk is replaced by an empty one (kill -9, then a new disk): it loses its
  // log and its durable replica state, promises included. It restarts at once.
  // `fill` may put files on the new disk first (a backup restored there).
  void Wipe(uint32_t n, const std::function<void(SimFileSystem&)>& fill = {}) {
    if (replicas_[n]) Crash(n, UnsyncedMode::kDrop, /*restart=*/false);
    fs_[n] = std::make_shared<SimFileSystem>();
    if (fill) fill(*fs_[n]);
    Start(n);
  }
  // A spare on an empty disk (a move's first step).
  void StartSpare() {
    fs_[kSpare] = std::make_shared<SimFileSystem>();
    dirs_[kSpare].clear();
    Start(kSpare);
  }
  // A move's last step: voter k stops for good (its disk is set aside), the spare stops and
  // its disk and directory open as replica k.
  void MoveSpareTo(uint32_t k) {
    for (uint32_t n : {k, kSpare}) {
      if (replicas_[n]) replicas_[n]->Stop();
      replicas_[n].reset();
      net_.DropQueued(n);
    }
    fs_[k] = std::move(fs_[kSpare]);
    dirs_[k] = dirs_[kSpare];
    dirs_[kSpare].clear();
    Start(k);
  }
  SimFileSystem& fs(uint32_t n) { return *fs_[n]; }
  // What replica n reported (on_event) since it last started.
  std::vector<std::string> Events(uint32_t n) {
    std::lock_guard l(events_mu_);
    return events_[n];
  }
  bool Up(uint32_t n) const { return replicas_[n] != nullptr; }
  // The incarnation the coordinator names for position n: the one of its last start, unless a
  // test registers another (a replica that now runs elsewhere).
  uint64_t Registered(uint32_t n) const { return registered_[n].load(); }
  void Register(uint32_t n, uint64_t incarnation) { registered_[n] = incarnation; }
  // Messages dropped for their incarnation, as reported to on_other_incarnation.
  uint64_t other_incarnations() const { return other_incarnations_.load(); }

  // One millisecond: deliver what is queued (up to `messages_max`), tick every replica.
  void Step(int messages_max = 64) {
    for (int i = 0; i < messages_max; ++i) {
      auto e = net_.Next();
      if (!e) break;
      if (replicas_[e->to]) replicas_[e->to]->Receive(e->bytes);
    }
    for (auto& r : replicas_) {
      if (r) r->Tick();
    }
    now_ms_++;
    if (ledger_.in_flight() != 0) std::this_thread::yield();  // let group commits run
  }
  // The replica that serves, if exactly one does.
  std::optional<uint32_t> Serving() const {
    std::optional<uint32_t> s;
    for (uint32_t n = 0; n < kNodes; ++n) {
      if (replicas_[n] && replicas_[n]->status().serving) {
        if (s)
          return std::nullopt;  // two at once is possible only briefly (the old one is
                                // fenced and acknowledges nothing)
        s = n;
      }
    }
    return s;
  }
  // Sends due appends (new and retried) to the serving replica.
  void Client(size_t max_in_flight) {
    auto s = Serving();
    if (!s) return;
    const size_t room = max_in_flight - std::min(max_in_flight, ledger_.in_flight());
    for (size_t i : ledger_.Due(room)) {
      Ledger::Op op = ledger_.Get(i);
      ledger_.Sent(i);
      AppendOptions ao;
      ao.client_msg_id = op.cmid;
      Served(*s).AppendAsync(op.ns, op.timeline, op.payload, ao,
                             [this, i](Result<AppendResult> r) { ledger_.Done(i, r); });
    }
  }
  // Runs until a replica serves, no append is in flight or due, and every replica's log ends
  // where the primary's does. False if that does not happen within `steps_max`.
  bool Settle(int steps_max) {
    for (int i = 0; i < steps_max; ++i) {
      Client(16);
      Step();
      auto s = Serving();
      if (!s || ledger_.in_flight() != 0 || !ledger_.Due(1).empty()) continue;
      if (AllEndsEqual(*s)) return true;
    }
    return false;
  }
  // Every namespace replica n has (the fixed ones and those the replicated catalog created).
  std::vector<std::string> Namespaces(uint32_t n) {
    std::vector<std::string> out;
    (void)replicas_[n]->WithDb([&](Db& db) {
      auto list = db.ListNamespaces();
      if (!list.ok()) return list.status();
      for (const NamespaceInfo& i : *list) out.push_back(i.name);
      return Status::Ok();
    });
    return out;
  }
  bool AllEndsEqual(uint32_t primary) {
    for (const std::string& ns : Namespaces(primary)) {
      const LogPosition p = End(primary, ns);
      for (uint32_t n = 0; n < kNodes; ++n) {
        if (!replicas_[n] || End(n, ns) != p) return false;
      }
    }
    return true;
  }
  LogPosition End(uint32_t n, const std::string& ns) {
    LogPosition at;
    (void)replicas_[n]->WithDb([&](Db& db) {
      auto e = db.LogEnd(ns);
      if (e.ok()) at = e->written;
      return Status::Ok();
    });
    return at;
  }

  // The checks every run ends with (after Settle). Replicas in `own_compaction` compacted their
  // sealed segments apart from the primary, so theirs are not compared byte for byte.
  void Check(const std::set<uint32_t>& own_compaction = {}) {
    auto s = Serving();
    ASSERT_TRUE(s);
    for (const std::string& p : ledger_.problems()) ADD_FAILURE() << p;
    size_t acked = 0;
    std::map<std::pair<std::string, std::string>, std::set<std::string>> cmids_seen;
    for (const Ledger::Op& op : ledger_.All()) {
      if (!op.acked) continue;
      acked++;
      auto m = Served(*s).Get(op.ns, op.timeline, op.acked->seq);
      ASSERT_TRUE(m.ok()) << op.cmid << " acknowledged at " << op.ns << "/" << op.timeline
                          << " seq " << op.acked->seq << ": " << m.status().ToString();
      EXPECT_EQ(m->payload, op.payload) << op.cmid;
      EXPECT_EQ(m->client_msg_id, op.cmid);
    }
    EXPECT_GT(acked, 0u);
    // Every message is stored once: no client_msg_id twice in a timeline.
    for (const Ledger::Op& op : ledger_.All()) {
      auto& seen = cmids_seen[{op.ns, op.timeline}];
      if (!seen.empty()) continue;
      seen.insert("");
      ASSERT_TRUE(replicas_[*s]
                      ->WithDb([&](Db& db) {
                        ScanOptions so;
                        so.limit = 100'000;
                        auto all = db.Scan(op.ns, op.timeline, so);
                        if (!all.ok()) return all.status();
                        std::set<std::string> ids;
                        for (const auto& msg : *all) {
                          EXPECT_TRUE(ids.insert(msg.client_msg_id).second)
                              << msg.client_msg_id << " stored twice in " << op.ns << "/"
                              << op.timeline;
                        }
                        return Status::Ok();
                      })
                      .ok());
    }
    // Replicas hold the same bytes: every segment up to the active one, and the active one up
    // to the end; verify calls every data directory SOUND.
    for (const std::string& ns : Namespaces(*s)) {
      const LogPosition end = End(*s, ns);
      for (uint32_t n = 0; n < kNodes; ++n) {
        if (n == *s || own_compaction.count(n) != 0) continue;
        for (uint64_t id = 1; id <= end.segment; ++id) {
          const std::string a = SegmentBytes(*s, ns, id), b = SegmentBytes(n, ns, id);
          const size_t len = id == end.segment ? end.offset : a.size();
          ASSERT_GE(a.size(), len);
          ASSERT_GE(b.size(), len) << "replica " << n << " " << ns << " segment " << id;
          EXPECT_TRUE(a.compare(0, len, b, 0, len) == 0)
              << "replica " << n << " differs from the primary in " << ns << " segment " << id;
        }
      }
    }
    for (uint32_t n = 0; n < kNodes; ++n) {
      auto report = admin::Verify(*fs_[n], dirs_[n], {});
      ASSERT_TRUE(report.ok()) << report.status().ToString();
      for (const auto& p : report->problems) {
        EXPECT_NE(p.severity, admin::Problem::Severity::kError)
            << "replica " << n << ": " << p.file << " offset " << p.offset << ": " << p.what;
      }
    }
  }
  std::string SegmentBytes(uint32_t n, const std::string& ns, uint64_t id) {
    char name[40];
    std::snprintf(name, sizeof name, "/%016llx.seg", static_cast<unsigned long long>(id));
    auto b = fs_[n]->ReadFileToString(dirs_[n] + "/ns/" + ns + name);
    return b.ok() ? *b : std::string();
  }

  // What a server serves from replica n (as tldb-server does: writes and reads on the serving
  // primary only).
  ReplicatedDb Served(uint32_t n) {
    return ReplicatedDb(*replicas_[n], [](uint32_t) { return std::string(); });
  }

  int64_t now_ms() const { return now_ms_.load(); }
  SimTransport& net() { return net_; }
  SimCoordinator& coord() { return coord_; }
  Ledger& ledger() { return ledger_; }
  Replica& replica(uint32_t n) { return *replicas_[n]; }

 private:
  const uint64_t seed_;
  const std::function<void(ReplicaConfig&)> tweak_;
  std::atomic<int64_t> now_ms_{0};  // read by replicas' threads too (PeerSnapshots)
  uint64_t restarts_ = 0;
  SimTransport net_;
  SimCoordinator coord_;
  Ledger ledger_;
  std::array<std::shared_ptr<SimFileSystem>, kSlots> fs_;
  std::array<std::string, kSlots> dirs_;  // each replica's directory on its disk
  std::array<std::unique_ptr<Replica>, kSlots> replicas_;
  std::array<std::atomic<uint64_t>, kSlots> registered_{};  // Register; read by the replicas
  std::atomic<uint64_t> other_incarnations_{0};
  std::mutex events_mu_;
  std::array<std::vector<std::string>, kSlots> events_;
};

// Appends of 2 KB, so that 64 KiB segments roll every 30 or so (the rebuild tests).
inline void AddBig(SimCluster& c, int n, uint64_t* next) {
  for (int i = 0; i < n; ++i, ++*next) {
    c.ledger().Add(kSimNamespaces[*next % 2], "t" + std::to_string(*next % 7),
                   std::to_string(*next) + std::string(2000, 'x'));
  }
}

// Segments that roll every 64 KiB, and a primary that holds its log for an absent follower
// 3 s only: a follower away longer needs a snapshot once the primary compacted.
inline void SmallSegmentsShortRetention(ReplicaConfig& rc) {
  for (auto& [ns, o] : rc.namespaces) o.segment_bytes_max = kSegmentBytesMin;
  rc.retain_for_absent_ms = 3'000;
}

// Full compaction of every namespace of replica n: its sealed segments are rewritten, so a
// follower positioned in one of them can no longer be sent frames from there. It runs on a
// thread of its own while this one drives the cluster: a full compaction first rolls the active
// segment, and that roll is shipped like any frame.
// A primary moves the hold on its log for its followers (Db::RetainLogFrom) at its heartbeats
// only, from the positions they acknowledged by then: right after Settle the hold may still be
// where the followers were a heartbeat ago, and a full compaction then finds nothing below it.
// So a few heartbeats pass first (ReplicaConfig::heartbeat_ms, 50 ms: a step is 1 ms).
inline void CompactAll(SimCluster& c, uint32_t n) {
  for (int i = 0; i < 4 * ReplicaConfig{}.heartbeat_ms; ++i) c.Step();
  auto done = std::async(std::launch::async, [&c, n] {
    return c.replica(n).WithDb([](Db& db) {
      for (const std::string& ns : kSimNamespaces) {
        CompactOptions o;
        o.full = true;
        auto r = db.Compact(ns, o);
        if (!r.ok()) return r.status();
        if (r->segments_done == 0) return Status::NotFound(ns + ": nothing was compacted");
      }
      return Status::Ok();
    });
  });
  for (int i = 0;
       i < 200'000 && done.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready;
       ++i) {
    c.Step();
  }
  if (done.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready) {
    std::string events;
    for (uint32_t r = 0; r < SimCluster::kNodes; ++r) {
      const auto e = c.Events(r);
      for (size_t k = e.size() > 15 ? e.size() - 15 : 0; k < e.size(); ++k) events += e[k] + "\n";
    }
    c.replica(n).Stop();  // its waiting Ship calls fail, so the compaction thread ends
    (void)done.get();
    FAIL() << "the compaction of replica " << n << " did not finish (the rest of the run cannot "
           << "go on: the test stops here):\n"
           << events;
  }
  Status s = done.get();
  ASSERT_TRUE(s.ok()) << s.ToString();
}

// Steps until a replica serves.
inline std::optional<uint32_t> Elect(SimCluster& c, int steps_max = 20'000) {
  for (int i = 0; i < steps_max; ++i) {
    if (auto s = c.Serving()) return s;
    c.Step();
  }
  return std::nullopt;
}

// Steps until replica n votes (a learner is told to once it holds every committed frame).
inline bool WaitUntilVoter(SimCluster& c, uint32_t n, int steps_max = 10'000) {
  for (int i = 0; i < steps_max && c.replica(n).status().membership != Membership::kVoter; ++i) {
    c.Step();
  }
  return c.replica(n).status().membership == Membership::kVoter;
}

}  // namespace tldb::repl
