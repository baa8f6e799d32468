#include "cluster/shard_host.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cluster/etcd_coordinator.h"
#include "cluster/sharded_db.h"
#include "cluster/steady_ms.h"
#include "protocol/host_port.h"

namespace tldb::cluster {
ShardHost::ShardHost(ShardHostOptions options, std::unique_ptr<EtcdClient> client)
    : o_(std::move(options)),
      client_(std::move(client)),
      store_(*client_, o_.etcd_prefix),
      namespaces_(*client_, o_.etcd_prefix) {}

Result<std::unique_ptr<ShardHost>> ShardHost::Start(ShardHostOptions options) {
  EtcdClientOptions eo;
  eo.endpoints = options.etcd_endpoints;
  TLDB_ASSIGN_OR_RETURN(auto client, EtcdClient::Create(eo));
  std::unique_ptr<ShardHost> h(new ShardHost(std::move(options), std::move(client)));
  TLDB_ASSIGN_OR_RETURN(StoredSlotMap stored, h->store_.Load());
  bool listed = false;
  for (const proto::PartitionEntry& p : stored.map.partitions()) {
    listed |= std::count(p.replicas.begin(), p.replicas.end(), h->o_.server) > 0;
  }
  if (!listed) {
    h->Log("server " + std::to_string(h->o_.server) + " holds no partition of map version " +
           std::to_string(stored.map.version()) + ": it redirects every request");
  }
  TLDB_RETURN_IF_ERROR(h->RegisterServer());
  TLDB_RETURN_IF_ERROR(h->Poll(/*starting=*/true));
  h->thread_ = std::thread([p = h.get()] { p->Run(); });
  return h;
}

ShardHost::~ShardHost() {
  Stop();
}

void ShardHost::Log(const std::string& line) const {
  if (o_.log) return o_.log(line);
  std::fprintf(stderr, "tldb-server: %s\n", line.c_str());
}

Status ShardHost::RegisterServer() {
  if (keeper_) keeper_->Stop();
  keeper_.reset();
  TLDB_ASSIGN_OR_RETURN(LeaseGrantResult g, client_->LeaseGrant(o_.lease_ttl_s));
  TLDB_RETURN_IF_ERROR(store_.RegisterServer(o_.server, o_.client_address, g.id));
  TLDB_ASSIGN_OR_RETURN(
      keeper_, LeaseKeeper::Start(client_->options(), g.id, g.ttl_s, [](const Status&) {}));
  return Status::Ok();
}

std::optional<uint32_t> ShardHost::NodeIdIn(const proto::PartitionEntry& p, uint32_t server) {
  const auto at = std::find(p.replicas.begin(), p.replicas.end(), server);
  if (at != p.replicas.end()) return static_cast<uint32_t>(at - p.replicas.begin());
  if (p.spare == server) return static_cast<uint32_t>(p.replicas.size());
  return std::nullopt;
}

Status ShardHost::StartNode(const proto::PartitionEntry& p, uint32_t node) {
  ClusterNodeOptions n;
  n.etcd_endpoints = o_.etcd_endpoints;
  n.etcd_prefix = o_.etcd_prefix;
  n.partition = p.id;
  n.node = node;
  n.voters = static_cast<uint32_t>(p.replicas.size());
  n.client_address = o_.client_address;
  std::string host;
  uint16_t port = 0;
  TLDB_RETURN_IF_ERROR(proto::SplitHostPort(o_.peer_listen, "--peer-listen", &host, &port));
  if (port != 0 && port + p.id > 0xFFFF) {
    return Status::InvalidArgument("--peer-listen port " + std::to_string(port) + " + partition " +
                                   std::to_string(p.id) + " is past 65535");
  }
  const uint32_t peer_port = port == 0 ? 0 : port + p.id;
  n.peer_listen = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                  std::to_string(peer_port);
  n.peer_tls_cert = o_.peer_tls_cert;
  n.peer_tls_key = o_.peer_tls_key;
  n.peer_tls_ca = o_.peer_tls_ca;
  n.data_dir =
      (std::filesystem::path(o_.data_dir) / ("partition-" + std::to_string(p.id))).string();
  std::error_code ec;
  std::filesystem::create_directories(n.data_dir, ec);
  if (ec) return Status::IOError("cannot create " + n.data_dir + ": " + ec.message());
  n.db_options = o_.db_options;
  n.namespaces = o_.namespaces;
  n.lease_ttl_s = o_.lease_ttl_s;
  n.retain_for_absent_s = o_.retain_for_absent_s;
  auto started = ClusterNode::Start(std::move(n));
  if (!started.ok()) {
    return Status(started.status().code(),
                  "partition " + std::to_string(p.id) + ": " + started.status().message());
  }
  if (gates_.count(p.id) == 0) gates_[p.id] = std::make_shared<WriteGate>();
  Log("partition " + std::to_string(p.id) + ": " +
      (node == p.replicas.size() ? "spare replica " : "replica ") + std::to_string(node) + " of " +
      std::to_string(p.replicas.size()) + ", peers at " + (*started)->peer_address());
  nodes_[p.id] = std::move(started).value();
  node_ids_[p.id] = node;
  return Status::Ok();
}

Status ShardHost::MayStart(uint32_t p, uint32_t node) {
  const std::string key =
      EtcdCoordinator::PartitionKey(o_.etcd_prefix, p, "nodes/" + std::to_string(node));
  TLDB_ASSIGN_OR_RETURN(auto kv, client_->Get(key));
  if (!kv) return Status::Ok();
  const std::string client = EtcdCoordinator::NodeClient(kv->value);
  if (client == o_.client_address) return Status::Ok();  // this server's, before a restart
  return Status::Busy("partition " + std::to_string(p) + ": replica " + std::to_string(node) +
                      " still runs at " + (client.empty() ? "?" : client) +
                      "; starting once its key " + key + " is gone");
}

void ShardHost::MoveDirAside(uint32_t p) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(o_.data_dir) / ("partition-" + std::to_string(p));
  std::error_code ec;
  if (!fs::exists(dir, ec)) return;
  const std::string base = dir.string() + ".moved-v" + std::to_string(map_version_);
  std::string to = base;
  for (int n = 1; fs::exists(to, ec); ++n) to = base + "." + std::to_string(n);
  fs::rename(dir, to, ec);
  if (ec) {
    Log("cannot rename " + dir.string() + " aside: " + ec.message());
  } else {
    Log("partition " + std::to_string(p) + ": its data directory is now " + to +
        " (delete it once the partition is whole elsewhere)");
  }
}

