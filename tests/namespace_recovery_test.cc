// NamespaceRecovery's fold of many index files (IndexMerge): a store reopened from dozens of
// sealed segments serves exactly what it served before it closed, with maintenance records and
// dedupe entries replayed in log order across segments.
#include "store/namespace_recovery.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "io/sim_file_system.h"
#include "tldb/clock.h"
#include "tldb/db.h"
#include "util/sim_options.h"
#include "util/test_hook.h"

namespace tldb {
namespace {

constexpr char kNs[] = "s";

class NamespaceRecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Reopen();
    NamespaceOptions n;
    n.segment_bytes_max = 64 << 10;  // dozens of sealed segments from a few thousand appends
    ASSERT_TRUE(db_->CreateNamespace(kNs, n).ok());
  }
  void Reopen() {
    if (db_) {
      ASSERT_TRUE(db_->Close().ok());
    }
    db_.reset();
    auto db = Db::Open("/db", testing::SimOptions(fs_, clock_));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
  }
  // Everything a reader can see: each timeline's last SeqId and every message of its scan.
  std::map<std::string, std::string> Snapshot(const std::vector<std::string>& timelines) {
    std::map<std::string, std::string> out;
    for (const std::string& t : timelines) {
      std::string_view k = t;
      auto last = db_->LastSeq(kNs, {&k, 1});
      EXPECT_TRUE(last.ok());
      std::string v = "last=" + std::to_string(last.ok() ? (*last)[0] : 0);
      ScanOptions all;
      all.limit = 10'000;
      auto msgs = db_->Scan(kNs, t, all);
      EXPECT_TRUE(msgs.ok()) << msgs.status().ToString();
      if (msgs.ok()) {
        for (const Message& m : *msgs) v += " " + std::to_string(m.seq) + ":" + m.payload;
      }
      out[t] = v;
    }
    return out;
  }

  std::shared_ptr<SimFileSystem> fs_ = std::make_shared<SimFileSystem>();
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>(1'700'000'000'000);
  std::unique_ptr<Db> db_;
};

TEST_F(NamespaceRecoveryTest, ReopenFromManySegmentsServesWhatTheStoreServed) {
  std::vector<std::string> timelines;
  timelines.reserve(300);
  for (int t = 0; t < 300; ++t) timelines.push_back("conv:" + std::to_string(t));
  const std::string payload(300, 'x');
  std::map<std::string, std::pair<Seq, std::string>> cmid_seq;  // seq, payload
  // Rounds of appends over every timeline, so that each timeline has records in many sealed
  // segments; between rounds, edits of one message (three times, in three segments), a recall
  // of an edited message after its edits, and a trim, so that the order in which recovery
  // replays them decides what a read returns.
  for (int round = 0; round < 20; ++round) {
    for (size_t t = 0; t < timelines.size(); ++t) {
      AppendOptions o;
      const std::string cmid = "cm-" + std::to_string(round) + "-" + std::to_string(t);
      if (t % 10 == 0) o.client_msg_id = cmid;
      const std::string p = payload + std::to_string(round);
      auto r = db_->Append(kNs, timelines[t], p, o);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      if (t % 10 == 0) cmid_seq[cmid] = {r->seq, p};
      clock_->Advance(1);
    }
    if (round >= 1 && round <= 3) {
      ASSERT_TRUE(db_->Edit(kNs, "conv:1", 1, "edit " + std::to_string(round)).ok());
      ASSERT_TRUE(db_->Edit(kNs, "conv:2", 1, "edit " + std::to_string(round)).ok());
    }
    if (round == 5) {
      ASSERT_TRUE(db_->Recall(kNs, "conv:2", 1).ok());
    }
    if (round == 6) {
      ASSERT_TRUE(db_->Trim(kNs, "conv:3", 4).ok());
    }
    if (round == 7) {
      ASSERT_TRUE(db_->Edit(kNs, "conv:4", 2, "late edit").ok());
    }
  }
  auto info = db_->DescribeNamespace(kNs);
  ASSERT_TRUE(info.ok());
  ASSERT_GE(info->segments, 20u) << "the test wants many sealed segments";
  const auto before = Snapshot(timelines);
  EXPECT_NE(before.at("conv:1").find("1:edit 3"), std::string::npos) << before.at("conv:1");
  EXPECT_EQ(before.at("conv:2").find(" 1:"), std::string::npos) << before.at("conv:2");

  Reopen();
  EXPECT_EQ(Snapshot(timelines), before);
  // Retries of client_msg_ids from the oldest segments still answer their first SeqId.
  for (const auto& [cmid, sent] : cmid_seq) {
    AppendOptions o;
    o.client_msg_id = cmid;
    const size_t t = std::stoul(cmid.substr(cmid.rfind('-') + 1));
    auto r = db_->Append(kNs, timelines[t], sent.second, o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->seq, sent.first) << cmid;
  }
  // New appends continue every timeline's SeqIds.
  auto r = db_->Append(kNs, "conv:7", "next");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->seq, 21u);
}

// Enough index entries (one per timeline and segment) for recovery to gather them on a second
// thread (NamespaceRecovery::kFoldAheadEntriesMin, 64Ki): every timeline's SeqIds and messages
// come back as they were.
TEST_F(NamespaceRecoveryTest, AFoldGatheredAheadOnASecondThreadLosesNothing) {
  constexpr int kTimelines = 36'000;  // two rounds in different segments: 72,000 entries
  std::vector<std::string> timelines;
  for (int t = 0; t < kTimelines; ++t) timelines.push_back("user:" + std::to_string(t));
  for (int round = 1; round <= 2; ++round) {
    for (const std::string& t : timelines) {
      ASSERT_TRUE(db_->Append(kNs, t, t + "/" + std::to_string(round)).ok());
    }
  }
  ASSERT_GE(db_->DescribeNamespace(kNs).value().segments, 20u);
  std::atomic<int> ahead{0};
  SetTestHook("recover.fold_ahead", [&] { ++ahead; });
  Reopen();
  ClearTestHooks();
  if (std::thread::hardware_concurrency() > 1) {
    EXPECT_EQ(ahead.load(), 1) << "the fold did not gather ahead";
  }
  const std::vector<std::string_view> keys(timelines.begin(), timelines.end());
  auto last = db_->LastSeq(kNs, keys);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  for (int t = 0; t < kTimelines; t += 1) {
    ASSERT_EQ((*last)[static_cast<size_t>(t)], 2u) << timelines[static_cast<size_t>(t)];
  }
  for (int t = 0; t < kTimelines; t += 97) {
    for (Seq seq : {Seq{1}, Seq{2}}) {
      auto m = db_->Get(kNs, timelines[static_cast<size_t>(t)], seq);
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      EXPECT_EQ(m->payload, timelines[static_cast<size_t>(t)] + "/" + std::to_string(seq));
    }
  }
}

}  // namespace
}  // namespace tldb
