// Db::Snapshot (docs/design.md "Snapshots"): a point-in-time copy taken while appends, recalls,
// trims, compaction and TTL go on opens as a data directory holding every message acknowledged
// before the call, nothing torn, floors that keep SeqIds from being reused, and `tldb verify`
// (admin::Verify) finds it sound with no warning.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "admin/verify.h"
#include "common/temp_dir.h"
#include "io/sim_file_system.h"
#include "log/file_names.h"
#include "tldb/clock.h"
#include "tldb/db.h"
#include "util/test_hook.h"

namespace tldb {
namespace {

constexpr TimestampMs kT0 = 1'700'000'000'000;
constexpr uint64_t kDayMs = 24ull * 3600 * 1000;

// The payload of (timeline, seq): any message read back can be checked without a record of it.
std::string PayloadOf(const std::string& tl, Seq seq) {
  return tl + "#" + std::to_string(seq) + ":" + std::string(200 + seq % 300, 'p');
}

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path() + "/db";
    clock_ = std::make_shared<ManualClock>(kT0);
    db_ = Open(dir_);
    NamespaceOptions n;
    n.segment_bytes_max = 64 << 10;  // many rolls, so compaction and TTL have work
    ASSERT_TRUE(db_->CreateNamespace("s", n).ok());
  }
  void TearDown() override { ClearTestHooks(); }
  Options MakeOptions() {
    Options o;
    o.io_backend = "posix";
    o.clock = clock_;
    o.background_maintenance = false;
    o.compaction_bytes_per_s = 0;
    o.on_event = [this](std::string_view e) {
      std::lock_guard l(events_mu_);
      events_.emplace_back(e);
    };
    return o;
  }
  std::unique_ptr<Db> Open(const std::string& dir) {
    auto db = Db::Open(dir, MakeOptions());
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return db.ok() ? std::move(db).value() : nullptr;
  }
  // Sound, and not even a warning: a torn tail (an active segment copied past a record boundary)
  // or a missing index file (a snapshot that forgot one) would be one.
  void ExpectVerifiedClean(const std::string& dir) {
    auto fs = NewPosixFileSystem();
    auto report = admin::Verify(*fs, dir, {});
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(report->sound());
    EXPECT_EQ(report->Count(admin::Problem::Severity::kWarning), 0u);
    for (const auto& p : report->problems) {
      if (p.severity != admin::Problem::Severity::kInfo) ADD_FAILURE() << p.file << ": " << p.what;
    }
  }
  // The snapshot's active segment is exactly as long as the point it reports: bytes past it
  // (records of groups not yet durable) were not copied.
  void ExpectActiveEndsAtPoint(const std::string& snap, const SnapshotInfo& info) {
    ASSERT_EQ(info.namespaces.size(), 1u);
    const LogPosition end = info.namespaces[0].end;
    const std::string active = SegmentFileName(NamespaceDirName(snap, "s"), end.segment);
    EXPECT_EQ(std::filesystem::file_size(active), end.offset);
    EXPECT_FALSE(std::filesystem::exists(IndexFileName(NamespaceDirName(snap, "s"), end.segment)));
  }
  uint64_t Sealed(Db& db) { return db.DescribeNamespace("s")->segments - 1; }

  common::TempDir tmp_{"tldb-snapshot"};
  std::string dir_;
  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<Db> db_;
  std::mutex events_mu_;
  std::vector<std::string> events_;
};

