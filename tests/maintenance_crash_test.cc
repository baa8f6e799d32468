// Crash safety of compaction and TTL drops on the simulated backend: power loss at every I/O
// operation of one maintenance pass, under each way unsynced bytes can survive
// (TLDB_CRASH_SWEEP=full: all of them at every operation).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/temp_dir.h"
#include "io/sim_file_system.h"
#include "log/file_names.h"
#include "tldb/clock.h"
#include "tldb/db.h"

namespace tldb {
namespace {

constexpr TimestampMs kT0 = 1'700'000'000'000;
constexpr uint64_t kDayMs = 24ull * 3600 * 1000;

// ---- crash safety of compaction and TTL drops (simulated backend) ----

struct Expect {
  std::map<std::string, std::map<Seq, std::string>> live;  // timeline -> seq -> payload
  std::map<std::string, std::set<Seq>> dead;               // recalled / trimmed / expired
};

std::string CheckAgainst(Db* db, const std::string& ns, const Expect& e) {
  for (const auto& [tl, msgs] : e.live) {
    for (const auto& [seq, payload] : msgs) {
      auto g = db->Get(ns, tl, seq);
      if (!g.ok()) return tl + "/" + std::to_string(seq) + ": " + g.status().ToString();
      if (g->payload != payload) return tl + "/" + std::to_string(seq) + ": wrong payload";
    }
    ScanOptions all;
    all.limit = 100000;
    auto s = db->Scan(ns, tl, all);
    if (!s.ok() || s->size() != msgs.size()) return tl + ": scan returned another set";
  }
  for (const auto& [tl, seqs] : e.dead) {
    for (Seq seq : seqs) {
      if (db->Get(ns, tl, seq).status().code() != Status::Code::kDeleted) {
        return tl + "/" + std::to_string(seq) + " came back";
      }
    }
  }
  return "";
}

Options SimOptions(std::shared_ptr<SimFileSystem> fs, std::shared_ptr<ManualClock> clock) {
  Options o;
  o.file_system = std::move(fs);
  o.clock = std::move(clock);
  o.prezero = Options::Prezero::kInline;
  o.background_maintenance = false;
  o.compaction_bytes_per_s = 0;
  return o;
}

// Builds a store with sealed segments, recalls, an edit, a trim and expired data; returns what
// must be visible after maintenance.
Expect Build(Db* db, ManualClock* clock) {
  NamespaceOptions n;
  n.segment_bytes_max = 64 << 10;
  n.ttl_ms = kDayMs;
  EXPECT_TRUE(db->CreateNamespace("s", n).ok());
  Expect e;
  for (int i = 0; i < 250; ++i) {  // day 0, expires
    const std::string tl = "old:" + std::to_string(i % 4);
    auto r = db->Append("s", tl, std::string(300, 'o'));
    e.dead[tl].insert(r->seq);
  }
  clock->Advance(kDayMs / 2);
  for (int i = 0; i < 500; ++i) {
    const std::string tl = "t:" + std::to_string(i % 5);
    const std::string payload = "p" + std::to_string(i) + std::string(250, 'q');
    auto r = db->Append("s", tl, payload);
    e.live[tl][r->seq] = payload;
  }
  for (Seq s : {Seq{3}, Seq{40}, Seq{77}}) {
    EXPECT_TRUE(db->Recall("s", "t:1", s).ok());
    e.live["t:1"].erase(s);
    e.dead["t:1"].insert(s);
  }
  EXPECT_TRUE(db->Edit("s", "t:2", 10, "edited").ok());
  e.live["t:2"][10] = "edited";
  EXPECT_TRUE(db->Trim("s", "t:3", 20).ok());
  for (Seq s = 1; s < 20; ++s) {
    e.live["t:3"].erase(s);
    e.dead["t:3"].insert(s);
  }
  clock->Advance(kDayMs / 2 + 1000);  // day 0's messages are now expired
  return e;
}

TEST(MaintenanceCrashTest, PowerLossAtEveryStepOfCompactionAndTtlDrop) {
  // Count the maintenance I/O operations of one clean run.
  uint64_t total = 0;
  {
    auto fs = std::make_shared<SimFileSystem>();
    auto clock = std::make_shared<ManualClock>(kT0);
    auto db = std::move(Db::Open("/db", SimOptions(fs, clock)).value());
    const Expect e = Build(db.get(), clock.get());
    const uint64_t before = fs->ops();
    CompactOptions full;
    full.full = true;
    ASSERT_TRUE(db->Compact("s", full).ok());
    total = fs->ops() - before;
    ASSERT_EQ(CheckAgainst(db.get(), "s", e), "");
  }
  ASSERT_GT(total, 10u);
  const UnsyncedMode modes[] = {UnsyncedMode::kDrop, UnsyncedMode::kKeep, UnsyncedMode::kTear512,
                                UnsyncedMode::kZeroFill, UnsyncedMode::kGarbageFill};
  // The test suite tries one unsynced-bytes mode per point, rotating; TLDB_CRASH_SWEEP=full
  // tries all five at every point.
  const char* sweep = std::getenv("TLDB_CRASH_SWEEP");
  const bool all_modes = sweep != nullptr && std::string(sweep) == "full";
  uint64_t runs = 0;
  for (uint64_t k = 1; k <= total + 1; ++k) {
    for (size_t m = 0; m < std::size(modes); ++m) {
      if (!all_modes && m != k % std::size(modes)) continue;
      auto fs = std::make_shared<SimFileSystem>();
      auto clock = std::make_shared<ManualClock>(kT0);
      Expect e;
      {
        auto db = std::move(Db::Open("/db", SimOptions(fs, clock)).value());
        e = Build(db.get(), clock.get());
        ASSERT_TRUE(db->Sync().ok());
        fs->CrashAfterOps(k);
        CompactOptions full;
        full.full = true;
        (void)db->Compact("s", full);
      }
      fs->PowerLoss(modes[m], k * 7 + m);
      auto db = Db::Open("/db", SimOptions(fs, clock));
      ASSERT_TRUE(db.ok()) << "crash at op " << k << ": " << db.status().ToString();
      ASSERT_EQ(CheckAgainst(db->get(), "s", e), "") << "crash at op " << k << " mode " << m;
      // Maintenance finishes after the restart, and everything still holds.
      CompactOptions full;
      full.full = true;
      ASSERT_TRUE((*db)->Compact("s", full).ok()) << "crash at op " << k;
      ASSERT_EQ(CheckAgainst(db->get(), "s", e), "") << "after re-run, crash at op " << k;
      // SeqIds continue above everything ever assigned.
      auto r = (*db)->Append("s", "old:0", "new");
      ASSERT_TRUE(r.ok());
      EXPECT_GT(r->seq, *e.dead.at("old:0").rbegin()) << "crash at op " << k;
      ++runs;
    }
  }
  std::printf("maintenance power loss: %llu crash points, %llu runs, 0 violations\n",
              static_cast<unsigned long long>(total + 1), static_cast<unsigned long long>(runs));
}

}  // namespace
}  // namespace tldb
