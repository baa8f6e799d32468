// What the sharded process tests share (shard_process_test, shard_move_test, shard_split_test,
// intent_process_test, controller_process_test): how one tldb-server of a sharded cluster is
// started, the two questions they ask a server (STATS, CLUSTER_MAP), and the read-back of what
// was acknowledged.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/server_process.h"
#include "protocol/slot_map.h"
#include "tldb/client.h"
#include "tldb/cluster_client.h"

namespace tldb::testing {

// `binary` (tldb-server) as server `n` of the sharded cluster whose etcd is at `etcd`: data in
// DIR/server<n>, stderr appended to DIR/server<n>.log, a free loopback client port (also
// advertised), an ephemeral peer port, one request thread, the POSIX backend (the same on
// every machine), killed when the test dies. `extra` is appended to the arguments.
inline common::ServerProcessOptions ShardServerOptions(const std::string& binary,
                                                       const std::string& dir, int n,
                                                       const std::string& etcd,
                                                       const std::vector<std::string>& extra = {}) {
  const uint16_t port = common::FreeLoopbackPort();
  common::ServerProcessOptions o;
  o.binary = binary;
  o.data_dir = dir + "/server" + std::to_string(n);
  o.port = port;
  o.log_path = dir + "/server" + std::to_string(n) + ".log";
  o.die_with_parent = true;
  o.extra_args = {"--cluster",     "etcd=" + etcd,
                  "--node-id",     std::to_string(n),
                  "--peer-listen", "127.0.0.1:0",
                  "--advertise",   "127.0.0.1:" + std::to_string(port),
                  "--threads",     "1",
                  "--io-backend",  "posix"};
  o.extra_args.insert(o.extra_args.end(), extra.begin(), extra.end());
  return o;
}

// The STATS counters of the server at `address`; empty when it does not answer (a killed
// server's address may not refuse at once: the connect is given 1 s).
inline std::map<std::string, uint64_t> StatsOf(const std::string& address) {
  ClientOptions o;
  o.server = address;
  o.reconnect_attempts = 0;
  o.connect_timeout_ms = 1'000;
  auto c = Client::Connect(o);
  if (!c.ok()) return {};
  auto s = (*c)->Stats();
  if (!s.ok()) return {};
  return {s->counters.begin(), s->counters.end()};
}

// The CLUSTER_MAP answer of the server at `address`.
inline Result<proto::SlotMap> MapOf(const std::string& address) {
  ClientOptions o;
  o.server = address;
  o.reconnect_attempts = 0;
  TLDB_ASSIGN_OR_RETURN(auto c, Client::Connect(o));
  return c->ClusterMap();
}

// Reads each of `timelines` (namespace `ns`) whole through `client` and checks, as gtest
// failures: no timeline holds a client_msg_id twice, and every acknowledged append of `acks`
// (anything with .timeline, .id and .seq) is there at its SeqId with its client_msg_id.
// `context` (e.g. the servers' log tails) is added to a failed read.
template <typename Ack>
void ExpectEveryAckOnce(ClusterClient& client, std::string_view ns,
                        const std::vector<std::string>& timelines, const std::vector<Ack>& acks,
                        const std::string& context = "") {
  std::map<std::string, std::vector<Message>> read;
  for (const std::string& t : timelines) {
    auto& all = read[t];
    for (Seq from_seq = 1;;) {
      ScanOptions so;
      so.from_seq = from_seq;
      so.limit = 500;
      auto r = client.Scan(ns, t, so);
      ASSERT_TRUE(r.ok()) << t << ": " << r.status().ToString() << "\n" << context;
      if (r->empty()) break;
      all.insert(all.end(), r->begin(), r->end());
      from_seq = r->back().seq + 1;
    }
    std::set<std::string> ids;
    for (const Message& m : all) {
      EXPECT_TRUE(ids.insert(m.client_msg_id).second)
          << t << " holds " << m.client_msg_id << " twice";
    }
  }
  for (const Ack& a : acks) {
    const auto& all = read[a.timeline];
    auto it =
        std::find_if(all.begin(), all.end(), [&](const Message& m) { return m.seq == a.seq; });
    ASSERT_NE(it, all.end()) << a.timeline << " lost seq " << a.seq;
    EXPECT_EQ(it->client_msg_id, a.id) << a.timeline << " seq " << a.seq;
  }
}

}  // namespace tldb::testing
