// The lock contract of a namespace (engine/src/store/namespace_state.h): an fdatasync runs
// without the namespace's reader/writer lock, so reads — and appends to other namespaces —
// complete while a sync is parked in the middle, and appends queued behind it complete once it
// finishes, none lost; a compaction planning pass parked in the middle holds no lock, so
// appends and reads of its namespace complete meanwhile.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "io/sim_file_system.h"
#include "tldb/db.h"
#include "tldb/file_system.h"
#include "util/sync_gated_file_system.h"
#include "util/test_hook.h"

namespace tldb {
namespace {

// A gate that parks every fdatasync of files whose path contains `match` while closed.
class Gate : public testing::SyncGate {
 public:
  void Close(std::string match) {
    std::lock_guard l(mu_);
    closed_ = true;
    match_ = std::move(match);
    parked_ = 0;
  }
  void Open() {
    std::lock_guard l(mu_);
    closed_ = false;
    cv_.notify_all();
  }
  // Waits until a sync is parked.
  void AwaitParked() {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return parked_ > 0; });
  }
  Status Sync(const std::string& path, WritableFile& file) override {
    {
      std::unique_lock l(mu_);
      if (closed_ && path.find(match_) != std::string::npos) {
        ++parked_;
        cv_.notify_all();
        cv_.wait(l, [&] { return !closed_; });
      }
    }
    return file.Sync();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
  std::string match_;
  int parked_ = 0;
};

class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Options o;
    o.file_system =
        std::make_shared<testing::SyncGatedFileSystem>(std::make_shared<SimFileSystem>(), &gate_);
    o.prezero = Options::Prezero::kOff;
    o.background_maintenance = false;
    db_ = std::move(Db::Open("/db", o).value());
    ASSERT_TRUE(db_->CreateNamespace("a", {}).ok());
    ASSERT_TRUE(db_->CreateNamespace("b", {}).ok());
  }
  void TearDown() override {
    gate_.Open();
    if (db_) {
      ASSERT_TRUE(db_->Close().ok());
    }
  }
  static AppendOptions Buffered() {
    AppendOptions o;
    o.durability = Durability::kBuffered;
    return o;
  }
  Gate gate_;
  std::unique_ptr<Db> db_;
};

TEST_F(GroupCommitTest, ReadsAndOtherNamespacesProceedWhileASyncIsParked) {
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(db_->Append("a", "t", "m" + std::to_string(i), Buffered()).ok());
  }
  gate_.Close("/a/");
  auto sync = std::async(std::launch::async, [&] { return db_->Sync(); });
  gate_.AwaitParked();  // namespace a's fdatasync is in the middle
  // Reads of the namespace whose sync is parked complete (they would wait for an exclusive
  // lock held across the fdatasync).
  auto got = db_->Get("a", "t", 7);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->payload, "m6");
  ScanOptions latest{.direction = Direction::kBackward, .limit = 20};
  auto page = db_->Scan("a", "t", latest);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 20u);
  EXPECT_EQ(page->front().seq, 50u);
  // An append to another namespace completes, durably.
  auto other = db_->Append("b", "t", "x");
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_EQ(other->seq, 1u);
  // An append to the parked namespace queues behind the sync and is not lost.
  auto queued = std::async(std::launch::async, [&] { return db_->Append("a", "t", "after"); });
  EXPECT_EQ(sync.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  gate_.Open();
  ASSERT_TRUE(sync.get().ok());
  auto r = queued.get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->seq, 51u);
  EXPECT_EQ(db_->Get("a", "t", 51)->payload, "after");
}

TEST_F(GroupCommitTest, ReadsProceedWhileAGroupsFdatasyncIsParked) {
  ASSERT_TRUE(db_->Append("a", "t", "first").ok());
  gate_.Close("/a/");
  auto slow = std::async(std::launch::async, [&] { return db_->Append("a", "t", "second"); });
  gate_.AwaitParked();
  // The parked group is not visible yet, and what was committed before it reads normally.
  EXPECT_EQ(db_->Get("a", "t", 1)->payload, "first");
  EXPECT_EQ(db_->Get("a", "t", 2).status().code(), Status::Code::kNotFound);
  const std::string_view keys[] = {"t"};
  EXPECT_EQ(db_->LastSeq("a", keys).value().at(0), 1u);
  gate_.Open();
  auto r = slow.get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(db_->Get("a", "t", 2)->payload, "second");
}

