// The background scrub (docs/design.md "Scrubbing", engine/src/store/scrubber.h): a clean store
// passes with no finding, a flipped bit in a sealed segment's record or in an index file is
// found with its file and offset, counted, and its segment quarantined from reads (remembered
// across a restart) while other segments serve; a stopped pass resumes where it stood; the byte
// budget of a step is honoured; a new pass starts once per period; the maintenance thread runs
// it. Over the simulated file system and POSIX. Steps are driven directly (DbImpl::Scrub) with
// background maintenance off, so nothing depends on wall-clock time but the last test, which
// waits on the pass counter with a generous bound.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "admin/verify.h"
#include "common/temp_dir.h"
#include "io/sim_file_system.h"
#include "log/file_names.h"
#include "store/db_impl.h"
#include "store/maintenance_scheduler.h"
#include "store/scrub_file.h"
#include "tldb/clock.h"
#include "tldb/db.h"
#include "tldb/file_system.h"

namespace tldb {
namespace {

constexpr TimestampMs kT0 = 1'700'000'000'000;
constexpr uint64_t kBig = uint64_t{1} << 40;  // a budget no test store reaches

class ScrubTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sim") {
      fs_ = std::make_shared<SimFileSystem>();
      dir_ = "/db";
    } else {
      fs_ = NewPosixFileSystem();
      dir_ = tmp_.path() + "/db";
    }
    clock_ = std::make_shared<ManualClock>(kT0);
    Reopen();
    NamespaceOptions n;
    n.segment_bytes_max = 64 << 10;
    ASSERT_TRUE(db_->CreateNamespace("s", n).ok());
  }
  Options MakeOptions() {
    Options o;
    o.clock = clock_;
    o.file_system = fs_;
    o.background_maintenance = false;  // the tests step the scrub themselves
    o.prezero = GetParam() == "sim" ? Options::Prezero::kInline : Options::Prezero::kOff;
    o.on_event = [this](std::string_view line) {
      std::lock_guard l(events_mu_);
      events_.emplace_back(line);
    };
    return o;
  }
  void Reopen() {
    db_.reset();
    auto db = Db::Open(dir_, MakeOptions());
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
  }
  DbImpl& impl() { return static_cast<DbImpl&>(*db_); }
  ScrubStepResult Step(uint64_t budget, bool force = true) {
    ScrubStepResult r;
    Status s = impl().Scrub("s", budget, force, &r);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return r;
  }
  // `n` messages of 1 KiB to `tl`: about 60 fill a 64 KiB segment.
  void Fill(std::string_view tl, int n) {
    const std::string payload(1000, 'x');
    for (int i = 0; i < n; ++i) ASSERT_TRUE(db_->Append("s", tl, payload).ok());
  }
  std::string NsDir() const { return NamespaceDirName(dir_, "s"); }
  // Sealed segments (those with an index file) by id, with their data + index bytes.
  std::map<uint64_t, uint64_t> Sealed() {
    std::map<uint64_t, uint64_t> out;
    auto names = fs_->ListDir(NsDir());
    EXPECT_TRUE(names.ok());
    for (const auto& name : *names) {
      uint64_t id = 0;
      if (ParseFileName(name, &id) != FileKind::kIndex) continue;
      out[id] =
          *fs_->FileSize(SegmentFileName(NsDir(), id)) + *fs_->FileSize(IndexFileName(NsDir(), id));
    }
    return out;
  }
  uint64_t SealedBytes() {
    uint64_t total = 0;
    for (const auto& [id, bytes] : Sealed()) total += bytes;
    return total;
  }
  void FlipBit(const std::string& path, uint64_t offset) {
    auto r = fs_->OpenReadable(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    char c = 0;
    ASSERT_EQ(*(*r)->Read(offset, 1, &c), 1u);
    c ^= 0x10;
    auto w = fs_->OpenWritable(path, false, false);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE((*w)->Write(offset, {&c, 1}).ok());
    ASSERT_TRUE((*w)->Sync().ok());
    ASSERT_TRUE((*w)->Close().ok());
  }
  std::vector<std::string> EventsWith(std::string_view what) {
    std::lock_guard l(events_mu_);
    std::vector<std::string> out;
    for (const auto& e : events_) {
      if (e.find(what) != std::string::npos) out.push_back(e);
    }
    return out;
  }

  common::TempDir tmp_;
  std::shared_ptr<FileSystem> fs_;
  std::string dir_;
  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<Db> db_;
  std::mutex events_mu_;
  std::vector<std::string> events_;
};

