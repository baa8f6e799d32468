// The engine's log-shipping seam (tldb/replication.h): a primary hands every group and roll to
// its LogShipper before anything is visible or acknowledged; a follower writes the same frames
// at the same positions and ends up with byte-identical segments and the same answers; a
// lagging follower catches up from ReadFrames; TruncateLog cuts a log back to a position; a
// failed shipment is sticky; frames that do not fit are refused without writing anything.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "io/sim_file_system.h"
#include "tldb/db.h"
#include "tldb/replication.h"

namespace tldb {
namespace {

// Applies every shipped frame to a follower at once (or fails on demand), and keeps a copy.
class ApplyingShipper : public LogShipper {
 public:
  Status Ship(std::string_view ns, const LogFrame& f) override {
    std::lock_guard l(mu_);
    frames.push_back(f);
    if (!fail.ok()) return fail;
    return follower != nullptr ? follower->ApplyFrame(ns, f) : Status::Ok();
  }
  std::mutex mu_;
  Db* follower = nullptr;
  Status fail;
  std::vector<LogFrame> frames;
};

class LogShippingTest : public ::testing::Test {
 protected:
  Options Opts(bool follower) {
    Options o;
    o.file_system = fs_;
    o.prezero = Options::Prezero::kInline;
    o.background_maintenance = false;
    o.follower = follower;
    return o;
  }
  std::unique_ptr<Db> Open(const std::string& dir, Options o) {
    auto db = Db::Open(dir, o);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return std::move(db).value();
  }
  static NamespaceOptions SmallSegments() {
    NamespaceOptions n;
    n.segment_bytes_max = 64 << 10;  // rolls every few hundred messages
    return n;
  }
  // Appends, fan-outs and maintenance records, enough to roll several times.
  static void Workload(Db& db, int n) {
    for (int i = 0; i < n; ++i) {
      const std::string t = "t" + std::to_string(i % 7);
      AppendOptions ao;
      const std::string cmid = "m" + std::to_string(i);
      ao.client_msg_id = cmid;
      ASSERT_TRUE(db.Append("ns", t, std::string(200, 'a' + i % 26), ao).ok());
      if (i % 50 == 0) {
        const std::string_view targets[] = {"f1", "f2", "f3"};
        ASSERT_TRUE(db.AppendFanout("ns", targets, "fan " + std::to_string(i)).ok());
      }
      if (i % 97 == 96) {
        ASSERT_TRUE(db.Recall("ns", t, 2).ok());
      }
    }
  }
  std::string File(const std::string& dir, uint64_t id, const std::string& ext) {
    char name[32];
    std::snprintf(name, sizeof name, "%016llx.%s", static_cast<unsigned long long>(id),
                  ext.c_str());
    auto bytes = fs_->ReadFileToString(dir + "/ns/ns/" + name);
    return bytes.ok() ? *bytes : std::string("<missing>");
  }
  // Every segment and index file up to the active segment is the same on both, and the active
  // segments hold the same records.
  void ExpectIdentical(Db& a, const std::string& da, Db& b, const std::string& db_dir) {
    auto ea = a.LogEnd("ns"), eb = b.LogEnd("ns");
    ASSERT_TRUE(ea.ok() && eb.ok());
    ASSERT_EQ(ea->written, eb->written);
    for (uint64_t id = 1; id < ea->written.segment; ++id) {
      EXPECT_EQ(File(da, id, "seg"), File(db_dir, id, "seg")) << "segment " << id;
      EXPECT_EQ(File(da, id, "idx"), File(db_dir, id, "idx")) << "index " << id;
    }
    EXPECT_EQ(File(da, ea->written.segment, "seg").substr(0, ea->written.offset),
              File(db_dir, ea->written.segment, "seg").substr(0, ea->written.offset));
  }
  void ExpectSameAnswers(Db& a, Db& b) {
    for (const std::string t : {"t0", "t3", "t6", "f1", "f3"}) {
      ScanOptions so;
      so.limit = 10'000;
      auto sa = a.Scan("ns", t, so), sb = b.Scan("ns", t, so);
      ASSERT_TRUE(sa.ok() && sb.ok());
      ASSERT_EQ(sa->size(), sb->size()) << t;
      for (size_t i = 0; i < sa->size(); ++i) {
        EXPECT_EQ((*sa)[i].seq, (*sb)[i].seq);
        EXPECT_EQ((*sa)[i].payload, (*sb)[i].payload);
        EXPECT_EQ((*sa)[i].timestamp_ms, (*sb)[i].timestamp_ms);
      }
      const std::string_view keys[] = {t};
      EXPECT_EQ(a.LastSeq("ns", keys).value(), b.LastSeq("ns", keys).value());
    }
    // A retried append reaches the follower's dedupe window too.
    auto d = b.Get("ns", "t0", 2);
    EXPECT_EQ(d.status().code(), Status::Code::kDeleted);
  }

