// Zeros ahead of the active segment's records (docs/design.md "Pre-zeroed segments"): a new
// namespace's first segment, the segment left active at a restart, and the density rule that
// decides whether they pay. Run on every I/O backend: simulated (Options::prezero kInline, so
// the zeros are written on the leader's thread, deterministically) and POSIX / io_uring (a
// background thread per namespace, awaited through the file's size with a generous bound).
// The zeros are checked through the FileSystem seam (the active segment's file size: zeros are
// written bytes past the records) and DbStats::prezero_ahead_bytes; the records must survive
// them, and a reopen, intact.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/temp_dir.h"
#include "io/sim_file_system.h"
#include "log/file_names.h"
#include "log/segment_header.h"
#include "store/segment_preparer.h"
#include "tldb/clock.h"
#include "tldb/db.h"
#include "tldb/file_system.h"
#include "tldb/replication.h"
#include "util/test_hook.h"

namespace tldb {
namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kHeaderBytes = 64;        // format::kSegmentHeaderBytes
constexpr uint64_t kPrefixBytes = 1 * kMiB;  // SegmentPreparer::kZeroChunkBytes
constexpr uint64_t kAheadBytes = 8 * kMiB;   // SegmentPreparer::kZeroAheadBytes

// Applies every frame a primary ships to a follower at once.
class ApplyingShipper : public LogShipper {
 public:
  Status Ship(std::string_view ns, const LogFrame& f) override {
    return follower->ApplyFrame(ns, f);
  }
  Db* follower = nullptr;
};

class PrezeroTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sim") {
      fs_ = std::make_shared<SimFileSystem>();
      dir_ = "/db";
    } else {
      auto fs = NewFileSystem(GetParam());
      if (!fs.ok() && fs.status().code() == Status::Code::kNotSupported) {
        GTEST_SKIP() << GetParam() << " not supported here: " << fs.status().ToString();
      }
      ASSERT_TRUE(fs.ok()) << GetParam() << ": " << fs.status().ToString();
      fs_ = *fs;
      dir_ = tmp_.path() + "/db";
    }
  }
  Options MakeOptions(bool prezero = true) {
    Options o;
    o.file_system = fs_;
    o.clock = clock_;
    o.background_maintenance = false;
    o.groups_in_flight_max = groups_in_flight_;
    if (!prezero) {
      o.prezero = Options::Prezero::kOff;
    } else if (GetParam() == "sim") {
      o.prezero = Options::Prezero::kInline;
    }
    return o;
  }
  void Open(bool prezero = true) {
    db_.reset();
    auto db = Db::Open(dir_, MakeOptions(prezero));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
  }
  void Create(const std::string& ns, uint64_t segment_bytes_max = 64 * kMiB) {
    NamespaceOptions o;
    o.segment_bytes_max = segment_bytes_max;
    ASSERT_TRUE(db_->CreateNamespace(ns, o).ok());
  }
  LogPosition End(const std::string& ns) {
    auto e = db_->LogEnd(ns);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? e->written : LogPosition{};
  }
  uint64_t FileBytes(const std::string& ns, uint64_t segment) {
    char name[32];
    std::snprintf(name, sizeof name, "/%016llx.seg", static_cast<unsigned long long>(segment));
    auto size = fs_->FileSize(NamespaceDirName(dir_, ns) + name);
    EXPECT_TRUE(size.ok()) << size.status().ToString();
    return size.ok() ? *size : 0;
  }
  // The active segment's file reaches `bytes` (at once on the simulated backend; the POSIX
  // ones wait for the preparer thread, up to a bound no loaded machine misses).
  bool WaitForFileBytes(const std::string& ns, uint64_t bytes) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (FileBytes(ns, End(ns).segment) < bytes) {
      if (GetParam() == "sim" || std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }
  static std::string Payload(int i, size_t bytes) {
    std::string p = "message " + std::to_string(i) + " ";
    p.resize(bytes, static_cast<char>('a' + i % 26));
    return p;
  }
  void Append(const std::string& ns, int from, int to, size_t bytes, Durability d) {
    AppendOptions o;
    o.durability = d;
    for (int i = from; i < to; ++i) {
      auto r = db_->Append(ns, "t", Payload(i, bytes), o);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_EQ(r->seq, static_cast<Seq>(i + 1));
    }
  }
  // DbStats::records_written_back_bytes reaches `at_least` (at once on the simulated backend;
  // the POSIX ones wait for the preparer thread, up to a bound no loaded machine misses), and
  // never passes `end` (only records are written back).
  void ExpectWrittenBack(uint64_t at_least, uint64_t end) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (GetParam() != "sim" && db_->Stats().records_written_back_bytes < at_least &&
           std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    EXPECT_GE(db_->Stats().records_written_back_bytes, at_least);
    EXPECT_LE(db_->Stats().records_written_back_bytes, end);
  }
  // Every message 0..n-1 of timeline "t", in order, with its payload.
  void ExpectMessages(const std::string& ns, int n, size_t bytes) {
    ScanOptions all;
    all.limit = 1'000'000;
    all.bytes_max = UINT64_MAX;
    auto s = db_->Scan(ns, "t", all);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ASSERT_EQ(s->size(), static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      ASSERT_EQ((*s)[i].seq, static_cast<Seq>(i + 1));
      ASSERT_EQ((*s)[i].payload, Payload(i, bytes)) << "message " << i;
    }
  }

  common::TempDir tmp_;
  std::shared_ptr<FileSystem> fs_;
  uint32_t groups_in_flight_ = 1;  // Options::groups_in_flight_max of the next Open
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>(1'700'000'000'000);
  std::string dir_;
  std::unique_ptr<Db> db_;
};