void ShardHost::Retire(uint32_t p, bool keep_dir) {
  auto it = nodes_.find(p);
  if (it == nodes_.end()) return;
  std::unique_ptr<ClusterNode> node = std::move(it->second);
  nodes_.erase(it);
  owned_at_.erase(p);
  const uint32_t was = node_ids_[p];
  node_ids_.erase(p);
  if (spare_ready_.erase(p) != 0) {
    (void)client_->Delete(EtcdCoordinator::PartitionKey(o_.etcd_prefix, p, "spare-ready"));
  }
  Status s = node->Retire();
  Log("partition " + std::to_string(p) + ": map version " + std::to_string(map_version_) +
      (keep_dir ? " moves this server's replica from position " + std::to_string(was)
                : " no longer lists server " + std::to_string(o_.server)) +
      ": replica stopped" +
      (s.ok() ? "" : " (its lease not revoked: " + s.ToString() + "; it expires)"));
  if (!keep_dir) MoveDirAside(p);
  retired_.push_back(std::move(node));
}

void ShardHost::MarkSparesReady() {
  for (const auto& [p, node] : nodes_) {
    if (spare_ready_.count(p) != 0) continue;
    const repl::ReplicaStatus st = node->status();
    if (!st.spare || !st.spare_caught_up) continue;
    const std::string value =
        nlohmann::json{{"server", o_.server}, {"version", map_version_}}.dump();
    auto put = client_->Put(EtcdCoordinator::PartitionKey(o_.etcd_prefix, p, "spare-ready"), value,
                            keeper_ ? keeper_->lease_id() : 0);
    if (!put.ok()) continue;  // again at the next poll
    spare_ready_.insert(p);
    Log("partition " + std::to_string(p) + ": the spare replica here holds every committed frame");
  }
}

void ShardHost::Publish(proto::SlotMap serving, const std::set<uint32_t>& without) {
  auto r = std::make_shared<ShardRouting>(ShardRouting{std::move(serving), {}, {}, {}, {}});
  r->catalog = catalog_names_;
  for (auto& [p, node] : nodes_) {
    if (without.count(p) != 0) continue;
    r->local[p] = node.get();
    r->gates[p] = gates_.at(p);
    auto& names = r->namespaces[p];
    auto list = node->db()->ListNamespaces();
    for (NamespaceInfo& n : list.ok() ? *list : std::vector<NamespaceInfo>{}) {
      names.insert(std::move(n.name));
    }
  }
  proto::WireWriter w(&r->wire);
  r->map.EncodeWire(w);
  std::lock_guard l(mu_);
  routing_ = std::move(r);
}