  std::shared_ptr<SimFileSystem> fs_ = std::make_shared<SimFileSystem>();
};

TEST_F(LogShippingTest, FollowerHoldsByteIdenticalSegments) {
  auto shipper = std::make_shared<ApplyingShipper>();
  auto follower = Open("/f", Opts(true));
  ASSERT_TRUE(follower->CreateNamespace("ns", SmallSegments()).ok());
  shipper->follower = follower.get();
  Options po = Opts(false);
  po.log_shipper = shipper;
  auto primary = Open("/p", po);
  ASSERT_TRUE(primary->CreateNamespace("ns", SmallSegments()).ok());
  Workload(*primary, 900);
  auto end = primary->LogEnd("ns");
  ASSERT_TRUE(end.ok());
  EXPECT_GE(end->written.segment, 4u) << "the workload must roll a few times";
  EXPECT_TRUE(std::any_of(shipper->frames.begin(), shipper->frames.end(),
                          [](const LogFrame& f) { return f.kind == FrameKind::kRoll; }));
  ExpectIdentical(*primary, "/p", *follower, "/f");
  ExpectSameAnswers(*primary, *follower);
  // The follower's copy survives a restart like its own writes.
  follower.reset();
  follower = Open("/f", Opts(true));
  ExpectIdentical(*primary, "/p", *follower, "/f");
  ExpectSameAnswers(*primary, *follower);
}

// Db::Sync on a primary makes buffered appends durable on the followers too: an empty frame
// asks them to sync what they have.
TEST_F(LogShippingTest, SyncReachesTheFollowers) {
  auto shipper = std::make_shared<ApplyingShipper>();
  auto follower = Open("/f", Opts(true));
  ASSERT_TRUE(follower->CreateNamespace("ns", {}).ok());
  shipper->follower = follower.get();
  Options po = Opts(false);
  po.log_shipper = shipper;
  auto primary = Open("/p", po);
  ASSERT_TRUE(primary->CreateNamespace("ns", {}).ok());
  AppendOptions buffered;
  buffered.durability = Durability::kBuffered;
  ASSERT_TRUE(primary->Append("ns", "t", "one", buffered).ok());
  auto before = follower->LogEnd("ns");
  ASSERT_TRUE(before.ok());
  EXPECT_LT(before->durable, before->written) << "a buffered frame is not synced";
  ASSERT_TRUE(primary->Sync().ok());
  ASSERT_FALSE(shipper->frames.empty());
  EXPECT_TRUE(shipper->frames.back().bytes.empty() && shipper->frames.back().sync);
  auto after = follower->LogEnd("ns");
  EXPECT_EQ(after->durable, after->written);
  EXPECT_EQ(after->written, primary->LogEnd("ns")->written);
}

TEST_F(LogShippingTest, RolesRefuseTheOtherSidesWrites) {
  auto follower = Open("/f", Opts(true));
  ASSERT_TRUE(follower->CreateNamespace("ns", {}).ok());
  auto a = follower->Append("ns", "t", "x");
  EXPECT_EQ(a.status().code(), Status::Code::kNotPrimary) << a.status().ToString();
  EXPECT_EQ(follower->Recall("ns", "t", 1).status().code(), Status::Code::kNotPrimary);
  auto primary = Open("/p", Opts(false));
  ASSERT_TRUE(primary->CreateNamespace("ns", {}).ok());
  ASSERT_TRUE(primary->Append("ns", "t", "x").ok());
  auto frames = primary->ReadFrames("ns", {1, 64}, 1 << 20);
  ASSERT_TRUE(frames.ok()) << frames.status().ToString();
  ASSERT_EQ(frames->size(), 1u);
  EXPECT_EQ(primary->ApplyFrame("ns", frames->front()).code(), Status::Code::kInvalidArgument);
  // Promotion: the follower takes writes once it is told it leads.
  ASSERT_TRUE(follower->ApplyFrame("ns", frames->front()).ok());
  follower->SetFollower(false);
  auto b = follower->Append("ns", "t", "y");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->seq, 2u);
}

TEST_F(LogShippingTest, LaggingFollowerCatchesUpFromReadFrames) {
  auto primary = Open("/p", Opts(false));
  ASSERT_TRUE(primary->CreateNamespace("ns", SmallSegments()).ok());
  Workload(*primary, 700);
  auto follower = Open("/f", Opts(true));
  ASSERT_TRUE(follower->CreateNamespace("ns", SmallSegments()).ok());
  int rounds = 0;
  for (;; ++rounds) {
    ASSERT_LT(rounds, 1000);
    auto at = follower->LogEnd("ns");
    ASSERT_TRUE(at.ok());
    auto frames = primary->ReadFrames("ns", at->written, 16 << 10);
    ASSERT_TRUE(frames.ok()) << frames.status().ToString();
    if (frames->empty()) break;
    for (const LogFrame& f : *frames) {
      ASSERT_EQ(f.start(), at->written);
      ASSERT_TRUE(follower->ApplyFrame("ns", f).ok());
      at = follower->LogEnd("ns");
      ASSERT_EQ(at->written, f.end());
      ASSERT_EQ(at->durable, f.end());
    }
  }
  EXPECT_GT(rounds, 5);
  ExpectIdentical(*primary, "/p", *follower, "/f");
  ExpectSameAnswers(*primary, *follower);
}

// A seal cuts a prepared segment's zeros without an fsync, so after a power loss a sealed file
// may come back with its zeros: frames are read up to the index's end of records, not into them.
TEST_F(LogShippingTest, ASealedFileWhoseZerosCameBackIsShippedUpToItsRecords) {
  auto primary = Open("/p", Opts(false));
  ASSERT_TRUE(primary->CreateNamespace("ns", SmallSegments()).ok());
  Workload(*primary, 700);
  ASSERT_TRUE(primary->Sync().ok());
  const uint64_t sealed_bytes = File("/p", 2, "seg").size();
  ASSERT_TRUE(primary->Close().ok());
  primary.reset();
  fs_->PowerLoss(UnsyncedMode::kDrop, 7);  // the seals' truncations were never synced
  ASSERT_GT(File("/p", 2, "seg").size(), sealed_bytes) << "the zeros did not come back";
  primary = Open("/p", Opts(false));
  auto follower = Open("/f", Opts(true));
  ASSERT_TRUE(follower->CreateNamespace("ns", SmallSegments()).ok());
  for (int rounds = 0;; ++rounds) {
    ASSERT_LT(rounds, 1000);
    auto frames = primary->ReadFrames("ns", follower->LogEnd("ns")->written, 16 << 10);
    ASSERT_TRUE(frames.ok()) << frames.status().ToString();
    if (frames->empty()) break;
    for (const LogFrame& f : *frames) ASSERT_TRUE(follower->ApplyFrame("ns", f).ok());
  }
  ExpectSameAnswers(*primary, *follower);
}

// The active segment's image is kept in 8 MiB chunks, and a group that does not fit starts a
// new one: frames read back across that boundary hold only records.
TEST_F(LogShippingTest, CatchUpAcrossTheActiveImagesChunks) {
  auto primary = Open("/p", Opts(false));
  ASSERT_TRUE(primary->CreateNamespace("ns", {}).ok());
  const std::string payload(3000, 'c');
  for (int i = 0; i < 4000; ++i) {  // about 12 MiB in one segment
    AppendOptions ao;
    ao.durability = Durability::kBuffered;
    ASSERT_TRUE(primary->Append("ns", "t" + std::to_string(i % 5), payload, ao).ok());
  }
  ASSERT_EQ(primary->LogEnd("ns")->written.segment, 1u);
  auto follower = Open("/f", Opts(true));
  ASSERT_TRUE(follower->CreateNamespace("ns", {}).ok());
  for (int rounds = 0;; ++rounds) {
    ASSERT_LT(rounds, 10'000);
    auto frames = primary->ReadFrames("ns", follower->LogEnd("ns")->written, 1 << 20);
    ASSERT_TRUE(frames.ok()) << frames.status().ToString();
    if (frames->empty()) break;
    for (const LogFrame& f : *frames) ASSERT_TRUE(follower->ApplyFrame("ns", f).ok());
  }
  ExpectIdentical(*primary, "/p", *follower, "/f");
}

// Segments a follower still needs stay as written through compaction; once released, they are
// rewritten and a follower that far behind needs a snapshot.
TEST_F(LogShippingTest, RetainedSegmentsSurviveCompaction) {
  auto primary = Open("/p", Opts(false));
  ASSERT_TRUE(primary->CreateNamespace("ns", SmallSegments()).ok());
  Workload(*primary, 900);
  ASSERT_GE(primary->LogEnd("ns")->written.segment, 3u);
  primary->RetainLogFrom("ns", 2);
  CompactOptions full;
  full.full = true;
  ASSERT_TRUE(primary->Compact("ns", full).ok());
  EXPECT_EQ(primary->ReadFrames("ns", {1, 64}, 1).status().code(), Status::Code::kNotFound);
  auto held = primary->ReadFrames("ns", {2, 64}, 1 << 20);
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  EXPECT_FALSE(held->empty());
  primary->RetainLogFrom("ns", UINT64_MAX);
  ASSERT_TRUE(primary->Compact("ns", full).ok());
  EXPECT_EQ(primary->ReadFrames("ns", {2, 64}, 1).status().code(), Status::Code::kNotFound);
}

TEST_F(LogShippingTest, FramesThatDoNotFitAreRefusedWithoutWriting) {
  auto primary = Open("/p", Opts(false));
  ASSERT_TRUE(primary->CreateNamespace("ns", {}).ok());
  ASSERT_TRUE(primary->Append("ns", "t", "one").ok());
  ASSERT_TRUE(primary->Append("ns", "t", "two").ok());
  auto frames = primary->ReadFrames("ns", {1, 64}, 1);  // at least one record: exactly one
  ASSERT_TRUE(frames.ok());
  ASSERT_EQ(frames->size(), 1u);
  auto second = primary->ReadFrames("ns", frames->front().end(), 1);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->size(), 1u);
  frames->push_back(second->front());
  auto follower = Open("/f", Opts(true));
  ASSERT_TRUE(follower->CreateNamespace("ns", {}).ok());
  // A gap: the second frame first.
  Status s = follower->ApplyFrame("ns", (*frames)[1]);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();
  // A damaged copy of the first.
  LogFrame bad = (*frames)[0];
  bad.bytes[bad.bytes.size() - 1] ^= 1;
  s = follower->ApplyFrame("ns", bad);
  EXPECT_EQ(s.code(), Status::Code::kCorruption) << s.ToString();
  // A roll that does not follow the log.
  LogFrame roll{FrameKind::kRoll, 5, 64, std::string(64, '\0'), true};
  EXPECT_EQ(follower->ApplyFrame("ns", roll).code(), Status::Code::kInvalidArgument);
  // Nothing was written: the good frames still apply in order.
  EXPECT_EQ(follower->LogEnd("ns")->written, (LogPosition{1, 64}));
  ASSERT_TRUE(follower->ApplyFrame("ns", (*frames)[0]).ok());
  ASSERT_TRUE(follower->ApplyFrame("ns", (*frames)[1]).ok());
  EXPECT_EQ(follower->Get("ns", "t", 2)->payload, "two");
}

TEST_F(LogShippingTest, FailedShipmentIsStickyAndNothingBecomesVisible) {
  auto shipper = std::make_shared<ApplyingShipper>();
  Options po = Opts(false);
  po.log_shipper = shipper;
  auto primary = Open("/p", po);
  ASSERT_TRUE(primary->CreateNamespace("ns", {}).ok());
  ASSERT_TRUE(primary->Append("ns", "t", "kept").ok());
  shipper->fail = Status::NotPrimary("lost the majority");
  auto a = primary->Append("ns", "t", "lost");
  EXPECT_EQ(a.status().code(), Status::Code::kNotPrimary);
  shipper->fail = Status::Ok();
  // Sticky: the log refuses writes with the same error, and the failed append is not visible.
  auto b = primary->Append("ns", "t", "after");
  EXPECT_EQ(b.status().code(), Status::Code::kNotPrimary) << b.status().ToString();
  EXPECT_EQ(primary->Get("ns", "t", 2).status().code(), Status::Code::kNotFound);
  const std::string_view keys[] = {"t"};
  EXPECT_EQ(primary->LastSeq("ns", keys)->front(), 1u);
}

TEST_F(LogShippingTest, TruncateLogCutsBackToAPosition) {
  auto primary = Open("/p", Opts(false));
  ASSERT_TRUE(primary->CreateNamespace("ns", SmallSegments()).ok());
  Workload(*primary, 300);
  const LogEnds cut = primary->LogEnd("ns").value();
  Workload(*primary, 600);  // rolls past the cut
  ASSERT_GT(primary->LogEnd("ns")->written.segment, cut.written.segment);
  const std::string_view keys[] = {"t0"};
  const Seq seq_at_cut = [&] {
    auto db = Open("/q", Opts(false));  // the same workload, stopped at the cut, for reference
    EXPECT_TRUE(db->CreateNamespace("ns", SmallSegments()).ok());
    Workload(*db, 300);
    return db->LastSeq("ns", keys)->front();
  }();
  primary.reset();
  Status bad = Db::TruncateLog("/p", Opts(false), "ns", {cut.written.segment, 65});
  EXPECT_EQ(bad.code(), Status::Code::kInvalidArgument) << "not a record boundary";
  ASSERT_TRUE(Db::TruncateLog("/p", Opts(false), "ns", cut.written).ok());
  primary = Open("/p", Opts(false));
  EXPECT_EQ(primary->LogEnd("ns")->written, cut.written);
  EXPECT_EQ(primary->LastSeq("ns", keys)->front(), seq_at_cut);
  auto next = primary->Append("ns", "t0", "after the cut");
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->seq, seq_at_cut + 1);
}

}  // namespace
}  // namespace tldb
