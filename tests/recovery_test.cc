// Crash and corruption suites on the simulated backend:
// - power loss at every I/O operation of a mixed workload (appends, fan-out, retries, segment
//   rolls; sync and buffered), under every way unsynced bytes can survive;
// - truncation at every byte offset and every bit flipped in a small segment;
// - kill -9 of a process running the workload on real disks (io_uring and POSIX).
// After each fault the store must reopen (or report corruption, for damage), and hold exactly a
// prefix of what was sent per timeline, at least everything acknowledged under kSync, with
// fan-outs all-or-nothing and retries still deduplicated.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/temp_dir.h"
#include "io/sim_file_system.h"
#include "log/file_names.h"
#include "log/segment_scan.h"
#include "recovery_test_util.h"
#include "tldb/clock.h"
#include "tldb/db.h"

namespace tldb {
namespace {

// What the workload sent, for checking a recovered store.
struct Ledger {
  struct Sent {
    std::string payload;
    std::string cmid;
    size_t global = 0;  // position of the append call in the workload
  };
  std::map<std::string, std::vector<Sent>> attempted;  // per timeline, in call order
  std::vector<std::vector<std::string>> fanouts;       // targets of each fan-out attempted
  std::vector<std::string> fanout_payloads;
  size_t last_sync_ack = 0;  // global position of the last append acknowledged under kSync
  bool any_sync_ack = false;
  struct Acked {
    std::string timeline, payload, cmid;
    Seq seq;
    bool sync;
  };
  std::vector<Acked> acked;
};

// A deterministic single-threaded workload; stops at the first failed call (the "crash").
void RunWorkload(Db* db, Ledger* ledger, int steps) {
  size_t global = 0;
  for (int i = 0; i < steps; ++i) {
    ++global;
    const bool sync = i % 3 != 1;
    AppendOptions o;
    o.durability = sync ? Durability::kSync : Durability::kBuffered;
    const std::string payload = "msg-" + std::to_string(i) + std::string(200 + i % 500, 'p');
    std::string cmid = i % 4 == 0 ? "cm-" + std::to_string(i) : "";
    o.client_msg_id = cmid;
    if (i % 10 == 7) {  // fan-out to a group
      std::vector<std::string> t = {"conv:g", "inbox:" + std::to_string(i % 3),
                                    "inbox:" + std::to_string(3 + i % 2)};
      std::vector<std::string_view> tv(t.begin(), t.end());
      for (const auto& k : t) ledger->attempted[k].push_back({payload, cmid, global});
      ledger->fanouts.push_back(t);
      ledger->fanout_payloads.push_back(payload);
      auto r = db->AppendFanout("store", tv, payload, o);
      if (!r.ok()) return;
      for (size_t j = 0; j < t.size(); ++j) {
        ledger->acked.push_back({t[j], payload, j == 0 ? cmid : "", (*r)[j].seq, sync});
      }
    } else {
      const std::string key = "conv:" + std::to_string(i % 5);
      ledger->attempted[key].push_back({payload, cmid, global});
      auto r = db->Append("store", key, payload, o);
      if (!r.ok()) return;
      ledger->acked.push_back({key, payload, cmid, r->seq, sync});
    }
    if (sync) {
      ledger->last_sync_ack = global;
      ledger->any_sync_ack = true;
    }
    if (i % 9 == 8 && !ledger->acked.back().cmid.empty()) {  // a retry of an earlier append
      const auto& a = ledger->acked.back();
      AppendOptions retry = o;
      retry.client_msg_id = a.cmid;
      auto r = db->Append("store", a.timeline, a.payload, retry);
      if (!r.ok()) return;
    }
  }
}

// Checks the recovered store against the ledger; returns a description of the first violation.
std::string Verify(Db* db, const Ledger& ledger) {
  for (const auto& [key, sent] : ledger.attempted) {
    ScanOptions all;
    all.limit = 1'000'000;
    auto got = db->Scan("store", key, all);
    if (!got.ok()) return key + ": scan failed: " + got.status().ToString();
    size_t must = 0;
    for (size_t i = 0; i < sent.size(); ++i) {
      if (ledger.any_sync_ack && sent[i].global <= ledger.last_sync_ack) must = i + 1;
    }
    if (got->size() < must) {
      return key + ": lost acknowledged messages: have " + std::to_string(got->size()) + ", need " +
             std::to_string(must);
    }
    if (got->size() > sent.size()) return key + ": more messages than were sent";
    for (size_t i = 0; i < got->size(); ++i) {
      const Message& m = (*got)[i];
      if (m.seq != i + 1) return key + ": gap or reorder at " + std::to_string(i + 1);
      if (m.payload != sent[i].payload)
        return key + ": wrong payload at seq " + std::to_string(m.seq);
    }
  }
  for (size_t f = 0; f < ledger.fanouts.size(); ++f) {
    int present = 0;
    for (const auto& t : ledger.fanouts[f]) {
      ScanOptions all;
      all.limit = 1'000'000;
      auto got = db->Scan("store", t, all);
      for (const auto& m : *got) present += m.payload == ledger.fanout_payloads[f];
    }
    if (present != 0 && present != static_cast<int>(ledger.fanouts[f].size())) {
      return "fan-out " + std::to_string(f) + " is partially present";
    }
  }
  for (const auto& a : ledger.acked) {
    if (a.cmid.empty() || !a.sync) continue;
    AppendOptions o;
    o.client_msg_id = a.cmid;
    auto r = db->Append("store", a.timeline, a.payload, o);
    if (!r.ok()) return "retry failed: " + r.status().ToString();
    if (!r->deduplicated || r->seq != a.seq) {
      return a.timeline + ": retry of " + a.cmid + " was not deduplicated";
    }
  }
  return "";
}

uint64_t CountOps(int steps) {
  auto fs = std::make_shared<SimFileSystem>();
  auto db = std::move(Db::Open(kDir, SimOptions(fs)).value());
  EXPECT_TRUE(db->CreateNamespace("store", SmallSegments()).ok());
  const uint64_t before = fs->ops();
  Ledger ledger;
  RunWorkload(db.get(), &ledger, steps);
  return fs->ops() - before;
}

TEST(RecoveryTest, PowerLossAtEveryOperation) {
  constexpr int kSteps = 400;  // ~100 KiB: rolls at least one 64 KiB segment
  const uint64_t total = CountOps(kSteps);
  ASSERT_GT(total, 100u);
  const UnsyncedMode modes[] = {UnsyncedMode::kDrop, UnsyncedMode::kKeep, UnsyncedMode::kTear512,
                                UnsyncedMode::kZeroFill, UnsyncedMode::kGarbageFill};
  // Every crash point is tried. The test suite tries one unsynced-bytes mode per point, rotating
  // through all five; TLDB_CRASH_SWEEP=full tries all five at every point (the long run).
  const char* sweep = std::getenv("TLDB_CRASH_SWEEP");
  const bool full = sweep != nullptr && std::string(sweep) == "full";
  uint64_t crash_points = 0, runs = 0;
  for (uint64_t k = 1; k <= total + 1; ++k) {
    for (size_t m = 0; m < std::size(modes); ++m) {
      if (!full && m != k % std::size(modes)) continue;
      const UnsyncedMode mode = modes[m];
      auto fs = std::make_shared<SimFileSystem>();
      Ledger ledger;
      {
        auto db = std::move(Db::Open(kDir, SimOptions(fs)).value());
        ASSERT_TRUE(db->CreateNamespace("store", SmallSegments()).ok());
        fs->CrashAfterOps(k);
        RunWorkload(db.get(), &ledger, kSteps);
      }  // the "process" dies; Close() fails quietly against the crashed file system
      fs->PowerLoss(mode, k * 31 + static_cast<uint64_t>(mode));
      auto reopened = Db::Open(kDir, SimOptions(fs));
      ASSERT_TRUE(reopened.ok()) << "crash at op " << k << " mode " << static_cast<int>(mode)
                                 << ": " << reopened.status().ToString();
      const std::string problem = Verify(reopened->get(), ledger);
      ASSERT_EQ(problem, "") << "crash at op " << k << " mode " << static_cast<int>(mode);
      ++runs;
    }
    ++crash_points;
  }
  std::printf("power loss: %llu crash points, %llu runs (%s), 0 violations\n",
              static_cast<unsigned long long>(crash_points), static_cast<unsigned long long>(runs),
              full ? "all 5 modes at every point" : "modes rotating");
}

// A small store whose single active segment is damaged in every possible way.
class DamageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs_ = std::make_shared<SimFileSystem>();
    auto db = std::move(Db::Open(kDir, SimOptions(fs_)).value());
    ASSERT_TRUE(db->CreateNamespace("store", SmallSegments()).ok());
    for (int i = 0; i < 8; ++i) {
      const std::string p = "payload-" + std::to_string(i);
      ASSERT_TRUE(db->Append("store", "t" + std::to_string(i % 2), p).ok());
      sent_["t" + std::to_string(i % 2)].push_back(p);
    }
    ASSERT_TRUE(db->Close().ok());
    seg_ = SegmentFileName(std::string(kDir) + "/ns/store", 1);
    auto data = fs_->GetFileData(seg_);
    ASSERT_TRUE(data.ok());
    original_ = *data;
    // The segment was created with zeros after its header (docs/design.md "Pre-zeroed
    // segments"): damage is tried on the records and on the first 512 bytes of zeros after
    // them; the rest of the zeros would only repeat that last case.
    uint64_t end = format::kSegmentHeaderBytes;
    RecordView r;
    while (DecodeRecord({original_.data() + end, original_.size() - end}, 1, end, &r) ==
           DecodeOutcome::kOk) {
      end += r.length;
    }
    records_end_ = end;
    damaged_bytes_ = std::min<size_t>(original_.size(), end + 512);
  }
  // Reopens on damaged bytes: OK only if the store opens and holds a prefix of what was sent,
  // or refuses with Corruption.
  void CheckDamaged(const std::string& bytes, const std::string& what) {
    ASSERT_TRUE(fs_->SetFileData(seg_, bytes).ok());
    auto db = Db::Open(kDir, SimOptions(fs_));
    if (!db.ok()) {
      ASSERT_TRUE(db.status().IsCorruption()) << what << ": " << db.status().ToString();
      ++refused_;
    } else {
      for (const auto& [key, sent] : sent_) {
        ScanOptions all;
        auto got = (*db)->Scan("store", key, all);
        ASSERT_TRUE(got.ok()) << what;
        ASSERT_LE(got->size(), sent.size()) << what;
        for (size_t i = 0; i < got->size(); ++i) {
          ASSERT_EQ((*got)[i].payload, sent[i]) << what;
          ASSERT_EQ((*got)[i].seq, i + 1) << what;
        }
      }
      ++opened_;
    }
  }
  // The damaged store refuses to open with Corruption naming `why`; salvage opens it and
  // reports what it did (`salvage_event`: the first event's start) through on_event.
  void ExpectRefusedThenSalvaged(const std::string& why,
                                 const std::string& salvage_event = "salvage: cutting") {
    auto strict = Db::Open(kDir, SimOptions(fs_));
    ASSERT_FALSE(strict.ok());
    EXPECT_TRUE(strict.status().IsCorruption());
    EXPECT_NE(strict.status().message().find(why), std::string::npos) << strict.status().ToString();
    std::vector<std::string> events;
    Options o = SimOptions(fs_, /*salvage=*/true);
    o.on_event = [&](std::string_view e) { events.emplace_back(e); };
    auto salvaged = Db::Open(kDir, o);
    ASSERT_TRUE(salvaged.ok()) << salvaged.status().ToString();
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events[0].rfind(salvage_event, 0), 0u) << events[0];
    ASSERT_TRUE((*salvaged)->Close().ok());
  }
  std::shared_ptr<SimFileSystem> fs_;
  std::string seg_, original_;
  size_t records_end_ = 0;    // the header and records of original_ end here; zeros follow
  size_t damaged_bytes_ = 0;  // damage is tried in original_'s first damaged_bytes_
  std::map<std::string, std::vector<std::string>> sent_;
  int refused_ = 0, opened_ = 0;
};

