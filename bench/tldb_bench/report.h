// Report: turns the merged results (harness.h) into the ratio table, the per-target detail
// tables and the goal check, as text for the terminal (and docs/benchmarks.md), and
// adds "ratios" and "goals" to the JSON. Ratios are throughput ratios: tldb / RocksDB (both
// embedded), tldb-server / Redis (both over loopback) and tldb / Redis; > 1 means tldb is faster.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace tldb::peerbench {

// Adds results["ratios"] and results["goals"].
void AddRatiosAndGoals(nlohmann::json* results);
// The terminal report: machine and limits, throughput + ratio table, latency, resources, goals.
std::string FormatReport(const nlohmann::json& results);

}  // namespace tldb::peerbench
