#include "replication/replica.h"

#include <algorithm>

#include "replication/message_codec.h"

namespace tldb::repl {

Result<std::unique_ptr<Replica>> Replica::Open(ReplicaConfig config, Transport* transport,
                                               Coordinator* coordinator) {
  if (config.nodes == 0 || config.node > config.nodes) {  // node == nodes: the spare
    return Status::InvalidArgument("replica " + std::to_string(config.node) + " of " +
                                   std::to_string(config.nodes) + " nodes");
  }
  if (!config.now_ms) return Status::InvalidArgument("replica needs a clock (now_ms)");
  if (!config.db_options.file_system) {
    TLDB_ASSIGN_OR_RETURN(config.db_options.file_system,
                          NewFileSystem(config.db_options.io_backend));
  }
  std::unique_ptr<Replica> r(new Replica(std::move(config), transport, coordinator));
  TLDB_RETURN_IF_ERROR(r->OpenDb());
  Replica* self = r.get();
  r->peer_snapshots_ = std::make_unique<PeerSnapshots>(
      *r->cfg_.db_options.file_system, r->cfg_.dir + "/peer-snapshots",
      [self](const std::string& dir) {
        SnapshotOptions o;
        o.sync = false;  // read once by the follower, then removed
        // Not waiting for a majority to sync the log (the follower catches up from the
        // snapshot's end by frames): during a move the one other voter may be far behind.
        o.sync_first = false;
        return self->Snapshot(dir, o);
      });
  r->peer_snapshots_->RemoveLeftovers();
  return r;
}

Replica::Replica(ReplicaConfig config, Transport* transport, Coordinator* coordinator)
    : cfg_(std::move(config)),
      transport_(transport),
      coordinator_(coordinator),
      rng_(cfg_.seed * 0x9E3779B97F4A7C15ull + cfg_.node) {}

Replica::~Replica() {
  Stop();
}

void Replica::KillPoint(std::string_view name) {
  if (cfg_.kill_point && cfg_.kill_point(name)) {
    dead_ = true;
    Event("killed at " + std::string(name));
  }
}

void Replica::Event(const std::string& what) const {
  if (cfg_.db_options.on_event) {
    cfg_.db_options.on_event("replica " + std::to_string(cfg_.node) + ": " + what);
  }
}

Options Replica::DbOptions() {
  Options o = cfg_.db_options;
  o.follower = true;
  // Not owned: the Db is closed before this replica goes.
  o.log_shipper = std::shared_ptr<LogShipper>(std::shared_ptr<LogShipper>(), this);
  return o;
}

Status Replica::OpenDb() {
  FileSystem* fs = cfg_.db_options.file_system.get();
  TLDB_RETURN_IF_ERROR(fs->CreateDir(cfg_.dir));
  // A rebuild interrupted by a crash: finished if it had reached its commit point, else gone.
  TLDB_RETURN_IF_ERROR(SnapshotInstaller::Recover(*fs, cfg_.dir));
  TLDB_ASSIGN_OR_RETURN(state_, ReplicaStateFile::Load(*fs, cfg_.dir));
  std::unique_lock l(db_mu_);
  TLDB_ASSIGN_OR_RETURN(db_, Db::Open(cfg_.dir, DbOptions()));
  ApplyOwnership();
  TLDB_RETURN_IF_ERROR(CreateFixedNamespaces());
  // A history never describes bytes the log lost (unsynced ones, at a power loss).
  for (auto& [ns, h] : state_.histories) {
    auto ends = db_->LogEnd(ns);
    if (ends.ok()) h.TruncateTo(ends->written);
  }
  election_at_ms_ = Now() + cfg_.election_jitter_ms;
  return Status::Ok();
}

Status Replica::CreateFixedNamespaces() {
  for (const auto& [ns, options] : cfg_.namespaces) {
    TLDB_RETURN_IF_ERROR(db_->CreateNamespace(ns, options));
  }
  return db_->CreateNamespace(kCatalogNamespace, CatalogNamespaceOptions());
}

Status Replica::ReopenDb(const std::map<std::string, LogPosition>& cuts) {
  std::unique_lock l(db_mu_);
  if (db_) {
    (void)db_->Close();  // a sticky error of a deposed primary is expected here
    db_.reset();
  }
  const Options o = DbOptions();
  for (const auto& [ns, cut] : cuts) {
    Status s = Db::TruncateLog(cfg_.dir, o, ns, cut);
    if (!s.ok()) {
      Event("cannot cut namespace '" + ns + "' at " + cut.ToString() + ": " + s.ToString());
      return s;
    }
    Event("cut namespace '" + ns + "' back to " + cut.ToString());
  }
  TLDB_ASSIGN_OR_RETURN(db_, Db::Open(cfg_.dir, o));
  ApplyOwnership();
  return Status::Ok();
}

void Replica::ApplyOwnership() {
  std::lock_guard o(owned_mu_);
  if (db_ && owned_) db_->SetTimelineOwnership(owned_);
}

void Replica::SetTimelineOwnership(TimelineOwnership owned) {
  std::shared_lock l(db_mu_);  // a Db opened meanwhile applies it (db_mu_ exclusive)
  std::lock_guard o(owned_mu_);
  owned_ = std::move(owned);
  if (db_) db_->SetTimelineOwnership(owned_);
}

void Replica::Stop() {
  {
    std::lock_guard l(mu_);
    if (stopped_) return;
    stopped_ = true;
    role_ = Role::kFollower;
    cv_.notify_all();
  }
  {
    std::unique_lock l(db_mu_);
    if (db_) {
      (void)db_->Close();
      db_.reset();
    }
  }
  peer_snapshots_.reset();  // waits for a snapshot under way (it fails: this replica stopped)
}

ReplicaStatus Replica::status() const {
  std::lock_guard l(mu_);
  ReplicaStatus s;
  s.role = role_;
  s.epoch = role_ == Role::kFollower ? state_.promised_epoch : epoch_;
  s.membership = state_.membership;
  s.serving = role_ == Role::kPrimary && serving_;
  s.primary = role_ == Role::kPrimary ? std::optional<uint32_t>(cfg_.node) : primary_;
  s.failovers_seen = failovers_seen_;
  s.stale_messages_dropped = stale_incarnations_dropped_;
  s.etcd_ok = etcd_ok_;
  s.rebuilding = rebuild_ != nullptr;
  s.rebuild_bytes = rebuild_ ? rebuild_->bytes_received() : rebuild_bytes_last_;
  s.rebuilds = rebuilds_;
  s.catalog_seq = state_.catalog_seq;
  s.spare = Spare();
  s.spare_caught_up = spare_caught_up_;
  if (role_ != Role::kPrimary) return s;
  std::shared_lock d(db_mu_);
  const int64_t now = Now();
  for (const auto& [n, p] : peers_) {
    PeerLag lag{.node = n, .joined = p.joined, .learner = p.learner};
    int64_t oldest = now;
    for (const auto& [ns, pl] : p.logs) {
      const LogPosition mine = EndsOf(ns).written;
      if (pl.acked.written >= mine) continue;
      oldest = std::min(oldest, pl.caught_up_ms);
      if (pl.acked.written.segment == mine.segment) {
        lag.behind_bytes += mine.offset - pl.acked.written.offset;
      } else {
        lag.behind_bytes += mine.offset;  // of the active segment; whole segments counted apart
        lag.behind_segments += mine.segment - pl.acked.written.segment;
      }
    }
    lag.lag_ms = now - oldest;
    s.peers.push_back(lag);
  }
  return s;
}

void Replica::Send(uint32_t to, PeerMessage m) {
  if (dead_) return;  // a killed process sends nothing
  m.from = cfg_.node;
  m.learner = !Votes();
  m.catalog_seq = state_.catalog_seq;
  m.incarnation = cfg_.incarnation;
  transport_->Send(cfg_.node, to, MessageCodec::Encode(m));
}

LogEnds Replica::EndsOf(const std::string& ns) const {
  auto e = db_ ? db_->LogEnd(ns) : Result<LogEnds>(Status::Closed("no db"));
  return e.ok() ? *e : LogEnds{};
}

std::vector<std::string> Replica::Namespaces() const {
  std::vector<std::string> out;
  if (!db_) return out;
  auto list = db_->ListNamespaces();
  if (!list.ok()) return out;
  for (const NamespaceInfo& n : *list) out.push_back(n.name);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<NsLog> Replica::HistoryOf(const std::string& ns) const {
  auto h = state_.histories.find(ns);
  if (h == state_.histories.end()) return {};
  return {NsLog{.ns = ns, .history = h->second}};
}

std::vector<NsLog> Replica::MyLogs(bool histories) const {
  std::vector<NsLog> out;
  for (const std::string& ns : Namespaces()) {
    NsLog l;
    l.ns = ns;
    l.ends = EndsOf(ns);
    auto h = histories ? state_.histories.find(ns) : state_.histories.end();
    if (h != state_.histories.end()) l.history = h->second;
    out.push_back(std::move(l));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Driver: messages and ticks.

void Replica::Receive(std::string_view bytes) {
  auto m = MessageCodec::Decode(bytes);
  if (!m.ok()) {
    Event("dropped a message: " + m.status().ToString());
    return;
  }
  std::unique_lock l(mu_);
  if (stopped_ || dead_) return;
  Handle(l, *m);
}

void Replica::Handle(std::unique_lock<std::mutex>& l, const PeerMessage& m) {
  if (m.from >= Members() || m.from == cfg_.node) return;
  if (cfg_.peer_incarnation) {
    const uint64_t named = cfg_.peer_incarnation(m.from);
    if (named != 0 && m.incarnation != named) {
      // Another run of that position than the one the coordinator names: one moved away or
      // replaced, or a restart the coordinator's answer predates. It counts for nothing, not
      // even as heard from, until the coordinator names it.
      if (stale_incarnations_dropped_++ % 1000 == 0) {
        Event("dropped a message from replica " + std::to_string(m.from) + " of incarnation " +
              std::to_string(m.incarnation) + ": etcd names incarnation " + std::to_string(named) +
              " (" + std::to_string(stale_incarnations_dropped_) + " so far)");
      }
      if (cfg_.on_other_incarnation) cfg_.on_other_incarnation(m.from);
      return;
    }
  }
  if (peers_.count(m.from) != 0) peers_[m.from].heard_ms = Now();
  const bool request = m.type == MsgType::kAppend || m.type == MsgType::kPrepare ||
                       m.type == MsgType::kJoin || m.type == MsgType::kFetch ||
                       m.type == MsgType::kVoter || m.type == MsgType::kSnapshotNeeded ||
                       m.type == MsgType::kSnapshotOpen || m.type == MsgType::kSnapshotRead;
  if (m.epoch < state_.promised_epoch) {
    // A request of a deposed leader (or candidate) learns that it is deposed.
    if (request) Send(m.from, PeerMessage{.type = MsgType::kNack, .epoch = state_.promised_epoch});
    return;
  }
  switch (m.type) {
    case MsgType::kAppend:
      return OnAppend(l, m);
    case MsgType::kAck:
      return OnAck(m);
    case MsgType::kNack:
      if (role_ != Role::kFollower && m.epoch > epoch_) {
        StepDown(l, "a replica promised the higher epoch " + std::to_string(m.epoch));
      } else if (role_ == Role::kFollower && m.epoch == joined_epoch_ && primary_ == m.from) {
        // Its primary does not count it as joined (it forgot a spare it did not hear from):
        // join again at the next heartbeat.
        Event("its primary asks it to join again");
        joined_epoch_ = 0;
      }
      return;
    case MsgType::kPrepare:
      return OnPrepare(l, m);
    case MsgType::kPrepareOk:
      return OnPrepareOk(l, m);
    case MsgType::kJoin:
      return OnJoin(m);
    case MsgType::kJoinReply:
      return OnJoinReply(l, m);
    case MsgType::kFetch:
      return OnFetch(m);
    case MsgType::kFetchReply:
      return OnFetchReply(l, m);
    case MsgType::kVoter:
      return OnVoter(m);
    case MsgType::kSnapshotNeeded:
      return OnSnapshotNeeded(m);
    case MsgType::kSnapshotOpen:
      return OnSnapshotOpen(m);
    case MsgType::kSnapshotManifest:
      return OnSnapshotManifest(l, m);
    case MsgType::kSnapshotRead:
      return OnSnapshotRead(m);
    case MsgType::kSnapshotChunk:
      return OnSnapshotChunk(l, m);
  }
}

void Replica::Tick() {
  std::unique_lock l(mu_);
  if (stopped_ || dead_) return;
  const int64_t now = Now();
  const Status kept = coordinator_->KeepAlive(cfg_.node);
  // Logged when it starts failing, fails another way (etcd unreachable, then this position
  // registered by another server) and answers again; not every tick.
  if (!kept.ok() && (etcd_ok_ || kept.code() != keepalive_code_)) {
    Event("etcd: cannot keep this replica registered: " + kept.ToString());
  } else if (kept.ok() && keepalive_code_ != Status::Code::kOk) {
    Event("etcd: registered again");
  }
  keepalive_code_ = kept.code();
  etcd_ok_ = kept.ok();
  if (role_ == Role::kFollower) {
    if (rebuild_ && now - rebuild_sent_ms_ > 5 * cfg_.retry_ms) RequestSnapshotPiece();
    if (now < coordinator_check_ms_) return;
    coordinator_check_ms_ = now + cfg_.heartbeat_ms;
    if (state_.membership == Membership::kUndecided && !DecideMembership()) return;
    auto leader = coordinator_->Leader(cfg_.node);
    if (!leader.ok()) return;  // etcd unreachable: no election
    if (leader->present && leader->node == cfg_.node) {
      // A key of this node's earlier life (it restarted): give it up so that a new election
      // starts now rather than when its lease expires.
      (void)coordinator_->Resign(cfg_.node, leader->epoch);
      return;
    }
    if (leader->present) {
      // When the key goes, campaign after a random delay, so that replicas rarely collide.
      election_at_ms_ =
          now + static_cast<int64_t>(rng_() % static_cast<uint64_t>(cfg_.election_jitter_ms + 1));
      CureQuarantine(leader->node);
      return;
    }
    if (!Votes()) return;  // a learner never campaigns
    // A planned switchover names the replica to lead: it campaigns at once, the others give
    // it an election's time first.
    auto target = coordinator_->PromoteTarget(cfg_.node);
    const bool named = target.ok() && target->has_value();
    if (named && **target == cfg_.node) return Campaign(l);
    if (named && **target < cfg_.nodes && now < election_at_ms_ + cfg_.election_timeout_ms) return;
    if (now < election_at_ms_) return;
    // A replica whose scrub quarantined a sealed segment lets a healthy one lead first (it
    // rebuilds from that one's snapshot once it follows); it leads only if none does.
    if (now < election_at_ms_ + 2 * cfg_.election_timeout_ms && Quarantined() != 0) return;
    Campaign(l);
    return;
  }
  if (role_ == Role::kCandidate) {
    if (now - candidate_since_ms_ > cfg_.election_timeout_ms) {
      Event("election of epoch " + std::to_string(epoch_) + " timed out");
      (void)coordinator_->Resign(cfg_.node, epoch_);
      StepDown(l, "election timed out");
      return;
    }
    if (now >= heartbeat_at_ms_) {
      heartbeat_at_ms_ = now + cfg_.retry_ms;
      if (adopting_.empty()) {
        for (uint32_t n = 0; n < cfg_.nodes; ++n) {
          if (n != cfg_.node && promises_.count(n) == 0) {
            Send(n, PeerMessage{.type = MsgType::kPrepare, .epoch = epoch_});
          }
        }
      } else {
        std::shared_lock d(db_mu_);
        for (const auto& [ns, from_end] : adopting_) FetchNext(ns);
      }
    }
    return;
  }
  // Primary.
  if (now >= coordinator_check_ms_) {
    coordinator_check_ms_ = now + cfg_.heartbeat_ms;
    auto leader = coordinator_->Leader(cfg_.node);
    if (leader.ok() && (!leader->present || leader->epoch != epoch_)) {
      StepDown(l, "the leader key of epoch " + std::to_string(epoch_) + " is gone");
      return;
    }
    auto target = coordinator_->PromoteTarget(cfg_.node);
    const bool promote =
        target.ok() && target->has_value() && **target != cfg_.node && **target < cfg_.nodes;
    if (promote) {
      if (HandOver(l, **target)) return;
    } else if (target.ok() && handing_over_ && !cure_target_) {
      handing_over_ = false;  // the request was withdrawn
    }
    // A sealed segment of its own quarantined by the scrub: the cure is a rebuild from another
    // replica's snapshot, which a follower does (CureQuarantine). So the primary hands over to
    // a voter that has its whole log, and, with its quarantine, campaigns only after the others.
    if (!promote && !handing_over_ && now >= quarantine_check_ms_) {
      quarantine_check_ms_ = now + cfg_.election_timeout_ms;  // Stats() is not free
      if (const uint64_t q = Quarantined(); q != 0) {
        for (const auto& [n, p] : peers_) {
          if (p.joined && !p.learner && now - p.heard_ms <= cfg_.majority_timeout_ms) {
            cure_target_ = n;
            Event(std::to_string(q) + " sealed segment(s) quarantined by the scrub: hands over " +
                  "to replica " + std::to_string(n) + ", then rebuilds from its snapshot");
            break;
          }
        }
      }
    }
    if (!promote && cure_target_) {
      if (HandOver(l, *cure_target_)) return;
      if (!handing_over_) cure_target_.reset();  // it did not catch up: checked again later
    }
  }
  size_t heard = 1;
  for (auto& [n, p] : peers_) {
    heard += n < cfg_.nodes && now - p.heard_ms <= cfg_.majority_timeout_ms ? 1 : 0;
  }
  // A spare not heard for that long has gone (its move ended or was cancelled): forgotten, so
  // that its stale lag is not reported.
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (it->first >= cfg_.nodes && now - it->second.heard_ms > cfg_.majority_timeout_ms) {
      peer_snapshots_->Release(it->first);
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
  if (heard < Majority()) {
    (void)coordinator_->Resign(cfg_.node, epoch_);
    StepDown(l, "no majority heard for " + std::to_string(cfg_.majority_timeout_ms) + " ms");
    return;
  }
  if (now >= heartbeat_at_ms_) {
    heartbeat_at_ms_ = now + cfg_.heartbeat_ms;
    // Followers keep the same segments as written, so that a replica behind can still fetch
    // them from whichever replica has the best log when this one dies (Adopt).
    const std::vector<NsLog> floors = HoldLogForFollowers();
    for (uint32_t n = 0; n < Members(); ++n) {
      if (n != cfg_.node) {
        Send(n, PeerMessage{.type = MsgType::kAppend, .epoch = epoch_, .logs = floors});
      }
    }
    // A record committed by a client call whose own apply failed (it is retried here).
    if (serving_) {
      std::shared_lock d(db_mu_);
      (void)ApplyNewestCatalog();
    }
  }
  for (auto& [n, p] : peers_) {
    for (auto& [ns, pl] : p.logs) {
      if (pl.acked.written < pl.next && now - pl.progress_ms > cfg_.retry_ms) {
        pl.next = pl.acked.written;  // go back: something was lost
        pl.in_flight = 0;
        pl.progress_ms = now;
      }
    }
  }
  PumpAll();
}

// ---------------------------------------------------------------------------------------------
// Epochs.

Status Replica::Persist(ReplicaState next) {
  TLDB_RETURN_IF_ERROR(ReplicaStateFile::Store(*cfg_.db_options.file_system, cfg_.dir, next));
  state_ = std::move(next);
  return Status::Ok();
}

Status Replica::Promise(std::unique_lock<std::mutex>& l, uint64_t epoch) {
  if (epoch <= state_.promised_epoch) return Status::Ok();
  if (role_ != Role::kFollower) StepDown(l, "promised the higher epoch " + std::to_string(epoch));
  if (rebuild_) AbortRebuild("promised the higher epoch " + std::to_string(epoch));
  const bool failover = state_.promised_epoch != 0;
  ReplicaState next = state_;
  next.promised_epoch = epoch;
  TLDB_RETURN_IF_ERROR(Persist(std::move(next)));
  KillPoint("replica.after_promise");
  if (failover) failovers_seen_++;
  joined_epoch_ = 0;
  primary_.reset();
  return Status::Ok();
}

void Replica::StepDown(std::unique_lock<std::mutex>& l, const std::string& why) {
  const bool was_primary = role_ == Role::kPrimary;
  Event("steps down from epoch " + std::to_string(epoch_) + ": " + why);
  role_ = Role::kFollower;
  serving_ = false;
  handing_over_ = false;
  cure_target_.reset();
  joined_epoch_ = 0;
  primary_.reset();
  promises_.clear();
  adopting_.clear();
  adopting_catalog_seq_ = 0;
  peers_.clear();
  if (peer_snapshots_) peer_snapshots_->Clear();
  election_at_ms_ =
      Now() + cfg_.election_jitter_ms +
      static_cast<int64_t>(rng_() % static_cast<uint64_t>(cfg_.election_jitter_ms + 1));
  cv_.notify_all();  // Ship calls waiting for this epoch fail now
  // A deposed primary's Db may refuse writes (sticky) and holds frames no majority has: it
  // becomes a follower again, and its next primary cuts what it must.
  l.unlock();
  {
    std::map<std::string, LogPosition> none;
    if (was_primary) {
      if (Status s = ReopenDb(none); !s.ok()) Event("reopen failed: " + s.ToString());
    } else {
      std::shared_lock d(db_mu_);
      if (db_) db_->SetFollower(true);
    }
  }
  l.lock();
}

void Replica::Campaign(std::unique_lock<std::mutex>& l) {
  auto won = coordinator_->Campaign(cfg_.node);
  if (!won.ok()) return;
  if (!won->present || won->node != cfg_.node) return;  // another replica was quicker
  if (won->epoch <= state_.promised_epoch) {
    (void)coordinator_->Resign(cfg_.node,
                               won->epoch);  // cannot happen with etcd; refuse to reuse it
    return;
  }
  if (Status s = Promise(l, won->epoch); !s.ok()) {
    Event("cannot promise epoch " + std::to_string(won->epoch) + ": " + s.ToString());
    (void)coordinator_->Resign(cfg_.node, won->epoch);
    return;
  }
  role_ = Role::kCandidate;
  epoch_ = won->epoch;
  candidate_since_ms_ = Now();
  heartbeat_at_ms_ = 0;
  promises_.clear();
  adopting_.clear();
  adopting_catalog_seq_ = 0;
  std::shared_lock d(db_mu_);
  promises_[cfg_.node] = {MyLogs(), state_.catalog_seq};
  Event("campaigns for epoch " + std::to_string(epoch_));
}

void Replica::OnPrepare(std::unique_lock<std::mutex>& l, const PeerMessage& m) {
  if (m.epoch > state_.promised_epoch) {
    if (Status s = Promise(l, m.epoch); !s.ok()) {
      Event("cannot promise epoch " + std::to_string(m.epoch) + ": " + s.ToString());
      return;
    }
  }
  if (role_ != Role::kFollower) return;  // its own epoch
  primary_ = m.from;
  std::shared_lock d(db_mu_);
  Send(m.from, PeerMessage{.type = MsgType::kPrepareOk, .epoch = m.epoch, .logs = MyLogs()});
}

void Replica::OnPrepareOk(std::unique_lock<std::mutex>& l, const PeerMessage& m) {
  if (role_ != Role::kCandidate || m.epoch != epoch_ || !adopting_.empty()) return;
  // A learner's promise and log count for nothing: it may have lost what it once promised
  // and acknowledged, so a majority with it need not share a replica with a committed frame.
  if (!Counts(m)) return;
  promises_[m.from] = {m.logs, m.catalog_seq};
  if (promises_.size() >= Majority()) Adopt(l);
}

// The view change: among the logs of a majority that promised this epoch, each namespace's
// best log (latest last epoch, then longest) holds every committed frame, since a committed
// frame is on a majority and any two majorities share a replica. This replica cuts its own log
// to where it agrees with the best one, fetches the rest, and only then leads.
void Replica::Adopt(std::unique_lock<std::mutex>& l) {
  // A namespace with committed frames exists on a replica of every majority, which applied a
  // catalog record naming it, and records are applied only once committed: the newest catalog
  // a replica of this majority applied names every such namespace.
  uint64_t catalog_seq = state_.catalog_seq;
  for (const auto& [node, p] : promises_) catalog_seq = std::max(catalog_seq, p.catalog_seq);
  adopting_catalog_seq_ = catalog_seq > state_.catalog_seq ? catalog_seq : 0;
  std::map<std::string, LogPosition> cuts;
  std::map<std::string, EpochHistory> adopted;
  {
    std::shared_lock d(db_mu_);
    const std::vector<NsLog> mine = MyLogs();
    for (const NsLog& my : mine) {
      if (adopting_catalog_seq_ != 0 && my.ns != kCatalogNamespace) continue;
      uint32_t best = cfg_.node;
      NsLog best_log = my;
      for (const auto& [node, p] : promises_) {
        for (const NsLog& o : p.logs) {
          if (o.ns == my.ns && EpochHistory::Better(o.history, o.ends.written, best_log.history,
                                                    best_log.ends.written)) {
            best = node;
            best_log = o;
          }
        }
      }
      if (best == cfg_.node) continue;
      const LogPosition common = EpochHistory::CommonPrefix(
          my.history, my.ends.written, best_log.history, best_log.ends.written);
      if (common < my.ends.written) cuts[my.ns] = common;
      adopted[my.ns] = best_log.history;
      adopting_[my.ns] = {best, best_log.ends.written};
    }
  }
  if (!cuts.empty()) {
    l.unlock();
    Status s = ReopenDb(cuts);
    l.lock();
    if (!s.ok()) {
      (void)coordinator_->Resign(cfg_.node, epoch_);
      StepDown(l, "cannot cut its log: " + s.ToString());
      return;
    }
    if (role_ != Role::kCandidate) return;
    KillPoint("replica.after_adopt_cut");
  }
  for (auto& [ns, h] : adopted) state_.histories[ns] = h;
  Event("adopts the best logs of a majority for epoch " + std::to_string(epoch_) + " (" +
        std::to_string(adopting_.size()) + " namespaces to fetch" +
        (adopting_catalog_seq_ != 0 ? ", the catalog first" : "") + ")");
  if (adopting_.empty()) return Adopted(l);
  std::shared_lock d(db_mu_);
  for (const auto& [ns, from_end] : adopting_) FetchNext(ns);
}

void Replica::Adopted(std::unique_lock<std::mutex>& l) {
  if (adopting_catalog_seq_ == 0) return BecomePrimary();
  {
    std::shared_lock d(db_mu_);
    if (Status s = ApplyCatalog(adopting_catalog_seq_); !s.ok()) {
      d.unlock();
      (void)coordinator_->Resign(cfg_.node, epoch_);
      StepDown(l, "cannot apply the catalog its majority committed: " + s.ToString());
      return;
    }
  }
  adopting_catalog_seq_ = 0;
  Adopt(l);  // every namespace now, those the catalog added included
}

void Replica::FetchNext(const std::string& ns) {
  const auto& [from, end] = adopting_.at(ns);
  Send(from,
       PeerMessage{
           .type = MsgType::kFetch, .epoch = epoch_, .ns = ns, .position = EndsOf(ns).written});
}

void Replica::OnFetch(const PeerMessage& m) {
  if (m.epoch != state_.promised_epoch) return;
  std::shared_lock d(db_mu_);
  if (!db_) return;
  auto frames = db_->ReadFrames(m.ns, m.position, cfg_.frame_batch_bytes_max);
  if (!frames.ok()) {
    Event("cannot serve a fetch of '" + m.ns + "' from " + m.position.ToString() + ": " +
          frames.status().ToString());
    return;
  }
  Send(m.from, PeerMessage{.type = MsgType::kFetchReply,
                           .epoch = m.epoch,
                           .ns = m.ns,
                           .frames = std::move(frames).value(),
                           .position = m.position});
}

void Replica::OnFetchReply(std::unique_lock<std::mutex>& l, const PeerMessage& m) {
  if (role_ != Role::kCandidate || m.epoch != epoch_) return;
  auto it = adopting_.find(m.ns);
  if (it == adopting_.end() || it->second.first != m.from) return;
  {
    std::shared_lock d(db_mu_);
    for (const LogFrame& f : m.frames) {
      if (f.start() != EndsOf(m.ns).written) break;  // a stale or duplicate reply
      if (Status s = db_->ApplyFrame(m.ns, f); !s.ok()) {
        Event("cannot apply a fetched frame of '" + m.ns + "': " + s.ToString());
        break;
      }
    }
    if (EndsOf(m.ns).written < it->second.second) {
      if (!m.frames.empty()) FetchNext(m.ns);
      return;
    }
  }
  adopting_.erase(it);
  if (adopting_.empty()) Adopted(l);
}

void Replica::BecomePrimary() {
  std::shared_lock d(db_mu_);
  ReplicaState next = state_;
  for (const std::string& ns : Namespaces()) {
    const LogPosition end = EndsOf(ns).written;
    EpochHistory& h = next.histories[ns];
    h.TruncateTo(end);
    if (!h.Append(epoch_, end)) {
      Event("epoch " + std::to_string(epoch_) + " does not follow namespace '" + ns +
            "''s history");
      return;
    }
    epoch_start_[ns] = end;
  }
  if (Status s = Persist(std::move(next)); !s.ok()) {
    Event("cannot store its epoch history: " + s.ToString());
    return;
  }
  KillPoint("replica.after_lead");
  role_ = Role::kPrimary;
  serving_ = false;
  peers_.clear();
  const int64_t now = Now();
  for (uint32_t n = 0; n < cfg_.nodes; ++n) {
    if (n != cfg_.node) peers_[n].heard_ms = now;
  }
  heartbeat_at_ms_ = 0;
  db_->SetFollower(false);
  auto target = coordinator_->PromoteTarget(cfg_.node);
  if (target.ok() && target->has_value() && **target == cfg_.node) {
    (void)coordinator_->ClearPromote(cfg_.node);  // the switchover it asked for is done
  }
  Event("leads epoch " + std::to_string(epoch_));
  UpdateServing();
}

// ---------------------------------------------------------------------------------------------
// Follower.

void Replica::OnAppend(std::unique_lock<std::mutex>& l, const PeerMessage& m) {
  if (m.epoch > state_.promised_epoch) {
    if (Status s = Promise(l, m.epoch); !s.ok()) {
      Event("cannot promise epoch " + std::to_string(m.epoch) + ": " + s.ToString());
      return;
    }
  }
  if (role_ != Role::kFollower) return;
  primary_ = m.from;
  std::shared_lock d(db_mu_);
  if (!db_) return;
  if (joined_epoch_ != m.epoch) {
    Send(m.from, PeerMessage{.type = MsgType::kJoin, .epoch = m.epoch, .logs = MyLogs()});
    return;
  }
  if (m.ns.empty()) {
    // A heartbeat: the segments to keep as written, the primary's own hold.
    for (const NsLog& log : m.logs) db_->RetainLogFrom(log.ns, log.cut.segment);
  }
  PeerMessage ack{.type = MsgType::kAck, .epoch = m.epoch};
  // The catalog record the primary applied is committed: apply it first, so that frames of a
  // namespace it creates find the namespace here (when this log has the record already).
  ApplyCatalogOrReport(m.catalog_seq);
  const LogPosition before = EndsOf(m.ns).written;
  // Frames of a namespace this replica does not have yet wait for the catalog that creates it:
  // the primary sends them again once this replica reports the namespace's end.
  const bool known = m.ns.empty() || db_->LogEnd(m.ns).ok();
  if (known && !m.frames.empty() && !m.logs.empty() && m.logs[0].ns == m.ns) {
    // The primary's history of the namespace describes this log too (it is a prefix of the
    // primary's since the join). A namespace created after the join gets it here, before the
    // first frame of it is written.
    auto h = state_.histories.find(m.ns);
    if (h == state_.histories.end() || h->second != m.logs[0].history) {
      ReplicaState next = state_;
      next.histories[m.ns] = m.logs[0].history;
      if (Status s = Persist(std::move(next)); !s.ok()) {
        Event("cannot store the epoch history of '" + m.ns + "': " + s.ToString());
        return;
      }
    }
  }
  for (const LogFrame& f : known ? m.frames : std::vector<LogFrame>{}) {
    LogPosition end = EndsOf(m.ns).written;
    if (f.end() <= end) continue;  // already here
    LogFrame part = f;
    if (f.start() < end) {
      // Overlaps what this log has (a catch-up frame cut elsewhere): the rest of it.
      if (f.kind != FrameKind::kRecords || end.segment != f.segment) break;
      part.bytes.erase(0, end.offset - f.offset);
      part.offset = end.offset;
    } else if (f.start() != end) {
      ack.position = end;  // a gap: ask for the frames from here
      break;
    }
    if (Status s = db_->ApplyFrame(m.ns, part); !s.ok()) {
      Event("cannot apply a frame of '" + m.ns + "' at " + part.start().ToString() + ": " +
            s.ToString());
      ack.position = EndsOf(m.ns).written;
      break;
    }
  }
  if (EndsOf(m.ns).written != before) KillPoint("replica.after_apply");
  if (m.ns == kCatalogNamespace) ApplyCatalogOrReport(m.catalog_seq);
  ack.logs = MyLogs(/*histories=*/false);  // an Ack carries ends only
  Send(m.from, std::move(ack));
}

void Replica::OnJoinReply(std::unique_lock<std::mutex>& l, const PeerMessage& m) {
  if (role_ != Role::kFollower || m.epoch != state_.promised_epoch || joined_epoch_ == m.epoch) {
    return;
  }
  std::map<std::string, LogPosition> cuts;
  {
    std::shared_lock d(db_mu_);
    for (const NsLog& log : m.logs) {
      if (log.cut < EndsOf(log.ns).written) cuts[log.ns] = log.cut;
    }
  }
  if (!cuts.empty()) {
    l.unlock();
    Status s = ReopenDb(cuts);
    l.lock();
    if (!s.ok() || role_ != Role::kFollower || m.epoch != state_.promised_epoch) return;
    KillPoint("replica.after_join_cut");
  }
  ReplicaState next = state_;
  for (const NsLog& log : m.logs) next.histories[log.ns] = log.history;
  if (Status s = Persist(std::move(next)); !s.ok()) {
    Event("cannot store the epoch histories of its primary: " + s.ToString());
    return;
  }
  KillPoint("replica.after_join");
  joined_epoch_ = m.epoch;
  primary_ = m.from;
  std::shared_lock d(db_mu_);
  Send(m.from,
       PeerMessage{.type = MsgType::kAck, .epoch = m.epoch, .logs = MyLogs(/*histories=*/false)});
}

bool Replica::DecideMembership() {
  auto served = coordinator_->Initialized(cfg_.node);
  if (!served.ok()) return false;  // etcd unreachable: stay a learner until it answers
  ReplicaState next = state_;
  // A spare's directory becomes a voter's position later, after frames it may lack were
  // committed: it must never start as a voter (see ReplicaConfig::node).
  next.membership = *served || Spare() ? Membership::kLearner : Membership::kVoter;
  if (Status s = Persist(std::move(next)); !s.ok()) {
    Event("cannot store its membership: " + s.ToString());
    return false;
  }
  KillPoint("replica.after_membership");
  Event(Spare()   ? "a spare with no state of its own: a learner"
        : *served ? "has no state of its own in a partition that served: a learner until it "
                    "holds every committed frame"
                  : "has no state of its own in a new partition: a voter");
  return true;
}

void Replica::OnVoter(const PeerMessage& m) {
  if (role_ != Role::kFollower || m.epoch != state_.promised_epoch || joined_epoch_ != m.epoch ||
      Votes()) {
    return;
  }
  if (Spare()) {
    // It votes only once a move gives it a voter's position, and then starts as a learner.
    if (!spare_caught_up_) Event("a spare that holds every committed frame");
    spare_caught_up_ = true;
    return;
  }
  ReplicaState next = state_;
  next.membership = Membership::kVoter;
  if (Status s = Persist(std::move(next)); !s.ok()) {
    Event("cannot store that it votes: " + s.ToString());
    return;
  }
  KillPoint("replica.after_voter");
  Event("votes from now on (its primary saw it hold every committed frame)");
  std::shared_lock d(db_mu_);
  Send(m.from,
       PeerMessage{.type = MsgType::kAck, .epoch = m.epoch, .logs = MyLogs(/*histories=*/false)});
}

// ---------------------------------------------------------------------------------------------
// Rebuild from a snapshot (docs/replication.md "Automatic rebuild").

// A sealed segment the scrub found damaged is quarantined (reads of it answer Corruption). On a
// follower the cure is its primary's copy: segments differ between replicas once compacted, so
// the whole log is rebuilt from a snapshot of the primary, which replaces every namespace
// directory, the damaged segment and the scrub's record of it included.
uint64_t Replica::Quarantined() const {
  std::shared_lock d(db_mu_);
  return db_ ? db_->Stats().scrub_segments_quarantined : 0;
}

void Replica::CureQuarantine(uint32_t leader) {
  if (rebuild_ || !primary_ || *primary_ != leader || joined_epoch_ != state_.promised_epoch) {
    return;
  }
  const uint64_t quarantined = Quarantined();
  if (quarantined == 0) return;
  rebuild_ = std::make_unique<SnapshotInstaller>(*cfg_.db_options.file_system, cfg_.dir);
  rebuild_from_ = leader;
  rebuild_epoch_ = state_.promised_epoch;
  Event(std::to_string(quarantined) +
        " sealed segment(s) quarantined by the scrub: rebuilds from a snapshot of replica " +
        std::to_string(leader));
  RequestSnapshotPiece();
}

void Replica::OnSnapshotNeeded(const PeerMessage& m) {
  if (role_ != Role::kFollower || m.epoch != state_.promised_epoch || joined_epoch_ != m.epoch ||
      rebuild_) {
    return;
  }
  rebuild_ = std::make_unique<SnapshotInstaller>(*cfg_.db_options.file_system, cfg_.dir);
  rebuild_from_ = m.from;
  rebuild_epoch_ = m.epoch;
  Event("its primary (replica " + std::to_string(m.from) +
        ") no longer has the frames it needs: rebuilds from a snapshot");
  RequestSnapshotPiece();
}

void Replica::RequestSnapshotPiece() {
  rebuild_sent_ms_ = Now();
  if (!rebuild_->begun()) {
    Send(rebuild_from_, PeerMessage{.type = MsgType::kSnapshotOpen, .epoch = rebuild_epoch_});
    return;
  }
  if (auto next = rebuild_->Next()) {
    Send(rebuild_from_, PeerMessage{.type = MsgType::kSnapshotRead,
                                    .epoch = rebuild_epoch_,
                                    .ns = next->first,
                                    .position = {0, next->second}});
  }
}

void Replica::AbortRebuild(const std::string& why) {
  Event("gives up its rebuild: " + why);
  rebuild_->Abort();
  rebuild_.reset();
}

void Replica::OnSnapshotOpen(const PeerMessage& m) {
  if (role_ != Role::kPrimary || m.epoch != epoch_) return;
  auto manifest = peer_snapshots_->Open(m.from);
  if (!manifest.ok()) {
    Event("cannot take a snapshot for replica " + std::to_string(m.from) + ": " +
          manifest.status().ToString());
    return;
  }
  if (!*manifest) return;  // being taken: the follower asks again
  Send(m.from,
       PeerMessage{.type = MsgType::kSnapshotManifest, .epoch = epoch_, .files = **manifest});
}

void Replica::OnSnapshotRead(const PeerMessage& m) {
  if (role_ != Role::kPrimary || m.epoch != epoch_) return;
  auto data = peer_snapshots_->Read(m.from, m.ns, m.position.offset, cfg_.frame_batch_bytes_max);
  if (!data.ok()) {
    Event("cannot send snapshot file " + m.ns + " to replica " + std::to_string(m.from) + ": " +
          data.status().ToString());
    return;
  }
  Send(m.from, PeerMessage{.type = MsgType::kSnapshotChunk,
                           .epoch = epoch_,
                           .ns = m.ns,
                           .position = m.position,
                           .data = std::move(data).value()});
}

void Replica::OnSnapshotManifest(std::unique_lock<std::mutex>& l, const PeerMessage& m) {
  if (!rebuild_ || m.from != rebuild_from_ || m.epoch != rebuild_epoch_ || rebuild_->begun()) {
    return;
  }
  if (Status s = rebuild_->Begin(m.files); !s.ok()) return AbortRebuild(s.ToString());
  uint64_t bytes = 0;
  for (const SnapshotFile& f : m.files) bytes += f.bytes;
  Event("receives a snapshot of " + std::to_string(m.files.size()) + " files, " +
        std::to_string(bytes) + " bytes");
  if (!rebuild_->Next()) return InstallSnapshot(l);
  RequestSnapshotPiece();
}

void Replica::OnSnapshotChunk(std::unique_lock<std::mutex>& l, const PeerMessage& m) {
  if (!rebuild_ || m.from != rebuild_from_ || m.epoch != rebuild_epoch_ || !rebuild_->begun()) {
    return;
  }
  const auto wanted = rebuild_->Next();
  if (!wanted || wanted->first != m.ns || wanted->second != m.position.offset) return;  // stale
  if (Status s = rebuild_->Accept(m.ns, m.position.offset, m.data); !s.ok()) {
    return AbortRebuild(s.ToString());
  }
  const auto now_wanted = rebuild_->Next();
  if (!now_wanted || now_wanted->first != wanted->first) KillPoint("rebuild.after_file");
  if (dead_) return;
  if (!rebuild_->Next()) return InstallSnapshot(l);
  RequestSnapshotPiece();
}

void Replica::InstallSnapshot(std::unique_lock<std::mutex>& l) {
  std::unique_ptr<SnapshotInstaller> installer = std::move(rebuild_);
  const uint64_t bytes = installer->bytes_received();
  const uint32_t from = rebuild_from_;
  FileSystem& fs = *cfg_.db_options.file_system;
  l.unlock();
  Status s;
  {
    std::unique_lock d(db_mu_);
    if (db_) {
      (void)db_->Close();
      db_.reset();
    }
    s = installer->Install();
    if (s.ok()) KillPoint("rebuild.after_install");
    // A failure before the commit point leaves the old directory, after it the install is
    // finished here; either way the Db then opens one whole directory.
    if (!s.ok()) Event("snapshot install failed (" + s.ToString() + "): recovering");
    Status recovered = SnapshotInstaller::Recover(fs, cfg_.dir);
    if (recovered.ok()) {
      auto db = Db::Open(cfg_.dir, DbOptions());
      if (db.ok()) {
        db_ = std::move(db).value();
        ApplyOwnership();
        recovered = CreateFixedNamespaces();
      } else {
        recovered = db.status();
      }
    }
    if (!recovered.ok()) {
      Event("cannot reopen its data directory after a rebuild: " + recovered.ToString());
      if (s.ok()) s = recovered;
    }
  }
  l.lock();
  if (!s.ok()) return;
  auto loaded = ReplicaStateFile::Load(fs, cfg_.dir);
  if (!loaded.ok()) {
    Event("cannot load the snapshot's replica state: " + loaded.status().ToString());
    return;
  }
  ReplicaState next = std::move(loaded).value();
  next.promised_epoch = std::max(next.promised_epoch, state_.promised_epoch);
  next.membership = Membership::kLearner;  // votes once it holds every committed frame
  {
    std::shared_lock d(db_mu_);
    for (auto& [ns, h] : next.histories) h.TruncateTo(EndsOf(ns).written);
  }
  if (Status p = Persist(std::move(next)); !p.ok()) {
    Event("cannot store its replica state after a rebuild: " + p.ToString());
    return;
  }
  KillPoint("rebuild.after_state");
  joined_epoch_ = 0;  // joins again: its primary ships from the snapshot's end
  rebuilds_++;
  rebuild_bytes_last_ = bytes;
  Event("rebuilt from a snapshot of replica " + std::to_string(from) + " (" +
        std::to_string(bytes) + " bytes): joins again as a learner");
}

// ---------------------------------------------------------------------------------------------
// Primary.

void Replica::OnJoin(const PeerMessage& m) {
  if (role_ != Role::kPrimary || m.epoch != epoch_) return;
  PeerMessage reply{.type = MsgType::kJoinReply, .epoch = epoch_};
  Peer& p = peers_[m.from];
  p.joined = true;
  p.learner = !Counts(m);
  p.heard_ms = Now();  // a new spare's entry starts here: not "unheard" until its next message
  p.logs.clear();
  peer_snapshots_->Release(m.from);  // a follower joins once any rebuild of it is over
  std::shared_lock d(db_mu_);
  const std::vector<std::string> mine_all = Namespaces();
  const auto have = [&](const std::string& ns) {
    return std::binary_search(mine_all.begin(), mine_all.end(), ns);
  };
  for (const NsLog& theirs : m.logs) {
    auto h = state_.histories.find(theirs.ns);
    if (!have(theirs.ns) || h == state_.histories.end()) {
      if (theirs.ends.written <= kEmptyLogEnd) continue;
      // A namespace this primary does not have (yet): the follower created it from a committed
      // catalog record, but no frame of it is committed, or this primary's majority would have
      // had the namespace (Adopt). Its frames are cut; they come again from this primary once
      // it has the namespace too.
      reply.logs.push_back(NsLog{theirs.ns, {}, {}, kEmptyLogEnd});
      continue;
    }
    const LogEnds mine = EndsOf(theirs.ns);
    const LogPosition cut =
        EpochHistory::CommonPrefix(theirs.history, theirs.ends.written, h->second, mine.written);
    PeerLog& pl = p.logs[theirs.ns];
    pl.acked = {cut, std::min(cut, theirs.ends.durable)};
    pl.next = cut;
    pl.progress_ms = Now();
    pl.caught_up_ms = Now();
    reply.logs.push_back(NsLog{theirs.ns, h->second, mine, cut});
  }
  for (const std::string& ns : mine_all) {
    // A namespace the follower does not have yet: nothing is sent until it reports the
    // namespace's end, which it does once it applied the catalog record naming it.
    if (p.logs.count(ns) == 0) p.logs[ns] = PeerLog{.progress_ms = Now(), .caught_up_ms = Now()};
  }
  Send(m.from, std::move(reply));
}

void Replica::OnAck(const PeerMessage& m) {
  if (role_ != Role::kPrimary || m.epoch != epoch_) return;
  Peer& p = peers_[m.from];
  if (!p.joined) {
    // A follower that joined this epoch but is not joined here: a spare forgotten after
    // majority_timeout_ms unheard. A Nack of this epoch makes it join again (OnAppend).
    Send(m.from, PeerMessage{.type = MsgType::kNack, .epoch = epoch_});
    return;
  }
  p.learner = !Counts(m);
  const int64_t now = Now();
  std::shared_lock d(db_mu_);
  for (const NsLog& log : m.logs) {
    auto it = p.logs.find(log.ns);
    if (it == p.logs.end()) continue;
    PeerLog& pl = it->second;
    if (log.ends.written > pl.acked.written) pl.progress_ms = now;
    pl.acked.written = std::max(pl.acked.written, log.ends.written);
    pl.acked.durable = std::max(pl.acked.durable, log.ends.durable);
    if (pl.next < pl.acked.written) pl.next = pl.acked.written;
    if (pl.in_flight > 0) pl.in_flight--;
    if (pl.acked.written >= EndsOf(log.ns).written) pl.caught_up_ms = now;
    if (m.position != LogPosition{} && log.ns == m.ns) {
      pl.next = std::min(pl.next, m.position);  // the follower found a gap: resend from there
      pl.in_flight = 0;
    }
  }
  UpdateServing();
  MaybePromote(m.from);
  cv_.notify_all();
  for (const auto& [ns, pl] : p.logs) Pump(m.from, ns);
}

// A learner holds every committed frame once its durable end reaches, in every namespace, the
// start of the frame a Ship call waits on (frames of a namespace commit in order, one group at
// a time), or this log's end when none waits. From then on it may vote: every frame committed
// before is on it, and every later one is counted on it only once it has it durably.
void Replica::MaybePromote(uint32_t peer) {
  if (role_ != Role::kPrimary) return;
  Peer& p = peers_[peer];
  const int64_t now = Now();
  // A spare is told too (that is how it learns it caught up), but less often: it stays a
  // learner after.
  const bool spare = peer >= cfg_.nodes;
  const int64_t again_ms = spare ? cfg_.election_timeout_ms : cfg_.retry_ms;
  if (!p.joined || !p.learner || now - p.voter_sent_ms < again_ms) return;
  for (const auto& [ns, start] : epoch_start_) {
    auto it = p.logs.find(ns);
    if (it == p.logs.end()) return;
    auto waiting = in_flight_.find(ns);
    const LogPosition committed =
        waiting != in_flight_.end() ? waiting->second->start() : EndsOf(ns).written;
    if (it->second.acked.durable < committed) return;
  }
  if (!spare) {
    Event("replica " + std::to_string(peer) + " holds every committed frame: told to vote");
  } else if (p.voter_sent_ms == 0) {
    Event("spare replica " + std::to_string(peer) + " holds every committed frame");
  }
  p.voter_sent_ms = now;
  Send(peer, PeerMessage{.type = MsgType::kVoter, .epoch = epoch_});
}

bool Replica::Committed(const std::string& ns, const LogFrame& f) const {
  size_t have = 1;  // this replica wrote it (and synced it when the frame asks)
  for (const auto& [n, p] : peers_) {
    auto it = p.logs.find(ns);
    if (!p.joined || it == p.logs.end()) continue;
    if (p.learner) continue;
    const LogPosition at = f.sync ? it->second.acked.durable : it->second.acked.written;
    have += at >= f.end() ? 1 : 0;
  }
  return have >= Majority();
}

bool Replica::HandOver(std::unique_lock<std::mutex>& l, uint32_t target) {
  const int64_t now = Now();
  if (!handing_over_) {
    handing_over_ = true;
    handover_since_ms_ = now;
    serving_ = false;  // new requests go elsewhere; those under way finish
    Event("hands over to replica " + std::to_string(target) + " (promote)");
  }
  bool caught_up = in_flight_.empty();
  {
    std::shared_lock d(db_mu_);
    auto p = peers_.find(target);
    caught_up = caught_up && p != peers_.end() && p->second.joined && !p->second.learner;
    for (const auto& [ns, start] : epoch_start_) {
      if (!caught_up) break;
      auto it = p->second.logs.find(ns);
      caught_up = it != p->second.logs.end() && it->second.acked.durable >= EndsOf(ns).written;
    }
  }
  if (caught_up) {
    (void)coordinator_->Resign(cfg_.node, epoch_);
    StepDown(l, "handed over to replica " + std::to_string(target));
    return true;
  }
  if (now - handover_since_ms_ > cfg_.election_timeout_ms) {
    Event("replica " + std::to_string(target) + " did not catch up: the promote is dropped");
    (void)coordinator_->ClearPromote(cfg_.node);
    handing_over_ = false;
  }
  return false;
}

void Replica::UpdateServing() {
  if (role_ != Role::kPrimary || serving_ || handing_over_) return;
  for (const auto& [ns, start] : epoch_start_) {
    size_t have = 1;
    for (const auto& [n, p] : peers_) {
      auto it = p.logs.find(ns);
      have +=
          p.joined && !p.learner && it != p.logs.end() && it->second.acked.durable >= start ? 1 : 0;
    }
    if (have < Majority()) return;
  }
  // Before anything is served, etcd records that the partition served, so that a replica that
  // later comes back on an empty disk knows it may have lost what it acknowledged.
  if (!initialized_marked_) {
    if (Status s = coordinator_->MarkInitialized(cfg_.node); !s.ok()) {
      Event("cannot mark the partition initialized in etcd (will retry): " + s.ToString());
      return;
    }
    initialized_marked_ = true;
  }
  // Its log up to its epoch's start is committed now, the catalog records in it included: the
  // newest is applied before anything is served.
  if (!ApplyNewestCatalog()) return;  // retried at the next acknowledgement
  serving_ = true;
  Event("serves epoch " + std::to_string(epoch_));
}

std::vector<NsLog> Replica::HoldLogForFollowers() {
  std::shared_lock d(db_mu_);
  std::vector<NsLog> floors;
  if (!db_) return floors;
  const int64_t now = Now();
  for (const auto& [ns, start] : epoch_start_) {
    uint64_t floor = UINT64_MAX;
    for (const auto& [n, p] : peers_) {
      // One absent longer than this holds nothing (even if it was joined): a dead replica must
      // not stop compaction and TTL for ever. It is rebuilt from a snapshot when it returns.
      if (now - p.heard_ms > cfg_.retain_for_absent_ms) continue;
      auto it = p.logs.find(ns);
      if (p.joined && it != p.logs.end()) {
        floor = std::min(floor, it->second.acked.written.segment);
      } else {
        floor = std::min(floor, start.segment);  // not joined yet: from where this epoch began
      }
    }
    auto hold = snapshot_holds_.find(ns);
    if (hold != snapshot_holds_.end() && now <= hold->second.second) {
      floor = std::min(floor, hold->second.first);  // a replica seeded from a snapshot
    }
    db_->RetainLogFrom(ns, floor);
    floors.push_back(NsLog{.ns = ns, .cut = {floor, 0}});
  }
  return floors;
}

void Replica::PumpAll() {
  std::shared_lock d(db_mu_);
  for (auto& [n, p] : peers_) {
    if (!p.joined) continue;
    for (const auto& [ns, pl] : p.logs) Pump(n, ns);
  }
}

// Sends a joined follower what it lacks: the log from its next position (read back), then the
// frame a Ship call waits on. Caller holds db_mu_ shared and mu_.
void Replica::Pump(uint32_t peer, const std::string& ns) {
  if (!db_) return;
  PeerLog& pl = peers_[peer].logs[ns];
  if (pl.next == LogPosition{}) return;  // the follower does not have the namespace yet
  const LogPosition visible = EndsOf(ns).written;
  while (pl.in_flight < cfg_.messages_in_flight_max) {
    PeerMessage m{.type = MsgType::kAppend, .epoch = epoch_, .ns = ns};
    if (pl.next < visible) {
      auto frames = db_->ReadFrames(ns, pl.next, cfg_.frame_batch_bytes_max);
      if (!frames.ok() && frames.status().IsNotFound()) {
        // Compacted or dropped here: the follower needs a snapshot (it asks for one).
        Peer& p = peers_[peer];
        if (Now() - p.snapshot_sent_ms > 5 * cfg_.retry_ms) {
          p.snapshot_sent_ms = Now();
          Event("replica " + std::to_string(peer) + " needs '" + ns + "' from " +
                pl.next.ToString() + ", which is gone here: " + frames.status().ToString());
          Send(peer, PeerMessage{.type = MsgType::kSnapshotNeeded, .epoch = epoch_});
        }
        return;
      }
      if (!frames.ok() || frames->empty()) {
        if (!frames.ok()) {
          Event("cannot ship '" + ns + "' from " + pl.next.ToString() + " to replica " +
                std::to_string(peer) + ": " + frames.status().ToString());
        }
        return;
      }
      m.frames = std::move(frames).value();
    } else {
      auto it = in_flight_.find(ns);
      if (it == in_flight_.end() || it->second->start() != pl.next) return;
      m.frames.push_back(*it->second);
    }
    pl.next = m.frames.back().end();
    pl.in_flight++;
    m.logs = HistoryOf(ns);
    Send(peer, std::move(m));
  }
}

Status Replica::Ship(std::string_view ns_view, const LogFrame& frame) {
  const std::string ns(ns_view);
  std::unique_lock l(mu_);
  if (!stopped_ && role_ != Role::kPrimary && cloning_ && frame.kind == FrameKind::kRecords &&
      frame.bytes.empty()) {
    return Status::Ok();  // a follower's clone syncs its own log: nothing to ship
  }
  if (stopped_ || role_ != Role::kPrimary) {
    return Status::NotPrimary("replica " + std::to_string(cfg_.node) + " no longer leads");
  }
  const uint64_t epoch = epoch_;
  in_flight_[ns] = &frame;
  for (auto& [n, p] : peers_) {
    auto it = p.logs.find(ns);
    if (!p.joined || it == p.logs.end()) continue;
    PeerLog& pl = it->second;
    if (pl.next == frame.start() && pl.in_flight < cfg_.messages_in_flight_max) {
      pl.next = frame.end();
      pl.in_flight++;
      Send(n, PeerMessage{.type = MsgType::kAppend,
                          .epoch = epoch,
                          .ns = ns,
                          .frames = {frame},
                          .logs = HistoryOf(ns)});
    }
  }
  cv_.wait(l, [&] {
    return stopped_ || role_ != Role::kPrimary || epoch_ != epoch || Committed(ns, frame);
  });
  in_flight_.erase(ns);
  if (stopped_ || role_ != Role::kPrimary || epoch_ != epoch) {
    return Status::NotPrimary("replica " + std::to_string(cfg_.node) + " lost epoch " +
                              std::to_string(epoch) + " before a majority had the frame");
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Clients.

Status Replica::CheckServing() const {
  std::lock_guard l(mu_);
  if (!stopped_ && role_ == Role::kPrimary && serving_) return Status::Ok();
  const std::string where = primary_ ? " (primary: node " + std::to_string(*primary_) + ")" : "";
  return Status::NotPrimary("replica " + std::to_string(cfg_.node) + " does not serve" + where);
}

// ---------------------------------------------------------------------------------------------
// The replicated catalog (docs/replication.md "Catalog").

Status Replica::CreateNamespace(std::string_view name, const NamespaceOptions& options) {
  TLDB_RETURN_IF_ERROR(ValidateNamespaceName(name));
  return ChangeCatalog([&](std::vector<CatalogRecordEntry>* entries) -> Result<bool> {
    uint32_t id = 0;
    for (const CatalogRecordEntry& e : *entries) {
      if (e.name == name) {
        if (e.options == options) return false;
        return Status::AlreadyExists("namespace '" + std::string(name) +
                                     "' exists with other options");
      }
      id = std::max(id, e.id);
    }
    entries->push_back({id + 1, std::string(name), options});
    return true;
  });
}

Status Replica::SetNamespaceOptions(std::string_view name, const NamespaceOptions& options) {
  return ChangeCatalog([&](std::vector<CatalogRecordEntry>* entries) -> Result<bool> {
    for (CatalogRecordEntry& e : *entries) {
      if (e.name != name) continue;
      if (e.options == options) return false;
      e.options = options;
      return true;
    }
    return Status::NotFound("namespace '" + std::string(name) + "' does not exist");
  });
}

Status Replica::ChangeCatalog(const CatalogChange& change) {
  std::lock_guard c(catalog_mu_);
  TLDB_RETURN_IF_ERROR(CheckServing());
  std::shared_lock d(db_mu_);
  if (!db_) return Status::Closed("replica " + std::to_string(cfg_.node) + " has no open Db");
  TLDB_ASSIGN_OR_RETURN(std::vector<CatalogRecordEntry> entries, NewestCatalog());
  TLDB_ASSIGN_OR_RETURN(bool changed, change(&entries));
  uint64_t seq = 0;
  if (changed) {
    // The Db checks options as it does for a single node, before anything is shipped.
    for (const CatalogRecordEntry& e : entries) {
      if (e.name == kCatalogNamespace) continue;
      TLDB_RETURN_IF_ERROR(ValidateNamespaceName(e.name));
      TLDB_RETURN_IF_ERROR(ValidateNamespaceOptions(e.options));
    }
    AppendOptions o;
    o.durability = Durability::kSync;
    // Returns once the record is committed on a majority (Ship).
    TLDB_ASSIGN_OR_RETURN(AppendResult r, db_->Append(kCatalogNamespace, kCatalogTimeline,
                                                      EncodeCatalogRecord(entries), o));
    seq = r.seq;
  } else {
    // Nothing to change; but the newest record may not be applied here yet (a failure earlier).
    auto last = db_->LastSeq(kCatalogNamespace, std::vector<std::string_view>{kCatalogTimeline});
    if (!last.ok()) return last.status();
    seq = (*last)[0];
  }
  std::lock_guard l(mu_);
  return ApplyCatalog(seq);
}

Result<std::vector<CatalogRecordEntry>> Replica::NewestCatalog() const {
  TLDB_ASSIGN_OR_RETURN(
      std::vector<Seq> last,
      db_->LastSeq(kCatalogNamespace, std::vector<std::string_view>{kCatalogTimeline}));
  if (last[0] != 0) {
    TLDB_ASSIGN_OR_RETURN(Message m, db_->Get(kCatalogNamespace, kCatalogTimeline, last[0]));
    return DecodeCatalogRecord(m.payload);
  }
  // No record yet: every replica's catalog is the fixed one it created at open.
  TLDB_ASSIGN_OR_RETURN(std::vector<NamespaceInfo> list, db_->ListNamespaces());
  std::vector<CatalogRecordEntry> out;
  for (const NamespaceInfo& n : list) out.push_back({n.id, n.name, n.options});
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

Status Replica::ApplyCatalog(uint64_t seq) {
  if (seq <= state_.catalog_seq) return Status::Ok();
  if (!db_) return Status::Closed("replica " + std::to_string(cfg_.node) + " has no open Db");
  TLDB_ASSIGN_OR_RETURN(Message m, db_->Get(kCatalogNamespace, kCatalogTimeline, seq));
  TLDB_ASSIGN_OR_RETURN(std::vector<CatalogRecordEntry> entries, DecodeCatalogRecord(m.payload));
  std::vector<std::string> created;
  for (const CatalogRecordEntry& e : entries) {  // ascending ids: created in the same order
    auto have = db_->DescribeNamespace(e.name);
    if (have.ok()) {
      if (have->id != e.id) {
        return Status::Corruption("catalog record " + std::to_string(seq) + " gives namespace '" +
                                  e.name + "' id " + std::to_string(e.id) + ", it has id " +
                                  std::to_string(have->id) + " here");
      }
      if (!(have->options == e.options)) {
        TLDB_RETURN_IF_ERROR(db_->SetNamespaceOptions(e.name, e.options));
      }
      continue;
    }
    if (!have.status().IsNotFound()) return have.status();
    TLDB_RETURN_IF_ERROR(db_->CreateNamespace(e.name, e.options));
    TLDB_ASSIGN_OR_RETURN(NamespaceInfo made, db_->DescribeNamespace(e.name));
    if (made.id != e.id || EndsOf(e.name).written != kEmptyLogEnd) {
      // Segment headers carry the id: a namespace with another id here could never hold the
      // primary's bytes. Nothing is served from it; the replica needs a rebuild.
      return Status::Corruption("catalog record " + std::to_string(seq) + " gives namespace '" +
                                e.name + "' id " + std::to_string(e.id) + ", it was created here" +
                                " with id " + std::to_string(made.id) + " ending at " +
                                EndsOf(e.name).written.ToString());
    }
    created.push_back(e.name);
  }
  if (!created.empty()) KillPoint("replica.after_catalog");
  ReplicaState next = state_;
  for (const std::string& ns : created) {
    EpochHistory& h = next.histories[ns];
    h.TruncateTo(kEmptyLogEnd);
    if (role_ == Role::kPrimary) {
      // Written from now on in this epoch (a follower gets the history with the first frame).
      (void)h.Append(epoch_, kEmptyLogEnd);
      epoch_start_[ns] = kEmptyLogEnd;
      for (auto& [n, p] : peers_) {
        if (p.joined && p.logs.count(ns) == 0) {
          p.logs[ns] = PeerLog{.progress_ms = Now(), .caught_up_ms = Now()};
        }
      }
    }
  }
  next.catalog_seq = seq;
  TLDB_RETURN_IF_ERROR(Persist(std::move(next)));
  catalog_error_.clear();
  Event("applied catalog version " + std::to_string(seq) + " (" + std::to_string(created.size()) +
        " namespace(s) created)");
  return Status::Ok();
}

bool Replica::ApplyNewestCatalog() {
  if (!db_) return false;
  auto last = db_->LastSeq(kCatalogNamespace, std::vector<std::string_view>{kCatalogTimeline});
  if (!last.ok()) return false;
  if ((*last)[0] > state_.catalog_seq) ApplyCatalogIfHere((*last)[0], last);
  return state_.catalog_seq >= (*last)[0];
}

void Replica::ApplyCatalogOrReport(uint64_t seq) {
  if (seq <= state_.catalog_seq || !db_) return;
  ApplyCatalogIfHere(
      seq, db_->LastSeq(kCatalogNamespace, std::vector<std::string_view>{kCatalogTimeline}));
}

void Replica::ApplyCatalogIfHere(uint64_t seq, const Result<std::vector<Seq>>& last) {
  if (last.ok() && (*last)[0] < seq) return;  // the record has not reached this log yet
  Status s = last.ok() ? ApplyCatalog(seq) : last.status();
  if (s.ok()) return;
  if (s.ToString() != catalog_error_) {
    catalog_error_ = s.ToString();
    Event("cannot apply catalog version " + std::to_string(seq) + ": " + catalog_error_);
  }
}

Result<SnapshotInfo> Replica::Snapshot(const std::string& dir, const SnapshotOptions& options) {
  TLDB_RETURN_IF_ERROR(CheckServing());
  SnapshotInfo info;
  {
    std::shared_lock d(db_mu_);
    if (!db_) return Status::Closed("replica " + std::to_string(cfg_.node) + " has no open Db");
    // A snapshot hard-links sealed segments as they are: one the scrub quarantined would carry
    // its damage to the replica rebuilt from it.
    if (const uint64_t q = db_->Stats().scrub_segments_quarantined; q != 0) {
      return Status::Corruption("replica " + std::to_string(cfg_.node) + " has " +
                                std::to_string(q) +
                                " sealed segment(s) quarantined by the scrub: no snapshot of it");
    }
    TLDB_ASSIGN_OR_RETURN(info, db_->Snapshot(dir, options));
  }
  // A snapshot holds published bytes only, which a primary publishes once committed; so
  // whatever happened to this replica since, the snapshot is a prefix of every later
  // primary's log, and its histories cut at the snapshot's ends describe it.
  ReplicaState seed{.membership = Membership::kLearner};
  {
    std::lock_guard l(mu_);
    seed.promised_epoch = state_.promised_epoch;
    for (const SnapshotNamespace& n : info.namespaces) {
      auto h = state_.histories.find(n.name);
      if (h == state_.histories.end()) continue;
      EpochHistory cut = h->second;
      cut.TruncateTo(n.end);
      seed.histories[n.name] = std::move(cut);
      snapshot_holds_[n.name] = {n.end.segment, Now() + cfg_.retain_for_absent_ms};
    }
  }
  FileSystem& fs = *cfg_.db_options.file_system;
  TLDB_RETURN_IF_ERROR(ReplicaStateFile::Store(fs, dir, seed));
  info.files.push_back({"REPLICA", ReplicaStateFile::Encode(seed).size()});
  Event("snapshot into " + dir + " can seed a replica (as a learner)");
  return info;
}

Result<SnapshotInfo> Replica::CloneForSplit(const std::string& dir) {
  SnapshotInfo info;
  {
    std::shared_lock d(db_mu_);
    if (!db_) return Status::Closed("replica " + std::to_string(cfg_.node) + " has no open Db");
    if (const uint64_t q = db_->Stats().scrub_segments_quarantined; q != 0) {
      return Status::Corruption("replica " + std::to_string(cfg_.node) + " has " +
                                std::to_string(q) +
                                " sealed segment(s) quarantined by the scrub: no clone of it");
    }
    {
      std::lock_guard l(mu_);
      cloning_ = true;
    }
    auto taken = db_->Snapshot(dir, SnapshotOptions{});
    {
      std::lock_guard l(mu_);
      cloning_ = false;
    }
    TLDB_ASSIGN_OR_RETURN(info, std::move(taken));
  }
  ReplicaState seed{.membership = Membership::kVoter};
  {
    std::lock_guard l(mu_);
    if (state_.membership != Membership::kVoter) {
      return Status::Busy("replica " + std::to_string(cfg_.node) +
                          " does not vote: its clone could not either");
    }
    seed.promised_epoch = state_.promised_epoch;
    seed.catalog_seq = state_.catalog_seq;
    for (const SnapshotNamespace& n : info.namespaces) {
      auto h = state_.histories.find(n.name);
      if (h == state_.histories.end()) continue;
      EpochHistory cut = h->second;
      cut.TruncateTo(n.end);
      seed.histories[n.name] = std::move(cut);
    }
  }
  FileSystem& fs = *cfg_.db_options.file_system;
  TLDB_RETURN_IF_ERROR(ReplicaStateFile::Store(fs, dir, seed));
  info.files.push_back({"REPLICA", ReplicaStateFile::Encode(seed).size()});
  Event("split clone into " + dir + " (a voter)");
  return info;
}

Status Replica::WithDb(const std::function<Status(Db&)>& fn) {
  std::shared_lock d(db_mu_);
  if (!db_) return Status::Closed("replica " + std::to_string(cfg_.node) + " has no open Db");
  return fn(*db_);
}

}  // namespace tldb::repl