TEST_F(DamageTest, TruncationAtEveryOffset) {
  for (size_t n = 0; n <= damaged_bytes_; ++n) {
    CheckDamaged(original_.substr(0, n), "truncated at " + std::to_string(n));
  }
  std::printf("truncation: %zu offsets, %d opened with a prefix, %d refused\n", damaged_bytes_ + 1,
              opened_, refused_);
  EXPECT_GT(opened_, 0);
}

TEST_F(DamageTest, EveryBitFlipped) {
  for (size_t bit = 0; bit < records_end_ * 8; ++bit) {
    std::string bad = original_;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    CheckDamaged(bad, "bit " + std::to_string(bit));
  }
  std::printf("bit flips in the records: %zu variants, %d opened with a prefix, %d refused\n",
              records_end_ * 8, opened_, refused_);
  // Flips in any record but the last group are before the durable point: refused.
  EXPECT_GT(refused_, opened_);
  // A flipped bit in the zeros after the last record is a torn tail: cut, every record kept.
  for (size_t bit = records_end_ * 8; bit < damaged_bytes_ * 8; ++bit) {
    std::string bad = original_;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    ASSERT_TRUE(fs_->SetFileData(seg_, bad).ok());
    auto db = Db::Open(kDir, SimOptions(fs_));
    ASSERT_TRUE(db.ok()) << "bit " << bit << ": " << db.status().ToString();
    for (const auto& [key, sent] : sent_) {
      auto got = (*db)->Scan("store", key, ScanOptions{});
      ASSERT_TRUE(got.ok());
      ASSERT_EQ(got->size(), sent.size()) << "bit " << bit;
    }
  }
}

