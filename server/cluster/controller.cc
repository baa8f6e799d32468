#include "cluster/controller.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cluster/primary_balance.h"
#include "cluster/replica_move.h"
#include "cluster/steady_ms.h"
#include "tldb/client.h"

namespace tldb::cluster {

Controller::Controller(ControllerOptions options, std::unique_ptr<EtcdClient> client)
    : o_(std::move(options)), client_(std::move(client)), store_(*client_, o_.etcd_prefix) {}

Result<std::unique_ptr<Controller>> Controller::Start(ControllerOptions options) {
  if (options.round_ms <= 0 || options.lease_ttl_s <= 0 || options.move_timeout_ms <= 0 ||
      options.replace_after_ms < 0 || options.balance_interval_ms < 0) {
    return Status::InvalidArgument(
        "controller: round, lease TTL and move timeout must be > 0, replace-after and balance "
        "interval >= 0");
  }
  EtcdClientOptions eo;
  eo.endpoints = options.etcd_endpoints;
  TLDB_ASSIGN_OR_RETURN(auto client, EtcdClient::Create(eo));
  std::unique_ptr<Controller> c(new Controller(std::move(options), std::move(client)));
  c->thread_ = std::thread([p = c.get()] { p->Run(); });
  return c;
}

Controller::~Controller() {
  Stop();
}

void Controller::Log(const std::string& line) const {
  if (o_.log) return o_.log("controller: " + line);
  std::fprintf(stderr, "tldb-server: controller: %s\n", line.c_str());
}

void Controller::Stop() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (!keeper_) return;  // stopped before
  if (active_) {
    // Resign: the next controller takes over at its next round, not after the lease's TTL.
    (void)client_->DeleteIfCreateRevision(Key(o_.etcd_prefix), epoch_);
    active_ = false;
    Log("server " + std::to_string(o_.server) + " resigns as the controller (stopping)");
  }
  keeper_->Stop();
  (void)client_->LeaseRevoke(keeper_->lease_id());
  keeper_.reset();
}

void Controller::Run() {
  std::string last_error;
  for (bool first = true;; first = false) {
    {
      std::unique_lock l(mu_);
      if (!first) cv_.wait_for(l, std::chrono::milliseconds(o_.round_ms), [this] { return stop_; });
      if (stop_) return;
    }
    Status s = Campaign();
    if (s.ok() && active_) s = Act();
    // An etcd outage is logged once, not every round.
    if (!s.ok() && s.ToString() != last_error) Log("round failed: " + s.ToString());
    last_error = s.ok() ? "" : s.ToString();
  }
}

void Controller::StepDown(const std::string& why) {
  active_ = false;
  epoch_ = 0;
  absent_since_.clear();
  spare_since_.clear();
  Log("server " + std::to_string(o_.server) + " is no longer the controller: " + why);
}

Status Controller::Campaign() {
  if (!keeper_ || keeper_->lost()) {
    if (active_) StepDown("its lease was lost");
    if (keeper_) keeper_->Stop();
    keeper_.reset();
    TLDB_ASSIGN_OR_RETURN(LeaseGrantResult g, client_->LeaseGrant(o_.lease_ttl_s));
    TLDB_ASSIGN_OR_RETURN(
        keeper_, LeaseKeeper::Start(client_->options(), g.id, g.ttl_s, [](const Status&) {}));
    lease_id_ = g.id;
  }
  const std::string key = Key(o_.etcd_prefix);
  if (active_) {
    TLDB_ASSIGN_OR_RETURN(auto kv, client_->Get(key));
    if (!kv || kv->create_revision != epoch_) {
      StepDown(kv ? "another server holds " + key : key + " is gone");
    }
    return Status::Ok();
  }
  const std::string value =
      nlohmann::json{{"server", o_.server}, {"client", o_.client_address}}.dump();
  TLDB_ASSIGN_OR_RETURN(CreateResult c, client_->CreateIfAbsent(key, value, keeper_->lease_id()));
  if (c.created || (c.holder && c.holder->lease == keeper_->lease_id())) {
    epoch_ = c.create_revision;
    active_ = true;
    takeovers_++;
    holder_ = value;
    // absence (and a move's age) is measured from this controller's own observations
    absent_since_.clear();
    spare_since_.clear();
    noted_.clear();
    published_.clear();
    next_balance_ms_ = SteadyMs() + o_.balance_interval_ms;
    last_action_ = "took over";
    Log("server " + std::to_string(o_.server) + " is the controller now (epoch " +
        std::to_string(epoch_) + "); absence clocks start now");
    return Status::Ok();
  }
  if (c.holder && c.holder->value != holder_) {
    holder_ = c.holder->value;
    Log("the controller is " + holder_);
  }
  return Status::Ok();
}

