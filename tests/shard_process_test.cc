// A sharded cluster of real processes (docs/cluster.md): one etcd and five tldb-servers (server
// ids 0..4) on loopback addresses inside a private network namespace, a slot map of four
// partitions of three replicas written by the library call `tldb cluster init` makes. A small
// router in the test (CLUSTER_MAP from any server, SlotMap::DecodeWire, one tldb::Client per
// address, following MOVED and NOT_PRIMARY) appends to 200 timelines; a request sent to a
// server that holds no replica of its partition answers MOVED naming the right address; every
// server's CLUSTER_MAP agrees on the version and the primaries; a namespace created on one
// server is usable on every partition; then one partition's primary is killed (SIGKILL) while
// appends go on (with client_msg_ids, retried), and every acknowledged message is checked to be
// present once, at its SeqId.
#include <gtest/gtest.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <thread>

#include "cluster/slot_map_store.h"
#include "cluster/testing/etcd_cluster.h"
#include "common/raw_conn.h"
#include "common/server_process.h"
#include "common/temp_dir.h"
#include "protocol/host_port.h"
#include "protocol/slot_map.h"
#include "tldb/client.h"
#include "util/private_netns.h"
#include "util/shard_processes.h"
#include "util/shell.h"

namespace tldb {
namespace {

using testing::EnterPrivateNetworkNamespace;

using Clock = std::chrono::steady_clock;
constexpr int kServers = 5;
constexpr uint32_t kPartitions = 4;
constexpr int kTimelines = 200;

// CLUSTER_MAP from the server at `address`.
Result<proto::SlotMap> FetchMap(const std::string& address) {
  std::string host;
  uint16_t port = 0;
  TLDB_RETURN_IF_ERROR(proto::SplitHostPort(address, "server", &host, &port));
  common::RawConn conn(port);
  if (!conn.connected() || !conn.Hello()) return Status::IOError("cannot reach " + address);
  if (!conn.SendFrame(proto::Op::kClusterMap, 7, "")) return Status::IOError("send failed");
  auto f = conn.ReadFrame(5'000);
  if (!f) return Status::IOError("no CLUSTER_MAP answer from " + address);
  if (f->error()) {
    return Status::IOError("CLUSTER_MAP error " + std::to_string(f->ErrorCode()) + " from " +
                           address);
  }
  return proto::SlotMap::DecodeWire(f->body);
}

// Routes requests by the slot map, as a sharded client does (the test's own, so that the
// server side is tested on its own): one Client per address, MOVED and NOT_PRIMARY followed,
// the map refreshed from any server.
class Router {
 public:
  explicit Router(std::vector<std::string> servers) : servers_(std::move(servers)) {}

  Status Refresh() {
    Status last = Status::IOError("no server");
    for (const std::string& s : servers_) {
      auto m = FetchMap(s);
      if (m.ok()) {
        if (!map_ || m->version() >= map_->version()) map_ = std::move(m).value();
        return Status::Ok();
      }
      last = m.status();
    }
    return last;
  }
  const std::optional<proto::SlotMap>& map() const { return map_; }
  Client* ClientFor(const std::string& address) {
    auto& c = clients_[address];
    if (!c) {
      ClientOptions o;
      o.server = address;
      o.connect_timeout_ms = 1'000;
      o.request_timeout_ms = 5'000;
      o.reconnect_attempts = 0;
      auto made = Client::Connect(o);
      if (!made.ok()) return nullptr;
      c = std::move(made).value();
    }
    return c.get();
  }
  // Calls fn(client) on the timeline's server until it answers something other than a
  // redirect or a transport error, for at most `budget`.
  template <typename T>
  Result<T> Call(std::string_view timeline, const std::function<Result<T>(Client&)>& fn,
                 std::chrono::milliseconds budget = std::chrono::seconds(60)) {
    const auto deadline = Clock::now() + budget;
    std::string address;
    Result<T> last = Status::IOError("no attempt");
    while (Clock::now() < deadline) {
      if (!map_) (void)Refresh();
      if (address.empty() && map_) address = map_->RouteAddress(proto::SlotOf(timeline));
      Client* c = address.empty() ? nullptr : ClientFor(address);
      if (!c) {
        clients_.erase(address);
        address.clear();
        (void)Refresh();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      last = fn(*c);
      const Status& s = last.status();
      if (s.code() == Status::Code::kMoved) {
        ++moved_;
        auto m = proto::ParseMoved(s.message());
        address = m.ok() ? m->address : "";
        if (!m.ok() || !map_ || m->version > map_->version()) (void)Refresh();
        continue;
      }
      if (s.code() == Status::Code::kNotPrimary) {
        ++not_primary_;
        const size_t at = s.message().find("primary=");
        address = at == std::string::npos ? "" : s.message().substr(at + 8);
        if (address.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        (void)Refresh();
        continue;
      }
      const bool transport = s.code() == Status::Code::kIOError ||
                             s.code() == Status::Code::kClosed ||
                             s.code() == Status::Code::kTimedOut;
      if (transport) {
        clients_.erase(address);
        address.clear();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        (void)Refresh();
        continue;
      }
      return last;
    }
    return last;
  }
  uint64_t moved() const { return moved_; }
  uint64_t not_primary() const { return not_primary_; }

 private:
  std::vector<std::string> servers_;
  std::optional<proto::SlotMap> map_;
  std::map<std::string, std::unique_ptr<Client>> clients_;
  uint64_t moved_ = 0, not_primary_ = 0;
};

class ShardProcessTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { netns_error_ = EnterPrivateNetworkNamespace(); }
  void SetUp() override {
    if (!netns_error_.empty()) {
      std::printf("SKIPPED: no private network namespace: %s\n", netns_error_.c_str());
      GTEST_SKIP() << "no private network namespace: " << netns_error_;
    }
    ASSERT_TRUE(etcd_.Start().ok());
    // The map, written by the CLI; a second init is refused.
    auto init = Run("cluster init --partitions 4 --servers 0,1,2,3,4 --etcd " + etcd_.endpoint(0));
    ASSERT_EQ(init.first, 0) << init.second;
    EXPECT_NE(init.second.find("slot map version 1: 4 partitions"), std::string::npos)
        << init.second;
    auto again =
        Run("cluster init --partitions 2 --servers 0,1 --replicas 2 --etcd " + etcd_.endpoint(0));
    EXPECT_NE(again.first, 0) << again.second;
    EXPECT_NE(again.second.find("AlreadyExists"), std::string::npos) << again.second;
    for (int n = 0; n < kServers; ++n) {
      common::ServerProcessOptions o =
          testing::ShardServerOptions(TLDB_SERVER_PATH, dir_.path(), n, etcd_.endpoint(0));
      if (n == 0) {
        o.extra_args.insert(o.extra_args.end(),
                            {"--metrics-listen", "127.0.0.1:" + std::to_string(metrics_port_)});
      }
      servers_[n] = std::make_unique<common::ServerProcess>(o);
      ASSERT_TRUE(servers_[n]->Start().ok()) << Logs();
      addresses_.push_back(servers_[n]->address());
    }
  }
  // `tldb ARGS`: exit code and output (stdout and stderr).
  static std::pair<int, std::string> Run(const std::string& args) {
    return testing::Shell(std::string(TLDB_CLI_PATH) + " " + args);
  }
  std::string Logs() { return testing::LogTails(dir_.path(), "server", kServers, 2000); }
  // Waits (60 s at most) until every live server's CLUSTER_MAP names a primary for every
  // partition, the same on all of them, and lists every live server; returns it.
  std::optional<proto::SlotMap> AgreedMap() {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline) {
      std::optional<proto::SlotMap> first;
      bool agreed = true;
      size_t alive = 0;
      for (int n = 0; n < kServers; ++n) alive += servers_[n]->Alive() ? 1 : 0;
      for (int n = 0; n < kServers && agreed; ++n) {
        if (!servers_[n]->Alive()) continue;
        auto m = FetchMap(addresses_[n]);
        agreed = m.ok();
        if (!agreed) break;
        // Every running server registered and seen (servers/ is read every poll).
        agreed &= m->servers().size() >= alive;
        for (const auto& p : m->partitions()) {
          agreed &= p.primary != proto::kNoServer && servers_[p.primary]->Alive() &&
                    !m->AddressOf(p.primary).empty();
        }
        if (first) {
          agreed &= m->version() == first->version();
          for (const auto& p : m->partitions()) {
            agreed &= first->Partition(p.id) && first->Partition(p.id)->primary == p.primary;
          }
        } else {
          first = std::move(m).value();
        }
      }
      if (agreed && first) return first;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return std::nullopt;
  }

  static inline std::string netns_error_;
  common::TempDir dir_{"tldb-shard"};
  cluster::testing::EtcdCluster etcd_{1};
  std::unique_ptr<common::ServerProcess> servers_[kServers];
  std::vector<std::string> addresses_;
  const uint16_t metrics_port_ = common::FreeLoopbackPort();
};

// GET /metrics of the server at 127.0.0.1:port.
std::string Metrics(uint16_t port) {
  const std::string cmd = "curl -fsS http://127.0.0.1:" + std::to_string(port) + "/metrics";
  std::string body;
  if (FILE* f = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) body.append(buf, n);
    ::pclose(f);
  }
  return body;
}

TEST_F(ShardProcessTest, RoutesRedirectsSharesNamespacesAndSurvivesAKilledPrimary) {
  auto agreed = AgreedMap();
  ASSERT_TRUE(agreed) << "the servers never agreed on the primaries\n" << Logs();
  EXPECT_EQ(agreed->version(), 1u);
  ASSERT_EQ(agreed->partitions().size(), kPartitions);
  ASSERT_EQ(agreed->servers().size(), static_cast<size_t>(kServers));
  // Each partition's replica figures reach Prometheus labelled by partition
  // (docs/operations.md).
  const std::string metrics = Metrics(metrics_port_);
  EXPECT_NE(metrics.find("\ntldb_shard_map_version 1"), std::string::npos) << metrics;
  int local = 0;
  for (const auto& p : agreed->partitions()) {
    const bool here = std::find(p.replicas.begin(), p.replicas.end(), 0u) != p.replicas.end();
    local += here;
    const std::string label = "{partition=\"" + std::to_string(p.id) + "\"}";
    EXPECT_EQ(metrics.find("\ntldb_cluster_role" + label) != std::string::npos, here) << label;
    EXPECT_EQ(metrics.find("\ntldb_cluster_log_offset{partition=\"" + std::to_string(p.id) +
                           "\",namespace=\"store\"}") != std::string::npos,
              here);
  }
  EXPECT_NE(metrics.find("\ntldb_shard_partitions_local " + std::to_string(local)),
            std::string::npos)
      << metrics;

  // A server holding no replica of a timeline's partition answers MOVED naming where to go.
  const std::string probe = "conv:probe";
  const uint16_t slot = proto::SlotOf(probe);
  const proto::PartitionEntry& owner = agreed->Owner(slot);
  int stranger = -1;
  for (int n = 0; n < kServers && stranger < 0; ++n) {
    if (std::find(owner.replicas.begin(), owner.replicas.end(), n) == owner.replicas.end()) {
      stranger = n;
    }
  }
  ASSERT_GE(stranger, 0);
  Router router(addresses_);
  Client* wrong = router.ClientFor(addresses_[stranger]);
  ASSERT_NE(wrong, nullptr);
  auto moved = wrong->Append("store", probe, "x");
  ASSERT_EQ(moved.status().code(), Status::Code::kMoved) << moved.status().ToString();
  auto info = proto::ParseMoved(moved.status().message());
  ASSERT_TRUE(info.ok()) << moved.status().message();
  EXPECT_EQ(info->slot, slot);
  EXPECT_EQ(info->version, 1u);
  EXPECT_EQ(info->partition, owner.id);
  EXPECT_EQ(info->address, agreed->AddressOf(owner.primary));
  // Nothing of a multi-timeline read is served when one timeline is elsewhere.
  const std::string_view both[] = {probe, probe};
  EXPECT_EQ(wrong->LastSeq("store", both).status().code(), Status::Code::kMoved);

  const std::string_view both_tl[] = {probe};
  const TimelineAfter after_probe[] = {{probe, 0}};
  EXPECT_EQ(wrong->ReadMulti("store", after_probe).status().code(), Status::Code::kMoved);
  EXPECT_EQ(wrong->GetCursors("phone", "store", both_tl).status().code(), Status::Code::kMoved);
  EXPECT_EQ(wrong->SetCursor("phone", "store", probe, 0).status().code(), Status::Code::kMoved);
  // A fan-out over two partitions without a client_msg_id (the key of its intent) is refused,
  // nothing written.
  std::string in_a, in_b;
  for (int i = 0; in_a.empty() || in_b.empty(); ++i) {
    const std::string tl = "fan:" + std::to_string(i);
    const uint32_t p = agreed->Owner(proto::SlotOf(tl)).id;
    if (p == 0 && in_a.empty()) in_a = tl;
    if (p == 3 && in_b.empty()) in_b = tl;
  }
  const std::string_view across[] = {in_a, in_b};  // partitions 0 and 3: both on server 0
  auto fan = router.ClientFor(addresses_[0])->AppendFanout("store", across, "x");
  EXPECT_EQ(fan.status().code(), Status::Code::kInvalidArgument) << fan.status().ToString();
  // `tldb cluster map` shows every partition's primary address.
  auto shown = Run("cluster map --etcd " + etcd_.endpoint(0));
  ASSERT_EQ(shown.first, 0) << shown.second;
  EXPECT_NE(shown.second.find("slot map version 1: 4 partitions, 5 servers"), std::string::npos)
      << shown.second;
  for (const auto& p : agreed->partitions()) {
    EXPECT_NE(shown.second.find(agreed->AddressOf(p.primary)), std::string::npos) << shown.second;
  }

  // A namespace created on one server is usable on every partition.
  NamespaceOptions chat;
  chat.ttl_ms = 7 * 24 * 3600 * 1000ull;
  ASSERT_TRUE(router.ClientFor(addresses_[0])->CreateNamespace("chat", chat).ok()) << Logs();
  auto again = router.ClientFor(addresses_[1])->CreateNamespace("chat", chat);
  EXPECT_TRUE(again.ok()) << again.ToString();  // the same options: OK
  NamespaceOptions other = chat;
  other.ttl_ms = 1000;
  EXPECT_EQ(router.ClientFor(addresses_[2])->CreateNamespace("chat", other).code(),
            Status::Code::kAlreadyExists);

  // Appends through the router: every timeline once in "chat" (each partition gets some). Not
  // one is answered NOT_FOUND: a partition that lacks the namespace yet applies the catalog
  // before it answers (docs/cluster.md "Namespaces").
  struct Acked {
    Seq seq;
    std::string payload;
  };
  std::map<std::string, std::vector<Acked>> acked;
  std::set<uint32_t> partitions_used;
  uint64_t next_id = 0;
  auto append = [&](const std::string& tl) {
    const std::string id = "m" + std::to_string(next_id++);
    const std::string payload = "payload-" + id;
    auto r = router.Call<AppendResult>(tl, [&](Client& c) {
      AppendOptions o;
      o.client_msg_id = id;
      return c.Append("chat", tl, payload, o);
    });
    EXPECT_TRUE(r.ok()) << tl << ": " << r.status().ToString();
    if (r.ok()) acked[tl].push_back({r->seq, payload});
  };
  for (int i = 0; i < kTimelines; ++i) {
    const std::string tl = "conv:" + std::to_string(i);
    partitions_used.insert(agreed->Owner(proto::SlotOf(tl)).id);
    append(tl);
  }
  ASSERT_EQ(partitions_used.size(), kPartitions);
  ASSERT_EQ(acked.size(), static_cast<size_t>(kTimelines)) << Logs();
  // Every server that holds a replica describes the namespace as created (its partitions'
  // primaries applied the catalog).
  for (int n = 0; n < kServers; ++n) {
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    Result<NamespaceInfo> d = Status::NotFound("not asked");
    while (Clock::now() < deadline) {
      d = router.ClientFor(addresses_[n])->DescribeNamespace("chat");
      if (d.ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(d.ok()) << "server " << n << ": " << d.status().ToString();
    EXPECT_EQ(d->options.ttl_ms, chat.ttl_ms);
  }

  // A fan-out within one partition (hash tags) and a cursor, each through the timeline's server.
  const std::string_view devices[] = {"inbox:{u7}:phone", "inbox:{u7}:web"};
  auto fanned = router.Call<std::vector<AppendResult>>(
      devices[0], [&](Client& c) { return c.AppendFanout("chat", devices, "hi"); });
  ASSERT_TRUE(fanned.ok()) << fanned.status().ToString();
  ASSERT_EQ(fanned->size(), 2u);
  const std::string cursor_tl = "conv:7";
  const Seq cursor_at = acked[cursor_tl].front().seq;
  auto set = router.Call<CursorSetResult>(
      cursor_tl, [&](Client& c) { return c.SetCursor("phone", "chat", cursor_tl, cursor_at); });
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  const std::string_view cursor_tls[] = {cursor_tl};
  auto got = router.Call<std::vector<CursorState>>(
      cursor_tl, [&](Client& c) { return c.GetCursors("phone", "chat", cursor_tls); });
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].cursor, cursor_at);

  // Kill partition 0's primary; appends go on (the router follows NOT_PRIMARY and MOVED).
  const uint32_t victim = agreed->Partition(0)->primary;
  ASSERT_TRUE(servers_[victim]->Kill().ok());
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < kTimelines; ++i) append("conv:" + std::to_string(i));
  }
  auto after = AgreedMap();
  ASSERT_TRUE(after) << "no new primaries after the kill\n" << Logs();
  EXPECT_NE(after->Partition(0)->primary, victim);

