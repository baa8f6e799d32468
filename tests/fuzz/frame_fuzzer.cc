// libFuzzer target: arbitrary bytes as a stream of frames through the server's decoder, and
// every body through both the request and the response decoders (the client's side).
//
//   cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang
//   cmake --build build-fuzz --target frame_fuzzer
//   build-fuzz/server/frame_fuzzer tests/fuzz/corpus -max_total_time=60
// Crashes found go into tests/fuzz/corpus/ so protocol_test replays them forever.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "protocol/frame.h"
#include "protocol/messages.h"

namespace {

void DecodeAsResponses(std::string_view body) {
  using namespace tldb::proto;
  tldb::Message m;
  std::vector<tldb::Message> ms;
  std::vector<tldb::AppendResult> ars;
  std::vector<tldb::Seq> seqs;
  std::vector<tldb::NamespaceInfo> nss;
  std::vector<CursorInfo> cs;
  HelloResponse h;
  StatsResponse st;
  ErrorBody e;
  PushMessage p;
  (void)DecodeMessage(body, &m);
  (void)DecodeMessages(body, &ms);
  (void)DecodeAppendResults(body, &ars);
  (void)DecodeSeqs(body, &seqs);
  (void)DecodeNamespaceInfos(body, &nss);
  (void)DecodeCursorInfos(body, &cs);
  (void)Decode(body, &h);
  (void)Decode(body, &st);
  (void)Decode(body, &e);
  (void)Decode(body, &p);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* p = reinterpret_cast<const char*>(data);
  size_t off = 0;
  while (off < size) {
    tldb::proto::Frame f;
    auto r = tldb::proto::ParseFrame(p + off, size - off, 1u << 20, &f);
    if (r.outcome != tldb::proto::ParseOutcome::kFrame) break;
    (void)tldb::proto::DecodeAnyRequest(f.header.op, f.body);
    DecodeAsResponses(f.body);
    off += r.frame_bytes;
  }
  DecodeAsResponses(std::string_view(p, size));
  return 0;
}