bool Controller::Votes(uint32_t partition, uint32_t server, const std::string& address) {
  if (o_.votes) return o_.votes(partition, server, address);
  auto it = stats_.find(server);
  if (it == stats_.end()) {
    std::map<std::string, uint64_t> counters;
    ClientOptions co;
    co.server = address;
    co.token = o_.stats_token;
    co.connect_timeout_ms = 1'000;
    co.request_timeout_ms = 2'000;
    co.reconnect_attempts = 0;
    if (auto c = Client::Connect(co); c.ok()) {
      if (auto st = (*c)->Stats(); st.ok()) counters = {st->counters.begin(), st->counters.end()};
    }
    it = stats_.emplace(server, std::move(counters)).first;
  }
  const auto m = it->second.find("cluster_p" + std::to_string(partition) + "_membership");
  return m != it->second.end() && m->second == 0;
}

void Controller::Note(const std::string& line) {
  if (noted_.insert(line).second) Log(line);
}

void Controller::PublishStatus(const std::vector<std::string>& pending,
                               const std::vector<std::string>& blocked) {
  const std::string value = nlohmann::json{
      {"server", o_.server},
      {"client", o_.client_address},
      {"last_action", last_action_},
      {"pending", pending},
      {"blocked", blocked}}.dump();
  if (value == published_ || !keeper_) return;
  if (client_->Put(StatusKey(o_.etcd_prefix), value, keeper_->lease_id()).ok()) {
    published_ = value;
  }
}

ReplicaMoveRequest Controller::MoveRequest(uint32_t partition, uint32_t from, uint32_t to) const {
  ReplicaMoveRequest r;
  r.partition = partition;
  r.from = from;
  r.to = to;
  r.timeout_ms = o_.move_timeout_ms;
  r.catch_up_timeout_ms = o_.move_timeout_ms;  // a move not finished then, a later round finishes
  return r;
}

