// frame_bench: Google Benchmark suite for the wire protocol's hot paths (issue 6), so that a
// regression in the frame codec shows up per component: building an APPEND frame, finding
// frames in a receive buffer, decoding APPEND / APPEND_FANOUT bodies, and encoding / decoding
// a 20-message scan response. The engine's hot paths (record encode/decode, checksum, index
// lookup, group commit) are in engine_bench.cc.
//
//   build-bench/bench/frame_bench [--benchmark_filter=Frame/Parse]
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "bench_util.h"
#include "protocol/codes.h"
#include "protocol/frame.h"
#include "protocol/messages.h"

namespace {

using namespace tldb;
using namespace tldb::proto;
using tldb::bench::ChatPayload;
using tldb::bench::ConvKey;
using tldb::bench::Rng;

constexpr uint8_t kOpAppend = static_cast<uint8_t>(Op::kAppend);

AppendRequest MakeAppend(const std::string& key, const std::string& payload) {
  AppendRequest m;
  m.ns = "store";
  m.timeline = key;
  m.client_msg_id = "3f1c9a52-7d4e-4b8a-9c1e-2a6b5d8e0f13";
  m.durability = Durability::kSync;
  m.payload = payload;
  return m;
}

std::string AppendBody(const AppendRequest& m) {
  std::string body;
  WireWriter w(&body);
  Encode(m, w);
  return body;
}

void BM_EncodeAppendFrame(benchmark::State& state) {
  Rng rng(1);
  const std::string key = ConvKey(4711), payload = ChatPayload(rng, 200);
  const AppendRequest m = MakeAppend(key, payload);
  std::string out;
  uint64_t id = 0;
  for (auto _ : state) {
    out.clear();
    const size_t start = BeginFrame(&out, kOpAppend, 0, ++id);
    WireWriter w(&out);
    Encode(m, w);
    EndFrame(&out, start);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(out.size()));
}

// ParseFrame over a receive buffer holding 64 APPEND frames back to back.
void BM_ParseFrame(benchmark::State& state) {
  Rng rng(2);
  std::string buf;
  for (int i = 0; i < 64; ++i) {
    const std::string key = ConvKey(static_cast<uint32_t>(i)), payload = ChatPayload(rng, 200);
    buf += EncodeFrame(kOpAppend, 0, static_cast<uint64_t>(i) + 1,
                       AppendBody(MakeAppend(key, payload)));
  }
  size_t off = 0;
  for (auto _ : state) {
    Frame f;
    const ParseResult r = ParseFrame(buf.data() + off, buf.size() - off, 1u << 20, &f);
    if (r.outcome != ParseOutcome::kFrame) {
      state.SkipWithError("parse failed");
      break;
    }
    benchmark::DoNotOptimize(f.body.data());
    off += r.frame_bytes;
    if (off == buf.size()) off = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(buf.size() / 64));
}

void BM_DecodeAppend(benchmark::State& state) {
  Rng rng(3);
  const std::string key = ConvKey(4711), payload = ChatPayload(rng, 200);
  const std::string body = AppendBody(MakeAppend(key, payload));
  for (auto _ : state) {
    AppendRequest m;
    if (!Decode(body, &m)) {
      state.SkipWithError("decode failed");
      break;
    }
    benchmark::DoNotOptimize(m.payload.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
}

// APPEND_FANOUT to range(0) sync timelines: encode + decode of the body.
void BM_FanoutBody(benchmark::State& state, bool decode) {
  Rng rng(4);
  const std::string payload = ChatPayload(rng, 200);
  std::vector<std::string> keys;
  for (int64_t i = 0; i < state.range(0); ++i) keys.push_back("s:" + std::to_string(1000 + i));
  AppendFanoutRequest m;
  m.ns = "store";
  m.payload = payload;
  m.durability = Durability::kSync;
  for (const auto& k : keys) m.timelines.push_back(k);
  std::string body;
  WireWriter w0(&body);
  Encode(m, w0);
  for (auto _ : state) {
    if (decode) {
      AppendFanoutRequest d;
      if (!Decode(body, &d)) {
        state.SkipWithError("decode failed");
        break;
      }
      benchmark::DoNotOptimize(d.timelines.data());
    } else {
      std::string out;
      WireWriter w(&out);
      Encode(m, w);
      benchmark::DoNotOptimize(out.data());
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
}

// A latest-20 scan response: 20 messages of ~200 bytes.
std::vector<Message> TwentyMessages() {
  Rng rng(5);
  std::vector<Message> msgs(20);
  for (size_t i = 0; i < msgs.size(); ++i) {
    msgs[i].seq = 1000 + i;
    msgs[i].timestamp_ms = 1764400000000 + static_cast<int64_t>(i);
    msgs[i].payload = ChatPayload(rng, 200);
  }
  return msgs;
}

void BM_EncodeScanResponse(benchmark::State& state) {
  const auto msgs = TwentyMessages();
  std::string out;
  for (auto _ : state) {
    out.clear();
    WireWriter w(&out);
    EncodeMessages(msgs, w);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(out.size()));
}

void BM_DecodeScanResponse(benchmark::State& state) {
  const auto msgs = TwentyMessages();
  std::string body;
  WireWriter w(&body);
  EncodeMessages(msgs, w);
  for (auto _ : state) {
    std::vector<Message> out;
    if (!DecodeMessages(body, &out)) {
      state.SkipWithError("decode failed");
      break;
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
}

BENCHMARK(BM_EncodeAppendFrame)->Name("Frame/EncodeAppend");
BENCHMARK(BM_ParseFrame)->Name("Frame/Parse");
BENCHMARK(BM_DecodeAppend)->Name("Frame/DecodeAppend");
BENCHMARK_CAPTURE(BM_FanoutBody, encode, false)->Name("Frame/EncodeFanout")->Arg(200);
BENCHMARK_CAPTURE(BM_FanoutBody, decode, true)->Name("Frame/DecodeFanout")->Arg(200);
BENCHMARK(BM_EncodeScanResponse)->Name("Frame/EncodeScan20");
BENCHMARK(BM_DecodeScanResponse)->Name("Frame/DecodeScan20");

}  // namespace

BENCHMARK_MAIN();
