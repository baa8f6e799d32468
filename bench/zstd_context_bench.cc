// Compressing and decompressing one 16 KiB block of chat-like text at level 1 (the compactor's
// block and level) with a fresh zstd context per call (ZSTD_compress, ZSTD_decompress) against
// one context kept and reused (ZSTD_compressCCtx, ZSTD_decompressDCtx), as log/block_codec.cc
// does per thread (docs/benchmarks.md "Compaction").
#include <benchmark/benchmark.h>
#include <zstd.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace {

std::string ChatText(size_t bytes) {
  std::mt19937 rng(1);
  const char* words[] = {"hello ",   "meeting ", "tomorrow ", "ok ",
                         "see you ", "lunch? ",  "sure ",     "the report "};
  std::string s;
  while (s.size() < bytes) {
    s += words[rng() % 8];
    if (rng() % 7 == 0) s += std::to_string(rng());
  }
  s.resize(bytes);
  return s;
}

constexpr size_t kBlockBytes = 16 << 10;
constexpr int kLevel = 1;

void Compress(benchmark::State& state) {
  const bool kept = state.range(0) != 0;
  const std::string raw = ChatText(kBlockBytes);
  std::vector<char> out(ZSTD_compressBound(raw.size()));
  ZSTD_CCtx* c = ZSTD_createCCtx();
  for (auto _ : state) {
    const size_t n =
        kept ? ZSTD_compressCCtx(c, out.data(), out.size(), raw.data(), raw.size(), kLevel)
             : ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), kLevel);
    if (ZSTD_isError(n)) state.SkipWithError("compression failed");
    benchmark::DoNotOptimize(n);
  }
  ZSTD_freeCCtx(c);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * raw.size()));
}

void Decompress(benchmark::State& state) {
  const bool kept = state.range(0) != 0;
  const std::string raw = ChatText(kBlockBytes);
  std::vector<char> z(ZSTD_compressBound(raw.size())), back(raw.size());
  const size_t zn = ZSTD_compress(z.data(), z.size(), raw.data(), raw.size(), kLevel);
  ZSTD_DCtx* d = ZSTD_createDCtx();
  for (auto _ : state) {
    const size_t n = kept ? ZSTD_decompressDCtx(d, back.data(), back.size(), z.data(), zn)
                          : ZSTD_decompress(back.data(), back.size(), z.data(), zn);
    if (n != raw.size()) state.SkipWithError("decompression failed");
    benchmark::DoNotOptimize(back.data());
  }
  ZSTD_freeDCtx(d);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * raw.size()));
}

BENCHMARK(Compress)->ArgName("kept")->Arg(0)->Arg(1);
BENCHMARK(Decompress)->ArgName("kept")->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
