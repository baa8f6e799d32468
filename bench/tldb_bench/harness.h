// RunBench: the whole tldb-bench run. Measures the machine's limits; starts each target in its
// own forked process (so memory, CPU and I/O counters belong to one store) and preloads the
// same data, one target after the other; then runs each workload on every target in turn
// (round-robin, the first target rotating), so a workload's figures are taken seconds apart.
// Merges everything into <out_dir>/results.json, adds ratios and goals, prints the report,
// writes report.txt and the plots. Returns 0 when every target completed every workload
// without error, 1 otherwise.
#pragma once

#include "bench_config.h"

namespace tldb::peerbench {

int RunBench(const BenchConfig& cfg);

}  // namespace tldb::peerbench