TEST_P(ScrubTest, CleanStorePassesWithNoFinding) {
  Fill("a", 250);
  const auto sealed = Sealed();
  ASSERT_GE(sealed.size(), 3u);
  const ScrubStepResult r = Step(kBig);
  EXPECT_TRUE(r.pass_completed);
  EXPECT_EQ(r.segments_verified, sealed.size());
  EXPECT_EQ(r.segments_damaged, 0u);
  EXPECT_EQ(r.bytes_read, SealedBytes());
  const DbStats st = db_->Stats();
  EXPECT_EQ(st.scrub_passes_completed, 1u);
  EXPECT_EQ(st.scrub_segments_verified, sealed.size());
  EXPECT_EQ(st.scrub_bytes_read, SealedBytes());
  EXPECT_EQ(st.scrub_damaged_segments, 0u);
  EXPECT_EQ(st.scrub_segments_quarantined, 0u);
  EXPECT_TRUE(EventsWith("scrub").empty());
  // A second forced pass moves the pass counter again.
  EXPECT_TRUE(Step(kBig).pass_completed);
  EXPECT_EQ(db_->Stats().scrub_passes_completed, 2u);
}

TEST_P(ScrubTest, FlippedBitInARecordIsFoundAndItsSegmentQuarantined) {
  Fill("old", 40);   // the first segment: "old", then the start of "new"
  Fill("new", 200);  // the newest of "new" are in later segments
  const auto sealed = Sealed();
  ASSERT_GE(sealed.size(), 3u);
  const uint64_t first = sealed.begin()->first;
  const std::string seg = SegmentFileName(NsDir(), first);
  // The first record (timeline "old", seq 1) starts right after the 64-byte header; flip a bit
  // of its payload.
  FlipBit(seg, 64 + 32 + 3 + 500);
  const ScrubStepResult r = Step(kBig);
  EXPECT_TRUE(r.pass_completed);
  EXPECT_EQ(r.segments_verified, sealed.size());
  EXPECT_EQ(r.segments_damaged, 1u);
  // Reported in tldb verify's words, with the file and the offset of the damaged record.
  const auto found = EventsWith("scrub: error: " + seg + " offset 64: sealed segment damaged");
  ASSERT_EQ(found.size(), 1u) << ::testing::PrintToString(EventsWith("scrub"));
  EXPECT_NE(found[0].find("checksum mismatch"), std::string::npos) << found[0];
  EXPECT_EQ(EventsWith("quarantined").size(), 1u);
  DbStats st = db_->Stats();
  EXPECT_EQ(st.scrub_damaged_segments, 1u);
  EXPECT_EQ(st.scrub_segments_quarantined, 1u);
  // Every read that needs the segment answers Corruption naming the file and offset, also for
  // a record whose own bytes are intact (seq 2)...
  auto g = db_->Get("s", "old", 2);
  ASSERT_FALSE(g.ok());
  EXPECT_TRUE(g.status().IsCorruption()) << g.status().ToString();
  EXPECT_NE(g.status().message().find(seg + " offset 64"), std::string::npos)
      << g.status().ToString();
  ScanOptions so;
  so.limit = 10;
  auto sc = db_->Scan("s", "old", so);
  ASSERT_FALSE(sc.ok());
  EXPECT_TRUE(sc.status().IsCorruption()) << sc.status().ToString();
  // ... while other segments and timelines serve.
  auto other = db_->Get("s", "new", 200);
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_EQ(other->payload.size(), 1000u);
  so.direction = Direction::kBackward;
  auto latest = db_->Scan("s", "new", so);
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_EQ(latest->size(), 10u);
  // The quarantine is remembered across a restart (the SCRUB file), before any scrub step.
  Reopen();
  EXPECT_EQ(db_->Stats().scrub_segments_quarantined, 1u);
  g = db_->Get("s", "old", 2);
  ASSERT_FALSE(g.ok());
  EXPECT_TRUE(g.status().IsCorruption()) << g.status().ToString();
  EXPECT_TRUE(db_->Get("s", "new", 200).ok());
  // Compaction leaves it alone.
  ASSERT_TRUE(db_->Compact("s", CompactOptions{}).ok());
  EXPECT_TRUE(*fs_->Exists(seg));
  // Once the damage is gone (here: the bit flipped back, as a repair would leave it), the
  // remembered quarantine is checked again first, without waiting for the next pass, and lifted.
  FlipBit(seg, 64 + 32 + 3 + 500);
  const ScrubStepResult again = Step(kBig, /*force=*/false);
  EXPECT_EQ(again.segments_verified, 1u);
  EXPECT_FALSE(again.pass_completed);
  EXPECT_EQ(db_->Stats().scrub_segments_quarantined, 0u);
  EXPECT_EQ(EventsWith("verified sound again").size(), 1u);
  g = db_->Get("s", "old", 2);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->payload.size(), 1000u);
}