TEST_F(SnapshotTest, TakenDuringWritesAndMaintenanceHoldsEverythingAcknowledgedBefore) {
  constexpr int kWriters = 4, kTimelinesPerWriter = 3;
  std::atomic<bool> snapshot_started{false}, stop{false};
  std::atomic<uint64_t> appended{0};
  // Per timeline: the last seq acknowledged before the snapshot began, the last acknowledged at
  // all, and the messages a recall or trim acknowledged before the snapshot deleted.
  struct Acked {
    Seq before = 0, last = 0;
    std::set<Seq> deleted_before;  // recalled, or below a trim, before the snapshot began
  };
  std::map<std::string, Acked> acked;
  std::mutex acked_mu;
  auto writer = [&](int w) {
    for (uint64_t i = 0; !stop; ++i) {
      const std::string tl =
          "tl:" + std::to_string(w) + ":" + std::to_string(i % kTimelinesPerWriter);
      Seq next;
      {
        std::lock_guard l(acked_mu);
        next = acked[tl].last + 1;
      }
      AppendOptions o;
      o.durability = Durability::kSync;
      const std::string cmid = tl + "/" + std::to_string(next);
      o.client_msg_id = cmid;
      auto r = db_->Append("s", tl, PayloadOf(tl, next), o);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_EQ(r->seq, next);  // one writer per timeline: SeqIds are predictable
      ++appended;
      // Acknowledged; if the snapshot has not begun yet, it must hold this message.
      const bool before = !snapshot_started;
      std::lock_guard l(acked_mu);
      acked[tl].last = next;
      if (before) acked[tl].before = next;
      // Now and then a recall of an older message, or a trim, acknowledged like an append.
      if (w == 0 && next % 17 == 0) {
        auto m = db_->Recall("s", tl, next - 5);
        ASSERT_TRUE(m.ok()) << m.status().ToString();
        if (!snapshot_started) acked[tl].deleted_before.insert(next - 5);
      }
      if (w == 1 && next % 40 == 0) {
        auto m = db_->Trim("s", tl, next - 10);
        ASSERT_TRUE(m.ok()) << m.status().ToString();
        if (!snapshot_started) {
          for (Seq s = 1; s < next - 10; ++s) acked[tl].deleted_before.insert(s);
        }
      }
    }
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) threads.emplace_back(writer, w);
  // Compaction (full: rewrites and removes every sealed segment) keeps running beside them.
  std::atomic<int> compactions{0};
  std::thread maint([&] {
    while (!stop) {
      CompactOptions c;
      c.full = compactions % 2 == 0;
      auto p = db_->Compact("s", c);
      ASSERT_TRUE(p.ok()) << p.status().ToString();
      ++compactions;
    }
  });
  // Enough appends for a dozen 64 KiB segments, and two compaction passes, before the snapshot.
  while (appended < 2000 || compactions < 2)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const std::string snap = tmp_.path() + "/snap";
  snapshot_started = true;
  auto info = db_->Snapshot(snap, {});
  // Let the writers go on past the snapshot (they must not leak into it).
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  stop = true;
  for (auto& t : threads) t.join();
  maint.join();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ExpectActiveEndsAtPoint(snap, *info);
  ExpectVerifiedClean(snap);

  auto copy = Open(snap);
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(copy->LogEnd("s")->written, info->namespaces[0].end);
  uint64_t checked = 0;
  for (const auto& [tl, a] : acked) {
    ASSERT_GT(a.before, 0u) << tl;
    const Seq last = copy->LastSeq("s", std::vector<std::string_view>{tl})->at(0);
    EXPECT_GE(last, a.before) << tl << ": acknowledged messages missing";
    EXPECT_LE(last, a.last) << tl;
    // Every message up to the snapshot's last is there with its payload, or was deleted; every
    // one deleted before the snapshot began is deleted in it.
    for (Seq s = 1; s <= last; ++s) {
      auto m = copy->Get("s", tl, s);
      if (a.deleted_before.contains(s)) {
        EXPECT_EQ(m.status().code(), Status::Code::kDeleted) << tl << " seq " << s;
      } else if (m.ok()) {
        EXPECT_EQ(m->payload, PayloadOf(tl, s)) << tl << " seq " << s;
        ++checked;
      } else {
        // Deleted by a mutation acknowledged after the snapshot began but before its point.
        EXPECT_EQ(m.status().code(), Status::Code::kDeleted) << tl << " seq " << s;
      }
    }
  }
  EXPECT_GT(checked, 100u);
  // Retries of acknowledged appends are deduplicated in the copy too (the dedupe window is
  // rebuilt from the copied records and indexes). Writers 2 and 3 never recall or trim.
  for (const auto& [tl, a] : acked) {
    if (tl.starts_with("tl:0:") || tl.starts_with("tl:1:")) continue;
    AppendOptions o;
    const std::string cmid = tl + "/" + std::to_string(a.before);
    o.client_msg_id = cmid;
    auto r = copy->Append("s", tl, PayloadOf(tl, a.before), o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->deduplicated) << tl;
    EXPECT_EQ(r->seq, a.before);
  }
}

