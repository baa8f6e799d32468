// WritePlots: gnuplot data files and a script next to the results, then runs gnuplot (if it is
// installed) to draw throughput.png (grouped bars per workload, one bar per target, log scale)
// and latency-<workload>.png (latency CDF per target as a percentile plot: y = 1/(1-F), log
// scale, so p99 and p99.9 are readable). Returns the PNG paths written, or an empty list with
// a note in *why when gnuplot is missing or failed.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tldb::peerbench {

std::vector<std::string> WritePlots(const nlohmann::json& results, const std::string& out_dir,
                                    std::string* why);

}  // namespace tldb::peerbench