TEST_P(ScrubTest, DamagedIndexFileIsFound) {
  Fill("a", 200);
  const auto sealed = Sealed();
  ASSERT_GE(sealed.size(), 2u);
  const uint64_t id = std::next(sealed.begin())->first;
  const std::string idx = IndexFileName(NsDir(), id);
  FlipBit(idx, *fs_->FileSize(idx) / 2);
  const ScrubStepResult r = Step(kBig);
  EXPECT_EQ(r.segments_damaged, 1u);
  const auto found = EventsWith("scrub: error: " + idx + " offset 0: ");
  ASSERT_EQ(found.size(), 1u) << ::testing::PrintToString(EventsWith("scrub"));
  EXPECT_NE(found[0].find("checksum"), std::string::npos) << found[0];
  EXPECT_EQ(db_->Stats().scrub_segments_quarantined, 1u);
}

TEST_P(ScrubTest, FindsWhatTldbVerifyFinds) {
  Fill("a", 300);
  const auto sealed = Sealed();
  ASSERT_GE(sealed.size(), 4u);
  auto it = std::next(sealed.begin());
  const std::string seg = SegmentFileName(NsDir(), it->first);
  FlipBit(seg, *fs_->FileSize(seg) / 2);  // somewhere inside a record of the second segment
  ++it;
  const std::string idx = IndexFileName(NsDir(), it->first);
  FlipBit(idx, 100);  // the third segment's index
  EXPECT_EQ(Step(kBig).segments_damaged, 2u);
  db_.reset();
  // One rule (index/sealed_check.h): tldb verify's errors are exactly the scrub's findings.
  auto report = admin::Verify(*fs_, dir_, admin::VerifyOptions{});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  std::vector<std::string> verify_errors, scrub_errors;
  for (const auto& p : report->problems) {
    if (p.severity != admin::Problem::Severity::kError) continue;
    verify_errors.push_back(p.file + " offset " + std::to_string(p.offset) + ": " + p.what);
  }
  const std::string prefix = "namespace 's': scrub: error: ";
  for (const auto& e : EventsWith(prefix)) scrub_errors.push_back(e.substr(prefix.size()));
  std::sort(verify_errors.begin(), verify_errors.end());
  std::sort(scrub_errors.begin(), scrub_errors.end());
  EXPECT_EQ(scrub_errors.size(), 2u);
  EXPECT_EQ(scrub_errors, verify_errors);
}

TEST_P(ScrubTest, StoppedPassResumesWhereItStood) {
  Fill("a", 400);
  const auto sealed = Sealed();
  ASSERT_GE(sealed.size(), 5u);
  // A budget of exactly the first three segments' bytes checks exactly those three.
  uint64_t budget = 0;
  auto it = sealed.begin();
  for (int i = 0; i < 3; ++i, ++it) budget += it->second;
  ScrubStepResult r = Step(budget);
  EXPECT_EQ(r.segments_verified, 3u);
  EXPECT_EQ(r.bytes_read, budget);
  EXPECT_FALSE(r.pass_completed);
  Reopen();
  // Not due by the clock, but a pass is in progress: it goes on without `force`.
  r = Step(kBig, /*force=*/false);
  EXPECT_TRUE(r.pass_completed);
  EXPECT_EQ(r.segments_verified, sealed.size() - 3);  // from the fourth, not from the start
  EXPECT_EQ(r.bytes_read, SealedBytes() - budget);
  EXPECT_EQ(db_->Stats().scrub_passes_completed, 1u);
}

