// Disk errors on the simulated backend (docs/design.md "Disk full"): a failed fdatasync is
// sticky and acknowledges nothing; ENOSPC fails appends without losing acknowledged data, and
// the store resumes after a reopen or, when space comes back (capacity, a TTL drop), without one;
// a compaction or TTL drop that fails for space leaves nothing stale behind.
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

}  // namespace
}  // namespace tldb
