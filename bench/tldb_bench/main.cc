// tldb-bench: side-by-side storage benchmark of tldb (embedded and over loopback) against
// RocksDB and Redis Streams on IM workloads, with the machine's own limits measured in the
// same run. A thin main over the library (harness.h); see docs/benchmarks.md.
//
//   tldb-bench                         every target built in, every workload (~10 minutes)
//   tldb-bench --quick --targets tldb  a few-second smoke run
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstring>
#include <filesystem>

#include "bench_config.h"
#include "harness.h"

namespace {

std::string DefaultServerBin() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "tldb-server";
  // <build>/bench/tldb_bench/tldb-bench -> <build>/server/tldb-server
  return (exe.parent_path().parent_path().parent_path() / "server" / "tldb-server").string();
}

}  // namespace

int main(int argc, char** argv) {
  using tldb::peerbench::BenchConfig;
  using tldb::peerbench::Dur;
  BenchConfig cfg;
  cfg.targets = {"tldb", "tldb-server"};
#ifdef TLDB_BENCH_HAVE_ROCKSDB
  cfg.targets.push_back("rocksdb");
#endif
#ifdef TLDB_BENCH_HAVE_HIREDIS
  cfg.targets.push_back("redis");
#endif
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) cfg.Quick();  // its sizes become the defaults
  }
  cfg.server_bin = DefaultServerBin();

  CLI::App app{"tldb-bench: tldb vs RocksDB vs Redis Streams on IM workloads"};
  bool quick = false, no_limits = false, no_plots = false, no_progress = false;
  std::vector<std::string> durs = {"sync", "buffered"};
  uint64_t cache_mb = cfg.rocksdb_block_cache_bytes >> 20;
  app.add_flag("--quick", quick, "Small data set, 0.25 s per workload: a smoke run");
  app.add_option("--targets", cfg.targets, "tldb, tldb-server, rocksdb, redis")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--workloads", cfg.workloads,
                 "Subset of: chat chat_pipelined push_fanout_N group_pull longpoll device_sync "
                 "get latest20 history mixed (default: all); ping (only when named)")
      ->delimiter(',');
  app.add_option("--durability", durs, "sync and/or buffered, for the write workloads")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--seconds", cfg.seconds, "Per workload and target")->capture_default_str();
  app.add_option("--ops-max", cfg.ops_max, "Per workload and target (bounds every loop)")
      ->capture_default_str();
  app.add_option("--rate", cfg.rate,
                 "Fixed-rate mode: ops/s per workload over all clients (longpoll: messages/s "
                 "over all writers), latency from the intended start (0: closed loop)")
      ->capture_default_str();
  app.add_option("--poll-us", cfg.poll_us,
                 "longpoll on stores without a wait primitive (tldb, rocksdb): poll interval")
      ->capture_default_str();
  app.add_option("--wait-timeout-ms", cfg.wait_timeout_ms, "longpoll: timeout of one wait")
      ->capture_default_str();
  app.add_option("--server-wait", cfg.server_wait,
                 "tldb-server in longpoll: wait (WAIT returning the messages), wait-scan (WAIT "
                 "then SCAN) or subscribe (SUBSCRIBE pushes)")
      ->check(CLI::IsMember({"wait", "wait-scan", "subscribe"}))
      ->capture_default_str();
  app.add_option("--server-pull", cfg.server_pull,
                 "tldb-server in group_pull: read-multi (one READ_MULTI) or lastseq-scan "
                 "(LAST_SEQ, then a SCAN per timeline with news)")
      ->check(CLI::IsMember({"read-multi", "lastseq-scan"}))
      ->capture_default_str();
  app.add_flag("--tls", cfg.server_tls,
               "tldb-server speaks TLS to its clients (a throwaway CA and server certificate are "
               "made with the openssl command in the target's directory)");
  app.add_option("--clients", cfg.clients, "Threads (connections) with blocking calls")
      ->capture_default_str();
  app.add_option("--pipeline-clients", cfg.pipeline_clients, "Threads in chat_pipelined")
      ->capture_default_str();
  app.add_option("--pipeline-depth", cfg.pipeline_depth, "Requests in flight per pipelined thread")
      ->capture_default_str();
  app.add_option("--seed", cfg.seed, "Data and operation seed")->capture_default_str();
  app.add_option("--conversations", cfg.conversations)->capture_default_str();
  app.add_option("--conv-messages", cfg.conv_messages, "Preloaded per conversation")
      ->capture_default_str();
  app.add_option("--users", cfg.users, "Users = sync timelines")->capture_default_str();
  app.add_option("--sync-messages", cfg.sync_messages, "Preloaded per sync timeline")
      ->capture_default_str();
  app.add_option("--groups", cfg.groups)->capture_default_str();
  app.add_option("--group-messages", cfg.group_messages)->capture_default_str();
  app.add_option("--groups-per-user", cfg.groups_per_user)->capture_default_str();
  app.add_option("--fanout-sizes", cfg.fanout_sizes, "Group sizes of the push workloads")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--zipf", cfg.zipf_s, "Conversation popularity skew (0: uniform)")
      ->capture_default_str();
  app.add_option("--read-fraction", cfg.read_fraction, "Reads in the mixed workload")
      ->capture_default_str();
  app.add_option("--pull-write-fraction", cfg.pull_write_fraction)->capture_default_str();
  app.add_option("--payload-min", cfg.payload_min)->capture_default_str();
  app.add_option("--payload-max", cfg.payload_max)->capture_default_str();
  app.add_option("--large-fraction", cfg.large_fraction, "Share of 2-8 KiB messages")
      ->capture_default_str();
  app.add_option("--rocksdb-cache-mb", cache_mb, "RocksDB block cache")->capture_default_str();
  app.add_option("--out", cfg.out_dir, "Results directory (results.json, report.txt, PNGs)")
      ->capture_default_str();
  app.add_option("--data-dir", cfg.data_dir, "Stores are created (and removed) under it")
      ->capture_default_str();
  app.add_option("--server-bin", cfg.server_bin, "tldb-server binary")->capture_default_str();
  app.add_option("--redis-bin", cfg.redis_bin, "redis-server binary")->capture_default_str();
  int64_t tldb_cache_mb = -1;
  app.add_option(
         "--tldb-cache-mb", tldb_cache_mb,
         "tldb's block cache, embedded and tldb-server (-1: embedded tldb the same as "
         "RocksDB's, tldb-server its default, an eighth of physical memory; 0: each its own "
         "default)")
      ->capture_default_str();
  app.add_option("--tldb-io-backend", cfg.tldb_io_backend, "tldb I/O backend: auto, uring, posix")
      ->capture_default_str();
  app.add_option("--tldb-background-compaction", cfg.tldb_background_compaction,
                 "tldb (embedded and tldb-server) compacts sealed segments in the background "
                 "(false: the preload's compaction still runs, none during the workloads)")
      ->capture_default_str();
  uint64_t compaction_mb_per_s = 0;
  app.add_option("--tldb-compaction-mb-per-s", compaction_mb_per_s,
                 "Embedded tldb: Options::compaction_bytes_per_s in MiB/s (0: its default)")
      ->capture_default_str();
  app.add_option("--tldb-maintenance-nice", cfg.tldb_maintenance_nice,
                 "Embedded tldb: Options::maintenance_nice (0..19; -1: its default)")
      ->check(CLI::Range(-1, 19))
      ->capture_default_str();
  app.add_flag("--no-limits", no_limits, "Skip measuring the machine's limits");
  app.add_flag("--no-plots", no_plots, "Do not run gnuplot");
  app.add_flag("--no-progress", no_progress, "No progress bar");
  CLI11_PARSE(app, argc, argv);
  cfg.tldb_compaction_bytes_per_s = compaction_mb_per_s << 20;

  cfg.durabilities.clear();
  for (const auto& d : durs) {
    if (d == "sync") {
      cfg.durabilities.push_back(Dur::kSync);
    } else if (d == "buffered") {
      cfg.durabilities.push_back(Dur::kBuffered);
    } else {
      std::fprintf(stderr, "--durability: %s is neither sync nor buffered\n", d.c_str());
      return 2;
    }
  }
  cfg.rocksdb_block_cache_bytes = cache_mb << 20;
  // Embedded, equal memory for decompressed blocks: tldb gets the block cache RocksDB gets.
  // tldb-server against Redis (which holds every message in memory): the server's default.
  cfg.tldb_block_cache_bytes = tldb_cache_mb < 0 ? cfg.rocksdb_block_cache_bytes
                                                 : static_cast<uint64_t>(tldb_cache_mb) << 20;
  cfg.server_block_cache_bytes = tldb_cache_mb < 0 ? 0 : static_cast<uint64_t>(tldb_cache_mb) << 20;
  cfg.limits = !no_limits;
  cfg.plots = !no_plots;
  cfg.progress = !no_progress;
  if (cfg.users < cfg.clients || cfg.groups < cfg.groups_per_user || cfg.conversations == 0) {
    std::fprintf(stderr, "need users >= clients, groups >= groups-per-user, conversations > 0\n");
    return 2;
  }
  return tldb::peerbench::RunBench(cfg);
}
