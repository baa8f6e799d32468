// resync_bench: how long recovery's scan of a 64 MiB active segment takes when the damage is at
// its start, so the resynchronising search (engine/src/log/segment_scan.cc ResyncTail) runs
// over nearly the whole file: docs/reliability.md "Resynchronisation". The image is built in
// memory (records of 200-byte payloads, ~250 bytes each, ~268k records); each case damages it
// once and times ScanSegment + ClassifyTail.
//
//   build/bench/resync_bench [--benchmark_filter=Resync/insert37]
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>

#include "log/record.h"
#include "log/segment_scan.h"

namespace {

using namespace tldb;

constexpr uint64_t kSegmentBytes = 64ull << 20;
constexpr uint64_t kId = 7;

// A full active segment. `group`: records per group commit (1: every append synced, each
// record's synced_through is its own offset; 64: buffered groups sharing one).
std::string Segment(int group) {
  std::string img(kSegmentBytes, '\0');
  std::memcpy(img.data(), "TLDBSEG1", 8);
  uint64_t off = format::kSegmentHeaderBytes, synced = off, rng = 1;
  std::string payload(200, 'x');
  for (uint64_t n = 0;; ++n) {
    const std::string key = "conv:" + std::to_string(n % 1000);
    for (char& c : payload) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      c = static_cast<char>('a' + (rng >> 33) % 26);
    }
    const size_t len = EncodedMessageBytes(key, "", payload);
    if (off + len > kSegmentBytes) break;
    if (n % group == 0) synced = off;
    EncodeMessage(img.data() + off, kId, off, static_cast<uint32_t>(synced), n / 1000 + 1,
                  1'700'000'000'000, key, "", payload);
    off += len;
  }
  return img;
}

void Run(benchmark::State& state, const std::string& img, TailState want) {
  for (auto _ : state) {
    const SegmentScan scan = ScanSegment(img, kId);
    if (ClassifyTail(scan, img.size(), false) != want) state.SkipWithError("unexpected tail");
    benchmark::DoNotOptimize(scan);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * img.size()));
}

// Undamaged: the plain scan, for comparison.
void BM_Clean(benchmark::State& state) {
  static const std::string img = Segment(1);
  Run(state, img, TailState::kClean);
}
// A flipped bit in the first record: every later record verifies at its own offset.
void BM_BitFlip(benchmark::State& state) {
  static const std::string img = [] {
    std::string s = Segment(1);
    s[format::kSegmentHeaderBytes + 40] ^= 1;
    return s;
  }();
  Run(state, img, TailState::kCorrupt);
}
// 37 bytes inserted inside the first record, synced appends: found through synced_through.
void BM_Insert37Synced(benchmark::State& state) {
  static const std::string img = [] {
    std::string s = Segment(1);
    s.insert(format::kSegmentHeaderBytes + 9, std::string(37, '\x5c'));
    return s;
  }();
  Run(state, img, TailState::kCorrupt);
}
// The same in buffered groups of 64, inserted inside the checksum field: the shift is found
// through the next group's first record, chained after the moved one.
void BM_Insert37Buffered(benchmark::State& state) {
  static const std::string img = [] {
    std::string s = Segment(64);
    s.insert(format::kSegmentHeaderBytes + 2 + 250 * 5, std::string(37, '\x5c'));
    return s;
  }();
  Run(state, img, TailState::kCorrupt);
}
// 64 MiB of random bytes after the header (a torn tail of garbage): the header filter's cost.
// One buffered group for the whole segment (every synced_through is 64): the shift is found by
// hashing every candidate offset.
void BM_Insert37OneGroup(benchmark::State& state) {
  static const std::string img = [] {
    std::string s = Segment(1 << 30);
    s.insert(format::kSegmentHeaderBytes + 2 + 250 * 5, std::string(37, '\x5c'));
    return s;
  }();
  Run(state, img, TailState::kCorrupt);
}
void BM_RandomTail(benchmark::State& state) {
  static const std::string img = [] {
    std::string s(kSegmentBytes, '\0');
    std::memcpy(s.data(), "TLDBSEG1", 8);
    uint64_t rng = 3;
    for (size_t i = format::kSegmentHeaderBytes; i < s.size(); ++i) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      s[i] = static_cast<char>(rng >> 56);
    }
    return s;
  }();
  Run(state, img, TailState::kTornTail);
}

BENCHMARK(BM_Clean)->Name("Resync/clean")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BitFlip)->Name("Resync/bitflip")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Insert37Synced)->Name("Resync/insert37_synced")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Insert37Buffered)->Name("Resync/insert37_buffered")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Insert37OneGroup)->Name("Resync/insert37_one_group")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RandomTail)->Name("Resync/random_tail")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
