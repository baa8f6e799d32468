// A roll writes its index file without an fdatasync (store/unsynced_indexes.h): a power loss
// before it is synced costs a rebuild of that index at the next open and no message; Close, a
// maintenance pass and a roll that finds too many waiting sync them.
#include "store/unsynced_indexes.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
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

// An index file that records how it was written back and synced (the paced writeback of
// UnsyncedIndexes::SyncAll); `on_step` runs at each step.
struct WriteBackLog {
  std::vector<std::pair<uint64_t, uint64_t>> steps;  // (offset, length), in order
  bool synced = false;
  std::function<void(size_t)> on_step;
};
class WriteBackRecorder : public WritableFile {
 public:
  WriteBackRecorder(uint64_t size, WriteBackLog* log) : size_(size), log_(log) {}
  Status Write(uint64_t, std::span<const char>) override { return Status::Ok(); }
  Status Sync() override {
    log_->synced = true;
    return Status::Ok();
  }
  Status WriteBack(uint64_t offset, uint64_t len) override {
    log_->steps.emplace_back(offset, len);
    if (log_->on_step) log_->on_step(log_->steps.size());
    return Status::Ok();
  }
  Status Truncate(uint64_t) override { return Status::Ok(); }
  Status Allocate(uint64_t, uint64_t) override { return Status::Ok(); }
  Result<uint64_t> Size() override { return size_; }
  Status Close() override { return Status::Ok(); }

 private:
  uint64_t size_;
  WriteBackLog* log_;
};

// The preparer thread's sync: the index goes to the device in steps at the pace asked for,
// covering it all, before its fdatasync (a commit's fdatasync then carries at most one step).
TEST(UnsyncedIndexesPaceTest, AnIndexIsWrittenBackInPacedStepsBeforeItsSync) {
  SimFileSystem fs;
  ASSERT_TRUE(fs.CreateDir("/d").ok());
  UnsyncedIndexes u;
  WriteBackLog log;
  constexpr uint64_t kSize = (uint64_t{1} << 20) + 100;  // four whole steps and a short one
  u.Add(std::make_unique<WriteBackRecorder>(kSize, &log));
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(u.SyncAll(fs, "/d", /*writeback_bytes_per_s=*/8 << 20).ok());
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(log.steps.size(), 5u);
  uint64_t next = 0;
  for (const auto& [off, len] : log.steps) {
    EXPECT_EQ(off, next);
    EXPECT_LE(len, UnsyncedIndexes::kWriteBackStepBytes);
    next = off + len;
  }
  EXPECT_EQ(next, kSize);
  EXPECT_TRUE(log.synced);
  EXPECT_GE(took, std::chrono::milliseconds(120));  // 1 MiB at 8 MiB/s: the pace was kept
  // Unpaced (every other caller: Close, a snapshot, a maintenance pass): the fdatasync alone.
  WriteBackLog at_once;
  u.Add(std::make_unique<WriteBackRecorder>(kSize, &at_once));
  ASSERT_TRUE(u.SyncAll(fs, "/d").ok());
  EXPECT_TRUE(at_once.steps.empty());
  EXPECT_TRUE(at_once.synced);
}

// Another index arriving while one is paced ends the pace (the fdatasync writes the rest at
// once), so that the pace never lets indexes pile up; the newcomer is synced by the next call.
TEST(UnsyncedIndexesPaceTest, ThePaceEndsWhenAnotherIndexWaits) {
  SimFileSystem fs;
  ASSERT_TRUE(fs.CreateDir("/d").ok());
  UnsyncedIndexes u;
  WriteBackLog first, second;
  first.on_step = [&](size_t step) {
    if (step == 2) u.Add(std::make_unique<WriteBackRecorder>(4096, &second));
  };
  u.Add(std::make_unique<WriteBackRecorder>(uint64_t{64} << 20, &first));
  ASSERT_TRUE(u.SyncAll(fs, "/d", /*writeback_bytes_per_s=*/4 << 20).ok());  // 16 s if paced
  EXPECT_EQ(first.steps.size(), 2u);
  EXPECT_TRUE(first.synced);
  EXPECT_FALSE(second.synced);
  ASSERT_TRUE(u.SyncAll(fs, "/d", /*writeback_bytes_per_s=*/4 << 20).ok());
  EXPECT_TRUE(second.synced);
}

// Counts the fdatasyncs of roll-written index files (their handle keeps the name they were
// written under), and the paced writeback steps of those and of prepared segments before them.
class IndexSyncCounter : public testing::SyncGate {
 public:
  Status Sync(const std::string& path, WritableFile& file) override {
    if (path.ends_with(".idx.tmp")) {
      index_stepped_before_sync += index_steps.load() > 0 ? 1 : 0;
      ++syncs;
    }
    if (path.ends_with(".seg.tmp") && prepared_steps.load() > 0) ++prepared_stepped_syncs;
    return file.Sync();
  }
  Status WriteBack(const std::string& path, WritableFile& file, uint64_t offset,
                   uint64_t len) override {
    if (path.ends_with(".idx.tmp")) ++index_steps;
    if (path.ends_with(".seg.tmp")) ++prepared_steps;
    return file.WriteBack(offset, len);
  }
  std::atomic<int> syncs{0};
  std::atomic<int> index_steps{0}, index_stepped_before_sync{0};
  std::atomic<int> prepared_steps{0}, prepared_stepped_syncs{0};
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
  // Both background files go to the device in paced steps before their fdatasync
  // (Options::background_writeback_bytes_per_s): the index, and a prepared next segment (made
  // once the active segment is half full; appends go on, slowly, until one was).
  EXPECT_EQ(counter.index_stepped_before_sync.load(), 1);
  const auto prepared_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (counter.prepared_stepped_syncs.load() == 0 &&
         std::chrono::steady_clock::now() < prepared_deadline) {
    ASSERT_TRUE(db->Append("store", "t", payload).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_GE(counter.prepared_stepped_syncs.load(), 1);
  ASSERT_TRUE(db->Close().ok());
}

}  // namespace
}  // namespace tldb
