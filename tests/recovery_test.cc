// Crash and corruption suites on the simulated backend:
// - power loss at every I/O operation of a mixed workload (appends, fan-out, retries, segment
//   rolls; sync and buffered), under every way unsynced bytes can survive;
// - truncation at every byte offset and every bit flipped in a small segment.
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
#include "tldb/clock.h"
#include "tldb/db.h"

namespace tldb {
namespace {

constexpr char kDir[] = "/db";

Options SimOptions(std::shared_ptr<SimFileSystem> fs, bool salvage = false) {
  Options o;
  o.file_system = std::move(fs);
  o.clock = std::make_shared<ManualClock>(1'700'000'000'000);
  o.salvage = salvage;
  o.prezero = Options::Prezero::kInline;  // deterministic: no background thread touches the fs
  o.background_maintenance = false;
  return o;
}

NamespaceOptions SmallSegments() {
  NamespaceOptions n;
  n.segment_bytes_max = 64 << 10;
  return n;
}

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
  // reports the cut through on_event.
  void ExpectRefusedThenSalvaged(const std::string& why) {
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
    EXPECT_NE(events[0].find("salvage: cutting"), std::string::npos) << events[0];
    ASSERT_TRUE((*salvaged)->Close().ok());
  }
  std::shared_ptr<SimFileSystem> fs_;
  std::string seg_, original_;
  std::map<std::string, std::vector<std::string>> sent_;
  int refused_ = 0, opened_ = 0;
};

TEST_F(DamageTest, TruncationAtEveryOffset) {
  for (size_t n = 0; n <= original_.size(); ++n) {
    CheckDamaged(original_.substr(0, n), "truncated at " + std::to_string(n));
  }
  std::printf("truncation: %zu offsets, %d opened with a prefix, %d refused\n",
              original_.size() + 1, opened_, refused_);
  EXPECT_GT(opened_, 0);
}

TEST_F(DamageTest, EveryBitFlipped) {
  for (size_t bit = 0; bit < original_.size() * 8; ++bit) {
    std::string bad = original_;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    CheckDamaged(bad, "bit " + std::to_string(bit));
  }
  std::printf("bit flips: %zu variants, %d opened with a prefix, %d refused\n",
              original_.size() * 8, opened_, refused_);
  // Flips in any record but the last group are before the durable point: refused.
  EXPECT_GT(refused_, opened_);
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
// its checksum is seeded with, so no later record can vouch for the damage. Recovery must still
// not take it for a torn tail: the copy is byte-identical to an earlier record, which no torn
// write can produce.
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
    ExpectRefusedThenSalvaged("copy of the record at " + std::to_string(offs[i]));
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

TEST(DiskErrorTest, FailedSyncIsStickyAndNothingIsAcknowledged) {
  auto fs = std::make_shared<SimFileSystem>();
  auto db = std::move(Db::Open(kDir, SimOptions(fs)).value());
  ASSERT_TRUE(db->CreateNamespace("store", SmallSegments()).ok());
  ASSERT_TRUE(db->Append("store", "t", "before").ok());
  fs->FailNth(SimOp::kSync, 1, /*persistent=*/false, Status::IOError("injected EIO"));
  auto failed = db->Append("store", "t", "lost");
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("injected"), std::string::npos);
  // The fault was transient, but the log stays read-only with the same error: never retry an
  // fsync and then acknowledge.
  auto after = db->Append("store", "t", "after");
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.status().message(), failed.status().message());
  auto last = db->LastSeq("store", std::vector<std::string_view>{"t"});
  EXPECT_EQ((*last)[0], 1u);
  auto m = db->Get("store", "t", 1);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->payload, "before");
  EXPECT_TRUE(db->Get("store", "t", 2).status().IsNotFound());
}

