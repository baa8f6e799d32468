// The retry-dedupe rules of client_msg_id (docs/design.md "Retry-safe appends", docs/protocol.md
// APPEND): the key is (namespace, timeline, client_msg_id); a retry that makes the same message
// (kind, payload, fan-out target set in any order) gets the original results; anything else
// reusing the id is refused with ClientMsgIdReused and writes nothing. Checked in the active
// segment, after recovery, from sealed segments' index files and after compaction.
#include <gtest/gtest.h>

#include <latch>
#include <memory>
#include <string>
#include <vector>

#include "io/sim_file_system.h"
#include "tldb/clock.h"
#include "tldb/db.h"
#include "util/sim_options.h"

namespace tldb {
namespace {

using Targets = std::vector<std::string_view>;

class DedupeTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    db_.reset();
    auto db = Db::Open("/db", testing::SimOptions(fs_, clock_));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    NamespaceOptions small;
    small.segment_bytes_max = 64 << 10;  // one big append rolls it
    ASSERT_TRUE(db_->CreateNamespace("s", small).ok());
  }
  AppendOptions Id(std::string_view cmid) {
    AppendOptions o;
    o.client_msg_id = cmid;
    return o;
  }
  Seq Last(std::string_view tl) {
    auto r = db_->LastSeq("s", Targets{tl});
    EXPECT_TRUE(r.ok());
    return r.ok() ? (*r)[0] : 0;
  }
  void SealAndCompact() {
    CompactOptions o;
    o.full = true;
    auto r = db_->Compact("s", o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  // The fan-out "f-1" to a, b, c (a and c had one message before): seqs a=2, b=1, c=2.
  void FanoutToThree() {
    ASSERT_TRUE(db_->Append("s", "a", "before").ok());
    ASSERT_TRUE(db_->Append("s", "c", "before").ok());
    auto r = db_->AppendFanout("s", Targets{"a", "b", "c"}, "group", Id("f-1"));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->size(), 3u);
    EXPECT_EQ((*r)[0].seq, 2u);
    EXPECT_EQ((*r)[1].seq, 1u);
    EXPECT_EQ((*r)[2].seq, 2u);
    ts_ = (*r)[0].timestamp_ms;
  }
  // What a recognised retry and every refused reuse of "f-1" must answer.
  void ExpectFanoutRules() {
    auto retry = db_->AppendFanout("s", Targets{"c", "a", "b"}, "group", Id("f-1"));
    ASSERT_TRUE(retry.ok()) << retry.status().ToString();
    ASSERT_EQ(retry->size(), 3u);
    const Seq want[] = {2, 2, 1};  // c, a, b: in the retry's order
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_EQ((*retry)[i].seq, want[i]) << i;
      EXPECT_EQ((*retry)[i].timestamp_ms, ts_) << i;
      EXPECT_TRUE((*retry)[i].deduplicated) << i;
    }
    const auto code = Status::Code::kClientMsgIdReused;
    // A superset, a subset, another payload, a plain APPEND under the id to any target.
    EXPECT_EQ(
        db_->AppendFanout("s", Targets{"a", "b", "c", "d"}, "group", Id("f-1")).status().code(),
        code);
    EXPECT_EQ(db_->AppendFanout("s", Targets{"b", "c"}, "group", Id("f-1")).status().code(), code);
    EXPECT_EQ(db_->AppendFanout("s", Targets{"b", "c", "a"}, "other", Id("f-1")).status().code(),
              code);
    auto plain = db_->Append("s", "c", "group", Id("f-1"));
    EXPECT_EQ(plain.status().code(), code);
    EXPECT_NE(plain.status().message().find("'c' at seq 2"), std::string::npos)
        << plain.status().ToString();
    EXPECT_EQ(db_->Append("s", "b", "group", Id("f-1")).status().code(), code);
    // Nothing was written by any of them.
    EXPECT_EQ(Last("a"), 2u);
    EXPECT_EQ(Last("b"), 1u);
    EXPECT_EQ(Last("c"), 2u);
    EXPECT_EQ(Last("d"), 0u);
  }

