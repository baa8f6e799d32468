// RunTarget: the whole benchmark of one target, meant to run in its own process (forked by
// the harness) so that its memory, CPU and I/O counters are its own: start the store in a
// fresh directory, preload the data set, run every planned workload, measure the store's size
// on disk, stop it, remove the directory. Returns the target's JSON results (see
// docs/benchmarks.md for the fields); "error" is set when something failed.
#pragma once

#include <nlohmann/json.hpp>

#include "bench_config.h"

namespace tldb::peerbench {

class ProgressBar;

nlohmann::json RunTarget(const BenchConfig& cfg, const std::string& name, ProgressBar* progress);

}  // namespace tldb::peerbench