Status Controller::Act() {
  TLDB_ASSIGN_OR_RETURN(StoredSlotMap stored, store_.Load());
  TLDB_ASSIGN_OR_RETURN(auto servers, store_.Servers());
  TLDB_ASSIGN_OR_RETURN(proto::SlotMap serving, store_.Serving(stored.map));
  const int64_t now = SteadyMs();
  std::set<uint32_t> registered, listed;
  for (const auto& [id, address] : servers) registered.insert(id);
  for (const proto::PartitionEntry& p : serving.partitions()) {
    listed.insert(p.replicas.begin(), p.replicas.end());
  }
  // Absence clocks, from this controller's rounds only.
  for (auto it = absent_since_.begin(); it != absent_since_.end();) {
    if (listed.count(it->first) != 0 && registered.count(it->first) == 0) {
      ++it;
      continue;
    }
    if (listed.count(it->first) != 0) {
      Log("server " + std::to_string(it->first) + " is back (servers/" + std::to_string(it->first) +
          "): its replicas stay");
    }
    it = absent_since_.erase(it);
  }
  for (uint32_t s : listed) {
    if (registered.count(s) != 0 || absent_since_.count(s) != 0) continue;
    absent_since_[s] = now;
    Log("server " + std::to_string(s) + " holds replicas and is not registered (servers/" +
        std::to_string(s) + " absent): " +
        (o_.replace_after_ms > 0
             ? "its replicas move once it has been gone " + std::to_string(o_.replace_after_ms) +
                   " ms"
             : std::string("replacement is off (--controller-replace-after-ms 0)")));
  }
  // A move not finished (a spare in the map: its command died or timed out) comes first, as
  // replacements do: finished when the spare's server runs, else cancelled so that the
  // replica can be replaced elsewhere.
  std::map<uint32_t, std::pair<uint32_t, int64_t>> spares;
  for (const proto::PartitionEntry& p : stored.map.partitions()) {
    if (p.spare == proto::kNoServer) continue;
    auto seen = spare_since_.find(p.id);
    spares[p.id] = seen != spare_since_.end() && seen->second.first == p.spare
                       ? seen->second
                       : std::make_pair(p.spare, now);
  }
  spare_since_ = spares;
  for (const proto::PartitionEntry& p : stored.map.partitions()) {
    // A move is left alone while its command may still run it: replace_after_ms, as a server.
    if (p.spare == proto::kNoServer || o_.replace_after_ms <= 0 ||
        now - spare_since_[p.id].second < o_.replace_after_ms) {
      continue;
    }
    ReplicaMove move(*client_, o_.etcd_prefix);
    if (registered.count(p.spare) == 0) {
      auto v = move.Cancel(p.id);
      last_action_ = "cancelled the move of partition " + std::to_string(p.id) + "'s replica to " +
                     "server " + std::to_string(p.spare) + " (not registered): " +
                     (v.ok() ? "map version " + std::to_string(*v) : v.status().ToString());
      Log(last_action_);
      PublishStatus({}, {});
      return Status::Ok();
    }
    const ReplicaMoveRequest r = MoveRequest(p.id, p.spare_for, p.spare);
    last_action_ = "finishing the move of partition " + std::to_string(p.id) + "'s replica from " +
                   "server " + std::to_string(p.spare_for) + " to server " +
                   std::to_string(p.spare);
    Log(last_action_);
    PublishStatus({}, {});
    auto done = move.Run(r, [this](std::string_view line) { Log("move: " + std::string(line)); });
    last_action_ = done.ok() ? "finished the move of partition " + std::to_string(p.id) +
                                   "'s replica to server " + std::to_string(p.spare) +
                                   " (map version " + std::to_string(done->version) + ")"
                             : "the move of partition " + std::to_string(p.id) +
                                   " did not finish: " + done.status().ToString();
    Log(last_action_);
    PublishStatus({}, {});
    return Status::Ok();
  }
  ReplacementInput in;
  in.registered = registered;
  for (const auto& [s, since] : absent_since_) in.absent_ms[s] = now - since;
  in.replace_after_ms = o_.replace_after_ms;
  stats_.clear();  // STATS are read at most once per server per round
  in.votes = [&](uint32_t partition, uint32_t server) {
    auto a = servers.find(server);
    return a != servers.end() && Votes(partition, server, a->second);
  };
  const ReplacementDecision d = ControllerPlan::NextReplacement(serving, in);
  std::vector<std::string> pending;
  for (const auto& [s, ms] : in.absent_ms) {
    pending.push_back(
        "server " + std::to_string(s) + " gone for " + std::to_string(ms / 1000) + " s" +
        (o_.replace_after_ms > 0
             ? " (replaced after " + std::to_string(o_.replace_after_ms / 1000) + " s)"
             : std::string(" (replacement off)")));
  }
  // Each reason for not moving is logged once while it holds.
  for (auto it = noted_.begin(); it != noted_.end();) {
    it = std::find(d.blocked.begin(), d.blocked.end(), *it) == d.blocked.end() ? noted_.erase(it)
                                                                               : std::next(it);
  }
  for (const std::string& line : d.blocked) Note(line);

  if (d.move) {
    const Replacement& m = *d.move;
    last_action_ = "moving partition " + std::to_string(m.partition) + "'s replica " +
                   std::to_string(m.node) + " from server " + std::to_string(m.from) +
                   " (gone for " + std::to_string(m.absent_ms) + " ms) to server " +
                   std::to_string(m.to) + " (the least-loaded registered server without one)";
    Log(last_action_);
    PublishStatus(pending, d.blocked);
    ReplicaMove move(*client_, o_.etcd_prefix);
    const ReplicaMoveRequest r = MoveRequest(m.partition, m.from, m.to);
    auto done = move.Run(r, [this](std::string_view line) { Log("move: " + std::string(line)); });
    if (done.ok()) {
      moves_++;
      last_action_ = "moved partition " + std::to_string(m.partition) + "'s replica " +
                     std::to_string(m.node) + " from server " + std::to_string(m.from) +
                     " to server " + std::to_string(m.to) + " (map version " +
                     std::to_string(done->version) + ")";
    } else {
      last_action_ = "the move of partition " + std::to_string(m.partition) + "'s replica from " +
                     "server " + std::to_string(m.from) + " to server " + std::to_string(m.to) +
                     " failed: " + done.status().ToString();
    }
    Log(last_action_);
    PublishStatus(pending, d.blocked);
    return Status::Ok();
  }
  if (o_.balance_interval_ms > 0 && now >= next_balance_ms_) {
    next_balance_ms_ = now + o_.balance_interval_ms;
    std::string why;
    if (ControllerPlan::PrimariesUneven(serving, registered, &why)) {
      Log("evening out the primaries: " + why);
      PrimaryBalance balance(*client_, o_.etcd_prefix);
      auto done = balance.Run(serving, o_.move_timeout_ms, [this](std::string_view line) {
        Log("rebalance: " + std::string(line));
      });
      if (done.ok()) {
        handovers_ += done->size();
        last_action_ = "evened out the primaries (" + why + "): " + std::to_string(done->size()) +
                       " handovers";
      } else {
        last_action_ = "evening out the primaries failed: " + done.status().ToString();
      }
      Log(last_action_);
    }
  }
  PublishStatus(pending, d.blocked);
  return Status::Ok();
}

void Controller::AddStats(std::vector<std::pair<std::string, uint64_t>>* out) const {
  out->emplace_back("shard_controller_active", active_ ? 1 : 0);
  out->emplace_back("shard_controller_takeovers", takeovers_.load());
  out->emplace_back("shard_controller_moves", moves_.load());
  out->emplace_back("shard_controller_handovers", handovers_.load());
}

}  // namespace tldb::cluster
