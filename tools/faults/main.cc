// tldb-faults: server-level fault suites against a real tldb-server process (docs/reliability.md).
//
//   tldb-faults kill --io-backend uring --kills 20 --duration-s 60      kill -9 under load
//   tldb-faults disk-full --dir /mnt/small                               ENOSPC (dir: small fs)
//   tldb-faults hostile-bench                                            p99 under hostile clients
//   tldb-faults soak --duration-s 1800                                   long mixed run, leaks
//   tldb-faults cluster-soak ...        faults against a replicated partition
//   (tools/cluster_soak.sh)
//   tldb-faults shard-soak ...          moves, splits, kills against a sharded cluster
//   (tools/shard_soak.sh)
//
// A thin main: the suites are library calls (tools/faults/*.h) that tests/hostile_test.cc drives.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>

#include "cluster_soak.h"
#include "disk_full_run.h"
#include "hostile_bench.h"
#include "kill_run.h"
#include "shard_soak.h"
#include "soak_run.h"

namespace {

std::string TempDataDir(const std::string& given) {
  if (!given.empty()) return given;
  char tmpl[] = "/tmp/tldb_faults_XXXXXX";
  return mkdtemp(tmpl);
}

int Fail(const tldb::Status& s) {
  std::fprintf(stderr, "tldb-faults: %s\n", s.ToString().c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tldb-faults: server-level fault suites (docs/reliability.md)"};
  app.require_subcommand(1);
  std::string server_bin = TLDB_SERVER_PATH, data_dir, backend = "auto", log;
  app.add_option("--server-bin", server_bin, "tldb-server binary")->capture_default_str();
  app.add_option("--io-backend", backend, "auto, uring or posix")->capture_default_str();
  app.add_option("--server-log", log, "Append the server's stderr here");

  tldb::faults::KillRunOptions ko;
  uint64_t duration_s = 0;
  auto* kill = app.add_subcommand("kill", "SIGKILL the server under load, check the ledger");
  kill->add_option("--data-dir", data_dir, "Data directory (default: a new /tmp dir, removed)");
  kill->add_option("--kills", ko.kills, "Kills under load")->capture_default_str();
  kill->add_option("--duration-s", duration_s, "Stop killing after this long (0: no bound)");
  kill->add_option("--writers", ko.writers, "Client threads")->capture_default_str();
  kill->add_option("--timelines", ko.timelines, "Timelines written")->capture_default_str();
  kill->add_option("--kill-after-min-ms", ko.kill_after_min_ms)->capture_default_str();
  kill->add_option("--kill-after-max-ms", ko.kill_after_max_ms)->capture_default_str();
  kill->add_option("--shutdown-kill-max-us", ko.shutdown_kill_max_us,
                   "SIGTERM first, SIGKILL within this many µs (in the graceful shutdown; 0: off)")
      ->capture_default_str();
  kill->add_option("--seed", ko.seed)->capture_default_str();

  tldb::faults::DiskFullOptions dfo;
  auto* disk = app.add_subcommand("disk-full", "Fill a small filesystem under the server");
  disk->add_option("--dir", dfo.dir, "A directory on a small filesystem of its own")->required();
  disk->add_option("--leave-bytes", dfo.leave_bytes, "Free bytes left by the filler")
      ->capture_default_str();

  tldb::faults::HostileBenchOptions hbo;
  auto* hostile = app.add_subcommand("hostile-bench", "Probe latency under hostile clients");
  hostile->add_option("--data-dir", data_dir, "Data directory (default: a new /tmp dir)");
  hostile->add_option("--probe-ms", hbo.probe_ms)->capture_default_str();
  hostile->add_option("--repeats", hbo.repeats, "Idle/loaded pairs per case (medians)")
      ->capture_default_str();
  hostile->add_option("--idle-connections", hbo.cases.idle_connections)->capture_default_str();
  hostile
      ->add_option("--round-pause-us", hbo.cases.round_pause_us,
                   "Pause of each hostile load between rounds (0: flat out)")
      ->capture_default_str();

  tldb::faults::SoakOptions sko;
  uint64_t restart_every_s = 300, soak_duration_s = 1800;
  auto* soak = app.add_subcommand("soak", "Mixed load with compaction and TTL; leaks, invariants");
  soak->add_option("--data-dir", data_dir, "Data directory (default: a new /tmp dir, removed)");
  soak->add_option("--duration-s", soak_duration_s, "How long the load runs")
      ->capture_default_str();
  soak->add_option("--writers", sko.writers)->capture_default_str();
  soak->add_option("--readers", sko.readers)->capture_default_str();
  soak->add_option("--ttl-ms", sko.ttl_ms, "TTL of the sync namespace")->capture_default_str();
  soak->add_option("--restart-every-s", restart_every_s, "Graceful restarts (0: none)")
      ->capture_default_str();
  soak->add_option("--sample-ms", sko.sample_ms)->capture_default_str();
  soak->add_option("--seed", sko.seed)->capture_default_str();
  bool probe_buffered = false;
  hostile->add_flag("--probe-buffered", probe_buffered,
                    "Probe with buffered appends (leaves the disk's fdatasync jitter out)");
  hostile->add_flag("--pin-cpus", hbo.pin_cpus,
                    "Server on CPU 0, attackers and probe on CPU 1 (as if on another host)");
  hostile->add_flag(
      "--attackers-idle", hbo.attackers_idle,
      "Attacker threads at SCHED_IDLE: the probe never waits for its CPU behind them");
  hostile->add_option("--server-threads", hbo.server_threads, "The server's --threads (0: default)")
      ->capture_default_str();
  hostile->add_option("--only", hbo.only, "Only this row (e.g. \"all at once\"); default: all");
  hostile->add_option("--compare-server-bin", hbo.compare_server_binary,
                      "Another tldb-server measured alternately with --server-bin, pair by pair "
                      "(before/after a change)");

  tldb::faults::ClusterSoakOptions cso;
  uint64_t cluster_duration_s = 1800;
  auto* csoak = app.add_subcommand(
      "cluster-soak",
      "Faults against a replicated partition in network namespaces (run by tools/cluster_soak.sh)");
  csoak->add_option("--data-dir", data_dir, "etcd and node data, logs (default: a new /tmp dir)");
  csoak->add_option("--duration-s", cluster_duration_s, "How long faults are injected")
      ->capture_default_str();
  csoak->add_option("--node-netns", cso.node_netns, "Each node's network namespace")
      ->delimiter(',')
      ->required();
  csoak->add_option("--node-hosts", cso.node_hosts, "Each node's address in it")
      ->delimiter(',')
      ->required();
  csoak->add_option("--etcd-host", cso.etcd_host, "etcd's address (this namespace)")->required();
  csoak->add_option("--etcd-members", cso.etcd_members)->capture_default_str();
  csoak->add_option("--etcd", cso.etcd_binary)->capture_default_str();
  csoak->add_option("--etcdctl", cso.etcdctl_binary)->capture_default_str();
  csoak->add_option("--nft-table", cso.nft_table, "Table with forward/input/output chains")
      ->capture_default_str();
  csoak->add_option("--faults", cso.faults, "Fault kinds drawn from")
      ->delimiter(',')
      ->capture_default_str();
  csoak->add_option("--writers", cso.writers)->capture_default_str();
  csoak->add_option("--seed", cso.seed)->capture_default_str();

  tldb::faults::ShardSoakOptions sso;
  uint64_t shard_duration_s = 1800;
  sso.cli_binary = TLDB_CLI_PATH;
  auto* ssoak = app.add_subcommand(
      "shard-soak",
      "Moves, splits and kills against a sharded cluster on loopback (run by tools/shard_soak.sh)");
  ssoak->add_option("--data-dir", data_dir, "etcd and server data, logs (default: a new /tmp dir)");
  ssoak->add_option("--duration-s", shard_duration_s, "How long faults are injected")
      ->capture_default_str();
  ssoak->add_option("--cli-bin", sso.cli_binary, "The tldb command")->capture_default_str();
  ssoak->add_option("--etcd", sso.etcd_binary)->capture_default_str();
  ssoak->add_option("--servers", sso.servers)->capture_default_str();
  ssoak->add_option("--partitions", sso.partitions, "Partitions at the start")
      ->capture_default_str();
  ssoak->add_option("--partitions-max", sso.partitions_max, "No split beyond this many")
      ->capture_default_str();
  ssoak->add_option("--acks-between", sso.acks_between, "Acknowledgements that show a heal")
      ->capture_default_str();
  ssoak->add_option("--writers", sso.writers)->capture_default_str();
  ssoak->add_option("--seed", sso.seed)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (probe_buffered) hbo.probe_durability = tldb::Durability::kBuffered;

  const bool own_dir = data_dir.empty();
  data_dir = TempDataDir(data_dir);
  int rc = 0;
  if (kill->parsed()) {
    ko.server_binary = server_bin;
    ko.data_dir = data_dir;
    ko.io_backend = backend;
    ko.duration_ms = duration_s * 1'000;
    ko.server_log = log;
    ko.progress = [](const std::string& line) { std::printf("%s\n", line.c_str()); };
    auto r = tldb::faults::RunKillSuite(ko);
    if (!r.ok()) return Fail(r.status());
    std::printf("%s\n", r->ToString().c_str());
    for (const auto& v : r->violations) std::printf("VIOLATION: %s\n", v.c_str());
    rc = r->violations.empty() ? 0 : 1;
  } else if (disk->parsed()) {
    dfo.server_binary = server_bin;
    dfo.io_backend = backend;
    dfo.server_log = log;
    auto r = tldb::faults::RunDiskFullSuite(dfo);
    if (!r.ok()) return Fail(r.status());
    std::printf("%s\n", r->ToString().c_str());
    for (const auto& v : r->violations) std::printf("VIOLATION: %s\n", v.c_str());
    // Issue 7: NoSpace, reads while full, nothing lost, and appends resume once space is freed
    // without a restart.
    rc = r->violations.empty() && r->error_is_no_space && r->reads_ok_while_full &&
                 r->resumed_without_restart && r->server_alive_throughout
             ? 0
             : 1;
  } else if (hostile->parsed()) {
    hbo.server_binary = server_bin;
    hbo.data_dir = data_dir;
    hbo.io_backend = backend;
    hbo.server_log = log;
    auto rows = tldb::faults::RunHostileBench(hbo);
    if (!rows.ok()) return Fail(rows.status());
    const bool compared = !hbo.compare_server_binary.empty();
    auto label = [&](const tldb::faults::HostileBenchRow& r) {
      if (!compared) return r.name;
      return r.name + (r.server == hbo.compare_server_binary ? " (compared)" : " (server)");
    };
    std::printf(
        "| case | probes | append p50 / p99 µs | read p50 / p99 µs | paired idle p99 µs "
        "(append / read) | p99 vs idle, median (lowest–highest of the pairs): append / read | "
        "server RSS peak MiB | hostile rounds as expected (refused by the per-address or "
        "per-client budgets) "
        "|\n|---|---|---|---|---|---|---|---|\n");
    for (const auto& r : *rows) {
      std::printf(
          "| %s | %llu | %.0f / %.0f | %.0f / %.0f | %.0f / %.0f | %.2f× (%.2f–%.2f) / %.2f× "
          "(%.2f–%.2f) | %.1f | %llu of %llu (%llu)%s |\n",
          label(r).c_str(), static_cast<unsigned long long>(r.probes), r.append_p50_us,
          r.append_p99_us, r.read_p50_us, r.read_p99_us, r.idle_append_p99_us, r.idle_read_p99_us,
          r.append_p99_ratio, r.append_ratio_min, r.append_ratio_max, r.read_p99_ratio,
          r.read_ratio_min, r.read_ratio_max, static_cast<double>(r.rss_peak_kib) / 1024.0,
          static_cast<unsigned long long>(r.as_expected), static_cast<unsigned long long>(r.rounds),
          static_cast<unsigned long long>(r.refused), r.server_alive ? "" : " SERVER DIED");
    }
    std::printf(
        "\nWhere the time went (loaded windows, medians): | case | slowest 1%% of appends / reads: "
        "share the probe thread waited for a CPU | server CPU ms/s | server threads' wait for a "
        "CPU ms/s |\n|---|---|---|---|\n");
    for (const auto& r : *rows) {
      std::printf("| %s | %.0f%% / %.0f%% | %.0f | %.0f |\n", label(r).c_str(),
                  100 * r.append_tail_cpu_wait_share, 100 * r.read_tail_cpu_wait_share,
                  r.server_cpu_ms_per_s, r.server_cpu_wait_ms_per_s);
    }
    if (compared) {
      std::printf("\n(compared) = %s, (server) = %s\n", hbo.compare_server_binary.c_str(),
                  server_bin.c_str());
    }
    for (const auto& r : *rows) {
      for (const auto& d : r.deviations) std::printf("%s: %s\n", label(r).c_str(), d.c_str());
    }
  } else if (soak->parsed()) {
    sko.server_binary = server_bin;
    sko.data_dir = data_dir;
    sko.io_backend = backend;
    sko.server_log = log;
    sko.duration_ms = soak_duration_s * 1'000;
    sko.restart_every_ms = restart_every_s * 1'000;
    sko.progress = [](const std::string& line) {
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
    };
    auto r = tldb::faults::RunSoak(sko);
    if (!r.ok()) return Fail(r.status());
    std::printf("%s\n", r->ToString().c_str());
    for (const auto& v : r->violations) std::printf("VIOLATION: %s\n", v.c_str());
    rc = r->violation_count == 0 ? 0 : 1;
  } else if (ssoak->parsed()) {
    sso.server_binary = server_bin;
    sso.data_dir = data_dir;
    sso.duration_ms = shard_duration_s * 1'000;
    sso.progress = [](const std::string& line) {
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
    };
    auto r = tldb::faults::RunShardSoak(sso);
    if (!r.ok()) return Fail(r.status());
    std::printf("%s\n", r->ToString().c_str());
    for (const auto& n : r->notes) std::printf("NOT HEALED: %s\n", n.c_str());
    for (const auto& v : r->violations) std::printf("VIOLATION: %s\n", v.c_str());
    rc = r->violations.empty() ? 0 : 1;
    std::printf("data and logs: %s\n", data_dir.c_str());
    return rc;  // the logs are kept
  } else if (csoak->parsed()) {
    cso.server_binary = server_bin;
    cso.data_dir = data_dir;
    cso.duration_ms = cluster_duration_s * 1'000;
    cso.progress = [](const std::string& line) {
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
    };
    auto r = tldb::faults::RunClusterSoak(cso);
    if (!r.ok()) return Fail(r.status());
    std::printf("%s\n", r->ToString().c_str());
    for (const auto& n : r->notes) std::printf("NOTE: %s\n", n.c_str());
    for (const auto& v : r->check.violations) std::printf("VIOLATION: %s\n", v.c_str());
    rc = r->check.violations.empty() ? 0 : 1;
    std::printf("data and logs: %s\n", data_dir.c_str());
    return rc;  // the logs are kept
  }
  if (own_dir) std::filesystem::remove_all(data_dir);
  return rc;
}
