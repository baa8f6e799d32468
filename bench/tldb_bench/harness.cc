#include "harness.h"

#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>

#include "machine_limits.h"
#include "plots.h"
#include "process_stats.h"
#include "progress_bar.h"
#include "report.h"
#include "target_run.h"

namespace tldb::peerbench {
namespace {

using nlohmann::json;

std::string UtcNow() {
  const std::time_t t = std::time(nullptr);
  char b[32];
  std::strftime(b, sizeof b, "%F %T UTC", std::gmtime(&t));
  return b;
}

// Runs fn in a child process; fn's JSON comes back through a file. A crash becomes an error.
json InChild(const std::string& path, const std::function<json()>& fn) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    json j = fn();
    std::ofstream(path) << j.dump();
    std::fflush(nullptr);
    _exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::ifstream in(path);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !in) {
    return {{"error", "child process failed (status " + std::to_string(status) + ")"}};
  }
  return json::parse(in, nullptr, false);
}

json ConfigJson(const BenchConfig& c) {
  json durs = json::array();
  for (Dur d : c.durabilities) durs.push_back(DurName(d));
  return {{"targets", c.targets},
          {"durabilities", durs},
          {"seconds", c.seconds},
          {"rate", c.rate},
          {"clients", c.clients},
          {"pipeline_clients", c.pipeline_clients},
          {"pipeline_depth", c.pipeline_depth},
          {"seed", c.seed},
          {"conversations", c.conversations},
          {"conv_messages", c.conv_messages},
          {"users", c.users},
          {"sync_messages", c.sync_messages},
          {"groups", c.groups},
          {"group_messages", c.group_messages},
          {"groups_per_user", c.groups_per_user},
          {"fanout_sizes", c.fanout_sizes},
          {"zipf_s", c.zipf_s},
          {"read_fraction", c.read_fraction},
          {"pull_write_fraction", c.pull_write_fraction},
          {"payload_min", c.payload_min},
          {"payload_max", c.payload_max},
          {"large_fraction", c.large_fraction},
          {"rocksdb_block_cache_bytes", c.rocksdb_block_cache_bytes},
          {"data_dir", c.data_dir},
          {"quick", c.quick}};
}

}  // namespace

int RunBench(const BenchConfig& cfg) {
  std::filesystem::create_directories(cfg.out_dir + "/parts");
  utsname u{};
  ::uname(&u);
  json results = {{"started", UtcNow()},
                  {"machine",
                   {{"cpus", ::sysconf(_SC_NPROCESSORS_ONLN)},
                    {"kernel", u.release},
                    {"load_start", LoadAverage()}}},
                  {"config", ConfigJson(cfg)},
                  {"limits", nullptr},
                  {"targets", json::array()}};
  const auto t0 = std::chrono::steady_clock::now();
  if (cfg.limits) {
    std::fprintf(stderr, "measuring the machine's limits...\n");
    json l = InChild(cfg.out_dir + "/parts/limits.json",
                     [&] { return ToJson(MeasureMachineLimits(cfg)); });
    if (!l.contains("error")) results["limits"] = l;
  }
  bool ok = true;
  for (const auto& name : cfg.targets) {
    std::fprintf(stderr, "%s: running...\n", name.c_str());
    json t = InChild(cfg.out_dir + "/parts/" + name + ".json", [&] {
      ProgressBar progress(cfg.progress);
      return RunTarget(cfg, name, &progress);
    });
    if (!t.contains("name")) t["name"] = name;
    if (!t["error"].get<std::string>().empty()) ok = false;
    results["targets"].push_back(t);
  }
  results["machine"]["load_end"] = LoadAverage();
  results["wall_seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  AddRatiosAndGoals(&results);
  const std::string report = FormatReport(results);
  std::cout << report << std::flush;
  std::ofstream(cfg.out_dir + "/report.txt") << report;
  std::ofstream(cfg.out_dir + "/results.json") << results.dump(1);
  if (cfg.plots) {
    std::string why;
    const auto pngs = WritePlots(results, cfg.out_dir, &why);
    if (pngs.empty())
      std::cout << "plots: " << why << "\n";
    else
      std::cout << "plots: " << pngs.size() << " PNG files in " << cfg.out_dir << "\n";
  }
  std::cout << "results: " << cfg.out_dir << "/results.json ("
            << static_cast<int>(results["wall_seconds"].get<double>()) << " s)\n";
  return ok ? 0 : 1;
}

}  // namespace tldb::peerbench
