// A roll writes its index file without an fdatasync (store/unsynced_indexes.h): a power loss
// before it is synced costs a rebuild of that index at the next open and no message; Close, a
// maintenance pass and a roll that finds too many waiting sync them.
#include "store/unsynced_indexes.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "io/sim_file_system.h"
#include "recovery_test_util.h"  // SmallSegments
#include "tldb/db.h"
#include "util/sim_options.h"
#include "util/sync_gated_file_system.h"
#include "util/test_hook.h"

namespace tldb {
namespace {

using testing::SimOptions;

constexpr char kDir[] = "/db";

class UnsyncedIndexesTest : public ::testing::Test {
 protected:
  Options StoreOptions() {
    Options o = SimOptions(fs_, Clock::System());
    o.on_event = [this](std::string_view e) {
      if (e.find("rebuilding index of") != std::string::npos) ++rebuilt_;
    };
    return o;
  }
  void SetUp() override {
    db_ = std::move(Db::Open(kDir, StoreOptions()).value());
    ASSERT_TRUE(db_->CreateNamespace("store", SmallSegments()).ok());
  }
  // Appends until `rolls` more segments were sealed (64 KiB segments, 1 KiB messages).
  void AppendRolls(int rolls) {
    const std::string payload(1000, 'p');
    const uint64_t until = sealed_ + static_cast<uint64_t>(rolls);
    while (sealed_ < until) {
      ASSERT_TRUE(db_->Append("store", "t", payload).ok());
      ++appended_;
      auto info = db_->DescribeNamespace("store");
      ASSERT_TRUE(info.ok());
      sealed_ = info->segments - 1;  // all but the active one
    }
  }
  // The process dies with the store open; then the power goes, and unsynced bytes read back
  // as garbage.
  void CrashAndLosePower() {
    fs_->CrashAfterOps(0);
    db_.reset();
    fs_->PowerLoss(UnsyncedMode::kGarbageFill, 7);
  }
  void ReopenAndCheckEveryMessage() {
    auto reopened = Db::Open(kDir, StoreOptions());
    ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
    db_ = std::move(*reopened);
    const std::string_view keys[] = {"t"};
    EXPECT_EQ(db_->LastSeq("store", keys).value().at(0), appended_);
    ScanOptions all;
    all.limit = 1'000'000;
    all.bytes_max = UINT64_MAX;
    auto r = db_->Scan("store", "t", all);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->size(), appended_);
  }

  std::shared_ptr<SimFileSystem> fs_ = std::make_shared<SimFileSystem>();
  std::unique_ptr<Db> db_;
  uint64_t sealed_ = 0, appended_ = 0;
  int rebuilt_ = 0;
};

TEST_F(UnsyncedIndexesTest, AnIndexLostWithThePowerIsRebuiltFromItsSegment) {
  AppendRolls(1);
  CrashAndLosePower();
  ReopenAndCheckEveryMessage();
  EXPECT_EQ(rebuilt_, 1);  // the index was not synced at the roll, and nothing was lost
}

TEST_F(UnsyncedIndexesTest, CloseSyncsThem) {
  AppendRolls(2);
  ASSERT_TRUE(db_->Close().ok());
  fs_->PowerLoss(UnsyncedMode::kGarbageFill, 7);
  ReopenAndCheckEveryMessage();
  EXPECT_EQ(rebuilt_, 0);
}

TEST_F(UnsyncedIndexesTest, AMaintenancePassSyncsThem) {
  AppendRolls(2);
  CompactOptions pass;
  pass.expire_only = true;  // what the maintenance thread runs with compaction off
  ASSERT_TRUE(db_->Compact("store", pass).ok());
  CrashAndLosePower();
  ReopenAndCheckEveryMessage();
  EXPECT_EQ(rebuilt_, 0);
}

TEST_F(UnsyncedIndexesTest, ARollSyncsThemWhenTooManyWait) {
  // No maintenance runs: the roll that makes kWaitingMax + 1 wait syncs them all.
  AppendRolls(static_cast<int>(UnsyncedIndexes::kWaitingMax) + 2);
  CrashAndLosePower();
  ReopenAndCheckEveryMessage();
  EXPECT_GE(rebuilt_, 1);
  EXPECT_LE(rebuilt_, static_cast<int>(UnsyncedIndexes::kWaitingMax));
}

// A snapshot links sealed files where the file system can (hard links share the unsynced
// bytes): it syncs the indexes first. (The simulated file system copies instead, so the check is
// on the store itself.)
TEST_F(UnsyncedIndexesTest, ASyncedSnapshotSyncsThemBeforeLinkingThem) {
  AppendRolls(1);
  SnapshotOptions o;
  o.sync = true;
  ASSERT_TRUE(db_->Snapshot("/snap", o).ok());
  CrashAndLosePower();
  ReopenAndCheckEveryMessage();
  EXPECT_EQ(rebuilt_, 0);
}

// Counts the fdatasyncs of roll-written index files (their handle keeps the name they were
// written under).
class IndexSyncCounter : public testing::SyncGate {
 public:
  Status Sync(const std::string& path, WritableFile& file) override {
    if (path.ends_with(".idx.tmp")) ++syncs;
    return file.Sync();
  }
  std::atomic<int> syncs{0};
};

// With a preparer thread (the default on a real disk) the roll hands its index to it: synced
// with no maintenance pass, no Close, and fewer than kWaitingMax waiting. Only once the roll is
// done: a sync beside the roll would put the index's bytes into the journal commit that the
// roll's directory fsync waits for (ext4).
TEST(UnsyncedIndexesThreadTest, ThePreparerThreadSyncsThemAfterARoll) {
  IndexSyncCounter counter;
  std::atomic<int> synced_during_roll{-1};
  SetTestHook("roll.before_promote", [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // time for a sync asked early
    synced_during_roll = counter.syncs.load();
  });
  Options o;
  o.file_system =
      std::make_shared<testing::SyncGatedFileSystem>(std::make_shared<SimFileSystem>(), &counter);
  o.prezero = Options::Prezero::kBackground;
  o.background_maintenance = false;
  auto db = std::move(Db::Open(kDir, o).value());
  ASSERT_TRUE(db->CreateNamespace("store", SmallSegments()).ok());
  const std::string payload(1000, 'p');
  while (db->DescribeNamespace("store").value().segments < 2) {
    ASSERT_TRUE(db->Append("store", "t", payload).ok());
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (counter.syncs.load() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ClearTestHooks();
  EXPECT_EQ(synced_during_roll.load(), 0) << "the index was synced while the roll went on";
  EXPECT_EQ(counter.syncs.load(), 1);
  ASSERT_TRUE(db->Close().ok());
}

}  // namespace
}  // namespace tldb
