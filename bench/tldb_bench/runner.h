// RunWorkload: drives one Workload against one Target with N client threads (one Session
// each) for cfg.seconds (or cfg.ops_max operations), and measures it.
//
// The longpoll workload has its own driver (longpoll.h); RunWorkload hands it over.
// Closed loop by default: each thread issues its next request when the previous one returned.
// With cfg.rate > 0 (fixed-rate mode) each thread follows a schedule of intended start times
// (rate / threads per second) and latency is measured from the intended start, not the actual
// one, so a stall is charged to every request it delayed (no coordinated omission).
// Resource figures are the difference of Target::Sample() before and after.
#pragma once

#include <cstdint>
#include <string>

#include "bench_config.h"
#include "common/latency_histogram.h"
#include "dataset.h"
#include "target.h"
#include "workload.h"

namespace tldb::peerbench {

using common::LatencyHistogram;

class ProgressBar;

struct WorkloadRun {
  uint64_t ops = 0, messages = 0, payload_bytes = 0, deliveries = 0, read_messages = 0;
  uint64_t early = 0;  // longpoll: messages received before the writer's acknowledgement
  double seconds = 0;
  LatencyHistogram latency;  // per operation (a pipelined batch counts each of its requests)
  LatencyHistogram send_to_receipt;  // longpoll: from the append's actual start to the receipt
  LatencyHistogram start_lag;        // fixed rate: actual start minus intended start, per request
  ResourceSample before, after;
  std::string error;  // first error, "" if none
};

// Target::Sample() plus the device counter of the disk holding cfg.data_dir.
ResourceSample SampleAll(Target& target, const BenchConfig& cfg);

WorkloadRun RunWorkload(Target& target, const Dataset& ds, const Workload& w,
                        const BenchConfig& cfg, ProgressBar* progress);

}  // namespace tldb::peerbench