// A new namespace's first segment is created with its first MiB written as zeros (synced), so
// its first records' fdatasyncs already overwrite written blocks; kOff writes none.
TEST_P(PrezeroTest, NewNamespaceStartsWithAZeroedPrefix) {
  Open();
  Create("a");
  EXPECT_EQ(End("a").segment, 1u);
  EXPECT_EQ(FileBytes("a", 1), kPrefixBytes);
  EXPECT_EQ(db_->Stats().prezero_ahead_bytes, kPrefixBytes - kHeaderBytes);
  Create("small", 64 << 10);  // never more than the segment
  EXPECT_EQ(FileBytes("small", 1), 64u << 10);
  Open(/*prezero=*/false);
  Create("off");
  EXPECT_EQ(FileBytes("off", 1), kHeaderBytes);
  EXPECT_EQ(db_->Stats().prezero_ahead_bytes, 0u);
}

// Densely synced appends keep zeros ahead of the records past the prefix; the zeros survive a
// reopen (recovery keeps them as unwritten space), and so do the records.
TEST_P(PrezeroTest, SyncedAppendsKeepZerosAheadAndRecordsSurviveReopen) {
  constexpr size_t kBytes = 2000;
  Open();
  Create("a");
  Append("a", 0, 800, kBytes, Durability::kSync);  // ~1.6 MB: past the prefix
  const LogPosition end = End("a");
  ASSERT_EQ(end.segment, 1u);
  ASSERT_GT(end.offset, kPrefixBytes);
  ASSERT_TRUE(WaitForFileBytes("a", end.offset + kAheadBytes / 2))
      << "zeros ahead stopped at " << FileBytes("a", 1) << ", records end at " << end.offset;
  const uint64_t file_bytes = FileBytes("a", 1);
  EXPECT_LE(file_bytes, end.offset + kAheadBytes);
  EXPECT_GE(db_->Stats().prezero_ahead_bytes, file_bytes - end.offset);
  ExpectMessages("a", 800, kBytes);
  Open();
  EXPECT_EQ(End("a").offset, end.offset);
  EXPECT_EQ(FileBytes("a", 1), file_bytes) << "recovery keeps the zeros after the records";
  ExpectMessages("a", 800, kBytes);
  Append("a", 800, 1000, kBytes, Durability::kSync);
  ExpectMessages("a", 1000, kBytes);
  Open();
  ExpectMessages("a", 1000, kBytes);
}

// Buffered records (synced less than once per 64 KiB) get no zeros beyond the prefix: the zeros
// would cost more than the fdatasyncs they speed up.
TEST_P(PrezeroTest, SparselySyncedRecordsGetNoZerosAhead) {
  constexpr size_t kBytes = 2000;
  Open();
  Create("a");
  Append("a", 0, 1000, kBytes, Durability::kBuffered);  // ~2 MB
  ASSERT_TRUE(db_->Sync().ok());
  const LogPosition end = End("a");
  ASSERT_GT(end.offset, kPrefixBytes);
  EXPECT_EQ(FileBytes("a", 1), end.offset);
  EXPECT_EQ(db_->Stats().prezero_ahead_bytes, kPrefixBytes - kHeaderBytes);
  Open();
  ExpectMessages("a", 1000, kBytes);
}

