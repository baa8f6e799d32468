// BenchConfig: every knob of one tldb-bench run (sizes, mix, durations, targets), filled by the
// command line (main.cc) and read by everything else. Plain data; Quick() shrinks it for the
// smoke test.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tldb::peerbench {

// Durability of writes, mapped onto each target: tldb kSync / kBuffered, RocksDB WAL
// sync=true / false, Redis appendfsync always / everysec.
enum class Dur { kSync, kBuffered };
inline const char* DurName(Dur d) {
  return d == Dur::kSync ? "sync" : "buffered";
}

struct BenchConfig {
  std::vector<std::string> targets = {"tldb", "tldb-server", "rocksdb", "redis"};
  std::vector<std::string> workloads;  // empty: all (see workload.h for the names)
  std::vector<Dur> durabilities = {Dur::kSync, Dur::kBuffered};
  std::string out_dir = "bench-results";
  std::string data_dir = "/tmp";  // stores are created (and removed) under it
  std::string server_bin;         // tldb-server; default: next to tldb-bench's build
  std::string redis_bin = "redis-server";
  std::string tldb_io_backend = "auto";  // Options::io_backend / tldb-server --io-backend
  // Options::background_compaction / tldb-server --background-compaction (embedded and server)
  bool tldb_background_compaction = true;
  // Embedded tldb: Options::compaction_bytes_per_s (0: its default) and maintenance_nice (-1: its
  // default).
  uint64_t tldb_compaction_bytes_per_s = 0;
  int tldb_maintenance_nice = -1;
  uint64_t tldb_block_cache_bytes =
      0;  // embedded tldb: Options::block_cache_bytes (0: its default, 64 MiB)
  uint64_t server_block_cache_bytes =
      0;  // tldb-server --block-cache-mb (0: its default, an eighth of physical memory)
  double seconds = 5;              // per workload and target
  uint64_t ops_max = 50'000'000;   // per workload and target: bounds every loop
  double rate = 0;                 // ops/s over all clients; 0 = closed loop
  uint32_t clients = 16;           // threads (connections) issuing blocking calls
  uint32_t pipeline_clients = 4;   // threads (connections) in the pipelined workloads
  uint32_t pipeline_depth = 16;    // requests in flight per pipelined thread
  uint32_t poll_us = 1000;         // longpoll on stores without a wait primitive: poll interval
  uint32_t wait_timeout_ms = 100;  // longpoll: timeout of one wait (then the waiter waits again)
  // tldb-server longpoll: "wait" (WAIT with messages: one round trip), "wait-scan" (WAIT, then
  // SCAN: two) or "subscribe".
  std::string server_wait = "wait";
  // tldb-server group_pull: "read-multi" (one READ_MULTI) or "lastseq-scan" (LAST_SEQ, then a
  // SCAN per timeline with news).
  std::string server_pull = "read-multi";
  bool server_tls = false;  // tldb-server: TLS listener and TLS clients (--tls)
  // Data set (identical for every target; generated from `seed`).
  uint64_t seed = 42;
  uint32_t conversations = 10'000;  // 1:1 conversation timelines
  uint32_t conv_messages = 40;      // preloaded per conversation
  uint32_t users = 10'000;          // one sync timeline (device inbox) each
  uint32_t sync_messages = 20;      // preloaded per sync timeline
  uint32_t groups = 2'000;          // group conversation timelines (pull mode)
  uint32_t group_messages = 20;     // preloaded per group
  uint32_t groups_per_user = 8;     // a device pulls from this many groups
  std::vector<uint32_t> fanout_sizes = {10, 200, 2000};
  double zipf_s = 0.99;              // popularity skew of conversations
  double read_fraction = 0.7;        // mixed workload
  double pull_write_fraction = 0.2;  // group pull workload
  uint32_t payload_min = 50, payload_max = 500;
  double large_fraction = 0.01;  // share of "large" messages (2-8 KiB)
  uint64_t rocksdb_block_cache_bytes = 256ull << 20;
  bool limits = true;  // measure the machine's limits first
  bool plots = true;
  bool quick = false;
  bool progress = true;

  void Quick() {
    quick = true;
    seconds = 0.25;
    conversations = 300;
    conv_messages = 5;
    users = 400;
    sync_messages = 5;
    groups = 50;
    group_messages = 5;
    fanout_sizes = {10, 200};
    clients = 4;
    pipeline_clients = 2;
  }
};

}  // namespace tldb::peerbench