TEST_F(SnapshotTest, FloorsKeepExpiredTimelinesSeqIds) {
  NamespaceOptions n;
  n.segment_bytes_max = 64 << 10;
  n.ttl_ms = kDayMs;
  ASSERT_TRUE(db_->CreateNamespace("t", n).ok());
  for (int i = 0; i < 400; ++i) {
    ASSERT_TRUE(db_->Append("t", "old:" + std::to_string(i % 2), std::string(300, 'o')).ok());
  }
  clock_->Advance(kDayMs + 1000);
  // old:1 gets a new message after its old ones expired: it lives in the active segment.
  ASSERT_TRUE(db_->Compact("t", {}).ok());
  const Seq old0 = db_->LastSeq("t", std::vector<std::string_view>{"old:0"})->at(0);
  ASSERT_EQ(old0, 200u);
  auto fresh = db_->Append("t", "old:1", "fresh");
  ASSERT_TRUE(fresh.ok());
  ASSERT_EQ(fresh->seq, 201u);
  const std::string snap = tmp_.path() + "/snap";
  ASSERT_TRUE(db_->Snapshot(snap, {}).ok());
  ExpectVerifiedClean(snap);
  auto copy = Open(snap);
  ASSERT_NE(copy, nullptr);
  // No record of old:0 is left anywhere: only FLOORS keeps its SeqIds from being handed out again.
  EXPECT_EQ(copy->LastSeq("t", std::vector<std::string_view>{"old:0"})->at(0), 200u);
  EXPECT_EQ(copy->Get("t", "old:1", 201)->payload, "fresh");
  EXPECT_EQ(copy->Append("t", "old:0", "next")->seq, 201u);
}

// A compaction that commits between the capture of the point and the links removes files of
// that point: the namespace starts over and the snapshot is whole.
TEST_F(SnapshotTest, StartsOverWhenCompactionRemovesCapturedFiles) {
  Seq last = 0;
  for (int i = 0; i < 600; ++i) {
    auto r = db_->Append("s", "c", PayloadOf("c", i + 1));
    ASSERT_TRUE(r.ok());
    last = r->seq;
  }
  ASSERT_GE(Sealed(*db_), 3u);
  int hooks = 0;
  SetTestHook("snapshot.after_capture", [&] {
    if (hooks++ > 0) return;
    std::thread t([&] {
      CompactOptions c;
      c.full = true;
      auto p = db_->Compact("s", c);
      EXPECT_TRUE(p.ok()) << p.status().ToString();
    });
    t.join();
  });
  const std::string snap = tmp_.path() + "/snap";
  auto info = db_->Snapshot(snap, {});
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(hooks, 2);  // the first point lost its files; the second held
  {
    std::lock_guard l(events_mu_);
    bool restarted = false;
    for (const auto& e : events_) restarted |= e.find("starting over") != std::string::npos;
    EXPECT_TRUE(restarted);
  }
  ExpectActiveEndsAtPoint(snap, *info);
  ExpectVerifiedClean(snap);
  auto copy = Open(snap);
  ASSERT_NE(copy, nullptr);
  ScanOptions all;
  all.limit = 10000;
  auto msgs = copy->Scan("s", "c", all);
  ASSERT_TRUE(msgs.ok());
  ASSERT_EQ(msgs->size(), last);
  for (const auto& m : *msgs) EXPECT_EQ(m.payload, PayloadOf("c", m.seq));
}

TEST_F(SnapshotTest, RefusesAnExistingTarget) {
  std::filesystem::create_directory(tmp_.path() + "/there");
  auto info = db_->Snapshot(tmp_.path() + "/there", {});
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), Status::Code::kAlreadyExists);
}

// A file system without hard links (the simulated one) gets copies instead.
TEST(SnapshotSimTest, CopiesWhereLinksAreNotSupported) {
  auto fs = std::make_shared<SimFileSystem>();
  Options o;
  o.file_system = fs;
  o.prezero = Options::Prezero::kInline;
  o.background_maintenance = false;
  auto db = Db::Open("/db", o);
  ASSERT_TRUE(db.ok());
  NamespaceOptions n;
  n.segment_bytes_max = 64 << 10;
  ASSERT_TRUE((*db)->CreateNamespace("s", n).ok());
  for (int i = 0; i < 500; ++i) ASSERT_TRUE((*db)->Append("s", "k", PayloadOf("k", i + 1)).ok());
  ASSERT_TRUE((*db)->Recall("s", "k", 7).ok());
  auto info = (*db)->Snapshot("/snap", {});
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_TRUE((*db)->Close().ok());
  auto copy = Db::Open("/snap", o);
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  EXPECT_EQ((*copy)->LastSeq("s", std::vector<std::string_view>{"k"})->at(0), 500u);
  EXPECT_EQ((*copy)->Get("s", "k", 7).status().code(), Status::Code::kDeleted);
  EXPECT_EQ((*copy)->Get("s", "k", 499)->payload, PayloadOf("k", 499));
}

}  // namespace
}  // namespace tldb