// Buffered records are written back to the device in steps of kRecordsWriteBackBytes while
// they wait for the roll's fdatasync (which then has at most a step left); synced ones need
// none. Nothing of it changes what is stored.
TEST_P(PrezeroTest, BufferedRecordsAreWrittenBackAheadOfTheRoll) {
  constexpr size_t kBytes = 2000;
  Open();
  Create("synced", 16 * kMiB);
  Append("synced", 0, 3000, kBytes, Durability::kSync);  // ~6 MB, each group synced
  EXPECT_EQ(db_->Stats().records_written_back_bytes, 0u);
  Create("a", 16 * kMiB);
  Append("a", 0, 6000, kBytes, Durability::kBuffered);  // ~12 MB: two steps asked for
  const uint64_t end = End("a").offset;
  ExpectWrittenBack(2 * SegmentPreparer::kRecordsWriteBackBytes, end);
  Append("a", 6000, 12000, kBytes, Durability::kBuffered);  // past a roll
  EXPECT_GE(End("a").segment, 2u);
  ExpectMessages("a", 12000, kBytes);
  Open();
  ExpectMessages("a", 12000, kBytes);
}

// The same with pipelined groups (written while earlier groups' fdatasyncs run, published by a
// sync thread): the leader still asks for the records to be written back.
TEST_P(PrezeroTest, BufferedRecordsAreWrittenBackWithPipelinedGroups) {
  constexpr size_t kBytes = 2000;
  groups_in_flight_ = 4;
  Open();
  Create("a", 16 * kMiB);
  Append("a", 0, 200, kBytes, Durability::kSync);         // synced groups in flight first
  Append("a", 200, 6200, kBytes, Durability::kBuffered);  // ~12 MB: two steps asked for
  const uint64_t end = End("a").offset;
  ExpectWrittenBack(2 * SegmentPreparer::kRecordsWriteBackBytes, end);
  ExpectMessages("a", 6200, kBytes);
  Open();
  ExpectMessages("a", 6200, kBytes);
}

// The segment left active at a restart (here one written without zeros, with kOff) gets zeros
// ahead of its records once synced appends resume.
TEST_P(PrezeroTest, SegmentLeftActiveAtRestartGetsZerosAhead) {
  constexpr size_t kBytes = 300;
  Open(/*prezero=*/false);
  Create("a");
  Append("a", 0, 200, kBytes, Durability::kSync);
  const LogPosition before = End("a");
  EXPECT_EQ(FileBytes("a", 1), before.offset);
  Open();
  EXPECT_EQ(FileBytes("a", 1), before.offset);
  EXPECT_EQ(db_->Stats().prezero_ahead_bytes, 0u);
  Append("a", 200, 250, kBytes, Durability::kSync);
  const LogPosition end = End("a");
  ASSERT_TRUE(WaitForFileBytes("a", end.offset + kAheadBytes / 2))
      << "zeros ahead stopped at " << FileBytes("a", 1) << ", records end at " << end.offset;
  EXPECT_GE(db_->Stats().prezero_ahead_bytes, kAheadBytes / 2);
  ExpectMessages("a", 250, kBytes);
  Open();
  ExpectMessages("a", 250, kBytes);
}

// Several writers append synced records through zeros being written ahead of them and across
// rolls (which stop the zeroing before they cut the segment): no zero ever lands on a record.
TEST_P(PrezeroTest, ConcurrentAppendsThroughZerosAheadLoseNothing) {
  constexpr int kThreads = 4, kPerThread = 500;
  constexpr size_t kBytes = 4000;  // ~8 MB in all: two rolls of 3 MiB segments
  Open();
  Create("a", 3 * kMiB);
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int w = 0; w < kThreads; ++w) {
    writers.emplace_back([&, w] {
      AppendOptions o;
      o.durability = Durability::kSync;
      for (int i = 0; i < kPerThread; ++i) {
        const std::string key = "w" + std::to_string(w);
        if (!db_->Append("a", key, Payload(w * kPerThread + i, kBytes), o).ok()) ++failures;
      }
    });
  }
  for (auto& t : writers) t.join();
  ASSERT_EQ(failures.load(), 0);
  EXPECT_GE(End("a").segment, 3u);
  // Inline, the first segment is zeroed to its end before the roll; a background thread may
  // have been slower than the writers.
  if (GetParam() == "sim") {
    EXPECT_GT(db_->Stats().prezero_ahead_bytes, kPrefixBytes);
  }
  for (int reopen = 0; reopen < 2; ++reopen) {
    for (int w = 0; w < kThreads; ++w) {
      ScanOptions all;
      all.limit = 1'000'000;
      auto s = db_->Scan("a", "w" + std::to_string(w), all);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      ASSERT_EQ(s->size(), static_cast<size_t>(kPerThread));
      for (int i = 0; i < kPerThread; ++i) {
        ASSERT_EQ((*s)[i].payload, Payload(w * kPerThread + i, kBytes)) << w << "/" << i;
      }
    }
    Open();
  }
}