TEST(DiskErrorTest, NoSpaceFailsAppendsAndReopenResumes) {
  auto fs = std::make_shared<SimFileSystem>();
  {
    auto db = std::move(Db::Open(kDir, SimOptions(fs)).value());
    ASSERT_TRUE(db->CreateNamespace("store", SmallSegments()).ok());
    ASSERT_TRUE(db->Append("store", "t", "one").ok());
    fs->SetCapacityBytes(fs->TotalBytes() + 100);
    Status last;
    for (int i = 0; i < 10'000 && last.ok(); ++i)  // the active segment's blocks are reserved
      last = db->Append("store", "t", std::string(50, 'x')).status();
    EXPECT_EQ(last.code(), Status::Code::kNoSpace) << last.ToString();
    EXPECT_TRUE(db->Get("store", "t", 1).ok());  // reads keep working
  }
  fs->SetCapacityBytes(0);
  fs->ClearFaults();
  auto db = std::move(Db::Open(kDir, SimOptions(fs)).value());
  auto r = db->Append("store", "t", "resumed");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto one = db->Get("store", "t", 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->payload, "one");
}

// ---- Disk full without a restart (docs/design.md "Disk full") ----

// One sync writer to timeline "t" with a ledger of what was acknowledged.
class NoSpaceScenario {
 public:
  NoSpaceScenario(Options::Prezero prezero, NamespaceOptions ns = SmallSegments()) {
    Options o = SimOptions(fs_);
    o.prezero = prezero;
    o.clock = clock_;
    o.on_event = [this](std::string_view e) { events_.emplace_back(e); };
    options_ = o;
    db_ = std::move(Db::Open(kDir, options_).value());
    EXPECT_TRUE(db_->CreateNamespace("store", ns).ok());
  }
  // Appends message number `i` (payload and client_msg_id derived from i).
  Status Append(int i) {
    AppendOptions ao;
    const std::string cmid = "cm-" + std::to_string(i);
    ao.client_msg_id = cmid;
    const std::string payload = "m" + std::to_string(i) + std::string(300, 'x');
    auto r = db_->Append("store", "t", payload, ao);
    if (!r.ok()) return r.status();
    EXPECT_FALSE(r->deduplicated);
    EXPECT_EQ(r->seq, acked_.size() + 1) << "an acknowledged SeqId skipped or reused";
    acked_.push_back(payload);
    return Status::Ok();
  }
  // Appends new messages until one fails; returns its status (next_ is the failed one).
  Status FillUntilFailure() {
    Status s;
    for (int k = 0; k < 10'000 && s.ok(); ++k) {
      s = Append(next_);
      if (s.ok()) ++next_;
    }
    return s;
  }
  // Everything acknowledged is there, in order, and nothing else.
  void ExpectExactlyAcked() {
    ScanOptions all;
    all.limit = 100'000;
    auto got = db_->Scan("store", "t", all);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->size(), acked_.size());
    for (size_t i = 0; i < acked_.size(); ++i) {
      EXPECT_EQ((*got)[i].seq, i + 1);
      EXPECT_EQ((*got)[i].payload, acked_[i]);
    }
    auto last = db_->LastSeq("store", std::vector<std::string_view>{"t"});
    ASSERT_TRUE(last.ok());
    EXPECT_EQ((*last)[0], acked_.size());
  }
  void Reopen() {
    ASSERT_TRUE(db_->Close().ok());
    db_.reset();
    auto opened = Db::Open(kDir, options_);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    db_ = std::move(opened).value();
  }
  bool EventSays(std::string_view what) const {
    return std::any_of(events_.begin(), events_.end(),
                       [&](const std::string& e) { return e.find(what) != std::string::npos; });
  }
  uint64_t Segments() { return db_->DescribeNamespace("store")->segments; }

  std::shared_ptr<SimFileSystem> fs_ = std::make_shared<SimFileSystem>();
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>(1'700'000'000'000);
  Options options_;
  std::unique_ptr<Db> db_;
  std::vector<std::string> acked_;
  std::vector<std::string> events_;
  int next_ = 0;
};

