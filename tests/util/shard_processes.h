// What the sharded process tests share (shard_process_test, shard_move_test, shard_split_test,
// intent_process_test, controller_process_test): how one tldb-server of a sharded cluster is
// started, and the two questions they ask a server (STATS, CLUSTER_MAP).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/server_process.h"
#include "protocol/slot_map.h"
#include "tldb/client.h"

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

}  // namespace tldb::testing