TEST_F(DamageTest, SalvageCutsDamageAndReportsIt) {
  std::string bad = original_;
  bad[100] ^= 0x40;  // inside the first record: later records vouch it was durable
  ASSERT_TRUE(fs_->SetFileData(seg_, bad).ok());
  ExpectRefusedThenSalvaged("offset 64");
}

// Offsets of the records of a segment image, in order, and the end of the last one.
std::vector<uint64_t> RecordOffsets(const std::string& image, uint64_t id, uint64_t* end) {
  std::vector<uint64_t> offs;
  uint64_t off = format::kSegmentHeaderBytes;
  RecordView r;
  while (DecodeRecord({image.data() + off, image.size() - off}, id, off, &r) ==
         DecodeOutcome::kOk) {
    offs.push_back(off);
    off += r.length;
  }
  *end = off;
  return offs;
}

// A record written a second time right after itself moves every later record off the offset
// its checksum is seeded with. Recovery must not take it for a torn tail: the resynchronising
// search finds the later records where they were moved (and the copy is byte-identical to an
// earlier record), which no torn write can produce. Salvage removes the inserted copy and
// keeps every record.
TEST_F(DamageTest, RecordInsertedAfterItselfIsCorruption) {
  uint64_t end = 0;
  const std::vector<uint64_t> offs = RecordOffsets(original_, 1, &end);
  ASSERT_EQ(offs.size(), 8u);
  for (size_t i = 0; i < offs.size(); ++i) {
    const uint64_t next = i + 1 < offs.size() ? offs[i + 1] : end;
    const std::string rec = original_.substr(offs[i], next - offs[i]);
    std::string bad = original_.substr(0, next) + rec + original_.substr(next);
    bad.resize(std::max(bad.size(), original_.size()));
    ASSERT_TRUE(fs_->SetFileData(seg_, bad).ok());
    auto strict = Db::Open(kDir, SimOptions(fs_));
    if (i + 1 == offs.size()) {  // a copy after the last record displaced nothing
      ASSERT_TRUE(strict.ok()) << strict.status().ToString();
      ASSERT_TRUE((*strict)->Close().ok());
      CheckDamaged(original_, "restored");
      continue;
    }
    ASSERT_FALSE(strict.ok()) << "record " << i << " duplicated: opened as a torn tail";
    ExpectRefusedThenSalvaged("the record written at offset " + std::to_string(next) +
                                  " verifies at offset " + std::to_string(next + rec.size()),
                              "salvage: removed " + std::to_string(rec.size()) + " bytes");
    auto repaired = fs_->GetFileData(seg_);
    ASSERT_TRUE(repaired.ok());
    EXPECT_EQ(repaired->substr(0, end), original_.substr(0, end)) << "record " << i;
    auto db = Db::Open(kDir, SimOptions(fs_));
    ASSERT_TRUE(db.ok()) << "record " << i << ": " << db.status().ToString();
    for (const auto& [key, sent] : sent_) {
      auto got = (*db)->Scan("store", key, ScanOptions{});
      ASSERT_TRUE(got.ok());
      ASSERT_EQ(got->size(), sent.size()) << "record " << i << ": salvage lost messages";
      for (size_t k = 0; k < sent.size(); ++k) EXPECT_EQ((*got)[k].payload, sent[k]);
    }
    ASSERT_TRUE(fs_->SetFileData(seg_, original_).ok());
  }
}

