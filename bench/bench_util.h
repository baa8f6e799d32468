// Shared helpers for the engine benchmarks: seeded chat-like payloads, timeline keys and
// /proc/self/status readers; the latency histogram and temporary directories are the tools'
// (tools/common).
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <semaphore>
#include <string>
#include <string_view>
#include <vector>

#include "common/latency_histogram.h"
#include "common/temp_dir.h"
#include "tldb/db.h"

namespace tldb::bench {

// splitmix64: a fast, seeded generator (benchmarks must be reproducible, not cryptographic).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n).
  uint64_t Uniform(uint64_t n) {
    return Next() % n;  // the modulo bias is negligible for n << 2^64
  }

 private:
  uint64_t s_;
};

// A chat-like JSON message of exactly `bytes` bytes, e.g.
// {"type":"text","from":"u0012345","conv":"c0004711","ts":1764400000123,"body":"see you ..."}
inline std::string ChatPayload(Rng& rng, size_t bytes) {
  static constexpr std::array<std::string_view, 24> kWords = {
      "ok",     "see",   "you",    "tomorrow", "lunch", "meeting", "at",      "the",
      "office", "haha",  "thanks", "sure",     "what",  "about",   "tonight", "send",
      "me",     "photo", "later",  "on",       "my",    "way",     "call",    "soon"};
  char head[128];
  const int n = std::snprintf(
      head, sizeof head, R"({"type":"text","from":"u%07u","conv":"c%07u","ts":%llu,"body":")",
      static_cast<unsigned>(rng.Uniform(10'000'000)),
      static_cast<unsigned>(rng.Uniform(10'000'000)),
      static_cast<unsigned long long>(1764400000000ull + rng.Uniform(100'000'000)));
  std::string s(head, static_cast<size_t>(n));
  const size_t body_end = bytes - 2;  // room for the closing "}
  while (s.size() < body_end) {
    std::string_view w = kWords[rng.Uniform(kWords.size())];
    if (s.size() + w.size() + 1 > body_end) w = w.substr(0, body_end - s.size() - 1);
    s.append(w);
    if (s.size() < body_end) s.push_back(' ');
  }
  s.resize(body_end, '.');
  s.append("\"}");
  return s;
}

inline std::vector<std::string> ChatPayloads(size_t count, size_t bytes, uint64_t seed) {
  Rng rng(seed);
  std::vector<std::string> out;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) out.push_back(ChatPayload(rng, bytes));
  return out;
}

// IM-style conversation keys ("conv:4711:88120") for timeline i.
inline std::string ConvKey(uint32_t i) {
  return "conv:" + std::to_string(i % 9973) + ":" + std::to_string(i);
}

// Exactly 32-byte keys ("inbox:u00000000000000000000004711").
inline std::string Key32(uint32_t i) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "inbox:u%025u", i);
  return std::string(buf, 32);
}

inline uint64_t NowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

using common::LatencyHistogram;
using common::TempDir;

inline uint64_t DirBytes(const std::string& dir) {
  uint64_t n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) n += e.file_size(ec);
  }
  return n;
}

// A "VmRSS:" style field of /proc/self/status, in bytes (0 if absent).
inline uint64_t ProcStatusBytes(std::string_view field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.compare(0, field.size(), field) == 0 && line.size() > field.size() &&
        line[field.size()] == ':') {
      return std::strtoull(line.c_str() + field.size() + 1, nullptr, 10) * 1024;
    }
  }
  return 0;
}

// Loads a store fast: keeps up to `window` AppendAsync calls in flight so the engine's
// committer batches them (setup only; the timed benchmarks use their own loops).
class AsyncLoader {
 public:
  AsyncLoader(Db* db, std::string ns, AppendOptions options, ptrdiff_t window = 4096)
      : db_(db), ns_(std::move(ns)), options_(options), window_(window), slots_(window) {}
  // `timeline` and `payload` must stay valid until Finish().
  void Append(std::string_view timeline, std::string_view payload) {
    slots_.acquire();
    db_->AppendAsync(ns_, timeline, payload, options_, [this](Result<AppendResult> r) {
      if (!r.ok()) {
        std::lock_guard l(mu_);
        if (error_.ok()) error_ = r.status();
      }
      slots_.release();
    });
  }
  // Waits for every append; returns the first error.
  Status Finish() {
    for (ptrdiff_t i = 0; i < window_; ++i) slots_.acquire();
    slots_.release(window_);
    std::lock_guard l(mu_);
    return error_;
  }

 private:
  Db* db_;
  std::string ns_;
  AppendOptions options_;
  ptrdiff_t window_;
  std::counting_semaphore<1 << 20> slots_;
  std::mutex mu_;
  Status error_;
};

}  // namespace tldb::bench