Status ShardHost::Poll(bool starting) {
  // A running split, read before the map: a split whose map was written before its key was
  // deleted is seen with that map (HandleSplit).
  auto split = PartitionSplit::Read(*client_, o_.etcd_prefix);
  if (!split.ok()) return split.status();
  // The map: a newer version is taken.
  auto stored = store_.Load();
  if (!stored.ok()) return stored.status();
  const bool newer = stored->map.version() > map_version_;
  if (newer) {
    if (map_version_ != 0) {
      Log("slot map version " + std::to_string(stored->map.version()) + " (was " +
          std::to_string(map_version_) + ")");
    }
    map_version_ = stored->map.version();
    map_ = stored->map;
  }
  // This server's node id in partition `id` at map_ (a replica's position, or the spare's).
  auto node_id_here = [&](uint32_t id) -> std::optional<uint32_t> {
    const proto::PartitionEntry* p = map_->Partition(id);
    return p != nullptr ? NodeIdIn(*p, o_.server) : std::nullopt;
  };
  auto listed_here = [&](uint32_t id) { return node_id_here(id).has_value(); };
  if (starting) {
    // Directories of replicas that left while this server was down go aside before anything
    // starts (see the class comment).
    namespace fs = std::filesystem;
    std::error_code ec;
    for (fs::directory_iterator d(o_.data_dir, ec), end; !ec && d != end; d.increment(ec)) {
      const std::string name = d->path().filename().string();
      if (name.rfind("partition-", 0) != 0 || !d->is_directory()) continue;
      if (name.find(".split-") != std::string::npos) {
        LeftoverClone(name, *split);
        continue;
      }
      const std::string digits = name.substr(10);
      if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos ||
          digits.size() > 9) {
        continue;
      }
      const uint32_t p = static_cast<uint32_t>(std::stoul(digits));
      if (!listed_here(p)) MoveDirAside(p);
    }
  }
  // Replicas no longer listed leave: first out of the routing (new requests are MOVED), then
  // stopped.
  // A spare given a replica's position (a move's last step) stops too, keeping its directory,
  // and starts again below in that position.
  std::vector<uint32_t> leaving, repositioned;
  for (const auto& [p, node] : nodes_) {
    const std::optional<uint32_t> id = node_id_here(p);
    if (!id) {
      leaving.push_back(p);
    } else if (*id != node_ids_.at(p)) {
      repositioned.push_back(p);
    }
  }
  if (!leaving.empty() || !repositioned.empty()) {
    std::set<uint32_t> without(leaving.begin(), leaving.end());
    without.insert(repositioned.begin(), repositioned.end());
    auto serving = store_.Serving(*map_);
    Publish(serving.ok() ? std::move(*serving) : *map_, without);
    for (uint32_t p : leaving) Retire(p, /*keep_dir=*/false);
    for (uint32_t p : repositioned) Retire(p, /*keep_dir=*/true);
  }
  // Replicas newly listed here start, once their position is free (MayStart).
  for (const proto::PartitionEntry& p : map_->partitions()) {
    const std::optional<uint32_t> id = NodeIdIn(p, o_.server);
    if (!id || nodes_.count(p.id) != 0) continue;
    Status s = MayStart(p.id, *id);
    if (!s.ok()) {
      if (waiting_[p.id] != s.ToString()) Log(s.message());
      waiting_[p.id] = s.ToString();
      continue;
    }
    waiting_.erase(p.id);
    AdoptClone(p.id);
    s = StartNode(p, *id);
    if (s.ok()) {
      start_errors_.erase(p.id);
      continue;
    }
    if (starting) return s;
    // Retried every poll; said once per distinct error. Meanwhile its requests are MOVED.
    if (start_errors_[p.id] != s.ToString()) Log("cannot start a replica: " + s.ToString());
    start_errors_[p.id] = s.ToString();
  }
  SetOwnership();
  MarkSparesReady();
  // Primaries and addresses.
  TLDB_ASSIGN_OR_RETURN(proto::SlotMap serving, store_.Serving(*map_));
  ApplyNamespaces();
  Publish(std::move(serving));
  HandleSplit(*split);
  return Status::Ok();
}