// The same copy followed by nothing but zeros (written after the last record) loses nothing:
// the store opens and serves everything.
TEST_F(DamageTest, CopyAfterTheLastRecordIsCutAsATornTail) {
  uint64_t end = 0;
  const std::vector<uint64_t> offs = RecordOffsets(original_, 1, &end);
  ASSERT_FALSE(offs.empty());
  const std::string first = original_.substr(offs[0], offs[1] - offs[0]);
  std::string bad = original_.substr(0, end) + first + std::string(4096, '\0');
  ASSERT_TRUE(fs_->SetFileData(seg_, bad).ok());
  SegmentScan scan = ScanSegment(bad, 1);
  EXPECT_EQ(scan.copy_at, 0u);
  EXPECT_EQ(ClassifyTail(scan, bad.size(), false), TailState::kTornTail);
  auto db = Db::Open(kDir, SimOptions(fs_));
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  for (const auto& [key, sent] : sent_) {
    auto got = (*db)->Scan("store", key, ScanOptions{});
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->size(), sent.size());
  }
}

// A simulated store of 1000 buffered appends in 64 KiB segments, so at least one is sealed.
// msg(i) gives the i-th append's timeline and payload.
std::shared_ptr<SimFileSystem> SealedStore(
    const std::function<std::pair<std::string, std::string>(int)>& msg) {
  auto fs = std::make_shared<SimFileSystem>();
  auto db = std::move(Db::Open(kDir, SimOptions(fs)).value());
  EXPECT_TRUE(db->CreateNamespace("store", SmallSegments()).ok());
  AppendOptions b;
  b.durability = Durability::kBuffered;
  for (int i = 0; i < 1000; ++i) {
    const auto [timeline, payload] = msg(i);
    EXPECT_TRUE(db->Append("store", timeline, payload, b).ok());
  }
  return fs;
}