  // Every acknowledged message is present once, at its SeqId.
  uint64_t checked = 0;
  for (const auto& [tl, msgs] : acked) {
    auto read = router.Call<std::vector<Message>>(tl, [&](Client& c) {
      ScanOptions o;
      o.limit = 1000;
      return c.Scan("chat", tl, o);
    });
    ASSERT_TRUE(read.ok()) << tl << ": " << read.status().ToString();
    std::map<std::string, int> seen;
    std::map<Seq, std::string> at;
    for (const Message& m : *read) {
      ++seen[std::string(m.payload)];
      at[m.seq] = m.payload;
    }
    for (const Acked& a : msgs) {
      EXPECT_EQ(seen[a.payload], 1) << tl << " " << a.payload;
      EXPECT_EQ(at[a.seq], a.payload) << tl << " seq " << a.seq;
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<uint64_t>(3 * kTimelines));
  std::printf("acknowledged %llu messages; MOVED followed %llu times, NOT_PRIMARY %llu\n",
              (unsigned long long)checked, (unsigned long long)router.moved(),
              (unsigned long long)router.not_primary());
}

TEST_F(ShardProcessTest, ANewerMapVersionIsFollowed) {
  auto v1 = AgreedMap();
  ASSERT_TRUE(v1) << Logs();
  // Version 2 swaps the slots of partitions 0 and 1 (their replicas stay): an operator's map
  // change, written by the transaction a move would use.
  auto etcd = cluster::EtcdClient::Create(etcd_.ClientOptions());
  ASSERT_TRUE(etcd.ok());
  cluster::SlotMapStore store(**etcd, "/tldb/");
  auto stored = store.Load();
  ASSERT_TRUE(stored.ok());
  std::vector<proto::PartitionEntry> parts = stored->map.partitions();
  std::swap(parts[0].ranges, parts[1].ranges);
  auto v2 = proto::SlotMap::Make(2, parts);
  ASSERT_TRUE(v2.ok());
  ASSERT_TRUE(store.Update(*stored, *v2).ok());
  // Every server routes by version 2 within a few polls.
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  int at_v2 = 0;
  while (Clock::now() < deadline && at_v2 < kServers) {
    at_v2 = 0;
    for (int n = 0; n < kServers; ++n) {
      auto m = FetchMap(addresses_[n]);
      at_v2 += m.ok() && m->version() == 2 && m->Owner(parts[0].ranges[0].first).id == 0;
    }
    if (at_v2 < kServers) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(at_v2, kServers) << Logs();
  // Server 0 holds partitions 0 and 3, not 1: a timeline of the slots partition 1 now owns is
  // redirected there, at version 2.
  std::string tl;
  for (int i = 0; tl.empty(); ++i) {
    const std::string t = "conv:" + std::to_string(i);
    if (v2->Owner(proto::SlotOf(t)).id == 1) tl = t;
  }
  ClientOptions o;
  o.server = addresses_[0];
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok());
  auto moved = (*c)->Append("store", tl, "x");
  ASSERT_EQ(moved.status().code(), Status::Code::kMoved) << moved.status().ToString();
  auto info = proto::ParseMoved(moved.status().message());
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->version, 2u);
  EXPECT_EQ(info->partition, 1u);
  // Under version 1 that slot was partition 0's, served by server 0.
  EXPECT_EQ(v1->Owner(proto::SlotOf(tl)).id, 0u);
  auto shown = Run("cluster map --etcd " + etcd_.endpoint(0));
  EXPECT_NE(shown.second.find("slot map version 2"), std::string::npos) << shown.second;
}

}  // namespace
}  // namespace tldb