// Fills the active segment with no room left for the next one, then frees space: the failed
// append and new ones succeed on the same Db, without a reopen.
void ExpectNoSpaceAtRollIsRetriable(NoSpaceScenario& t, std::string_view failing_file) {
  const Status failed = t.FillUntilFailure();
  ASSERT_EQ(failed.code(), Status::Code::kNoSpace) << failed.ToString();
  EXPECT_NE(failed.message().find(failing_file), std::string::npos) << failed.ToString();
  EXPECT_GT(t.acked_.size(), 100u);  // the active segment's reserved blocks were all used
  for (int k = 0; k < 3; ++k) {      // retries fail alike, and store nothing
    const Status again = t.Append(t.next_);
    EXPECT_EQ(again.code(), Status::Code::kNoSpace) << again.ToString();
  }
  t.ExpectExactlyAcked();  // reads keep working, nothing acknowledged is missing
  EXPECT_TRUE(t.EventSays("no space"));
  EXPECT_FALSE(t.EventSays("read-only"));
  EXPECT_EQ(t.Segments(), 1u);

  t.fs_->SetCapacityBytes(0);                // space freed; the same Db
  const Status retried = t.Append(t.next_);  // the failed message, same client_msg_id
  ASSERT_TRUE(retried.ok()) << retried.ToString();
  ++t.next_;
  for (int k = 0; k < 300; ++k) {  // through more rolls
    ASSERT_TRUE(t.Append(t.next_).ok());
    ++t.next_;
  }
  EXPECT_TRUE(t.EventSays("appends resume"));
  EXPECT_GE(t.Segments(), 3u);
  t.ExpectExactlyAcked();
  t.Reopen();
  t.ExpectExactlyAcked();
  const std::vector<std::string> left = *t.fs_->ListDir(std::string(kDir) + "/ns/store");
  for (const auto& name : left) EXPECT_FALSE(name.ends_with(".tmp")) << name;
}

TEST(DiskErrorTest, NoSpaceReservingTheNextSegmentIsRetriableWithoutReopen) {
  NoSpaceScenario t(Options::Prezero::kInline);
  ASSERT_TRUE(t.Append(t.next_++).ok());  // the first group allocates the whole segment
  // Room for nothing more: preparing the next segment (at half full) fails quietly, and the
  // roll cannot reserve it either.
  t.fs_->SetCapacityBytes(t.fs_->TotalBytes() + 1024);
  ExpectNoSpaceAtRollIsRetriable(t, ".seg.new.tmp");
}

TEST(DiskErrorTest, NoSpaceWritingTheIndexAtRollIsRetriableWithoutReopen) {
  NoSpaceScenario t(Options::Prezero::kOff);
  ASSERT_TRUE(t.Append(t.next_++).ok());
  // Room for the next segment but not for the sealed segment's index file.
  t.fs_->SetCapacityBytes(t.fs_->TotalBytes() + (64u << 10) + 16);
  ExpectNoSpaceAtRollIsRetriable(t, ".idx.tmp");
}