  std::shared_ptr<SimFileSystem> fs_ = std::make_shared<SimFileSystem>();
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>(1'700'000'000'000);
  std::unique_ptr<Db> db_;
  TimestampMs ts_ = 0;
};

TEST_F(DedupeTest, RetryWithAnotherPayloadIsRefusedAndWritesNothing) {
  auto a = db_->Append("s", "t", "hello", Id("m-1"));
  ASSERT_TRUE(a.ok());
  clock_->Advance(5);
  auto same = db_->Append("s", "t", "hello", Id("m-1"));
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->deduplicated);
  EXPECT_EQ(same->seq, a->seq);
  EXPECT_EQ(same->timestamp_ms, a->timestamp_ms);
  auto other = db_->Append("s", "t", "hello!", Id("m-1"));
  EXPECT_EQ(other.status().code(), Status::Code::kClientMsgIdReused) << other.status().ToString();
  EXPECT_NE(other.status().message().find("another payload"), std::string::npos);
  EXPECT_EQ(Last("t"), 1u);
  // A fan-out reusing an APPEND's id on that timeline is another message too.
  auto fan = db_->AppendFanout("s", Targets{"u", "t"}, "hello", Id("m-1"));
  EXPECT_EQ(fan.status().code(), Status::Code::kClientMsgIdReused);
  EXPECT_EQ(Last("u"), 0u);
  // The key includes the timeline: the id is free on another one.
  auto elsewhere = db_->Append("s", "u", "hello!", Id("m-1"));
  ASSERT_TRUE(elsewhere.ok());
  EXPECT_FALSE(elsewhere->deduplicated);
  // expected_last_seq and durability are not part of the message: a retry still matches.
  AppendOptions o = Id("m-1");
  o.expected_last_seq = 0;
  o.durability = Durability::kBuffered;
  auto cond = db_->Append("s", "t", "hello", o);
  ASSERT_TRUE(cond.ok()) << cond.status().ToString();
  EXPECT_TRUE(cond->deduplicated);
}

TEST_F(DedupeTest, FanoutRetryInAnyOrderInTheActiveSegment) {
  FanoutToThree();
  ExpectFanoutRules();
}

TEST_F(DedupeTest, FanoutRulesHoldAfterRecoveryAndFromASealedSegment) {
  FanoutToThree();
  Reopen();  // the active segment is re-read
  ExpectFanoutRules();
  ASSERT_TRUE(db_->Append("s", "z", std::string(100 << 10, 'x')).ok());  // seals the segment
  ASSERT_TRUE(db_->Append("s", "z", "next").ok());
  ASSERT_GE(db_->DescribeNamespace("s")->segments, 2u);
  ExpectFanoutRules();
  Reopen();  // the window is rebuilt from the sealed segment's index file
  ExpectFanoutRules();
}

TEST_F(DedupeTest, FanoutRulesHoldFromSealedAndCompactedSegments) {
  FanoutToThree();
  SealAndCompact();  // the fan-out now lives in a compacted segment with its index file
  ExpectFanoutRules();
  Reopen();  // the window is rebuilt from the index file
  ExpectFanoutRules();
}

TEST_F(DedupeTest, PipelinedDuplicatesAreOneMessage) {
  std::vector<Status> st(4);
  std::vector<AppendResult> res(4);
  std::latch done(4);
  for (int i = 0; i < 4; ++i) {
    db_->AppendAsync("s", "t", i == 3 ? "different" : "same", Id("p-1"),
                     [&, i](Result<AppendResult> r) {
                       st[i] = r.status();
                       if (r.ok()) res[i] = *r;
                       done.count_down();
                     });
  }
  done.wait();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(st[i].ok()) << st[i].ToString();
    EXPECT_EQ(res[i].seq, 1u);
    EXPECT_EQ(res[i].deduplicated, i != 0);
  }
  EXPECT_EQ(st[3].code(), Status::Code::kClientMsgIdReused);
  EXPECT_EQ(Last("t"), 1u);
}

}  // namespace
}  // namespace tldb