Result<std::shared_ptr<void>> ShardHost::Admit(const std::shared_ptr<const ShardRouting>& r,
                                               uint32_t p) {
  auto it = r->gates.find(p);
  if (it == r->gates.end()) return std::shared_ptr<void>(std::make_shared<int>(0));
  std::shared_ptr<WriteGate> gate = it->second;
  if (!gate->Enter()) {
    return Status::Busy("partition " + std::to_string(p) +
                        " is frozen for a split (a moment: retry)");
  }
  if (routing() != r) {  // maybe unfrozen by a newer map: route again
    gate->Exit();
    return std::shared_ptr<void>();
  }
  // Non-null (a null ticket means "route again"); releasing it leaves the gate.
  return std::shared_ptr<void>(static_cast<void*>(gate.get()), [gate](void*) { gate->Exit(); });
}

void ShardHost::SetOwnership() {
  std::shared_ptr<const proto::SlotMap> map;
  for (const auto& [p, node] : nodes_) {
    if (owned_at_[p] == map_version_) continue;
    if (!map) map = std::make_shared<const proto::SlotMap>(*map_);
    node->db()->SetTimelineOwnership([map, p = p](std::string_view ns, std::string_view timeline) {
      return PartitionOwns(*map, p, ns, timeline);
    });
    owned_at_[p] = map_version_;
  }
}

void ShardHost::AdoptClone(uint32_t p) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(o_.data_dir) / ("partition-" + std::to_string(p));
  std::error_code ec;
  if (fs::exists(dir, ec)) return;
  auto kv = client_->Get(PartitionSplit::ChildKey(o_.etcd_prefix, p));
  if (!kv.ok() || !*kv) return;
  const auto id = PartitionSplit::ChildSplitId((*kv)->value);
  if (!id) return;
  const fs::path clone = fs::path(o_.data_dir) / PartitionSplit::CloneDirName(p, *id);
  if (!fs::exists(clone, ec)) {
    Log("partition " + std::to_string(p) + ": no clone " + clone.string() +
        " here: the replica starts empty, as a learner");
    return;
  }
  fs::rename(clone, dir, ec);
  if (ec) {
    Log("cannot rename " + clone.string() + ": " + ec.message());
    return;
  }
  if (clone_ && clone_->dir == clone.string()) clone_.reset();
  Log("partition " + std::to_string(p) + ": starts on its split clone " + clone.string());
}

void ShardHost::LeftoverClone(const std::string& name, const std::optional<SplitState>& split) {
  uint32_t child = 0;
  long long id = 0;
  char tail = 0;
  if (std::sscanf(name.c_str(), "partition-%u.split-%lld%c", &child, &id, &tail) != 2 ||
      name != PartitionSplit::CloneDirName(child, id)) {
    return;  // not a clone's name: left alone
  }
  const std::string dir = (std::filesystem::path(o_.data_dir) / name).string();
  if (split && split->id == id) {
    clone_ = CloneMade{id, child, dir};  // its split runs: HandleSplit decides when it ends
    return;
  }
  // The split ended. Kept only when its map gave the child a replica here that has not started
  // on it yet (AdoptClone renames it); else it is never started.
  const proto::PartitionEntry* q = map_->Partition(child);
  std::error_code ec;
  if (q != nullptr && NodeIdIn(*q, o_.server) &&
      !std::filesystem::exists(
          std::filesystem::path(o_.data_dir) / ("partition-" + std::to_string(child)), ec)) {
    auto kv = client_->Get(PartitionSplit::ChildKey(o_.etcd_prefix, child));
    if (!kv.ok()) return;  // unknown: decided at the next start
    if (*kv && PartitionSplit::ChildSplitId((*kv)->value) == id) return;
  }
  std::filesystem::remove_all(dir, ec);
  Log("split " + std::to_string(id) + " ended without this server's clone being used: " + dir +
      (ec ? " not removed: " + ec.message() : " removed"));
}

