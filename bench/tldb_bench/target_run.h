// TargetRun: one target's side of the benchmark, meant to live in its own process (forked by
// the harness) so that its memory, CPU and I/O counters are its own.
// Setup() creates a fresh directory, starts the store and preloads the data set; Run() runs one
// workload on it (any number of times, in any order); Finish() measures the store's final size,
// stops it and removes the directory (the destructor does the same if Finish was not called).
// Every call returns JSON (see docs/benchmarks.md for the fields); "error" is set when
// something failed.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "bench_config.h"
#include "dataset.h"
#include "target.h"
#include "workload.h"

namespace tldb::peerbench {

class ProgressBar;

class TargetRun {
 public:
  TargetRun(const BenchConfig& cfg, std::string name, ProgressBar* progress);
  ~TargetRun();
  TargetRun(const TargetRun&) = delete;
  TargetRun& operator=(const TargetRun&) = delete;

  nlohmann::json Setup();
  nlohmann::json Run(const Workload& w);
  nlohmann::json Finish();

 private:
  uint64_t Rss();  // resident memory of the store (this process: growth since before Start)

  const BenchConfig& cfg_;
  const std::string name_;
  ProgressBar* progress_;
  const Dataset ds_;
  std::unique_ptr<Target> target_;
  std::string dir_;
  uint64_t rss_baseline_ = 0, stored_ = 0;
  bool ready_ = false;
};

}  // namespace tldb::peerbench
