#include "report.h"

#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <vector>

namespace tldb::peerbench {
namespace {

using nlohmann::json;

std::string Fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string Human(double v) {
  if (v >= 1e6) return Fmt("%.2fM", v / 1e6);
  if (v >= 1e4) return Fmt("%.1fk", v / 1e3);
  if (v >= 1e3) return Fmt("%.2fk", v / 1e3);
  return Fmt("%.0f", v);
}

std::string Us(double us) {
  if (us >= 1e4) return Fmt("%.0fms", us / 1e3);
  if (us >= 1e3) return Fmt("%.1fms", us / 1e3);
  return Fmt("%.0fus", us);
}

// A byte count of a row: "-" when it is missing or 0 (not measured), never a made-up 0.
std::string Measured(const json& row, const char* key) {
  const json v = row.value(key, json());
  return v.is_number() && v.get<double>() > 0 ? Human(v.get<double>()) : "-";
}

std::string Ratio(const json& r) {
  return r.is_number() ? Fmt("%.2fx", r.get<double>()) : "-";
}

// workload name -> target -> row, in plan order.
struct Index {
  std::vector<std::string> workloads;
  std::map<std::string, std::map<std::string, const json*>> rows;
};

Index BuildIndex(const json& results) {
  Index ix;
  std::set<std::string> seen;
  for (const auto& t : results["targets"]) {
    if (!t.contains("workloads")) continue;
    for (const auto& w : t["workloads"]) {
      const std::string name = w["workload"];
      if (seen.insert(name).second) ix.workloads.push_back(name);
      ix.rows[name][t["name"]] = &w;
    }
  }
  return ix;
}

json RatioOf(const Index& ix, const std::string& w, const std::string& a, const std::string& b) {
  auto it = ix.rows.find(w);
  if (it == ix.rows.end() || !it->second.count(a) || !it->second.count(b)) return nullptr;
  const double x = (*it->second.at(a))["ops_per_s"], y = (*it->second.at(b))["ops_per_s"];
  if (y <= 0) return nullptr;
  return x / y;
}

void Pad(std::string* out, const std::string& s, size_t w) {
  *out += s;
  if (s.size() < w) out->append(w - s.size(), ' ');
  *out += ' ';
}

}  // namespace

void AddRatiosAndGoals(json* results) {
  const Index ix = BuildIndex(*results);
  json ratios = json::array();
  for (const auto& w : ix.workloads) {
    ratios.push_back({{"workload", w},
                      {"tldb_vs_rocksdb", RatioOf(ix, w, "tldb", "rocksdb")},
                      {"tldb_server_vs_redis", RatioOf(ix, w, "tldb-server", "redis")},
                      {"tldb_vs_redis", RatioOf(ix, w, "tldb", "redis")}});
  }
  (*results)["ratios"] = ratios;

  // Against the machine's limits: server targets' request rate as a fraction of the loopback
  // echo rate at the same number of connections (unpipelined workloads), and synced writes'
  // message rate per raw 4 KiB write+fdatasync (above 1 only through group commit).
  const json& lim = (*results)["limits"];
  if (!lim.is_null()) {
    const double echo = lim.value("echo_nconn_per_s", 0.0);
    const double syncs =
        lim["sync_writes"].empty() ? 0.0 : lim["sync_writes"][0].value("syncs_per_s", 0.0);
    for (auto& t : (*results)["targets"]) {
      if (!t.contains("workloads")) continue;
      const bool server = t["name"] == "tldb-server" || t["name"] == "redis";
      for (auto& w : t["workloads"]) {
        if (server && w["pipeline_depth"] == 1 && echo > 0) {
          w["fraction_of_echo_rate"] = w["ops_per_s"].get<double>() / echo;
        }
        if (w["durability"] == "sync" && syncs > 0) {
          w["msgs_per_raw_fdatasync"] = w["msgs_per_s"].get<double>() / syncs;
        }
      }
    }
  }

  json goals = json::array();
  if ((*results)["config"].value("rate", 0.0) > 0) {
    // Every target is offered the same rate: throughput ratios say nothing here.
    goals.push_back(
        {{"goal", "throughput goals: not judged in a fixed-rate run (--rate)"}, {"met", nullptr}});
    (*results)["goals"] = goals;
    return;
  }
  auto ratio_goal = [&](const std::string& what, const std::string& w, const std::string& a,
                        const std::string& b, double need) {
    const json r = RatioOf(ix, w, a, b);
    goals.push_back({{"goal", what},
                     {"workload", w},
                     {"needed", need},
                     {"measured", r},
                     {"met", r.is_number() ? json(r.get<double>() >= need) : json(nullptr)}});
  };
  for (const char* d : {"buffered", "sync"}) {
    ratio_goal(std::string("appends ") + d + ": tldb >= 5x RocksDB", std::string("chat/") + d,
               "tldb", "rocksdb", 5);
    ratio_goal(std::string("pipelined appends ") + d + ": tldb >= 5x RocksDB",
               std::string("chat_pipelined/") + d, "tldb", "rocksdb", 5);
  }
  ratio_goal("gets: tldb >= 2x RocksDB", "get", "tldb", "rocksdb", 2);
  ratio_goal("latest-20 scans: tldb >= 2x RocksDB", "latest20", "tldb", "rocksdb", 2);
  ratio_goal("unpipelined synced appends: tldb-server >= 1.5x Redis", "chat/sync", "tldb-server",
             "redis", 1.5);
  ratio_goal("pipelined synced appends: tldb-server >= 2x Redis", "chat_pipelined/sync",
             "tldb-server", "redis", 2);
  // Push fan-out to 200: bytes written per message <= 1.2 x payload + a small index entry per
  // recipient (small: <= 32 bytes). Judged only on a measured byte count: a count that is
  // missing, not a number, or 0 (stored messages take bytes; 0 is what a source that could not
  // be read reports) leaves the goal "n/a", never MET.
  for (const char* d : {"sync", "buffered"}) {
    const std::string w = std::string("push_fanout_200/") + d;
    auto it = ix.rows.find(w);
    if (it == ix.rows.end() || !it->second.count("tldb")) continue;
    const json& row = *it->second.at("tldb");
    const json payload = row.value("payload_bytes_per_msg", json());
    for (const char* k :
         {"store_write_bytes_per_msg", "write_bytes_per_msg", "device_write_bytes_per_msg"}) {
      const std::string kind = k[0] == 's'   ? "log bytes, DbStats"
                               : k[0] == 'w' ? "bytes to disk, /proc/<pid>/io"
                                             : "bytes to disk, whole device";
      json g = {{"goal", std::string("push fan-out to 200 (") + d + ", " + kind +
                             "): <= 1.2x payload + <= 32 B per recipient"},
                {"workload", w},
                {"needed", 32}};
      const json per_msg = row.value(k, json());
      if (!per_msg.is_number() || per_msg.get<double>() <= 0 || !payload.is_number() ||
          payload.get<double>() <= 0) {
        g["measured"] = nullptr;
        g["note"] = std::string("not measured (") + k + " " +
                    (per_msg.is_number() ? per_msg.dump() : "missing") +
                    ", payload_bytes_per_msg " +
                    (payload.is_number() ? payload.dump() : "missing") + ")";
        g["met"] = nullptr;
        goals.push_back(g);
        continue;
      }
      const double per_recipient = (per_msg.get<double>() - 1.2 * payload.get<double>()) / 200.0;
      g["measured"] = per_recipient;
      g["write_bytes_per_msg"] = per_msg;
      g["payload_bytes_per_msg"] = payload;
      g["met"] = per_recipient <= 32;
      goals.push_back(g);
    }
  }
  // Ahead of both peers everywhere (embedded vs embedded, server vs server).
  json behind = json::array();
  bool compared = false;
  for (const auto& r : ratios) {
    for (const char* k : {"tldb_vs_rocksdb", "tldb_server_vs_redis"}) {
      compared = compared || r[k].is_number();
      if (r[k].is_number() && r[k].get<double>() < 1) {
        behind.push_back(r["workload"].get<std::string>() + " (" + k + " " + Ratio(r[k]) + ")");
      }
    }
  }
  goals.push_back({{"goal", "tldb ahead of both peers on every workload"},
                   {"behind", behind},
                   {"met", compared ? json(behind.empty()) : json(nullptr)}});
  (*results)["goals"] = goals;
}

std::string FormatReport(const json& results) {
  const Index ix = BuildIndex(results);
  std::string o;
  const json& m = results["machine"];
  o += "== tldb-bench " + results["started"].get<std::string>() + "  " + m["cpus"].dump() +
       " CPUs, load average " + m["load_start"].get<std::string>() + " at start, " +
       m["load_end"].get<std::string>() + " at end\n";
  if (results.contains("limits") && !results["limits"].is_null()) {
    const json& l = results["limits"];
    o += "== machine limits: ";
    for (const auto& w : l["sync_writes"]) {
      o += Fmt("write+fdatasync %.0f KiB: ", w["batch_bytes"].get<double>() / 1024) +
           Human(w["syncs_per_s"]) + "/s (" + Fmt("%.0f MB/s", w["mb_per_s"]) + "); ";
    }
    o += "loopback echo: " + Human(l["echo_1conn_per_s"]) + " req/s on 1 connection, " +
         Human(l["echo_nconn_per_s"]) + " on " + l["echo_connections"].dump() + "\n";
  }
  for (const auto& t : results["targets"]) {
    if (!t["error"].get<std::string>().empty()) {
      o += "!! " + t["name"].get<std::string>() + ": " + t["error"].get<std::string>() + "\n";
    }
  }
  const std::vector<std::string> targets = {"tldb", "tldb-server", "rocksdb", "redis"};

  o += "\nThroughput (ops/s; fan-out: messages/s) and ratios (> 1: tldb faster)\n";
  std::string h;
  Pad(&h, "workload", 24);
  for (const auto& t : targets) Pad(&h, t, 11);
  Pad(&h, "tldb/rocks", 10);
  Pad(&h, "srv/redis", 10);
  Pad(&h, "tldb/redis", 10);
  o += h + "\n";
  for (const auto& w : ix.workloads) {
    std::string line;
    Pad(&line, w, 24);
    for (const auto& t : targets) {
      auto it = ix.rows.at(w).find(t);
      Pad(&line, it == ix.rows.at(w).end() ? "-" : Human((*it->second)["ops_per_s"]), 11);
    }
    Pad(&line, Ratio(RatioOf(ix, w, "tldb", "rocksdb")), 10);
    Pad(&line, Ratio(RatioOf(ix, w, "tldb-server", "redis")), 10);
    Pad(&line, Ratio(RatioOf(ix, w, "tldb", "redis")), 10);
    o += line + "\n";
  }

  o += "\nLatency p50 / p99 / p99.9 per operation (a pipelined batch: per request)\n";
  h.clear();
  Pad(&h, "workload", 24);
  for (const auto& t : targets) Pad(&h, t, 23);
  o += h + "\n";
  for (const auto& w : ix.workloads) {
    std::string line;
    Pad(&line, w, 24);
    for (const auto& t : targets) {
      auto it = ix.rows.at(w).find(t);
      if (it == ix.rows.at(w).end()) {
        Pad(&line, "-", 23);
        continue;
      }
      const json& r = *it->second;
      Pad(&line, Us(r["p50_us"]) + "/" + Us(r["p99_us"]) + "/" + Us(r["p999_us"]), 23);
    }
    o += line + "\n";
  }

  // Per-target cells of a table: a row for each workload where `has` holds for some target
  // ("-" in the other cells). With omit_if_empty and no such row, not even the title.
  const auto always = [](const json&) { return true; };
  const auto wrote = [](const json& r) { return r["messages"].get<uint64_t>() > 0; };
  auto table = [&](const std::string& title, size_t width,
                   const std::function<bool(const json&)>& has,
                   const std::function<std::string(const json&)>& cell, bool omit_if_empty) {
    std::string rows;
    for (const auto& w : ix.workloads) {
      std::string line;
      Pad(&line, w, 24);
      bool any = false;
      for (const auto& t : targets) {
        auto it = ix.rows.at(w).find(t);
        const bool have = it != ix.rows.at(w).end() && has(*it->second);
        any = any || have;
        Pad(&line, have ? cell(*it->second) : "-", width);
      }
      if (any) rows += line + "\n";
    }
    if (rows.empty() && omit_if_empty) return;
    std::string hd;
    Pad(&hd, "workload", 24);
    for (const auto& t : targets) Pad(&hd, t, width);
    o += "\n" + title + "\n" + hd + "\n" + rows;
  };
  table(
      "Bytes written per message stored: /proc/<pid>/io | whole disk (shared machine: includes "
      "other processes) | log bytes the store reports (tldb only)",
      24, wrote,
      [](const json& r) {
        std::string c =
            Measured(r, "write_bytes_per_msg") + " | " + Measured(r, "device_write_bytes_per_msg");
        if (r.value("store_write_bytes_per_msg", 0.0) > 0) {
          c += " | " + Human(r["store_write_bytes_per_msg"]);
        }
        return c;
      },
      false);
  table(
      "Against the machine's limits: requests/s as a share of the loopback echo rate (server "
      "targets, unpipelined) | messages per raw 4 KiB fdatasync (synced writes)",
      18, always,
      [](const json& r) {
        std::string c = r.contains("fraction_of_echo_rate")
                            ? Fmt("%.0f%%", 100 * r["fraction_of_echo_rate"].get<double>())
                            : "-";
        if (r.contains("msgs_per_raw_fdatasync")) {
          c += " | " + Fmt("%.1f", r["msgs_per_raw_fdatasync"]);
        }
        return c;
      },
      false);
  table(
      "CPU seconds per million operations (store + harness) | resident memory of the store, MiB",
      18, always,
      [](const json& r) {
        return Fmt("%.1f", r["cpu_s_per_Mop"]) + " | " +
               Fmt("%.0f", r["rss_bytes"].get<double>() / 1048576);
      },
      false);
  // Live delivery (longpoll): the second clock, and how often the push overtook the ack.
  table(
      "Live delivery: p50 / p99 / p99.9 from the start of the append (send) to the receipt | "
      "share received before the writer had its acknowledgement (counted as 0 above)",
      28, [](const json& r) { return r.contains("send_p50_us"); },
      [](const json& r) {
        const double ops = std::max(1.0, r["ops"].get<double>());
        return Us(r["send_p50_us"]) + "/" + Us(r["send_p99_us"]) + "/" + Us(r["send_p999_us"]) +
               Fmt(" | %.0f%%", 100 * r["early_deliveries"].get<double>() / ops);
      },
      true);
  if (results["config"].value("rate", 0.0) > 0) {
    table(
        "Fixed rate: how late requests started against their schedule, p50 / p99 / p99.9 "
        "(the harness's own wake-up delay, plus the backlog when a target falls behind)",
        23, always,
        [](const json& r) {
          return r.contains("lag_p50_us")
                     ? Us(r["lag_p50_us"]) + "/" + Us(r["lag_p99_us"]) + "/" + Us(r["lag_p999_us"])
                     : std::string("-");
        },
        false);
  }
  o += "\nOn disk after the preload (same data everywhere): ";
  for (const auto& t : results["targets"]) {
    if (t.contains("preload_disk_bytes_per_msg")) {
      o += t["name"].get<std::string>() + " " + Fmt("%.0f", t["preload_disk_bytes_per_msg"]) +
           " B/msg; ";
    }
  }
  if (!results["targets"].empty() && results["targets"][0].contains("mean_payload_bytes")) {
    o += Fmt("mean payload %.0f B", results["targets"][0]["mean_payload_bytes"]);
  }
  o += "\n\nGoals (issue 6)\n";
  for (const auto& g : results["goals"]) {
    std::string status = g["met"].is_null() ? "n/a " : (g["met"].get<bool>() ? "MET " : "MISS");
    std::string line = "  [" + status + "] " + g["goal"].get<std::string>();
    if (g.contains("measured") && g["measured"].is_number()) {
      line += g.contains("write_bytes_per_msg")
                  ? Fmt(": %.1f B per recipient", g["measured"]) +
                        Fmt(" (%.0f B written per message", g["write_bytes_per_msg"]) +
                        Fmt(", payload %.0f B)", g["payload_bytes_per_msg"])
                  : Fmt(": %.2fx", g["measured"]);
    }
    if (g.contains("note")) line += ": " + g["note"].get<std::string>();
    if (g.contains("behind") && !g["behind"].empty()) {
      line += ": behind on";
      for (const auto& b : g["behind"]) line += " " + b.get<std::string>() + ";";
    }
    o += line + "\n";
  }
  return o;
}

}  // namespace tldb::peerbench