void ShardHost::HandleSplit(const std::optional<SplitState>& split) {
  const bool active = split && map_version_ < split->version;
  // Unfreeze: the map published is the split's, or the key was read gone before the map.
  for (auto& [p, gate] : gates_) {
    if (gate->frozen() && !(active && split->parent == p)) {
      gate->Unfreeze();
      Log("partition " + std::to_string(p) + ": unfrozen at map version " +
          std::to_string(map_version_));
    }
  }
  // A clone of a split that ended without its map goes.
  if (clone_ && !(split && split->id == clone_->id)) {
    // Its map lists the child and names this split (partitions/<Q>/split): the child starts
    // on it (AdoptClone). Otherwise it is never started.
    bool kept = false, known = true;
    if (map_->Partition(clone_->child) != nullptr) {
      auto kv = client_->Get(PartitionSplit::ChildKey(o_.etcd_prefix, clone_->child));
      known = kv.ok();
      kept = kv.ok() && *kv && PartitionSplit::ChildSplitId((*kv)->value) == clone_->id;
    }
    if (known) {
      if (!kept) {
        std::error_code ec;
        std::filesystem::remove_all(clone_->dir, ec);
        Log("split " + std::to_string(clone_->id) + " ended without its map: " + clone_->dir +
            " removed");
      }
      clone_.reset();
    }
  }
  if (!active) return;
  auto node = nodes_.find(split->parent);
  if (node == nodes_.end()) return;
  WriteGate& gate = *gates_.at(split->parent);
  if (!gate.frozen()) {
    gate.Freeze();
    Log("partition " + std::to_string(split->parent) + ": frozen for its split into partition " +
        std::to_string(split->child) + " (id " + std::to_string(split->id) + ")");
  }
  if (!split->frozen) return PublishFrozen(*split, *node->second);
  if (split->cloned.count(o_.server) == 0) Clone(*split, *node->second);
}

void ShardHost::PublishFrozen(const SplitState& s, ClusterNode& node) {
  if (!node.serving_primary() || !gates_.at(s.parent)->Drained()) return;
  auto names = node.db()->ListNamespaces();
  if (!names.ok()) return;
  std::map<std::string, LogPosition> ends;
  for (const NamespaceInfo& n : *names) {
    auto end = node.db()->LogEnd(n.name);
    if (!end.ok()) return;
    ends[n.name] = end->written;
  }
  if (!node.serving_primary()) return;  // a failover meanwhile: its successor publishes
  auto put = client_->CompareAndSwap(PartitionSplit::FrozenKey(o_.etcd_prefix), 0,
                                     PartitionSplit::EncodeFrozen(s.id, ends), s.lease);
  if (put.ok()) {
    Log("partition " + std::to_string(s.parent) + ": frozen positions published");
  }
}

void ShardHost::Clone(const SplitState& s, ClusterNode& node) {
  namespace fs = std::filesystem;
  const std::map<std::string, LogPosition>& frozen = *s.frozen;
  auto ack = [&](const std::string& error) {
    if (!error.empty() && error != split_error_) Log("split clone: " + error);
    split_error_ = error;
    (void)client_->Put(PartitionSplit::ClonedKey(o_.etcd_prefix, o_.server),
                       PartitionSplit::EncodeCloned(s.id, error), s.lease);
  };
  // The replica's log must end at the frozen positions: wait while it is behind.
  auto names = node.db()->ListNamespaces();
  if (!names.ok()) return;
  for (const NamespaceInfo& n : *names) {
    auto end = node.db()->LogEnd(n.name);
    if (!end.ok()) return;
    auto f = frozen.find(n.name);
    if (f == frozen.end()) {
      return ack("namespace " + n.name + " is not in the frozen log");
    }
    if (end->written < f->second) return;  // behind: the next poll looks again
    if (end->written > f->second) {
      return ack("namespace " + n.name + "'s log ends at " + end->written.ToString() +
                 ", past the frozen " + f->second.ToString());
    }
  }
  if (names->size() != frozen.size()) return;  // a namespace not created here yet
  const fs::path dir = fs::path(o_.data_dir) / PartitionSplit::CloneDirName(s.child, s.id);
  std::error_code ec;
  fs::remove_all(dir, ec);  // an earlier attempt's
  auto info = node.CloneForSplit(dir.string());
  if (!info.ok()) {
    fs::remove_all(dir, ec);
    return ack("clone of partition " + std::to_string(s.parent) +
               " failed: " + info.status().ToString());
  }
  for (const SnapshotNamespace& n : info->namespaces) {
    auto f = frozen.find(n.name);
    if (f == frozen.end() || !(f->second == n.end)) {
      fs::remove_all(dir, ec);
      return ack("the clone of namespace " + n.name + " ends at " + n.end.ToString() +
                 ", not at the frozen position");
    }
  }
  clone_ = CloneMade{s.id, s.child, dir.string()};
  Log("partition " + std::to_string(s.parent) + ": cloned into " + dir.string() +
      " for partition " + std::to_string(s.child));
  ack("");
}

