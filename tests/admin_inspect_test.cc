// tldb inspect and dump (the admin library), and the formats they print: base64 and export
// lines; on plain stores and on stores that went through maintenance and compaction.
#include "admin_test_util.h"

namespace tldb::admin {
namespace {

TEST(AdminFormatTest, Base64RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    auto back = Base64Decode(Base64Encode(bytes));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, bytes);
    bytes.push_back(static_cast<char>(i * 37));
  }
  EXPECT_EQ(Base64Encode("hi"), "aGk=");
  EXPECT_FALSE(Base64Decode("a*c=").ok());
  EXPECT_FALSE(Base64Decode("abc").ok());
}

TEST(AdminFormatTest, ExportLineKeepsArbitraryBytes) {
  const std::string key("k\xff\x00", 3), cmid = "caf\xc3\xa9", payload("\x00\x01", 2);
  const std::string line = FormatExportLine("store", key, 5, -3, cmid, payload);
  EXPECT_NE(line.find("\"timeline_b64\""), std::string::npos) << line;
  auto back = ParseExportLine(line);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->timeline, key);
  EXPECT_EQ(back->message.client_msg_id, cmid);
  EXPECT_EQ(back->message.payload, payload);
  EXPECT_EQ(back->message.seq, 5u);
  EXPECT_EQ(back->message.timestamp_ms, -3);
  EXPECT_FALSE(ParseExportLine("{\"ns\":\"s\",\"timeline\":\"t\",\"seq\":0}").ok());
  EXPECT_FALSE(ParseExportLine("not json").ok());
}

TEST_F(AdminTest, InspectListsNamespacesSegmentsAndTotals) {
  std::ostringstream out;
  ASSERT_TRUE(Inspect(*fs_, dir_, {}, out).ok());
  const std::string text = out.str();
  EXPECT_NE(text.find("store/0000000000000001.seg  sealed"), std::string::npos) << text;
  EXPECT_NE(text.find("active"), std::string::npos);
  EXPECT_NE(text.find("sync/0000000000000001.seg"), std::string::npos);
  EXPECT_NE(text.find(std::to_string(messages_) + " messages"), std::string::npos) << text;
  EXPECT_NE(text.find("65536"), std::string::npos);  // segment_bytes_max

  std::ostringstream json;
  ASSERT_TRUE(Inspect(*fs_, dir_, {true, "store"}, json).ok());
  EXPECT_NE(json.str().find("\"type\":\"totals\""), std::string::npos);
  EXPECT_EQ(json.str().find("\"ns\":\"sync\""), std::string::npos) << "filtered by --ns";

  std::ostringstream one;
  ASSERT_TRUE(Inspect(*fs_, Seg(1), {}, one).ok());
  EXPECT_NE(one.str().find("header: ok"), std::string::npos) << one.str();
  EXPECT_NE(one.str().find("index: " + Idx(1)), std::string::npos) << one.str();
  EXPECT_NE(one.str().find("conv:"), std::string::npos);
}

TEST_F(AdminTest, DumpFiltersAndPrintsBinaryAsBase64) {
  DumpOptions o;
  o.timeline = "conv:1";
  o.from_seq = 3;
  o.limit = 2;
  std::ostringstream out;
  ASSERT_TRUE(Dump(*fs_, dir_, o, out).ok());
  const std::string text = out.str();
  EXPECT_NE(text.find("\tseq 3\t"), std::string::npos) << text;
  EXPECT_NE(text.find("\tseq 4\t"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);

  std::ostringstream binary;
  ASSERT_TRUE(Dump(*fs_, dir_, {false, "store", "conv:1", 3, 1}, binary).ok());
  EXPECT_NE(binary.str().find("b64:" + Base64Encode(std::string("\x00\x01\xff binary", 10))),
            std::string::npos)
      << binary.str();  // message 7 is conv:1 seq 3

  DumpOptions fan;
  fan.json = true;
  fan.timeline = "inbox:b";
  std::ostringstream json;
  ASSERT_TRUE(Dump(*fs_, dir_, fan, json).ok());
  const std::string lines = json.str();
  EXPECT_NE(lines.find("\"type\":\"fanout\",\"flags\":0,\"targets\":3,\"client_msg_id\":\"f10\""),
            std::string::npos)
      << lines.substr(0, 400);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 30);
}

