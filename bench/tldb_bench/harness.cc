#include "harness.h"

#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <vector>

#include "machine_limits.h"
#include "plots.h"
#include "process_stats.h"
#include "progress_bar.h"
#include "report.h"
#include "target_run.h"
#include "workload.h"

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

// One target's process: the child owns a TargetRun and answers commands ("<workload index>",
// "end") with one JSON line each; its first line is Setup()'s answer.
class TargetProcess {
 public:
  bool Spawn(const BenchConfig& cfg, const std::string& name) {
    int down[2], up[2];
    if (::pipe(down) != 0 || ::pipe(up) != 0) return false;
    std::fflush(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      for (int fd : Inherited()) ::close(fd);  // other targets' pipes
      ::close(down[1]);
      ::close(up[0]);
      ChildLoop(cfg, name, ::fdopen(down[0], "r"), ::fdopen(up[1], "w"));
      _exit(0);
    }
    ::close(down[0]);
    ::close(up[1]);
    Inherited().push_back(down[1]);
    Inherited().push_back(up[0]);
    to_ = ::fdopen(down[1], "w");
    from_ = ::fdopen(up[0], "r");
    return true;
  }
  // Sends a command (empty: none) and reads one JSON line back.
  json Call(const std::string& cmd) {
    if (!cmd.empty()) {
      std::fprintf(to_, "%s\n", cmd.c_str());
      std::fflush(to_);
    }
    std::string line;
    if (!ReadLine(from_, &line)) return {{"error", "target process died"}};
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded()) return {{"error", "target process sent no JSON"}};
    return j;
  }
  void Wait() {
    if (to_) std::fclose(to_);
    if (from_) std::fclose(from_);
    to_ = from_ = nullptr;
    if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  static std::vector<int>& Inherited() {
    static std::vector<int> fds;
    return fds;
  }
  static bool ReadLine(FILE* f, std::string* line) {
    line->clear();
    for (int c; (c = std::fgetc(f)) != EOF;) {
      if (c == '\n') return true;
      line->push_back(static_cast<char>(c));
    }
    return false;
  }
  static void Reply(FILE* out, const json& j) {
    std::fprintf(out, "%s\n", j.dump().c_str());
    std::fflush(out);
  }
  static void ChildLoop(const BenchConfig& cfg, const std::string& name, FILE* in, FILE* out) {
    ProgressBar progress(cfg.progress);
    TargetRun run(cfg, name, &progress);
    const std::vector<Workload> plan = PlanWorkloads(cfg);
    Reply(out, run.Setup());
    std::string cmd;
    while (ReadLine(in, &cmd)) {
      if (cmd == "end") {
        Reply(out, run.Finish());
        return;
      }
      const size_t i = std::strtoul(cmd.c_str(), nullptr, 10);
      Reply(out, i < plan.size() ? run.Run(plan[i]) : json{{"error", "bad command"}});
    }
  }

  pid_t pid_ = -1;
  FILE* to_ = nullptr;
  FILE* from_ = nullptr;
};

json ConfigJson(const BenchConfig& c) {
  json durs = json::array();
  for (Dur d : c.durabilities) durs.push_back(DurName(d));
  return {{"targets", c.targets},
          {"durabilities", durs},
          {"seconds", c.seconds},
          {"rate", c.rate},
          {"poll_us", c.poll_us},
          {"wait_timeout_ms", c.wait_timeout_ms},
          {"server_wait", c.server_wait},
          {"server_pull", c.server_pull},
          {"server_tls", c.server_tls},
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
  // Every target is set up (store started, data preloaded) one after the other, then the
  // workloads run round-robin over the targets, so that each workload's comparison is made
  // within seconds, not minutes apart, on a machine whose disk and CPU drift.
  const size_t n = cfg.targets.size();
  std::vector<TargetProcess> procs(n);
  std::vector<json> tj(n);
  std::vector<bool> alive(n, false);
  for (size_t k = 0; k < n; ++k) {
    std::fprintf(stderr, "%s: starting and preloading...\n", cfg.targets[k].c_str());
    if (!procs[k].Spawn(cfg, cfg.targets[k])) {
      tj[k] = {{"name", cfg.targets[k]}, {"error", "fork failed"}};
      continue;
    }
    tj[k] = procs[k].Call("");
    tj[k]["name"] = cfg.targets[k];
    if (!tj[k].contains("error")) tj[k]["error"] = "";
    alive[k] = tj[k]["error"].get<std::string>().empty();
    tj[k]["workloads"] = json::array();
  }
  const std::vector<Workload> plan = PlanWorkloads(cfg);
  for (size_t i = 0; i < plan.size(); ++i) {
    std::fprintf(stderr, "[%zu/%zu] %s\n", i + 1, plan.size(), plan[i].Name().c_str());
    for (size_t step = 0; step < n; ++step) {
      const size_t k = (i + step) % n;  // rotate who goes first
      if (!alive[k]) continue;
      json r = procs[k].Call(std::to_string(i));
      const std::string e = r.value("error", std::string("no reply"));
      if (!e.empty()) {
        tj[k]["error"] = plan[i].Name() + ": " + e;
        alive[k] = false;
      }
      if (r.contains("ops")) tj[k]["workloads"].push_back(r);
    }
  }
  bool ok = true;
  for (size_t k = 0; k < n; ++k) {
    json fin = procs[k].Call("end");
    for (auto it = fin.begin(); it != fin.end(); ++it) {
      if (it.key() != "error") tj[k][it.key()] = it.value();
    }
    procs[k].Wait();
    if (!tj[k]["error"].get<std::string>().empty()) ok = false;
    results["targets"].push_back(tj[k]);
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
