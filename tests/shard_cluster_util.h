// A sharded cluster in one process, for client tests (docs/cluster.md): three tldb::Servers,
// each over a Db (ShardDb) that serves only the slots of the partitions it is the primary of in
// a shared slot map and answers MOVED (or NOT_PRIMARY, for a partition it is a replica of) for
// the others, as a sharded server does; every server answers CLUSTER_MAP with the shared map.
// The Dbs do not move data with the slots: a timeline moved to another server starts empty
// there.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "protocol/slot_map.h"
#include "server_test_util.h"
#include "tldb/cluster_client.h"
#include "util/forwarding_db.h"

namespace tldb::testing {

using proto::SlotMap;
using proto::SlotOf;

// What every server of the test cluster shares: the map they hold, which server serves each
// partition (when not the map's primary), and a redirect loop switch.
struct ClusterState {
  std::mutex mu;
  std::optional<SlotMap> map;
  std::map<uint32_t, uint32_t> serving;  // partition -> server id, overriding the map's primary
  // When set, every server answers MOVED with this version naming the next server (a loop).
  uint64_t storm_version = 0;
  bool garbled_moved = false;  // every server answers MOVED with a message a client cannot parse
  std::vector<std::string> addresses;  // by server id
  std::atomic<int> map_requests{0};    // CLUSTER_MAP answers given
  std::atomic<bool> map_fails{false};  // CLUSTER_MAP answers IO_ERROR
};

// The Db of server `id`: serves a timeline when `id` serves its partition.
class ShardDb : public ForwardingDb {
 public:
  ShardDb(std::unique_ptr<Db> db, ClusterState* cluster, uint32_t id)
      : ForwardingDb(std::move(db)), cluster_(cluster), id_(id) {}

  Result<AppendResult> Append(std::string_view ns, std::string_view t, std::string_view p,
                              const AppendOptions& o) override {
    if (Status s = Check(ns, t); !s.ok()) return s;
    return db()->Append(ns, t, p, o);
  }
  void AppendAsync(std::string_view ns, std::string_view t, std::string_view p,
                   const AppendOptions& o, AppendCallback done) override {
    if (Status s = Check(ns, t); !s.ok()) return done(s);
    db()->AppendAsync(ns, t, p, o, std::move(done));
  }
  Result<std::vector<AppendResult>> AppendFanout(std::string_view ns,
                                                 std::span<const std::string_view> t,
                                                 std::string_view p,
                                                 const AppendOptions& o) override {
    if (Status s = CheckAll(ns, t); !s.ok()) return s;
    return db()->AppendFanout(ns, t, p, o);
  }
  void AppendFanoutAsync(std::string_view ns, std::span<const std::string_view> t,
                         std::string_view p, const AppendOptions& o, FanoutCallback done) override {
    if (Status s = CheckAll(ns, t); !s.ok()) return done(s);
    {
      std::lock_guard l(mu_);
      fanouts_++;
    }
    db()->AppendFanoutAsync(ns, t, p, o, std::move(done));
  }
  Result<Message> Get(std::string_view ns, std::string_view t, Seq s) override {
    if (Status st = Check(ns, t); !st.ok()) return st;
    return db()->Get(ns, t, s);
  }
  Result<std::vector<Message>> Scan(std::string_view ns, std::string_view t,
                                    const ScanOptions& o) override {
    if (Status s = Check(ns, t); !s.ok()) return s;
    return db()->Scan(ns, t, o);
  }
  Result<std::vector<Seq>> LastSeq(std::string_view ns,
                                   std::span<const std::string_view> t) override {
    if (Status s = CheckAll(ns, t); !s.ok()) return s;
    return db()->LastSeq(ns, t);
  }

  // The timelines this Db served (of namespace "store").
  std::set<std::string> seen() {
    std::lock_guard l(mu_);
    return seen_;
  }
  int fanouts() {
    std::lock_guard l(mu_);
    return fanouts_;
  }

 private:
  Status CheckAll(std::string_view ns, std::span<const std::string_view> ts) {
    for (auto t : ts) {
      if (Status s = Check(ns, t); !s.ok()) return s;  // nothing of the request is done
    }
    return Status::Ok();
  }
  // The rule of docs/cluster.md "Servers" over the shared map.
  Status Check(std::string_view ns, std::string_view timeline) {
    std::string_view key = timeline;
    if (ns == kCursorNamespace) {  // device|ns|timeline: the cursor lives with its timeline
      key = key.substr(key.find('|') + 1);
      key = key.substr(key.find('|') + 1);
    }
    const uint16_t slot = SlotOf(key);
    std::lock_guard cl(cluster_->mu);
    const SlotMap& map = *cluster_->map;
    const proto::PartitionEntry& p = map.Owner(slot);
    if (cluster_->garbled_moved) return Status::Moved("elsewhere");
    if (cluster_->storm_version != 0) {
      const uint32_t next = (id_ + 1) % cluster_->addresses.size();
      return Status::Moved(
          proto::MovedMessage(slot, cluster_->storm_version, p.id, cluster_->addresses[next]));
    }
    auto it = cluster_->serving.find(p.id);
    const uint32_t serving = it == cluster_->serving.end() ? p.primary : it->second;
    if (serving == id_) {
      if (ns == "store") {
        std::lock_guard l(mu_);
        seen_.insert(std::string(timeline));
      }
      return Status::Ok();
    }
    for (uint32_t r : p.replicas) {
      if (r == id_) {
        return Status::NotPrimary("replica does not serve; primary=" + map.AddressOf(serving));
      }
    }
    return Status::Moved(proto::MovedMessage(slot, map.version(), p.id, map.AddressOf(serving)));
  }