TEST_F(AdminTest, InspectShowsGenerationsCompressionMutationsAndFloors) {
  MakeMaintainedStore(ChatDir());
  InspectOptions o;
  o.json = true;
  std::ostringstream json;
  ASSERT_TRUE(Inspect(*fs_, ChatDir(), o, json).ok());
  uint64_t compressed = 0, recalls = 0, edits = 0, trims = 0, floors = 0;
  double min_live = 1.0, max_ratio = 0.0;
  std::istringstream lines(json.str());
  for (std::string l; std::getline(lines, l);) {
    auto j = nlohmann::json::parse(l);
    if (j["type"] == "segment") {
      if (j["compressed"] == true) {
        ++compressed;
        EXPECT_GT(j["gen"].get<uint64_t>(), 0u);
        EXPECT_GT(j["blocks"].get<uint64_t>(), 0u);
        max_ratio = std::max(max_ratio, j["compression_ratio"].get<double>());
      }
      recalls += j["recalls"].get<uint64_t>();
      edits += j["edits"].get<uint64_t>();
      trims += j["trims"].get<uint64_t>();
      min_live = std::min(min_live, j["live_fraction"].get<double>());
    }
    if (j["type"] == "namespace" && j["ns"] == "chat") {
      floors = j["floors"].size();
      EXPECT_EQ(j["floors"][0]["timeline"], "gone");
      EXPECT_EQ(j["floors"][0]["last_seq"], 5);
      EXPECT_EQ(j["compact_pending"], false);
    }
  }
  EXPECT_EQ(compressed, 1u);
  EXPECT_GT(max_ratio, 2.0) << "repetitive payloads compress well";
  EXPECT_LT(min_live, 1.0) << "the recall of seq 20 and the edit of seq 30 hit the output";
  EXPECT_GE(recalls, 1u);  // recall of 20 (5 was compacted away with its message)
  EXPECT_GE(edits, 1u);    // edit of 30 (7 became the message in the output)
  EXPECT_GE(trims, 1u);    // conv:b's trim and gone's delete are kept in the output
  EXPECT_EQ(floors, 1u);

  std::ostringstream text;
  ASSERT_TRUE(Inspect(*fs_, ChatDir(), {}, text).ok());
  EXPECT_NE(text.str().find("floor: timeline 'gone' last seq 5"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("zstd"), std::string::npos) << text.str();

  std::ostringstream one;
  ASSERT_TRUE(Inspect(*fs_, Compressed(ChatDir()).path, {}, one).ok());
  EXPECT_NE(one.str().find("(compressed)"), std::string::npos) << one.str();
  EXPECT_NE(one.str().find("zstd blocks"), std::string::npos) << one.str();
  EXPECT_NE(one.str().find("file_offset"), std::string::npos) << "block table: " << one.str();
  EXPECT_NE(one.str().find("trim"), std::string::npos) << "maintenance entries: " << one.str();
}

TEST_F(AdminTest, DumpDecodesMaintenanceRecordsAndCompressedSegments) {
  MakeMaintainedStore(ChatDir());
  DumpOptions o;
  o.timeline = "conv:a";
  std::ostringstream all;
  ASSERT_TRUE(Dump(*fs_, ChatDir(), o, all).ok());
  EXPECT_NE(all.str().find("\ttarget 20\t"), std::string::npos) << all.str();
  EXPECT_NE(all.str().find("recall of seq 20"), std::string::npos);
  EXPECT_NE(all.str().find("edit of seq 30\tflags=0\t\"edited thirty\""), std::string::npos);

  const SegmentRef out = Compressed(ChatDir());
  DumpOptions q;
  q.json = true;
  q.timeline = "conv:a";
  q.from_seq = 7;
  q.limit = 2;
  std::ostringstream seg;
  ASSERT_TRUE(Dump(*fs_, out.path, q, seg).ok());
  std::istringstream lines(seg.str());
  std::vector<nlohmann::json> got;
  for (std::string l; std::getline(lines, l);) got.push_back(nlohmann::json::parse(l));
  ASSERT_EQ(got.size(), 2u) << seg.str();
  EXPECT_EQ(got[0]["seq"], 7);
  EXPECT_EQ(got[0]["payload"], "edited seven") << "the edit became the message in the output";
  EXPECT_EQ(got[1]["seq"], 8);

  DumpOptions t;
  t.timeline = "gone";
  std::ostringstream gone;
  ASSERT_TRUE(Dump(*fs_, out.path, t, gone).ok());
  EXPECT_NE(gone.str().find("trim below seq 6"), std::string::npos) << gone.str();
  EXPECT_EQ(gone.str().find("\tmessage"), std::string::npos) << gone.str();
}

}  // namespace
}  // namespace tldb::admin
