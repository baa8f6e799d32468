// op_count: N operations of one kind through the public API, for counting instructions per
// operation under callgrind (a count that does not depend on the machine's load). Run it with
// N and with 0 and divide the difference by N (docs/benchmarks.md "Instructions per operation").
//
// Usage: op_count DIR load          preload: 100 messages in each of 10,000 timelines
//        op_count DIR append N      N buffered 200-byte appends to random timelines
//        op_count DIR get N         N Gets of random SeqIds 1..50 (after load)
//        op_count DIR latest20 N    N latest-20 backward scans (after load)
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "tldb/db.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: op_count DIR load | DIR (append|get|latest20) N\n");
    return 2;
  }
  const std::string dir = argv[1], mode = argv[2];
  const long n = argc > 3 ? std::atol(argv[3]) : 0;
  tldb::Options o;
  o.background_maintenance = false;
  o.io_backend = "posix";
  auto opened = tldb::Db::Open(dir, o);
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  auto db = std::move(opened).value();
  (void)db->CreateNamespace("store", {});
  std::mt19937_64 rng(42);
  const std::string payload(200, 'x');
  tldb::AppendOptions buffered;
  buffered.durability = tldb::Durability::kBuffered;
  constexpr int kTimelines = 10'000;
  std::vector<std::string> keys;
  for (int i = 0; i < kTimelines; ++i) keys.push_back("conv:" + std::to_string(i * 7919));
  const tldb::ScanOptions latest{.direction = tldb::Direction::kBackward, .limit = 20};
  int rc = 0;
  if (mode == "load") {
    for (int j = 0; j < 100 && rc == 0; ++j) {
      for (const auto& k : keys) {
        if (!db->Append("store", k, payload, buffered).ok()) rc = 3;
      }
    }
  } else {
    for (long i = 0; i < n && rc == 0; ++i) {
      const std::string& k = keys[rng() % kTimelines];
      if (mode == "append") {
        if (!db->Append("store", k, payload, buffered).ok()) rc = 3;
      } else if (mode == "get") {
        if (!db->Get("store", k, 1 + rng() % 50).ok()) rc = 3;
      } else if (mode == "latest20") {
        auto s = db->Scan("store", k, latest);
        if (!s.ok() || s->size() != 20) rc = 3;
      } else {
        std::fprintf(stderr, "unknown mode '%s'\n", mode.c_str());
        return 2;
      }
    }
  }
  if (rc != 0) std::fprintf(stderr, "an operation failed\n");
  return db->Close().ok() ? rc : 1;
}
