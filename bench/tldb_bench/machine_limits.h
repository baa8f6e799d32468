// MeasureMachineLimits: the physical limits the targets are held against, measured by the same
// command on the same machine: sequential write bandwidth with an fdatasync after every write
// at the batch sizes tldb's group commit produces (4 KiB .. 1 MiB, overwriting blocks already
// written, as tldb's pre-zeroed segments do), hence the fdatasync rate; and the request rate of
// a trivial loopback echo server (one epoll thread; 64-byte requests from 1 connection and from
// `clients` connections, one blocking thread each, as the harness's clients are).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "bench_config.h"

namespace tldb::peerbench {

struct SyncWriteLimit {
  uint32_t batch_bytes = 0;
  double syncs_per_s = 0;
  double mb_per_s = 0;
  double p50_us = 0;
};

struct MachineLimits {
  std::vector<SyncWriteLimit> sync_writes;
  double echo_1conn_per_s = 0;
  double echo_nconn_per_s = 0;
  uint32_t echo_connections = 0;
};

MachineLimits MeasureMachineLimits(const BenchConfig& cfg);
nlohmann::json ToJson(const MachineLimits& l);
MachineLimits LimitsFromJson(const nlohmann::json& j);

}  // namespace tldb::peerbench
