#include "target_run.h"

#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "dataset.h"
#include "runner.h"
#include "target_factory.h"
#include "workload.h"

namespace tldb::peerbench {
namespace {

// At most ~200 points of the latency CDF (enough for a plot, small in the JSON).
nlohmann::json CdfJson(const LatencyHistogram& h) {
  const auto cdf = h.Cdf();
  nlohmann::json out = nlohmann::json::array();
  const size_t step = std::max<size_t>(1, cdf.size() / 200);
  for (size_t i = 0; i < cdf.size(); ++i) {
    if (i % step == 0 || i + 1 == cdf.size()) out.push_back({cdf[i].first / 1e3, cdf[i].second});
  }
  return out;
}

nlohmann::json WorkloadJson(const std::string& target, const Workload& w, const BenchConfig& cfg,
                            const WorkloadRun& r, uint64_t rss_baseline) {
  const double s = r.seconds > 0 ? r.seconds : 1;
  const double cpu = r.after.cpu_s - r.before.cpu_s;
  const uint64_t wb = r.after.write_bytes - r.before.write_bytes;
  nlohmann::json j = {
      {"target", target},
      {"workload", w.Name()},
      {"base", w.base},
      {"durability", w.writes ? DurName(w.dur) : "-"},
      {"clients", w.pipelined ? cfg.pipeline_clients : cfg.clients},
      {"pipeline_depth", w.pipelined ? cfg.pipeline_depth : 1},
      {"fanout", w.fanout},
      {"seconds", r.seconds},
      {"ops", r.ops},
      {"ops_per_s", static_cast<double>(r.ops) / s},
      {"messages", r.messages},
      {"msgs_per_s", static_cast<double>(r.messages) / s},
      {"deliveries_per_s", static_cast<double>(r.deliveries) / s},
      {"read_msgs_per_s", static_cast<double>(r.read_messages) / s},
      {"p50_us", r.latency.Quantile(0.5) / 1e3},
      {"p99_us", r.latency.Quantile(0.99) / 1e3},
      {"p999_us", r.latency.Quantile(0.999) / 1e3},
      {"max_us", static_cast<double>(r.latency.max()) / 1e3},
      {"cpu_s", cpu},
      {"store_cpu_s", r.after.store_cpu_s - r.before.store_cpu_s},
      {"cpu_s_per_Mop", r.ops ? cpu * 1e6 / static_cast<double>(r.ops) : 0.0},
      {"rss_bytes", r.after.rss_bytes > rss_baseline ? r.after.rss_bytes - rss_baseline : 0},
      {"write_bytes", wb},
      {"payload_bytes", r.payload_bytes},
      {"write_bytes_per_msg",
       r.messages ? static_cast<double>(wb) / static_cast<double>(r.messages) : 0.0},
      {"payload_bytes_per_msg",
       r.messages ? static_cast<double>(r.payload_bytes) / static_cast<double>(r.messages) : 0.0},
      {"store_write_bytes_per_msg",
       r.messages ? static_cast<double>(r.after.store_write_bytes - r.before.store_write_bytes) /
                        static_cast<double>(r.messages)
                  : 0.0},
      {"device_write_bytes_per_msg",
       r.messages ? static_cast<double>(r.after.device_write_bytes - r.before.device_write_bytes) /
                        static_cast<double>(r.messages)
                  : 0.0},
      {"write_amplification",
       r.payload_bytes ? static_cast<double>(wb) / static_cast<double>(r.payload_bytes) : 0.0},
      {"error", r.error},
      {"cdf_us", CdfJson(r.latency)},
  };
  if (cfg.rate > 0) {
    j["lag_p50_us"] = r.start_lag.Quantile(0.5) / 1e3;
    j["lag_p99_us"] = r.start_lag.Quantile(0.99) / 1e3;
    j["lag_p999_us"] = r.start_lag.Quantile(0.999) / 1e3;
  }
  if (w.kind == WorkloadKind::kLongPoll) {
    j["early_deliveries"] = r.early;
    j["pairs"] = std::max<uint32_t>(1, cfg.clients / 2);
    j["send_p50_us"] = r.send_to_receipt.Quantile(0.5) / 1e3;
    j["send_p99_us"] = r.send_to_receipt.Quantile(0.99) / 1e3;
    j["send_p999_us"] = r.send_to_receipt.Quantile(0.999) / 1e3;
  }
  return j;
}

}  // namespace

TargetRun::TargetRun(const BenchConfig& cfg, std::string name, ProgressBar* progress)
    : cfg_(cfg), name_(std::move(name)), progress_(progress), ds_(cfg) {}

TargetRun::~TargetRun() {
  if (target_) target_->Stop();
  if (!dir_.empty()) std::filesystem::remove_all(dir_);
}

nlohmann::json TargetRun::Setup() {
  nlohmann::json out = {{"name", name_}, {"error", ""}};
  std::string err;
  target_ = MakeTarget(name_, cfg_, &err);
  if (!target_) {
    out["error"] = err;
    return out;
  }
  std::string tmpl = cfg_.data_dir + "/tldb-bench-" + name_ + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    out["error"] = "mkdtemp " + tmpl + " failed";
    return out;
  }
  dir_ = tmpl;
  rss_baseline_ = target_->Sample().rss_bytes;  // this process before the store
  if (!target_->Start(dir_ + "/store", &err)) {
    out["error"] = "start: " + err;
    return out;
  }
  out["describe"] = target_->Describe();
  out["mean_payload_bytes"] = ds_.mean_payload_bytes();
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t preloaded = ds_.Preload(*target_, progress_, &err);
  out["preload_seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out["preload_messages"] = preloaded;
  if (preloaded == 0) {
    out["error"] = err;
    return out;
  }
  const uint64_t disk = target_->DiskBytes();
  out["preload_disk_bytes"] = disk;
  out["preload_disk_bytes_per_msg"] = static_cast<double>(disk) / static_cast<double>(preloaded);
  out["preload_rss_bytes"] = Rss();
  stored_ = preloaded;
  ready_ = true;
  return out;
}

uint64_t TargetRun::Rss() {
  const uint64_t rss = target_->Sample().rss_bytes;
  return rss - std::min(rss_baseline_, rss);
}

nlohmann::json TargetRun::Run(const Workload& w) {
  if (!ready_) return {{"workload", w.Name()}, {"error", "target not ready"}};
  const WorkloadRun r = RunWorkload(*target_, ds_, w, cfg_, progress_);
  nlohmann::json j = WorkloadJson(name_, w, cfg_, r, rss_baseline_);
  stored_ += r.messages;
  if (r.error.empty() && r.ops == 0) j["error"] = "no operation completed";
  return j;
}

nlohmann::json TargetRun::Finish() {
  nlohmann::json out = nlohmann::json::object();
  if (ready_) {
    const uint64_t disk_end = target_->DiskBytes();
    out["end_disk_bytes"] = disk_end;
    out["end_messages"] = stored_;
    out["end_disk_bytes_per_msg"] = static_cast<double>(disk_end) / static_cast<double>(stored_);
    out["end_rss_bytes"] = Rss();
  }
  if (target_) target_->Stop();
  target_.reset();
  if (!dir_.empty()) std::filesystem::remove_all(dir_);
  dir_.clear();
  return out;
}

}  // namespace tldb::peerbench
