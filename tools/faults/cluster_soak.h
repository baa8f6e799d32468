// RunClusterSoak: the long fault soak of a replicated partition (tools/cluster_soak.sh,
// docs/replication.md "Testing"): etcd members and tldb-servers in cluster mode, each server in
// its own network namespace joined to this process's namespace (the hub, which routes between
// them and holds etcd) by a veth pair, so nft rules in the hub cut any path; the
// ClusterWorkload runs throughout and the shared checker (Ledger) judges the end state.
//
// Contract:
// - The namespaces, addresses, routes and the nft table `nft_table` with base chains `forward`,
//   `input` and `output` exist before the call (tools/cluster_soak.sh makes them); this process
//   runs in the hub. Starts `etcd_members` etcd members on etcd_host (client ports 23790.., peer
//   ports 23890..) and one tldb-server per node (`ip netns exec NS tldb-server ... --listen
//   HOST:7070 --peer-listen HOST:7170`), then the workload.
// - Until duration_ms has passed, after a pause of 2..6 s of plain load it injects one fault
//   of a kind drawn from `faults`: `kill` (kill -9 of the primary, restarted after appends
//   resumed), `stop` (SIGSTOP of the primary until another replica serves, then SIGCONT),
//   `cut-followers` (the primary cut from every follower both ways, not from etcd),
//   `cut-etcd` (the primary cut from etcd, not from its followers, until another replica
//   serves: the primary acknowledges until then), `one-way` (packets from the
//   primary to its followers dropped, or the reverse), `etcd-leader` (kill -9 of the etcd
//   leader, restarted after a few seconds), `wipe` (kill -9 of a follower, its data directory
//   deleted; restarted once appends resumed), `etcd-stall` (every etcd member SIGSTOPped for
//   5 s: the primary should go on acknowledging). Each fault's time until `resume_acks` more
//   messages are acknowledged is measured from the injection; for the kinds that depose the
//   primary, it is the failover time. Then it heals (restart, SIGCONT, nft chains flushed) and
//   waits until every replica is joined and caught up (settle_ms_max); a partition that does not
//   settle is a note, with the replica's last log lines (e.g. a wiped replica that needs a
//   snapshot).
// - At the end it heals everything, lets the workload run on, stops it and runs
//   ClusterWorkload::Check. Violations are data; an error Status means the soak could not run.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cluster_workload.h"
#include "tldb/status.h"

namespace tldb::faults {

struct ClusterSoakOptions {
  std::string server_binary;
  std::string etcd_binary = "etcd";
  std::string etcdctl_binary = "etcdctl";
  std::string data_dir;                 // etcd and node data directories, logs
  std::vector<std::string> node_netns;  // one network namespace per tldb node
  std::vector<std::string> node_hosts;  // each node's address in it
  std::string etcd_host;                // etcd listens here, in this process's namespace
  uint32_t etcd_members = 3;
  std::string nft_table = "inet tldbsoak";
  std::vector<std::string> faults = {"kill",    "stop",        "cut-followers", "cut-etcd",
                                     "one-way", "etcd-leader", "wipe",          "etcd-stall"};
  uint64_t duration_ms = 30 * 60'000;
  uint32_t resume_acks = 20;         // "appends resumed": this many more acknowledgements
  uint64_t resume_ms_max = 120'000;  // a fault after which appends do not resume is a note
  uint64_t settle_ms_max = 120'000;  // time allowed to heal before the next fault
  uint32_t writers = 2;
  uint64_t seed = 1;
  std::function<void(const std::string&)> progress;  // one line per fault; may be null
};

struct ClusterSoakReport {
  double seconds = 0;
  std::map<std::string, uint32_t> faults;  // kind -> injected
  std::vector<double> failover_ms;         // faults that deposed the primary
  std::vector<double> resume_ms;           // every fault
  ClusterCheckReport check;
  std::vector<std::string> notes;  // faults the partition did not heal from, and why
  std::string ToString() const;
};

Result<ClusterSoakReport> RunClusterSoak(const ClusterSoakOptions& options);

}  // namespace tldb::faults
