// The worked examples of docs/protocol.md (section 8), read from the page itself: every frame
// the page shows, in its order, must be byte for byte what the codec encodes for the message
// the text describes, and must parse and decode. A change to the page or to the codec that
// makes them disagree fails here.
// The same frames, and a few requests the page does not show, seed the fuzz corpus:
//   TLDB_PROTOCOL_EXAMPLES=1 ./protocol_doc_test   (hex dumps in the page's layout)
//   TLDB_WRITE_CORPUS=tests/fuzz/corpus ./protocol_doc_test --gtest_filter=*CodecWrites
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "protocol/codes.h"
#include "protocol/frame.h"
#include "protocol/messages.h"

namespace tldb::proto {
namespace {

template <typename M>
std::string Body(const M& m) {
  std::string s;
  WireWriter w(&s);
  Encode(m, w);
  return s;
}

std::string MakeFrame(Op op, uint16_t flags, uint64_t id, const std::string& body) {
  return EncodeFrame(static_cast<uint8_t>(op), flags, id, body);
}

// The page's layout: "0000: 54 4c ..." lines of 16 bytes.
std::string Hex(std::string_view s) {
  std::string out;
  char buf[32];
  for (size_t i = 0; i < s.size(); ++i) {
    if (i % 16 == 0) {
      std::snprintf(buf, sizeof(buf), "%s%04zx:", i ? "\n" : "", i);
      out += buf;
    }
    std::snprintf(buf, sizeof(buf), " %02x", static_cast<uint8_t>(s[i]));
    out += buf;
  }
  return out;
}

struct Example {
  std::string name;
  std::string frame;  // one frame, or several for the pipelining example
  bool on_page;       // shown in docs/protocol.md section 8 (in this order); else a seed only
};

// What the codec writes for each example the page describes, in the page's order.
std::vector<Example> CodecExamples() {
  std::vector<Example> ex;
  auto add = [&](std::string name, std::string frame, bool on_page = true) {
    ex.push_back({std::move(name), std::move(frame), on_page});
  };
  add("hello_request", MakeFrame(Op::kHello, 0, 0, Body(HelloRequest{1, "cli", ""})));
  HelloResponse h;
  h.server_name = "tldb-server/0.1.0";
  h.frame_body_bytes_max = 4u << 20;
  h.payload_bytes_max = 1u << 20;
  h.inflight_requests_max = 1024;
  h.fanout_timelines_max = 10000;
  h.wait_timeout_ms_max = 60000;
  h.grants = {{"*", 7}};
  add("hello_response", MakeFrame(Op::kHello, kFlagResponse, 0, Body(h)));
  add("append_request", MakeFrame(Op::kAppend, 0, 1,
                                  Body(AppendRequest{"store", "conv:1", "m-1", false, 0,
                                                     Durability::kDefault, "hello"})));
  std::string ar;
  WireWriter arw(&ar);
  EncodeAppendResult({1, 1795962519049, false}, arw);
  add("append_response", MakeFrame(Op::kAppend, kFlagResponse, 1, ar));
  add("scan_request",
      MakeFrame(Op::kScan, 0, 2,
                Body(ScanRequest{"store", "conv:1", 0, 0, Direction::kBackward, 20, 0})));
  std::string sr;
  WireWriter srw(&sr);
  EncodeMessages({{1, 1795962519049, "m-1", "hello"}}, srw);
  add("scan_response", MakeFrame(Op::kScan, kFlagResponse, 2, sr));
  add("error_response", MakeFrame(Op::kGet, kFlagResponse | kFlagError, 3,
                                  Body(ErrorBody{1, "timeline 'conv:1' has no seq 9"})));
  add("mutate_request", MakeFrame(Op::kMutate, 0, 13,
                                  Body(MutateRequest{MutationKind::kRecall, "store", "conv:1", 1,
                                                     Durability::kDefault, ""})));
  std::string mr;
  WireWriter mrw(&mr);
  EncodeMutationResult({1, false}, mrw);
  add("mutate_response", MakeFrame(Op::kMutate, kFlagResponse, 13, mr));
  add("mutate_edit_request", MakeFrame(Op::kMutate, 0, 14,
                                       Body(MutateRequest{MutationKind::kEdit, "store", "conv:1", 2,
                                                          Durability::kDefault, "fixed"})));
  NamespaceOptions so;
  so.ttl_ms = 86'400'000;
  add("ns_set_options_request",
      MakeFrame(Op::kNsSetOptions, 0, 15, Body(NsSetOptionsRequest{"sync", kOptTtlMs, so})));
  add("compact_request", MakeFrame(Op::kCompact, 0, 16, Body(CompactRequest{"store", false})));
  add("compact_response", MakeFrame(Op::kCompact, kFlagResponse, 16, Body(CompactResponse{1})));
  CompactStatusResponse cs;
  cs.job_id = 1;
  cs.ns = "store";
  cs.state = CompactState::kRunning;
  cs.progress = {4, 1, 67108864, 20971520, 150000, 350000, 0};
  add("compact_status_response", MakeFrame(Op::kCompactStatus, kFlagResponse, 17, Body(cs)));
  add("read_multi_request",
      MakeFrame(Op::kReadMulti, 0, 18,
                Body(ReadMultiRequest{"store", 1, 0, 0, {{"g:1", 1}, {"g:2", 0}}})));
  ReadMultiResponse rm;
  rm.timelines.push_back({3, true, {{2, 1795962519049, "", "hi"}}});
  rm.timelines.push_back({0, false, {}});
  add("read_multi_response", MakeFrame(Op::kReadMulti, kFlagResponse, 18, Body(rm)));
  add("wait_messages_request",
      MakeFrame(Op::kWait, 0, 19, Body(WaitRequest{"store", "c", 3, 30000, true, 100, 0})));
  WaitMessagesResponse wm{true, {4, false, {{4, 1795962519050, "", "yo"}}}};
  add("wait_messages_response", MakeFrame(Op::kWait, kFlagResponse, 19, Body(wm)));
  add("pipeline", MakeFrame(Op::kPing, 0, 10, Body(PingRequest{""})) +
                      MakeFrame(Op::kStats, 0, 11, "") + MakeFrame(Op::kNsList, 0, 12, ""));
  // Seeds only (the page describes COMPACT_STATUS's request body in words).
  add("compact_status_request", MakeFrame(Op::kCompactStatus, 0, 17, Body(CompactStatusRequest{1})),
      false);
  add("ping_request", MakeFrame(Op::kPing, 0, 4, Body(PingRequest{"hi"})), false);
  add("wait_request", MakeFrame(Op::kWait, 0, 5, Body(WaitRequest{"store", "c", 1, 30000})), false);
  add("subscribe_request",
      MakeFrame(Op::kSubscribe, 0, 6, Body(SubscribeRequest{"store", "c", 0, 1})), false);
  add("lastseq_request", MakeFrame(Op::kLastSeq, 0, 7, Body(LastSeqRequest{"store", {"a"}})),
      false);
  add("cursor_request",
      MakeFrame(Op::kCursorGet, 0, 8, Body(CursorGetRequest{"d", "store", {"a"}})), false);
  add("fanout_request",
      MakeFrame(Op::kAppendFanout, 0, 9,
                Body(AppendFanoutRequest{"store", {"a", "b"}, "", Durability::kSync, "x"})),
      false);
  return ex;
}

// The frames of the page's section 8, in order: each is the bytes of the hex lines inside
// ``` blocks ("OFFS: hh hh ..."), a new frame starting at offset 0000. A line whose offset is
// not where its frame ends, or a hex-like line that does not parse, is an error.
struct PageFrames {
  std::vector<std::string> frames;
  std::vector<std::string> errors;
};

PageFrames ReadPageFrames(const std::string& path) {
  PageFrames out;
  std::ifstream in(path);
  if (!in) {
    out.errors.push_back("cannot read " + path);
    return out;
  }
  static const std::regex kLine(R"(^([0-9a-f]{4}):((?: [0-9a-f]{2})+)$)");
  bool in_section = false, in_block = false;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.starts_with("## ")) {
      in_section = line.starts_with("## 8. Worked examples");
      continue;
    }
    if (!in_section) continue;
    if (line.starts_with("```")) {
      in_block = !in_block;
      continue;
    }
    if (!in_block || line.empty()) continue;
    std::smatch m;
    if (!std::regex_match(line, m, kLine)) {
      out.errors.push_back("line " + std::to_string(lineno) + " is not a hex line: " + line);
      continue;
    }
    const size_t offset = std::stoul(m[1].str(), nullptr, 16);
    if (offset == 0) out.frames.emplace_back();
    if (out.frames.empty() || out.frames.back().size() != offset) {
      out.errors.push_back("line " + std::to_string(lineno) + ": offset " + m[1].str() +
                           " does not continue its frame");
      continue;
    }
    std::istringstream bytes(m[2].str());
    std::string b;
    while (bytes >> b) out.frames.back().push_back(static_cast<char>(std::stoul(b, nullptr, 16)));
  }
  if (in_block) out.errors.push_back("a ``` block of section 8 is not closed");
  return out;
}

