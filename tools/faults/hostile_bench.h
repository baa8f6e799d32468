// RunHostileBench: a well-behaved client's latency while each hostile case runs (the "p99
// within 2x of idle" figure of docs/reliability.md).
//
// Contract: starts tldb-server (HostileServerArgs) on `data_dir`, prepares the target, then
// measures one probe client that alternates a sync APPEND and a latest-20 read for probe_ms
// with each hostile case running (after a warm-up of warmup_ms), then with all of them at once.
// Each loaded measurement is paired with an idle one taken just before it (the machine is
// shared, so its background load drifts), `repeats` times; a row reports the medians over the
// repeats of the loaded p50/p99, of the paired idle p99 and of the loaded/idle p99 ratio. The
// server's RSS is sampled every 50 ms (the row keeps the peak); /proc's schedstat tells how much
// of the slowest probes' time the probe thread waited for a CPU, and how busy the server was. See
// the options for the probe's durability, CPU pinning and the attackers' scheduling class.
// With compare_server_binary, a second server (that binary, its own data directory) runs beside
// the first, and each row is measured on both, alternating (compared, server, compared,
// server, ... one idle/loaded pair each), so drifts of the machine's load fall on both alike;
// each row then comes twice, the compared server's first.
// A row also keeps the spread (lowest and highest) of its pairs' loaded/idle ratios.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hostile_cases.h"
#include "tldb/status.h"
#include "tldb/types.h"

namespace tldb::faults {

struct HostileBenchOptions {
  std::string server_binary;
  std::string data_dir;
  std::string io_backend = "auto";
  uint32_t probe_ms = 3'000;
  uint32_t warmup_ms = 500;
  uint32_t repeats = 3;
  HostileCaseOptions cases{.idle_connections = 5'000, .slowloris_connections = 200};
  // The probe's append durability: kSync measures the disk's fdatasync jitter as well, kBuffered
  // only the server's own work.
  Durability probe_durability = Durability::kSync;
  // Server on CPU 0, this process (attackers and probe) on CPU 1: the attackers then take no
  // CPU from the server except the work it does for them, as if they ran on another host.
  bool pin_cpus = false;
  // Attacker threads at SCHED_IDLE: they run only on CPU time that the probe (and the server,
  // when they share a CPU with it) leave unused, so the probe never waits for its own CPU behind
  // them: closer to attackers on another host. With pin_cpus, the server keeps CPU 0 to itself
  // and serves all the load the attackers manage to send; without it, they also yield to the
  // server, which then sees less hostile load (the rounds column tells how much). On a machine
  // that other work keeps busy they get little CPU either way: a lighter attack, not the same one
  // from another host.
  bool attackers_idle = false;
  // The server's --threads (event loops); 0: its default, one per core. With pin_cpus the server
  // has one CPU, and 1 keeps its two default loops from taking turns on it.
  uint32_t server_threads = 0;
  // Only the row with this name ("all at once", or a case's name); empty: every row.
  std::string only;
  std::string server_log;
  // A second tldb-server binary measured alternately with server_binary (see above); empty:
  // none. It gets the same flags (HostileServerArgs), so it must know them.
  std::string compare_server_binary;
};

struct HostileBenchRow {
  std::string name;
  std::string server;  // the binary measured (its path)
  uint64_t probes = 0;
  double append_p50_us = 0, append_p99_us = 0, read_p50_us = 0, read_p99_us = 0;
  double idle_append_p99_us = 0, idle_read_p99_us = 0;  // the paired idle measurements
  double append_p99_ratio = 0, read_p99_ratio = 0;      // loaded / paired idle
  // The lowest and highest of the pairs' ratios (the median is above).
  double append_ratio_min = 0, append_ratio_max = 0, read_ratio_min = 0, read_ratio_max = 0;
  uint64_t rss_peak_kib = 0;
  // Where the slowest requests' time went: of the requests at or above p99, the share of their
  // latency that the probe thread itself spent runnable but waiting for a CPU (client side).
  double append_tail_cpu_wait_share = 0, read_tail_cpu_wait_share = 0;
  // The server's threads over the window, per second of it: CPU time used, and time spent
  // runnable waiting for a CPU (all threads summed).
  double server_cpu_ms_per_s = 0, server_cpu_wait_ms_per_s = 0;
  uint64_t rounds = 0, as_expected = 0;  // of the hostile load(s)
  uint64_t refused = 0;                  // of them, refused at once (per-address budgets)
  bool server_alive = true;
  std::vector<std::string> deviations;  // the hostile rounds that did not go as expected
};

Result<std::vector<HostileBenchRow>> RunHostileBench(const HostileBenchOptions& options);

}  // namespace tldb::faults
