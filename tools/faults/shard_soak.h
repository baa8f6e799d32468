// RunShardSoak: the long fault soak of a sharded cluster (tools/shard_soak.sh, docs/cluster.md
// "Testing"): one etcd and `servers` tldb-servers (server ids 0..servers-1) on 127.0.0.1 ports
// of this process's network namespace (the script gives it a private one), a slot map of
// `partitions` partitions of three replicas (`tldb cluster init`), and the ledger workload
// (ClusterWorkload with record_served: appends, recalls, fan-outs over the partitions, a reader
// and a subscriber) running throughout.
//
// Contract:
// - Until duration_ms has passed, it injects one fault after another, each drawn by `seed`
//   among those possible at the time:
//     `move`: a random replica of a random partition moves to a random server not holding that
//       partition (`tldb cluster move P --from S --to T`: its spare catches up beside S's
//       replica, then takes S's position);
//     `move-interrupted`: the same, but the command first returns once the spare is in the map
//       (`--wait-s 0 --timeout-s 0`), T's server gets SIGKILL while the spare catches up and is
//       started again, and the same command run again finishes the move;
//     `split`: a random partition with at least 2 slots splits at its default slot, while there
//       are fewer than partitions_max partitions (`tldb cluster split P`);
//     `kill-primary`: the server of a random partition's primary gets SIGKILL, and is started
//       again once `acks_between` more messages were acknowledged without it;
//     `kill-controller`: the server `tldb cluster controller --json` names gets SIGKILL; another
//       server must hold the controller within wait_ms; then it is started again.
//   The servers run with --controller-replace-after-ms 0: the controller never moves a dead
//   server's replicas away, so the map changes only by the soak's own moves and splits (and the
//   controller's primary balancing), and a killed server always returns to its replicas.
// - Before each fault and after it (after the restart of a killed server) it waits until the
//   servers' map is at etcd's version (so the next fault is drawn from the newest map), every
//   partition names a live primary and `acks_between` more messages are acknowledged, each
//   within wait_ms. A fault the cluster does not heal from (a failed `tldb cluster` command, no
//   primary, no acknowledgements, no new controller) is a note with the servers' log tails;
//   after a note no further fault is injected.
// - At the end it stops the workload and runs ClusterWorkload::Check (ledger, fan-outs exactly
//   once) and ServedLog::Check against every version of the map read from etcd; both kinds of
//   violation go to `violations`. An error Status means the soak could not run.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cluster_workload.h"
#include "tldb/status.h"

namespace tldb::faults {

struct ShardSoakOptions {
  std::string server_binary;
  std::string cli_binary;  // the tldb command (cluster init, move, split, controller)
  std::string etcd_binary = "etcd";
  std::string data_dir;  // etcd and server data directories, logs (server<N>.log)
  uint32_t servers = 5;
  uint32_t partitions = 4;      // at the start
  uint32_t partitions_max = 8;  // no split beyond this many: keeps 2 cores from drowning
  uint64_t duration_ms = 30 * 60'000;
  uint64_t acks_between = 200;  // acknowledgements that show the cluster healed
  uint64_t wait_ms = 180'000;   // bound on each wait: a failover on a loaded machine fits well
  uint32_t writers = 2;
  uint64_t seed = 1;
  std::function<void(const std::string&)> progress;  // one line per fault; may be null
};

struct ShardSoakReport {
  double seconds = 0;
  std::map<std::string, uint32_t> faults;  // kind -> injected
  uint64_t partitions = 0;                 // at the end
  uint64_t map_versions = 0;               // in etcd's history at the end
  uint64_t answers_checked = 0;            // ServedLog records
  ClusterCheckReport check;
  std::vector<std::string> violations;  // the workload's and the answers' check's
  std::vector<std::string> notes;       // faults the cluster did not heal from, and why
  std::string ToString() const;
};

Result<ShardSoakReport> RunShardSoak(const ShardSoakOptions& options);

}  // namespace tldb::faults
