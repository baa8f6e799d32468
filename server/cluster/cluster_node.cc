#include "cluster/cluster_node.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

#include "cluster/steady_ms.h"

namespace tldb::cluster {
Result<std::vector<std::string>> ClusterNode::ParseClusterSpec(std::string_view spec) {
  if (spec.rfind("etcd=", 0) != 0) {
    return Status::InvalidArgument("--cluster must be etcd=URL[,URL...], got '" +
                                   std::string(spec) + "'");
  }
  std::vector<std::string> urls;
  const std::string_view list = spec.substr(5);
  for (size_t at = 0; at <= list.size();) {
    const size_t comma = std::min(list.find(',', at), list.size());
    if (comma > at) urls.emplace_back(list.substr(at, comma - at));
    at = comma + 1;
  }
  if (urls.empty()) return Status::InvalidArgument("--cluster etcd= names no URL");
  return urls;
}

Result<std::unique_ptr<ClusterNode>> ClusterNode::Start(ClusterNodeOptions options) {
  std::unique_ptr<ClusterNode> n(new ClusterNode(std::move(options)));
  const ClusterNodeOptions& o = n->options_;
  repl::TcpTransport::Options t;
  t.listen = o.peer_listen;
  t.on_message = [p = n.get()](std::string bytes) {
    std::lock_guard l(p->inbox_mu_);
    p->inbox_.push_back(std::move(bytes));
    p->inbox_cv_.notify_one();
  };
  t.address_of = [p = n.get()](uint32_t node) { return p->AddressOf(node, false); };
  if (!o.peer_tls_cert.empty() || !o.peer_tls_key.empty() || !o.peer_tls_ca.empty()) {
    TLDB_RETURN_IF_ERROR(
        repl::TcpTransport::LoadTls(o.peer_tls_cert, o.peer_tls_key, o.peer_tls_ca, &t));
  }
  TLDB_ASSIGN_OR_RETURN(n->transport_, repl::TcpTransport::Start(std::move(t)));
  EtcdCoordinatorOptions c;
  c.etcd.endpoints = o.etcd_endpoints;
  c.prefix = o.etcd_prefix;
  c.partition = o.partition;
  c.node = o.node;
  c.voters = o.voters;
  c.client_address = o.client_address;
  c.peer_address = n->transport_->listen_address();
  c.lease_ttl_s = o.lease_ttl_s;
  // This run of the replica: random, so that no other run of this position (a server it was
  // moved to, this server before a restart) has it.
  std::random_device rd;
  do {
    c.incarnation = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(SteadyMs());
  } while (c.incarnation == 0);
  const uint64_t incarnation = c.incarnation;
  TLDB_ASSIGN_OR_RETURN(n->coordinator_, EtcdCoordinator::Start(std::move(c)));
  if (auto nodes = n->coordinator_->Nodes(); nodes.ok()) n->addresses_ = std::move(*nodes);
  repl::ReplicaConfig rc;
  rc.node = o.node;
  rc.nodes = o.voters;
  rc.dir = o.data_dir;
  rc.db_options = o.db_options;
  rc.namespaces = o.namespaces;
  rc.now_ms = SteadyMs;
  rc.seed = static_cast<uint64_t>(SteadyMs()) * 31 + o.node;
  rc.incarnation = incarnation;
  rc.peer_incarnation = [p = n.get()](uint32_t node) {
    std::lock_guard l(p->addresses_mu_);
    auto it = p->addresses_.find(node);
    return it == p->addresses_.end() ? uint64_t{0} : it->second.incarnation;
  };
  // polled_ is made below, before the replica opens, and stops after it (Stop).
  rc.on_other_incarnation = [p = n.get()](uint32_t) { p->polled_->PollNodesSoon(); };
  // A dead primary's key goes with its lease (lease_ttl_s); then a follower campaigns.
  rc.majority_timeout_ms = o.lease_ttl_s * 1000;
  rc.election_timeout_ms = o.lease_ttl_s * 1500;
  rc.retain_for_absent_ms = o.retain_for_absent_s * 1000;
  PolledCoordinatorOptions pc;
  pc.node = o.node;
  pc.poll_ms = rc.heartbeat_ms;
  pc.now_ms = SteadyMs;
  n->polled_ = std::make_unique<PolledCoordinator>(
      *n->coordinator_, [c = n->coordinator_.get()] { return c->Nodes(); }, std::move(pc));
  n->polled_->Start();
  TLDB_ASSIGN_OR_RETURN(n->replica_,
                        repl::Replica::Open(std::move(rc), n->transport_.get(), n->polled_.get()));
  n->db_ = std::make_unique<repl::ReplicatedDb>(
      *n->replica_, [p = n.get()](uint32_t node) { return p->AddressOf(node, true); });
  n->driver_ = std::thread([p = n.get()] { p->Drive(); });
  return n;
}

ClusterNode::~ClusterNode() {
  Stop();
}

void ClusterNode::Stop() {
  if (stopping_.exchange(true)) return;
  inbox_cv_.notify_all();
  if (driver_.joinable()) driver_.join();
  // Start may have failed part-way: stop what exists.
  if (replica_) {
    const repl::ReplicaStatus s = replica_->status();
    if (s.role != repl::Role::kFollower) (void)coordinator_->Resign(options_.node, s.epoch);
  }
  if (polled_) polled_->Stop();
  if (transport_) transport_->Stop();
  if (replica_) replica_->Stop();
}

Status ClusterNode::Retire() {
  Stop();
  return coordinator_ ? coordinator_->Unregister() : Status::Ok();
}

void ClusterNode::AddStats(std::vector<std::pair<std::string, uint64_t>>* out) const {
  const repl::ReplicaStatus s = replica_->status();
  auto add = [out](std::string name, uint64_t v) { out->emplace_back(std::move(name), v); };
  add("cluster_node", options_.node);
  add("cluster_role", static_cast<uint64_t>(s.role));  // 0 follower, 1 candidate, 2 primary
  add("cluster_epoch", s.epoch);
  // 0 voter, 1 learner (restarted on an empty disk; counts for nothing until caught up),
  // 2 undecided (no state of its own, etcd not asked yet)
  add("cluster_membership", static_cast<uint64_t>(s.membership));
  add("cluster_serving", s.serving ? 1 : 0);
  add("cluster_primary", s.primary ? *s.primary : UINT32_MAX);  // UINT32_MAX: none known
  add("cluster_failovers_seen", s.failovers_seen);
  // Messages from a run of a position etcd no longer names (a replica moved away or replaced
  // while cut off from etcd): dropped, never counted.
  add("cluster_stale_messages_dropped", s.stale_messages_dropped);
  add("cluster_etcd_ok", s.etcd_ok ? 1 : 0);
  add("cluster_rebuilding", s.rebuilding ? 1 : 0);  // receiving a snapshot from its primary
  add("cluster_rebuild_bytes", s.rebuild_bytes);    // of it so far, or of the last one
  add("cluster_rebuilds", s.rebuilds);              // snapshots installed since start
  add("cluster_catalog_version", s.catalog_seq);    // the replicated catalog record applied
  add("cluster_timelines",
      db_->Stats().timelines);  // in this replica's store, owned or not yet dropped
  // Where each namespace's log ends: on the primary the committed end (what readers see), on a
  // follower what it has written.
  auto namespaces = db_->ListNamespaces();
  for (const NamespaceInfo& n : namespaces.ok() ? *namespaces : std::vector<NamespaceInfo>{}) {
    const std::string& ns = n.name;
    auto end = db_->LogEnd(ns);
    if (!end.ok()) continue;
    add("cluster_log_" + ns + "_segment", end->written.segment);
    add("cluster_log_" + ns + "_offset", end->written.offset);
  }
  for (const repl::PeerLag& p : s.peers) {
    const std::string n = "cluster_follower" + std::to_string(p.node);
    add(n + "_joined", p.joined ? 1 : 0);
    add(n + "_learner", p.learner ? 1 : 0);
    add(n + "_behind_bytes", p.behind_bytes);
    add(n + "_behind_segments", p.behind_segments);
    add(n + "_lag_ms", static_cast<uint64_t>(std::max<int64_t>(0, p.lag_ms)));
  }
}

std::string ClusterNode::AddressOf(uint32_t node, bool client) {
  std::lock_guard l(addresses_mu_);
  auto it = addresses_.find(node);
  if (it == addresses_.end()) return "";
  return client ? it->second.client : it->second.peer;
}

void ClusterNode::RefreshAddresses() {
  auto nodes = polled_->Nodes();
  if (!nodes.ok()) return;
  std::lock_guard l(addresses_mu_);
  for (auto& [id, a] : *nodes) addresses_[id] = a;  // a node gone keeps its last address
}

void ClusterNode::Drive() {
  // How often the replica's view of the registrations takes the polled answer (a copy of a
  // few entries): soon after a read PollNodesSoon asked for, a restarted peer counts again.
  constexpr int64_t kAddressesRefreshMs = 50;
  int64_t next_tick = SteadyMs(), next_refresh = next_tick + kAddressesRefreshMs;
  while (!stopping_) {
    std::deque<std::string> batch;
    {
      std::unique_lock l(inbox_mu_);
      inbox_cv_.wait_until(
          l, std::chrono::steady_clock::time_point(std::chrono::milliseconds(next_tick)),
          [&] { return stopping_.load() || !inbox_.empty(); });
      batch.swap(inbox_);
    }
    for (const std::string& m : batch) replica_->Receive(m);
    const int64_t now = SteadyMs();
    if (now >= next_tick) {
      replica_->Tick();
      next_tick = now + options_.tick_ms;
    }
    if (now >= next_refresh) {
      RefreshAddresses();
      next_refresh = now + kAddressesRefreshMs;
    }
  }
}

}  // namespace tldb::cluster