TEST(ProtocolDocTest, EveryWorkedExampleOnThePageIsWhatTheCodecWrites) {
  const PageFrames page = ReadPageFrames(TLDB_PROTOCOL_DOC);
  for (const auto& e : page.errors) ADD_FAILURE() << "docs/protocol.md: " << e;
  std::vector<Example> want;
  for (auto& e : CodecExamples()) {
    if (e.on_page) want.push_back(std::move(e));
  }
  ASSERT_EQ(page.frames.size(), want.size())
      << "docs/protocol.md section 8 shows " << page.frames.size() << " frames, the codec's list "
      << want.size();
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(Hex(page.frames[i]), Hex(want[i].frame))
        << "docs/protocol.md example " << i + 1 << " (" << want[i].name << ")";
  }
  if (std::getenv("TLDB_PROTOCOL_EXAMPLES")) {
    for (const auto& e : CodecExamples())
      std::printf("%s (%zu bytes)\n%s\n\n", e.name.c_str(), e.frame.size(), Hex(e.frame).c_str());
  }
  if (const char* dir = std::getenv("TLDB_WRITE_CORPUS")) {
    for (const auto& e : CodecExamples()) {
      std::ofstream(std::string(dir) + "/" + e.name, std::ios::binary) << e.frame;
    }
  }
}