TEST(DiskErrorTest, SpaceFreedByTtlLetsAppendsResumeWithoutReopen) {
  NamespaceOptions ns = SmallSegments();
  ns.ttl_ms = 3'600'000;
  NoSpaceScenario t(Options::Prezero::kOff, ns);
  for (int k = 0; k < 450; ++k) ASSERT_TRUE(t.Append(t.next_++).ok());  // ~2 sealed segments
  ASSERT_GE(t.Segments(), 3u);
  t.clock_->Advance(2 * 3'600'000);  // those are expired now
  t.fs_->SetCapacityBytes(t.fs_->TotalBytes() + 1024);
  Status failed = t.FillUntilFailure();
  ASSERT_EQ(failed.code(), Status::Code::kNoSpace) << failed.ToString();
  EXPECT_EQ(t.Append(t.next_).code(), Status::Code::kNoSpace);
  auto dropped = t.db_->Compact("store", {});  // the TTL drop frees the expired segments
  ASSERT_TRUE(dropped.ok()) << dropped.status().ToString();
  EXPECT_GE(dropped->segments_expired, 2u);
  ASSERT_TRUE(t.Append(t.next_).ok());  // the failed one, on the same Db
  ++t.next_;
  // What is left: the unexpired messages, all of them.
  ScanOptions all;
  all.limit = 100'000;
  auto got = t.db_->Scan("store", "t", all);
  ASSERT_TRUE(got.ok());
  ASSERT_FALSE(got->empty());
  EXPECT_EQ(got->back().seq, t.acked_.size());
  for (const Message& m : *got) EXPECT_EQ(m.payload, t.acked_[m.seq - 1]);
}

// A TTL drop whose FLOORS write finds no space drops nothing, and the next pass drops it all.
TEST(DiskErrorTest, TtlDropRetriesWhenFloorsCannotBeWritten) {
  NamespaceOptions ns = SmallSegments();
  ns.ttl_ms = 3'600'000;
  NoSpaceScenario t(Options::Prezero::kOff, ns);
  for (int k = 0; k < 450; ++k) ASSERT_TRUE(t.Append(t.next_++).ok());
  ASSERT_EQ(t.Segments(), 3u);
  t.clock_->Advance(2 * 3'600'000);  // everything expired: "t" will be left without a record
  // The drop first seals the idle active segment (next segment's header: write 1, index: write
  // 2), then writes FLOORS (write 3).
  t.fs_->FailNth(SimOp::kWrite, 3, /*persistent=*/false, Status::NoSpace("injected ENOSPC"));
  auto first = t.db_->Compact("store", {});
  ASSERT_EQ(first.status().code(), Status::Code::kNoSpace) << first.status().ToString();
  EXPECT_EQ(t.Segments(), 4u);  // three sealed (none forgotten) and the new active one
  auto second = t.db_->Compact("store", {});
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->segments_expired, 3u);
  EXPECT_EQ(t.Segments(), 1u);
  size_t segment_files = 0;
  auto names = t.fs_->ListDir(std::string(kDir) + "/ns/store");
  ASSERT_TRUE(names.ok());
  for (const auto& name : *names) {
    segment_files += name.ends_with(".seg") || name.ends_with(".idx");
  }
  EXPECT_EQ(segment_files, 1u);  // the files went too, not only the memory of them
  t.Reopen();
  auto last = t.db_->LastSeq("store", std::vector<std::string_view>{"t"});
  EXPECT_EQ((*last)[0], 450u);  // kept by FLOORS: SeqIds are never reused
  auto r = t.db_->Append("store", "t", "later");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->seq, 451u);
}

// Found by DiskFullTest.InjectedNoSpaceThroughTheServer once appends went on after NoSpace: a
// compaction that failed for want of space left its output behind; a later run over more
// segments wrote the same segment id with a higher generation, and at the next open the stale
// lower generation won: the later run's other inputs were lost.
TEST(DiskErrorTest, CompactionThatFailsForSpaceLeavesNoStaleOutput) {
  NoSpaceScenario t(Options::Prezero::kOff);
  while (t.Segments() < 2) ASSERT_TRUE(t.Append(t.next_++).ok());  // segment 1 sealed
  // The run over segment 1 writes its output (write 1), then its index (write 2): no space.
  t.fs_->FailNth(SimOp::kWrite, 2, /*persistent=*/false, Status::NoSpace("injected ENOSPC"));
  auto failed = t.db_->Compact("store", {});
  ASSERT_EQ(failed.status().code(), Status::Code::kNoSpace) << failed.status().ToString();
  while (t.Segments() < 3) ASSERT_TRUE(t.Append(t.next_++).ok());  // segment 2 sealed
  auto done = t.db_->Compact("store", {});
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->segments_done, 2u);  // one run over segments 1 and 2
  t.ExpectExactlyAcked();
  t.Reopen();
  t.ExpectExactlyAcked();
}