TEST_F(GroupCommitTest, AppendsAndReadsProceedWhileAPlanningPassIsParked) {
  NamespaceOptions o;
  o.ttl_ms = 86'400'000;  // a TTL namespace: the planner judges every sealed segment
  o.segment_bytes_max = kSegmentBytesMin;
  ASSERT_TRUE(db_->CreateNamespace("c", o).ok());
  const std::string payload(300, 'x');
  for (int i = 0; i < 800; ++i) ASSERT_TRUE(db_->Append("c", "t", payload, Buffered()).ok());
  std::mutex mu;
  std::condition_variable cv;
  bool parked = false, release = false;
  SetTestHook("plan.between_batches", [&] {
    std::unique_lock l(mu);
    if (release) return;
    parked = true;
    cv.notify_all();
    cv.wait(l, [&] { return release; });
  });
  auto compact = std::async(std::launch::async, [&] { return db_->Compact("c", {}); });
  {
    std::unique_lock l(mu);
    cv.wait(l, [&] { return parked; });
  }
  auto r = db_->Append("c", "t", "during the plan");  // needs the lock exclusively
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->seq, 801u);
  EXPECT_EQ(db_->Get("c", "t", 801)->payload, "during the plan");
  EXPECT_EQ(compact.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  {
    std::lock_guard l(mu);
    release = true;
    cv.notify_all();
  }
  ASSERT_TRUE(compact.get().ok());
  ClearTestHooks();
  EXPECT_EQ(db_->Get("c", "t", 1)->payload, payload);
}

// A commit takes the namespace's lock exclusively, so maintenance holds it shared for a bounded
// amount of work: a few thousand messages, however few records or index entries carry them
// (one hold over 4,096 fan-out records of 2,000 members each kept appends waiting 0.6 s).
TEST_F(GroupCommitTest, MaintenanceLetsGoOfTheLockEveryFewThousandFanoutTargets) {
  constexpr int kRecords = 20;
  constexpr int kMembers = 3000;  // each record more than half of a hold's work
  std::vector<std::string> keys;
  for (int i = 0; i < kMembers; ++i) keys.push_back("member" + std::to_string(i));
  const std::vector<std::string_view> members(keys.begin(), keys.end());
  for (int i = 0; i < kRecords; ++i) {
    ASSERT_TRUE(db_->AppendFanout("a", members, "group message", Buffered()).ok());
  }
  std::atomic<int> plan_holds{0}, decide_holds{0};
  SetTestHook("plan.between_batches", [&] { ++plan_holds; });
  SetTestHook("compact.between_batches", [&] { ++decide_holds; });
  CompactOptions full;
  full.full = true;  // rolls the records into a sealed segment and rewrites it
  ASSERT_TRUE(db_->Compact("a", full).ok());
  ClearTestHooks();
  // Planning: 3,000 index entries of 20 messages each, about 195 entries per hold.
  EXPECT_GE(plan_holds.load(), kMembers * kRecords / 4096);
  // Deciding: records are resolved, then judged, two of 3,000 targets per hold.
  EXPECT_GE(decide_holds.load(), kRecords);
  auto r = db_->Scan("a", "member7", {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->size(), static_cast<size_t>(kRecords));
}

// FLOORS are collected from the timeline table a batch of timelines per hold of the lock, not in
// one hold over every timeline (floors.cc).
TEST_F(GroupCommitTest, FloorsLetGoOfTheLockEveryFewTensOfThousandsOfTimelines) {
  constexpr int kRecords = 50, kMembers = 3000;  // 150,000 timelines
  for (int i = 0; i < kRecords; ++i) {
    std::vector<std::string> keys;
    for (int m = 0; m < kMembers; ++m) keys.push_back(std::to_string(i) + "/" + std::to_string(m));
    const std::vector<std::string_view> members(keys.begin(), keys.end());
    ASSERT_TRUE(db_->AppendFanout("a", members, "group message", Buffered()).ok());
  }
  std::atomic<int> holds{0};
  SetTestHook("floors.between_batches", [&] { ++holds; });
  CompactOptions full;
  full.full = true;
  ASSERT_TRUE(db_->Compact("a", full).ok());
  ClearTestHooks();
  EXPECT_GE(holds.load(), kRecords * kMembers / (64 * 1024) + 1);
  auto r = db_->Scan("a", "49/2999", {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->size(), 1u);
}

}  // namespace
}  // namespace tldb