// Each frame on the page is whole (its length field covers exactly its body) and decodes: a
// request as its opcode's request, an error as an error body (the other responses are the
// codec's bytes, checked above).
TEST(ProtocolDocTest, EveryWorkedExampleParsesAndDecodes) {
  const PageFrames page = ReadPageFrames(TLDB_PROTOCOL_DOC);
  ASSERT_FALSE(page.frames.empty());
  size_t frames = 0;
  for (const std::string& bytes : page.frames) {
    size_t off = 0;
    while (off < bytes.size()) {
      Frame f;
      const ParseResult r = ParseFrame(bytes.data() + off, bytes.size() - off, 1 << 20, &f);
      ASSERT_EQ(r.outcome, ParseOutcome::kFrame) << Hex(bytes);
      if (f.header.flags & kFlagError) {
        ErrorBody e;
        EXPECT_TRUE(Decode(f.body, &e)) << Hex(bytes);
      } else if (!(f.header.flags & kFlagResponse)) {
        EXPECT_TRUE(DecodeAnyRequest(f.header.op, f.body)) << Hex(bytes);
      }
      off += r.frame_bytes;
      ++frames;
    }
  }
  EXPECT_EQ(frames, page.frames.size() + 2);  // the pipelining example holds three
}

}  // namespace
}  // namespace tldb::proto
