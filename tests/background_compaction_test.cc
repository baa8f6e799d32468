// Options::background_compaction and CompactOptions::expire_only: with background compaction
// off, the maintenance thread still drops expired segments but rewrites nothing; on (the
// default), the same pass compacts a namespace kept forever. Db::Compact with expire_only drops
// expired segments only, and a plain Db::Compact then rewrites what is due.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "io/sim_file_system.h"
#include "tldb/clock.h"
#include "tldb/db.h"

namespace tldb {
namespace {

constexpr TimestampMs kT0 = 1'700'000'000'000;
constexpr uint64_t kDayMs = 24ull * 3600 * 1000;

class BackgroundCompactionTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    fs_ = std::make_shared<SimFileSystem>();
    clock_ = std::make_shared<ManualClock>(kT0);
    Open(false);
    NamespaceOptions forever;  // kept forever: its never-compacted segments are due at once
    forever.segment_bytes_max = 64 << 10;
    ASSERT_TRUE(db_->CreateNamespace("a_store", forever).ok());
    NamespaceOptions ttl = forever;
    ttl.ttl_ms = kDayMs;
    ASSERT_TRUE(db_->CreateNamespace("b_sync", ttl).ok());
    const std::string payload(1000, 'x');
    for (int i = 0; i < 300; ++i) {
      ASSERT_TRUE(db_->Append("a_store", "conv:" + std::to_string(i % 7), payload).ok());
      ASSERT_TRUE(db_->Append("b_sync", "inbox:" + std::to_string(i % 7), payload).ok());
    }
    store_segments_ = db_->DescribeNamespace("a_store")->segments;
    sync_segments_ = db_->DescribeNamespace("b_sync")->segments;
    ASSERT_GE(store_segments_, 4u);
    ASSERT_GE(sync_segments_, 4u);
  }
  void Open(bool background) {
    db_.reset();
    Options o;
    o.clock = clock_;
    o.file_system = fs_;
    o.prezero = Options::Prezero::kInline;
    o.background_maintenance = background;
    o.background_compaction = GetParam();
    o.compaction_bytes_per_s = 0;
    auto db = Db::Open("/db", o);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
  }

  std::shared_ptr<SimFileSystem> fs_;
  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<Db> db_;
  uint64_t store_segments_ = 0, sync_segments_ = 0;
};

TEST_P(BackgroundCompactionTest, MaintenanceThreadCompactsOnlyWhenAskedTo) {
  clock_->Advance(2 * kDayMs);  // every sealed segment of b_sync has expired
  Open(/*background=*/true);    // its first pass runs at once
  // One pass visits the namespaces in name order: once b_sync's segments are dropped, a_store
  // was handled before them. Waits on that event (a generous bound for a loaded machine).
  for (int i = 0; i < 6000 && db_->Stats().segments_expired == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const DbStats st = db_->Stats();
  EXPECT_GE(st.segments_expired, sync_segments_ - 1);  // all sealed ones; the active one stays
  if (GetParam()) {
    EXPECT_GE(st.compactions, 1u);
    EXPECT_LT(db_->DescribeNamespace("a_store")->segments, store_segments_);
  } else {
    EXPECT_EQ(st.compactions, 0u);
    EXPECT_EQ(db_->DescribeNamespace("a_store")->segments, store_segments_);
  }
}

TEST_P(BackgroundCompactionTest, ExpireOnlyDropsExpiredSegmentsAndRewritesNothing) {
  clock_->Advance(2 * kDayMs);
  CompactOptions expire_only;
  expire_only.expire_only = true;
  auto p = db_->Compact("a_store", expire_only);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->segments_total, 0u);
  EXPECT_EQ(db_->DescribeNamespace("a_store")->segments, store_segments_);
  p = db_->Compact("b_sync", expire_only);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_GE(p->segments_expired, sync_segments_ - 1);  // the sealed ones (the idle active too)
  EXPECT_EQ(p->segments_total, 0u);
  EXPECT_EQ(db_->Stats().compactions, 0u);
  // A plain compaction rewrites what was due all along.
  p = db_->Compact("a_store", {});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_GT(p->segments_total, 0u);
  EXPECT_LT(db_->DescribeNamespace("a_store")->segments, store_segments_);
  EXPECT_GE(db_->Stats().compactions, 1u);
}

INSTANTIATE_TEST_SUITE_P(Options, BackgroundCompactionTest, ::testing::Bool(),
                         [](const auto& info) {
                           return info.param ? "BackgroundCompaction" : "NoBackgroundCompaction";
                         });

}  // namespace
}  // namespace tldb
