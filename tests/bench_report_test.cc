// tldb-bench's report (bench/tldb_bench/report.cc): the push fan-out goal is judged on byte
// counts that were measured, and only on those: a count that is missing or 0 leaves the goal
// "n/a" (never MET), while a measured count is MET or MISSed by its value.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "report.h"

namespace tldb::peerbench {
namespace {

using nlohmann::json;

// One row as target_run.cc writes it: 200 recipients, 100-byte payloads.
json FanoutRow(const std::string& durability) {
  return {{"target", "tldb"},
          {"workload", "push_fanout_200/" + durability},
          {"durability", durability},
          {"pipeline_depth", 1},
          {"ops_per_s", 1000.0},
          {"msgs_per_s", 1000.0},
          {"messages", 5000},
          {"p50_us", 10.0},
          {"p99_us", 20.0},
          {"p999_us", 30.0},
          {"cpu_s_per_Mop", 1.0},
          {"rss_bytes", 1 << 20},
          {"payload_bytes_per_msg", 100.0},
          {"write_bytes_per_msg", 2000.0},
          {"store_write_bytes_per_msg", 1500.0},
          {"device_write_bytes_per_msg", 2500.0}};
}

json Results(const json& sync_row, const json& buffered_row) {
  return {
      {"started", "2026-01-01T00:00:00Z"},
      {"machine", {{"cpus", 2}, {"load_start", "0.1"}, {"load_end", "0.2"}}},
      {"config", json::object()},
      {"targets",
       json::array({{{"name", "tldb"}, {"error", ""}, {"workloads", {sync_row, buffered_row}}}})}};
}

// The fan-out goal of `durability` measured by `kind` ("log bytes", "/proc/<pid>/io",
// "whole device").
json Goal(const json& results, const std::string& durability, const std::string& kind) {
  for (const auto& g : results["goals"]) {
    const std::string name = g["goal"];
    if (name.starts_with("push fan-out to 200 (" + durability + ", ") &&
        name.find(kind) != std::string::npos) {
      return g;
    }
  }
  ADD_FAILURE() << "no fan-out goal for " << durability << " / " << kind;
  return json();
}

TEST(BenchReportTest, FanoutGoalIsNotMetOnAMissingOrZeroByteCount) {
  json sync = FanoutRow("sync");
  sync.erase("device_write_bytes_per_msg");  // the whole-device counter could not be read
  json buffered = FanoutRow("buffered");
  buffered["store_write_bytes_per_msg"] = 0.0;  // the store did not say
  json r = Results(sync, buffered);
  AddRatiosAndGoals(&r);
  for (const auto& [d, kind] : {std::pair{"sync", "whole device"}, {"buffered", "log bytes"}}) {
    const json g = Goal(r, d, kind);
    EXPECT_TRUE(g["met"].is_null()) << g.dump();
    EXPECT_TRUE(g["measured"].is_null()) << g.dump();
    EXPECT_NE(g.value("note", "").find("not measured"), std::string::npos) << g.dump();
  }
  const std::string text = FormatReport(r);
  EXPECT_NE(text.find("[n/a ] push fan-out to 200 (sync, bytes to disk, whole device)"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("[MET ] push fan-out to 200 (sync, bytes to disk, whole device)"),
            std::string::npos)
      << text;
  // The bytes table shows "-" for the count that is missing, not 0.
  EXPECT_NE(text.find("2.00k | -"), std::string::npos) << text;
}

TEST(BenchReportTest, FanoutGoalIsJudgedOnMeasuredByteCounts) {
  json sync = FanoutRow("sync");  // (2000 - 120) / 200 = 9.4 B per recipient: met
  json buffered = FanoutRow("buffered");
  buffered["write_bytes_per_msg"] = 20000.0;  // (20000 - 120) / 200 = 99.4: missed
  json r = Results(sync, buffered);
  AddRatiosAndGoals(&r);
  const json met = Goal(r, "sync", "/proc/<pid>/io");
  EXPECT_EQ(met["met"], true) << met.dump();
  EXPECT_DOUBLE_EQ(met["measured"].get<double>(), 9.4);
  const json missed = Goal(r, "buffered", "/proc/<pid>/io");
  EXPECT_EQ(missed["met"], false) << missed.dump();
  EXPECT_DOUBLE_EQ(missed["measured"].get<double>(), 99.4);
  const std::string text = FormatReport(r);
  EXPECT_NE(text.find("[MISS] push fan-out to 200 (buffered, bytes to disk, /proc/<pid>/io)"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace tldb::peerbench
