#include "plots.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

namespace tldb::peerbench {
namespace {

std::string FileSafe(std::string s) {
  for (char& c : s) {
    if (c == '/') c = '-';
  }
  return s;
}

}  // namespace

std::vector<std::string> WritePlots(const nlohmann::json& results, const std::string& out_dir,
                                    std::string* why) {
  std::vector<std::string> targets, workloads;
  std::map<std::string, std::map<std::string, const nlohmann::json*>> rows;
  for (const auto& t : results["targets"]) {
    if (!t.contains("workloads")) continue;
    targets.push_back(t["name"]);
    for (const auto& w : t["workloads"]) {
      const std::string name = w["workload"];
      if (!rows.count(name)) workloads.push_back(name);
      rows[name][t["name"]] = &w;
    }
  }
  if (targets.empty()) {
    *why = "no results to plot";
    return {};
  }
  {
    std::ofstream d(out_dir + "/throughput.dat");
    d << "workload";
    for (const auto& t : targets) d << ' ' << t;
    d << '\n';
    for (const auto& w : workloads) {
      d << w;
      for (const auto& t : targets) {
        auto it = rows[w].find(t);
        if (it == rows[w].end()) {
          d << " ?";
        } else {
          d << ' ' << (*it->second)["ops_per_s"].get<double>();
        }
      }
      d << '\n';
    }
  }
  std::ofstream gp(out_dir + "/plots.gp");
  gp << "set terminal pngcairo size 900,420 font ',9' noenhanced\nset datafile missing '?'\n"
        "set output 'throughput.png'\nset title 'Throughput per workload (ops/s; log scale)'\n"
        "set style data histograms\nset style histogram clustered gap 1\n"
        "set style fill solid 0.85 border -1\nset logscale y\nset yrange [10:*]\n"
        "set grid ytics\nset xtics rotate by -35 left\nset key top right\nset bmargin 7\nset "
        "rmargin 9\n"
        "plot for [i=2:"
     << targets.size() + 1 << "] 'throughput.dat' using i:xtic(1) title columnheader(i)\n";
  std::vector<std::string> pngs = {out_dir + "/throughput.png"};
  // Percentile plot: y = 1 / (1 - fraction) on a log scale, so the tail gets the room.
  gp << "unset style\nunset logscale\nset style data lines\nset logscale xy\n"
        "set yrange [1:100000]\nset xtics norotate\nset xlabel 'latency (us)'\n"
        "set ylabel 'percentile'\nset ytics ('p0' 1, 'p50' 2, 'p90' 10, 'p99' 100, "
        "'p99.9' 1000, 'p99.99' 10000, 'p99.999' 100000)\nset key top left\n";
  for (const auto& w : workloads) {
    std::string plot;
    for (const auto& t : targets) {
      auto it = rows[w].find(t);
      if (it == rows[w].end() || (*it->second)["cdf_us"].empty()) continue;
      const std::string dat = "cdf-" + FileSafe(w) + "-" + t + ".dat";
      std::ofstream d(out_dir + "/" + dat);
      for (const auto& p : (*it->second)["cdf_us"]) {
        const double f = p[1].get<double>();
        if (f < 1) d << p[0].get<double>() << ' ' << 1 / (1 - f) << '\n';
      }
      plot += (plot.empty() ? "plot " : ", ") + std::string("'") + dat +
              "' using 1:2 lw 2 title '" + t + "'";
    }
    if (plot.empty()) continue;
    const std::string png = "latency-" + FileSafe(w) + ".png";
    gp << "set output '" << png << "'\nset title 'Latency CDF: " << w << "'\n" << plot << "\n";
    pngs.push_back(out_dir + "/" + png);
  }
  gp.close();
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    *why = "gnuplot not installed: data and plots.gp written, no PNG";
    return {};
  }
  const std::string cmd = "cd '" + out_dir + "' && gnuplot plots.gp";
  if (std::system(cmd.c_str()) != 0) {
    *why = "gnuplot failed (" + cmd + ")";
    return {};
  }
  return pngs;
}

}  // namespace tldb::peerbench