// A failed write or fdatasync of the log's data stays sticky even when the error is NoSpace
// and the fault is gone: the kernel may have dropped the pages, so a later success would not
// prove the failed group durable. Nothing of it is acknowledged or visible.
TEST(DiskErrorTest, NoSpaceFromTheDataWriteOrSyncStaysSticky) {
  for (SimOp op : {SimOp::kWrite, SimOp::kSync}) {
    NoSpaceScenario t(Options::Prezero::kOff);
    for (int k = 0; k < 3; ++k) ASSERT_TRUE(t.Append(t.next_++).ok());
    t.fs_->FailNth(op, 1, /*persistent=*/false, Status::NoSpace("injected ENOSPC"));
    const Status failed = t.Append(t.next_);
    ASSERT_EQ(failed.code(), Status::Code::kNoSpace);
    for (int k = 0; k < 3; ++k) {
      const Status again = t.Append(t.next_ + 1 + k);
      EXPECT_EQ(again.code(), failed.code());
      EXPECT_EQ(again.message(), failed.message());
    }
    EXPECT_TRUE(t.EventSays("read-only"));
    t.ExpectExactlyAcked();  // 3 messages: the failed group never became visible
    // Reopening recovers from what the file holds: the unacknowledged message may be there
    // (its write reached the file before the sync failed), so the client's retry with the same
    // client_msg_id gets SeqId 4 either way, once.
    t.Reopen();
    AppendOptions ao;
    const std::string cmid = "cm-" + std::to_string(t.next_);
    ao.client_msg_id = cmid;
    auto r = t.db_->Append("store", "t", "m" + std::to_string(t.next_) + std::string(300, 'x'), ao);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->seq, 4u);
    EXPECT_EQ(r->deduplicated, op == SimOp::kSync);
  }
}

// A failed fdatasync while sealing (buffered appends made durable by the roll) is sticky too.
TEST(DiskErrorTest, FailedSyncWhileSealingIsSticky) {
  NoSpaceScenario t(Options::Prezero::kOff);
  AppendOptions buffered;
  buffered.durability = Durability::kBuffered;
  int n = 0;
  for (; n < 150; ++n)
    ASSERT_TRUE(t.db_->Append("store", "b", std::string(300, 'b'), buffered).ok());
  ASSERT_EQ(t.Segments(), 1u);
  // The roll first reserves the next segment (its header's sync is the first), then seals.
  t.fs_->FailNth(SimOp::kSync, 2, /*persistent=*/false, Status::IOError("injected EIO"));
  Status failed;
  for (int k = 0; k < 200 && failed.ok(); ++k) {
    failed = t.db_->Append("store", "b", std::string(300, 'b'), buffered).status();
    if (failed.ok()) ++n;
  }
  ASSERT_EQ(failed.code(), Status::Code::kIOError);  // the roll's sync of the buffered records
  EXPECT_EQ(t.db_->Append("store", "b", "after", {}).status().message(), failed.message());
  EXPECT_EQ(t.Segments(), 1u);
  auto last = t.db_->LastSeq("store", std::vector<std::string_view>{"b"});
  EXPECT_EQ((*last)[0], static_cast<Seq>(n));
}

// The same workload and checks on a real backend: a child process runs the workload and is
// SIGKILLed mid-way (a process crash: the page cache survives), then the parent reopens.
class KillTest : public ::testing::TestWithParam<std::string> {};

TEST_P(KillTest, ProcessKilledMidWorkloadRecovers) {
  auto backend = NewFileSystem(GetParam());
  if (!backend.ok()) GTEST_SKIP() << GetParam() << ": " << backend.status().ToString();
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