TEST(SealedDamageTest, FlippedSealedRecordIsReportedNotServed) {
  auto fs = SealedStore([](int i) {
    return std::pair<std::string, std::string>("t", std::string(100, 'a' + i % 26));
  });
  const std::string seg = SegmentFileName(std::string(kDir) + "/ns/store", 1);
  std::string data = *fs->GetFileData(seg);
  data[200] ^= 1;  // inside the second record of the sealed first segment
  ASSERT_TRUE(fs->SetFileData(seg, data).ok());
  auto db = std::move(Db::Open(kDir, SimOptions(fs)).value());
  auto m = db->Get("store", "t", 2);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.status().IsCorruption()) << m.status().ToString();
  EXPECT_TRUE(db->Get("store", "t", 1).ok());
  ScanOptions all;
  all.limit = 10;
  EXPECT_TRUE(db->Scan("store", "t", all).status().IsCorruption());
}

TEST(SealedDamageTest, DamagedIndexIsRebuiltFromTheSegment) {
  const std::string kPad(100, 'z');  // 1000 records of ~140 bytes roll two 64 KiB segments
  auto fs = SealedStore([&](int i) {
    return std::pair<std::string, std::string>("t" + std::to_string(i % 3),
                                               std::to_string(i) + kPad);
  });
  const std::string idx = IndexFileName(std::string(kDir) + "/ns/store", 1);
  std::string data = *fs->GetFileData(idx);
  data[data.size() / 2] ^= 4;
  ASSERT_TRUE(fs->SetFileData(idx, data).ok());
  std::vector<std::string> events;
  Options o = SimOptions(fs);
  o.on_event = [&](std::string_view e) { events.emplace_back(e); };
  auto opened = Db::Open(kDir, o);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto db = std::move(opened).value();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].find("rebuilding index"), std::string::npos);
  for (int k = 0; k < 3; ++k) {
    ScanOptions all;
    all.limit = 2000;
    auto s = db->Scan("store", "t" + std::to_string(k), all);
    ASSERT_TRUE(s.ok());
    ASSERT_EQ(s->size(), 334u - (k > 0));
    EXPECT_EQ((*s)[5].payload, std::to_string(5 * 3 + k) + kPad);
  }
}

// The same workload and checks on a real backend: a child process runs the workload and is
// SIGKILLed mid-way (a process crash: the page cache survives), then the parent reopens.
class KillTest : public ::testing::TestWithParam<std::string> {};

TEST_P(KillTest, ProcessKilledMidWorkloadRecovers) {
  auto backend = NewFileSystem(GetParam());
  if (!backend.ok() && backend.status().code() == Status::Code::kNotSupported) {
    GTEST_SKIP() << GetParam() << " not supported here: " << backend.status().ToString();
  }
  ASSERT_TRUE(backend.ok()) << GetParam() << ": " << backend.status().ToString();
  for (int steps : {37, 150, 400}) {
    common::TempDir tmp;
    const std::string dir = tmp.path() + "/db";
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      Options o;
      o.io_backend = GetParam();
      auto db = Db::Open(dir, o);
      if (!db.ok() || !(*db)->CreateNamespace("store", SmallSegments()).ok()) _exit(3);
      Ledger ledger;
      RunWorkload(db->get(), &ledger, steps);
      raise(SIGKILL);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
    // The ledger of a completed run of `steps` steps is deterministic: rebuild it in memory.
    Ledger ledger;
    {
      auto fs = std::make_shared<SimFileSystem>();
      auto sim = std::move(Db::Open(kDir, SimOptions(fs)).value());
      ASSERT_TRUE(sim->CreateNamespace("store", SmallSegments()).ok());
      RunWorkload(sim.get(), &ledger, steps);
    }
    Options o;
    o.io_backend = GetParam();
    auto db = Db::Open(dir, o);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_EQ(Verify(db->get(), ledger), "") << "killed after " << steps << " steps";
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, KillTest, ::testing::Values("posix", "uring"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tldb