void ShardHost::ApplyNamespaces() {
  std::vector<ClusterNode*> primaries;
  for (auto& [p, node] : nodes_) {
    // A partition frozen for a split takes no catalog write (its log must stay still).
    if (node->serving_primary() && !gates_.at(p)->frozen()) primaries.push_back(node.get());
  }
  auto catalog = namespaces_.List();
  if (!catalog.ok()) return;
  catalog_names_.clear();
  for (const auto& entry : *catalog) catalog_names_.insert(entry.first);
  for (ClusterNode* node : primaries) {
    for (const auto& [name, options] : *catalog) {
      auto info = node->db()->DescribeNamespace(name);
      Status s = Status::Ok();
      if (info.status().IsNotFound()) {
        s = node->db()->CreateNamespace(name, options);
      } else if (info.ok() && !(info->options == options)) {
        s = node->db()->SetNamespaceOptions(name, options);
      }
      // Retried every poll; said once per distinct error.
      std::string& last = apply_errors_[name];
      if (!s.ok() && last != s.ToString()) {
        Log("namespace " + name + " not applied here yet: " + s.ToString());
      }
      last = s.ok() ? "" : s.ToString();
    }
  }
}

void ShardHost::Run() {
  int64_t next = SteadyMs() + o_.poll_ms;
  std::string last_error;
  while (true) {
    std::vector<std::function<void()>> after;
    {
      std::unique_lock l(mu_);
      // Until the next regular poll, or earlier when a miss asked for one (WakeSoon).
      while (!stopping_) {
        const int64_t due = std::min(next, wake_at_ms_);
        if (SteadyMs() >= due) break;
        cv_.wait_until(l, std::chrono::steady_clock::time_point(std::chrono::milliseconds(due)));
      }
      if (stopping_) return;
      const int64_t now = SteadyMs();
      if (wake_at_ms_ <= now) last_wake_ms_ = now;
      wake_at_ms_ = INT64_MAX;
      after.swap(after_poll_);  // registered before this poll started
    }
    if (!keeper_ || keeper_->lost()) {
      if (Status s = RegisterServer(); !s.ok()) Log("servers key not registered: " + s.ToString());
    }
    Status s = Poll(/*starting=*/false);
    // An etcd outage is logged once, not every poll: routing goes on with the last snapshot.
    if (!s.ok() && s.ToString() != last_error) Log("etcd poll failed: " + s.ToString());
    last_error = s.ok() ? "" : s.ToString();
    for (auto& fn : after) fn();
    next = SteadyMs() + o_.poll_ms;
  }
}

void ShardHost::AfterNextPoll(std::function<void()> fn) {
  {
    std::lock_guard l(mu_);
    if (!stopping_) {
      after_poll_.push_back(std::move(fn));
      WakeSoon();
      return;
    }
  }
  fn();  // stopping: no poll comes; the call goes on (and meets its stopping replica)
}

void ShardHost::WakeSoon() {
  const int64_t at = std::max(SteadyMs(), last_wake_ms_ + o_.miss_poll_interval_ms);
  if (at < wake_at_ms_) {
    wake_at_ms_ = at;
    cv_.notify_all();
  }
}

void ShardHost::NamespaceMiss() {
  std::lock_guard l(mu_);
  WakeSoon();
}

std::shared_ptr<const ShardRouting> ShardHost::routing() const {
  std::lock_guard l(mu_);
  return routing_;
}

void ShardHost::AddStats(std::vector<std::pair<std::string, uint64_t>>* out) const {
  auto r = routing();
  out->emplace_back("shard_map_version", r->map.version());
  out->emplace_back("shard_server", o_.server);
  out->emplace_back("shard_partitions_local", r->local.size());
  for (const auto& [p, node] : r->local) {
    std::vector<std::pair<std::string, uint64_t>> one;
    node->AddStats(&one);
    const std::string prefix = "cluster_p" + std::to_string(p) + "_";
    for (auto& [name, v] : one) out->emplace_back(prefix + name.substr(8), v);  // "cluster_"
  }
}

void ShardHost::Stop() {
  {
    std::lock_guard l(mu_);
    if (stopping_) return;
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  // Calls waiting for a poll go on now (their replicas still run), so that each completes.
  std::vector<std::function<void()>> after;
  {
    std::lock_guard l(mu_);
    after.swap(after_poll_);
  }
  for (auto& fn : after) fn();
  for (auto& [p, node] : nodes_) node->Stop();
  for (auto& node : retired_) node->Stop();
  if (keeper_) keeper_->Stop();
}

}  // namespace tldb::cluster