TEST_P(ScrubTest, StepHonoursItsByteBudget) {
  Fill("a", 250);
  const uint64_t total = SealedBytes();
  const uint64_t budget = 10'000;  // smaller than a segment: segments span several steps
  uint64_t sum = 0, steps = 0, verified = 0;
  for (bool done = false; !done && steps < 1000; ++steps) {
    const ScrubStepResult r = Step(budget);
    EXPECT_LE(r.bytes_read, budget);
    if (!r.pass_completed) {
      EXPECT_EQ(r.bytes_read, budget);  // the budget is used, not exceeded
    }
    sum += r.bytes_read;
    verified += r.segments_verified;
    done = r.pass_completed;
  }
  EXPECT_EQ(sum, total);
  EXPECT_EQ(verified, Sealed().size());
  EXPECT_EQ(steps, (total + budget - 1) / budget + (total % budget == 0 ? 1 : 0));
  EXPECT_EQ(db_->Stats().scrub_bytes_read, total);
  // The maintenance thread's tick budget at the default pace: 8 MiB/s over 100 ms ticks.
  EXPECT_EQ(MaintenanceScheduler::ScrubTickBytes(Options{}.scrub_bytes_per_s), 838'860u);
}

TEST_P(ScrubTest, NewPassOncePerPeriod) {
  const auto period = static_cast<int64_t>(Options{}.scrub_period_ms);
  Fill("a", 100);
  // The namespace was created empty: it counts as checked then, and its first pass comes a
  // period later, not while it is being filled.
  EXPECT_EQ(Step(kBig, false).bytes_read, 0u);
  clock_->Advance(period - 1000);
  EXPECT_EQ(Step(kBig, false).bytes_read, 0u);
  clock_->Advance(1000);
  ScrubStepResult r = Step(kBig, false);
  EXPECT_TRUE(r.pass_completed);
  EXPECT_EQ(r.bytes_read, SealedBytes());
  EXPECT_EQ(db_->Stats().scrub_passes_completed, 1u);
  EXPECT_EQ(Step(kBig, false).bytes_read, 0u);  // the next one a period after this one started
  clock_->Advance(period);
  r = Step(kBig, false);
  EXPECT_TRUE(r.pass_completed);
  EXPECT_EQ(r.bytes_read, SealedBytes());
  EXPECT_EQ(db_->Stats().scrub_passes_completed, 2u);
}

TEST_P(ScrubTest, NeverScrubbedSegmentsAreCheckedAtOnce) {
  Fill("a", 100);
  // Sealed segments and no SCRUB file: a store written before the scrub existed, or restored.
  db_.reset();
  ASSERT_TRUE(fs_->Remove(ScrubFileName(NsDir())).ok());
  Reopen();
  const ScrubStepResult r = Step(kBig, false);
  EXPECT_TRUE(r.pass_completed);
  EXPECT_EQ(r.bytes_read, SealedBytes());
}

TEST_P(ScrubTest, SegmentsSealedDuringAPassWaitForTheNextOne) {
  Fill("a", 200);
  const auto before = Sealed();
  ASSERT_GE(before.size(), 3u);
  const uint64_t first = before.begin()->second;
  ScrubStepResult r = Step(first);  // the pass starts and checks the first segment
  EXPECT_EQ(r.segments_verified, 1u);
  EXPECT_FALSE(r.pass_completed);
  Fill("a", 200);  // seals more segments while the pass runs
  ASSERT_GT(Sealed().size(), before.size() + 2);
  // A pass in progress goes on without `force` and ends at the segments it started with.
  r = Step(kBig, /*force=*/false);
  EXPECT_TRUE(r.pass_completed);
  EXPECT_EQ(r.segments_verified, before.size() - 1);
  uint64_t rest = 0;
  for (const auto& [id, bytes] : before) rest += bytes;
  EXPECT_EQ(r.bytes_read, rest - first);
  // The next pass, a period after this one started, covers every sealed segment.
  clock_->Advance(static_cast<int64_t>(Options{}.scrub_period_ms));
  r = Step(kBig, /*force=*/false);
  EXPECT_TRUE(r.pass_completed);
  EXPECT_EQ(r.segments_verified, Sealed().size());
  EXPECT_EQ(r.bytes_read, SealedBytes());
}

TEST_P(ScrubTest, ReadersRunWhileTheScrubQuarantines) {
  Fill("old", 40);
  Fill("new", 200);
  const auto sealed = Sealed();
  FlipBit(SegmentFileName(NsDir(), sealed.begin()->first), 64 + 32 + 3 + 500);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> served{0}, corrupt{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      ScanOptions so;
      so.limit = 20;
      so.direction = t == 0 ? Direction::kForward : Direction::kBackward;
      while (!stop.load()) {
        auto r = db_->Scan("s", t == 0 ? "old" : "new", so);
        if (r.ok()) {
          served++;
        } else if (r.status().IsCorruption()) {
          corrupt++;
        } else {
          ADD_FAILURE() << r.status().ToString();
        }
        (void)db_->Stats();
        reads++;
      }
    });
  }
  // The readers must really run before, while and after the scrub quarantines: wait for
  // their reads (a loaded machine may not schedule them for a while), not for time.
  auto wait_until = [](const std::function<bool()>& ok) {
    for (int i = 0; i < 200'000 && !ok(); ++i) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return ok();
  };
  EXPECT_TRUE(wait_until([&] { return reads.load() >= 4; })) << "the readers did not start";
  bool done = false;
  for (int i = 0; i < 10'000 && !done; ++i) done = Step(4096).pass_completed;
  const uint64_t at_end = reads.load();
  EXPECT_TRUE(wait_until([&] { return reads.load() >= at_end + 4 && served.load() > 0; }))
      << "the readers stopped during the scrub";
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_TRUE(done);
  EXPECT_EQ(db_->Stats().scrub_segments_quarantined, 1u);
  EXPECT_GT(served.load(), 0u);  // "new"'s newest records serve throughout
  auto g = db_->Get("s", "old", 2);
  EXPECT_TRUE(g.status().IsCorruption()) << g.status().ToString();
}

TEST_P(ScrubTest, MaintenanceThreadRunsIt) {
  Fill("a", 150);
  const size_t sealed = Sealed().size();
  // A TTL far away: background compaction then leaves the fully live segments as they are.
  NamespaceOptions n = db_->DescribeNamespace("s")->options;
  n.ttl_ms = 1000ull * 24 * 3600 * 1000;
  ASSERT_TRUE(db_->SetNamespaceOptions("s", n).ok());
  db_.reset();
  clock_->Advance(static_cast<int64_t>(Options{}.scrub_period_ms));  // the first pass is due
  Options o = MakeOptions();
  o.background_maintenance = true;
  o.scrub_bytes_per_s = 64ull << 20;
  auto db = Db::Open(dir_, o);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  db_ = std::move(db).value();
  // Waits on the event (a generous bound for a loaded machine), not on a time window.
  for (int i = 0; i < 6000 && db_->Stats().scrub_passes_completed == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const DbStats st = db_->Stats();
  EXPECT_EQ(st.scrub_passes_completed, 1u);
  EXPECT_EQ(st.scrub_segments_verified, sealed);
}

INSTANTIATE_TEST_SUITE_P(Backends, ScrubTest, ::testing::Values("sim", "posix"),
                         [](const auto& info) { return info.param; });

TEST(ScrubFileTest, RoundTripAndDamage) {
  ScrubState s;
  s.in_pass = true;
  s.pass_started_ms = kT0;
  s.next_segment_id = 7;
  s.passes_completed = 3;
  s.quarantined.push_back({5, 2, {"0000000000000005-00000002.seg", 4096, "bad block"}});
  const std::string bytes = EncodeScrubState(s);
  auto back = DecodeScrubState(bytes, "SCRUB");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, s);
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] ^= 1;
    EXPECT_TRUE(DecodeScrubState(bad, "SCRUB").status().IsCorruption()) << "byte " << i;
  }
  EXPECT_FALSE(DecodeScrubState(bytes.substr(0, bytes.size() - 1), "SCRUB").ok());
}

}  // namespace
}  // namespace tldb