// A follower's first segment gets the same zeros from its own preparer (the frames it applies
// are synced), and its records stay the primary's, byte for byte.
TEST_P(PrezeroTest, FollowerGetsZerosAheadOfTheRecordsItApplies) {
  constexpr size_t kBytes = 2000;
  const std::string primary_dir = dir_ + "-primary";
  Options fo = MakeOptions();
  fo.follower = true;
  auto follower = Db::Open(dir_, fo);
  ASSERT_TRUE(follower.ok()) << follower.status().ToString();
  ASSERT_TRUE((*follower)->CreateNamespace("a", NamespaceOptions{}).ok());
  auto shipper = std::make_shared<ApplyingShipper>();
  shipper->follower = follower->get();
  Options po = MakeOptions();
  po.log_shipper = shipper;
  auto primary = Db::Open(primary_dir, po);
  ASSERT_TRUE(primary.ok()) << primary.status().ToString();
  ASSERT_TRUE((*primary)->CreateNamespace("a", NamespaceOptions{}).ok());
  db_ = std::move(*follower);  // FileBytes and End read the follower
  AppendOptions o;
  o.durability = Durability::kSync;
  for (int i = 0; i < 800; ++i) {
    ASSERT_TRUE((*primary)->Append("a", "t", Payload(i, kBytes), o).ok());
  }
  const LogPosition end = End("a");
  ASSERT_EQ(end.offset, (*primary)->LogEnd("a")->written.offset);
  ASSERT_GT(end.offset, kPrefixBytes);
  ASSERT_TRUE(WaitForFileBytes("a", end.offset + kAheadBytes / 2))
      << "zeros ahead stopped at " << FileBytes("a", 1) << ", records end at " << end.offset;
  auto mine = fs_->ReadFileToString(NamespaceDirName(dir_, "a") + "/0000000000000001.seg");
  auto theirs = fs_->ReadFileToString(NamespaceDirName(primary_dir, "a") + "/0000000000000001.seg");
  ASSERT_TRUE(mine.ok() && theirs.ok());
  EXPECT_EQ(mine->substr(0, end.offset), theirs->substr(0, end.offset));
  ExpectMessages("a", 800, kBytes);
  primary->reset();
}

// The next segment is created, its header written and synced, by the preparer thread ahead of
// the roll: zeros for densely synced records, fallocated blocks for buffered ones (whose roll
// otherwise paid 40-50 ms for the header's fdatasync). Its header says when it was prepared.
TEST(PreparedSegmentTest, TheNextSegmentIsCreatedWithItsHeaderAheadOfTheRoll) {
  auto fs = std::make_shared<SimFileSystem>();
  auto clock = std::make_shared<ManualClock>(1'700'000'000'000);
  Options o;
  o.file_system = fs;
  o.clock = clock;
  o.background_maintenance = false;
  o.prezero = Options::Prezero::kBackground;
  auto db = std::move(Db::Open("/db", o).value());
  for (const Durability d : {Durability::kSync, Durability::kBuffered}) {
    const std::string ns = d == Durability::kSync ? "synced" : "buffered";
    NamespaceOptions n;
    n.segment_bytes_max = 4 * kMiB;
    ASSERT_TRUE(db->CreateNamespace(ns, n).ok());
    std::atomic<bool> ready{false};
    SetTestHook("prepare.next_ready", [&] { ready = true; });
    AppendOptions a;
    a.durability = d;
    const std::string payload(1000, 'p');
    int sent = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!ready && std::chrono::steady_clock::now() < until) {
      ASSERT_TRUE(db->Append(ns, "t", payload, a).ok());  // past half of segment 1: prepared
      ++sent;
    }
    ClearTestHooks();
    ASSERT_TRUE(ready) << ns << ": segment 2 not prepared within 60 s";
    const TimestampMs prepared_ms = clock->NowMs();
    clock->Advance(3'600'000);
    const uint64_t skipped = db->Stats().prezero_skipped;
    while (db->LogEnd(ns).value().written.segment < 2) {
      ASSERT_TRUE(db->Append(ns, "t", payload, a).ok());
      ++sent;
    }
    auto bytes = fs->ReadFileToString(NamespaceDirName("/db", ns) + "/0000000000000002.seg");
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    auto h = DecodeSegmentHeader(*bytes, "segment 2");
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    EXPECT_EQ(h->segment_id, 2u);
    EXPECT_LE(h->created_ms, prepared_ms) << ns << ": the header was written by the roll";
    EXPECT_EQ(skipped, d == Durability::kSync ? 0u : 1u) << ns << ": zeros only for synced";
    ScanOptions all;
    all.limit = 1'000'000;
    all.bytes_max = UINT64_MAX;
    EXPECT_EQ(db->Scan(ns, "t", all).value().size(), static_cast<size_t>(sent));
  }
  ASSERT_TRUE(db->Close().ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, PrezeroTest, ::testing::Values("sim", "posix", "uring"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tldb