  ClusterState* cluster_;
  const uint32_t id_;
  std::mutex mu_;
  std::set<std::string> seen_;
  int fanouts_ = 0;
};

// One server: its Db (wrapped) and the Server over it.
struct Node {
  TempDir dir;
  ShardDb* db = nullptr;  // owned by `owner`
  std::unique_ptr<Db> owner;
  std::unique_ptr<Server> server;
};

class ShardTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kServers = 3;

  void SetUp() override {
    for (uint32_t id = 0; id < kServers; ++id) {
      auto& n = nodes_[id];
      auto db = Db::Open(n.dir.path(), Options{});
      ASSERT_TRUE(db.ok()) << db.status().ToString();
      ASSERT_TRUE(CreateDefaultNamespaces(**db).ok());
      auto wrapped = std::make_unique<ShardDb>(std::move(db).value(), &cluster_, id);
      n.db = wrapped.get();
      n.owner = std::move(wrapped);
      ServerConfig cfg;
      cfg.listen = "127.0.0.1:0";
      cfg.threads = 2;
      cfg.log = [](std::string_view) {};
      cfg.cluster_map = [this]() -> Result<std::string> {
        cluster_.map_requests++;
        if (cluster_.map_fails) return Status::IOError("map unavailable");
        std::lock_guard l(cluster_.mu);
        std::string body;
        proto::WireWriter w(&body);
        cluster_.map->EncodeWire(w);
        return body;
      };
      auto s = Server::Start(n.db, cfg);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      n.server = std::move(s).value();
      cluster_.addresses.push_back(n.server->listen_address());
    }
    // Version 1: partition p owns a third of the slots; replicas servers p and p+1, primary p.
    SetMap(1, {0, 1, 2});
  }
  void TearDown() override {
    for (auto& n : nodes_) {
      n.server.reset();
      if (n.owner) (void)n.owner->Close();
    }
  }

  // The map of `version`: three even partitions, partition p's replicas order[p] and
  // order[(p+1)%3], its primary order[p].
  void SetMap(uint64_t version, const std::vector<uint32_t>& order) {
    auto even = SlotMap::Even(version, kServers, order, 2);
    ASSERT_TRUE(even.ok()) << even.status().ToString();
    std::vector<proto::ServerEntry> servers;
    for (uint32_t id = 0; id < kServers; ++id) servers.push_back({id, cluster_.addresses[id]});
    std::lock_guard l(cluster_.mu);
    cluster_.map = even->WithServing({{0, order[0]}, {1, order[1]}, {2, order[2]}}, servers);
    cluster_.serving.clear();
  }
  // A map of `version` with two partitions (other ranges than SetMap's): partition 0 owns the
  // first half of the slots on server 0, partition 1 the second half on server 1.
  void SetHalvesMap(uint64_t version) {
    std::vector<proto::PartitionEntry> parts(2);
    parts[0] = {0, {0}, {{0, 8191}}, 0};
    parts[1] = {1, {1}, {{8192, 16383}}, 1};
    std::vector<proto::ServerEntry> servers;
    for (uint32_t id = 0; id < kServers; ++id) servers.push_back({id, cluster_.addresses[id]});
    auto m = SlotMap::Make(version, std::move(parts), std::move(servers));
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    std::lock_guard l(cluster_.mu);
    cluster_.map = std::move(m).value();
    cluster_.serving.clear();
  }
  uint32_t PartitionOf(std::string_view timeline) {
    std::lock_guard l(cluster_.mu);
    return cluster_.map->Owner(SlotOf(timeline)).id;
  }
  // The first timelines "t:<i>" of partitions p0, p1, ... in that order (one per entry).
  std::vector<std::string> TimelinesIn(const std::vector<uint32_t>& partitions) {
    std::vector<std::string> out;
    int i = 0;
    for (uint32_t p : partitions) {
      for (;; ++i) {
        std::string t = "t:" + std::to_string(i);
        if (PartitionOf(t) == p) {
          out.push_back(t);
          ++i;
          break;
        }
      }
    }
    return out;
  }
  // The first timeline "s:<i>" whose slot is in [first, last].
  static std::string TimelineInSlots(uint16_t first, uint16_t last) {
    for (int i = 0;; ++i) {
      std::string t = "s:" + std::to_string(i);
      const uint16_t slot = SlotOf(t);
      if (slot >= first && slot <= last) return t;
    }
  }
  std::unique_ptr<ClusterClient> NewClient(uint32_t retry_ms_max = 15'000) {
    ClusterClientOptions o;
    o.servers = {cluster_.addresses[2]};  // a server that owns only a third of the slots
    o.client.request_timeout_ms = 5'000;
    o.retry_ms_max = retry_ms_max;
    o.retry_pause_ms = 20;
    auto c = ClusterClient::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  ClusterState cluster_;
  Node nodes_[kServers];
};

inline std::vector<std::string_view> Views(const std::vector<std::string>& v) {
  return {v.begin(), v.end()};
}

}  // namespace tldb::testing
