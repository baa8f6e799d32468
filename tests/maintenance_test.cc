// Recall, edit, trim, delete-timeline, TTL and compaction (issue 4): semantics, persistence
// across restarts and compactions, time rules with an injected clock, concurrency.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
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
#include "util/sync_gated_file_system.h"

namespace tldb {
namespace {

constexpr TimestampMs kT0 = 1'700'000'000'000;
constexpr uint64_t kDayMs = 24ull * 3600 * 1000;

class MaintenanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sim") {
      fs_ = std::make_shared<SimFileSystem>();
      dir_ = "/db";
    } else {
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
    o.background_maintenance = false;  // the tests run maintenance themselves
    o.compaction_bytes_per_s = 0;
    if (fs_) {
      o.file_system = fs_;
      o.prezero = Options::Prezero::kInline;
    } else {
      o.io_backend = "posix";
    }
    if (gate_ != nullptr) {  // every fdatasync goes through the test's gate
      o.file_system = std::make_shared<testing::SyncGatedFileSystem>(
          fs_ ? std::shared_ptr<FileSystem>(fs_) : NewPosixFileSystem(), gate_);
    }
    return o;
  }
  void Reopen() {
    db_.reset();
    auto db = Db::Open(dir_, MakeOptions());
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
  }
  Seq Append(std::string_view tl, std::string_view payload, std::string_view cmid = {}) {
    AppendOptions o;
    o.client_msg_id = cmid;
    auto r = db_->Append("s", tl, payload, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->seq : 0;
  }
  std::vector<Seq> Seqs(std::string_view tl, Direction d = Direction::kForward,
                        uint32_t limit = 1000) {
    ScanOptions o;
    o.direction = d;
    o.limit = limit;
    auto r = db_->Scan("s", tl, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::vector<Seq> out;
    if (r.ok()) {
      for (const auto& m : *r) out.push_back(m.seq);
    }
    return out;
  }
  Status::Code GetCode(std::string_view tl, Seq seq) {
    return db_->Get("s", tl, seq).status().code();
  }
  std::string Payload(std::string_view tl, Seq seq) {
    auto r = db_->Get("s", tl, seq);
    return r.ok() ? r->payload : "<" + r.status().ToString() + ">";
  }
  void CompactFull() {
    CompactOptions o;
    o.full = true;
    auto r = db_->Compact("s", o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  // Fills enough 64 KiB segments that several are sealed.
  void Fill(int n, std::string_view prefix = "bulk") {
    for (int i = 0; i < n; ++i) {
      Append(std::string(prefix) + ":" + std::to_string(i % 7),
             "{\"from\":\"user" + std::to_string(i % 13) + "\",\"text\":\"hello number " +
                 std::to_string(i) + " " + std::string(150, 'x') + "\"}");
    }
  }

  std::shared_ptr<SimFileSystem> fs_;
  common::TempDir tmp_;
  std::string dir_;
  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<Db> db_;
  testing::SyncGate* gate_ = nullptr;  // set before a Reopen: fdatasyncs go through it
};

// Holds the fdatasync of a compaction's output (a compacted segment, "<id>-<gen>.seg") until
// `ready` holds, at most 60 s once (`held` and `timed_out` say what happened); every other
// fdatasync runs at once.
class CompactionOutputGate : public testing::SyncGate {
 public:
  explicit CompactionOutputGate(std::function<bool()> ready) : ready_(std::move(ready)) {}
  Status Sync(const std::string& path, WritableFile& file) override {
    const std::string name = path.substr(path.rfind('/') + 1);
    if (name.find('-') != std::string::npos && name.ends_with(".seg") && timed_out == 0) {
      held++;
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      while (!ready_() && std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      if (!ready_()) timed_out++;
    }
    return file.Sync();
  }
  std::atomic<int> held{0}, timed_out{0};

 private:
  std::function<bool()> ready_;
};

INSTANTIATE_TEST_SUITE_P(Backends, MaintenanceTest, ::testing::Values("sim", "posix"));

TEST_P(MaintenanceTest, RecallHidesOneMessageAndSaysDeleted) {
  for (int i = 1; i <= 5; ++i) Append("c", "m" + std::to_string(i));
  auto r = db_->Recall("s", "c", 3);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->seq, 3u);
  EXPECT_FALSE(r->noop);
  EXPECT_EQ(GetCode("c", 3), Status::Code::kDeleted);
  EXPECT_EQ(GetCode("c", 9), Status::Code::kNotFound);  // never existed: distinct
  EXPECT_EQ(Seqs("c"), (std::vector<Seq>{1, 2, 4, 5}));
  EXPECT_EQ(Seqs("c", Direction::kBackward, 3), (std::vector<Seq>{5, 4, 2}));
  auto again = db_->Recall("s", "c", 3);  // a retry
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->noop);
  EXPECT_EQ(db_->Recall("s", "c", 6).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(db_->Recall("s", "nope", 1).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(Append("c", "m6"), 6u);  // SeqIds of other messages never change
  Reopen();
  EXPECT_EQ(GetCode("c", 3), Status::Code::kDeleted);
  EXPECT_EQ(Seqs("c"), (std::vector<Seq>{1, 2, 4, 5, 6}));
}

TEST_P(MaintenanceTest, EditReplacesPayloadKeepsTimestampAndId) {
  Append("c", "first", "cm-1");
  clock_->Advance(1000);
  Append("c", "second");
  const Message before = db_->Get("s", "c", 1).value();
  ASSERT_TRUE(db_->Edit("s", "c", 1, "first, edited").ok());
  ASSERT_TRUE(db_->Edit("s", "c", 1, "first, edited twice").ok());
  const Message after = db_->Get("s", "c", 1).value();
  EXPECT_EQ(after.payload, "first, edited twice");
  EXPECT_EQ(after.timestamp_ms, before.timestamp_ms);
  EXPECT_EQ(after.client_msg_id, "cm-1");
  auto same = db_->Edit("s", "c", 1, "first, edited twice");
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->noop);
  ASSERT_TRUE(db_->Recall("s", "c", 2).ok());
  EXPECT_EQ(db_->Edit("s", "c", 2, "x").status().code(), Status::Code::kDeleted);
  Reopen();
  EXPECT_EQ(Payload("c", 1), "first, edited twice");
  ScanOptions all;
  auto msgs = db_->Scan("s", "c", all).value();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].payload, "first, edited twice");
}

TEST_P(MaintenanceTest, TrimAndDeleteTimelineNeverReuseSeqIds) {
  for (int i = 1; i <= 10; ++i) Append("c", "m" + std::to_string(i));
  auto t = db_->Trim("s", "c", 4);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(Seqs("c").front(), 4u);
  EXPECT_EQ(GetCode("c", 3), Status::Code::kDeleted);
  EXPECT_TRUE(db_->Trim("s", "c", 2)->noop);  // below the trim point already
  EXPECT_EQ(db_->Trim("s", "c", 12).status().code(), Status::Code::kInvalidArgument);
  auto d = db_->DeleteTimeline("s", "c");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->seq, 10u);
  EXPECT_TRUE(Seqs("c").empty());
  EXPECT_TRUE(db_->DeleteTimeline("s", "c", 10)->noop);  // a retry with the returned seq
  EXPECT_EQ(Append("c", "new life"), 11u);
  EXPECT_TRUE(db_->DeleteTimeline("s", "c", 10)->noop);  // the retry deletes nothing newer
  EXPECT_EQ(Seqs("c"), std::vector<Seq>{11});
  Reopen();
  EXPECT_EQ(Seqs("c"), std::vector<Seq>{11});
  EXPECT_EQ(Append("c", "after restart"), 12u);
}

TEST_P(MaintenanceTest, MessagesPerTimelineMaxKeepsNewest) {
  for (int i = 1; i <= 10; ++i) Append("c", "m" + std::to_string(i));
  NamespaceOptions n = db_->DescribeNamespace("s")->options;
  n.messages_per_timeline_max = 3;
  ASSERT_TRUE(db_->SetNamespaceOptions("s", n).ok());
  EXPECT_EQ(Seqs("c"), (std::vector<Seq>{8, 9, 10}));
  EXPECT_EQ(GetCode("c", 7), Status::Code::kDeleted);
  Reopen();  // the option is persisted in the catalog
  EXPECT_EQ(db_->DescribeNamespace("s")->options.messages_per_timeline_max, 3u);
  EXPECT_EQ(Seqs("c"), (std::vector<Seq>{8, 9, 10}));
}

TEST_P(MaintenanceTest, CompactionKeepsLiveDataAndDropsDead) {
  Fill(1200);  // ~250 KiB: several sealed segments
  for (int i = 1; i <= 30; ++i) Append("conv", "c" + std::to_string(i), "id-" + std::to_string(i));
  Fill(600, "more");
  ASSERT_TRUE(db_->Recall("s", "conv", 5).ok());
  ASSERT_TRUE(db_->Edit("s", "conv", 6, "six, edited").ok());
  ASSERT_TRUE(db_->Trim("s", "conv", 3).ok());
  const uint64_t before = db_->DescribeNamespace("s")->bytes_on_disk;
  std::vector<Message> want;
  for (int k = 0; k < 7; ++k) {
    ScanOptions all;
    all.limit = 100000;
    auto r = db_->Scan("s", "bulk:" + std::to_string(k), all).value();
    want.insert(want.end(), r.begin(), r.end());
  }
  CompactFull();
  const uint64_t after = db_->DescribeNamespace("s")->bytes_on_disk;
  EXPECT_LT(after, before / 2) << "compressed and merged: " << before << " -> " << after;
  auto check = [&] {
    std::vector<Message> got;
    for (int k = 0; k < 7; ++k) {
      ScanOptions all;
      all.limit = 100000;
      auto r = db_->Scan("s", "bulk:" + std::to_string(k), all).value();
      got.insert(got.end(), r.begin(), r.end());
    }
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].seq, want[i].seq);
      EXPECT_EQ(got[i].payload, want[i].payload);
      EXPECT_EQ(got[i].timestamp_ms, want[i].timestamp_ms);
    }
    EXPECT_EQ(GetCode("conv", 5), Status::Code::kDeleted);
    EXPECT_EQ(GetCode("conv", 2), Status::Code::kDeleted);
    EXPECT_EQ(Payload("conv", 6), "six, edited");
    EXPECT_EQ(db_->Get("s", "conv", 6)->client_msg_id, "id-6");
    EXPECT_EQ(Seqs("conv").size(), 27u);  // 30 - 2 trimmed - 1 recalled
    EXPECT_EQ(Seqs("conv", Direction::kBackward, 3), (std::vector<Seq>{30, 29, 28}));
  };
  check();
  Reopen();
  check();
  // A retried append is still recognised after compaction (its dedupe entry moved along).
  AppendOptions o;
  o.client_msg_id = "id-30";
  auto r = db_->Append("s", "conv", "c30", o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->deduplicated);
  EXPECT_EQ(r->seq, 30u);
  CompactFull();  // compacting compacted segments again changes nothing visible
  check();
}

TEST_P(MaintenanceTest, DeletedTimelineCompactedAwayKeepsItsSeqIds) {
  for (int i = 1; i <= 5; ++i) Append("gone", "g" + std::to_string(i));
  ASSERT_TRUE(db_->DeleteTimeline("s", "gone").ok());
  Fill(800);
  CompactFull();
  Reopen();
  EXPECT_EQ(db_->LastSeq("s", std::vector<std::string_view>{"gone"})->at(0), 5u);
  EXPECT_EQ(Append("gone", "again"), 6u);
}

TEST_P(MaintenanceTest, EditOfCompactedMessageSurvivesLaterCompaction) {
  Append("c", "original");
  Fill(800);
  CompactFull();                                   // the message now lives in a compacted segment
  ASSERT_TRUE(db_->Edit("s", "c", 1, "v2").ok());  // its edit in the active segment
  ASSERT_TRUE(db_->Recall("s", "bulk:1", 1).ok());
  Fill(800, "later");
  CompactFull();  // the edit and the recall are compacted without their messages
  EXPECT_EQ(Payload("c", 1), "v2");
  EXPECT_EQ(GetCode("bulk:1", 1), Status::Code::kDeleted);
  Reopen();
  EXPECT_EQ(Payload("c", 1), "v2");
  EXPECT_EQ(GetCode("bulk:1", 1), Status::Code::kDeleted);
  CompactFull();
  Reopen();
  EXPECT_EQ(Payload("c", 1), "v2");
  EXPECT_EQ(GetCode("bulk:1", 1), Status::Code::kDeleted);
}

// Compaction of a message's segment while its edit stays outside the run (here: in the active
// segment) keeps the message's SeqId in the compacted run, so scans still return it, with the
// edit's payload (found by the soak: scans skipped such messages while Get returned them).
TEST_P(MaintenanceTest, EditedMessageStaysInScansWhenOnlyItsSegmentIsCompacted) {
  Append("c", "original");
  Append("c", "second");
  Fill(800);
  ASSERT_TRUE(db_->Edit("s", "c", 1, "v2").ok());  // the edit in the active segment
  NamespaceOptions n = db_->DescribeNamespace("s")->options;
  n.compact_live_pct = 100;  // every segment with a dead byte qualifies
  ASSERT_TRUE(db_->SetNamespaceOptions("s", n).ok());
  auto r = db_->Compact("s", {});  // sealed segments only: the edit is not in the run
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_GE(r->segments_done, 1u);
  EXPECT_EQ(Seqs("c"), (std::vector<Seq>{1, 2}));
  EXPECT_EQ(Seqs("c", Direction::kBackward), (std::vector<Seq>{2, 1}));
  EXPECT_EQ(Payload("c", 1), "v2");
  auto scan = db_->Scan("s", "c", ScanOptions{});
  ASSERT_TRUE(scan.ok() && !scan->empty());
  EXPECT_EQ(scan->front().payload, "v2");
  Reopen();
  EXPECT_EQ(Seqs("c"), (std::vector<Seq>{1, 2}));
  EXPECT_EQ(Payload("c", 1), "v2");
  CompactFull();  // now the edit and the kept original meet: the edit becomes the message
  EXPECT_EQ(Seqs("c"), (std::vector<Seq>{1, 2}));
  EXPECT_EQ(Payload("c", 1), "v2");
  Reopen();
  EXPECT_EQ(Seqs("c"), (std::vector<Seq>{1, 2}));
  EXPECT_EQ(Payload("c", 1), "v2");
}

// A recall record is dropped once its message is gone; an edit record of that message that
// outlives both (compacted earlier, in a run of its own) must not bring the message back at the
// next open (found by the soak: a recalled message served again after a restart).
TEST_P(MaintenanceTest, RecalledEditedMessageStaysDeletedWhenItsEditOutlivesTheRecall) {
  Append("c", "original");
  Fill(800);
  ASSERT_TRUE(db_->Compact("s", {}).ok());  // the message in a compacted segment
  ASSERT_TRUE(db_->Edit("s", "c", 1, "v2").ok());
  Fill(800, "second");
  ASSERT_TRUE(db_->Compact("s", {}).ok());  // the edit compacted without its message
  ASSERT_TRUE(db_->Recall("s", "c", 1).ok());
  Fill(800, "third");
  NamespaceOptions n = db_->DescribeNamespace("s")->options;
  n.compact_live_pct = 100;
  ASSERT_TRUE(db_->SetNamespaceOptions("s", n).ok());
  // Two runs: the message's segment (now thinned) and the recall's, around the edit's segment
  // (all live): the message is dropped, then the recall with it.
  ASSERT_TRUE(db_->Compact("s", {}).ok());
  EXPECT_EQ(GetCode("c", 1), Status::Code::kDeleted);
  EXPECT_TRUE(Seqs("c").empty());
  Reopen();
  EXPECT_EQ(GetCode("c", 1), Status::Code::kDeleted);
  EXPECT_TRUE(Seqs("c").empty());
  CompactFull();
  Reopen();
  EXPECT_EQ(GetCode("c", 1), Status::Code::kDeleted);
  EXPECT_TRUE(Seqs("c").empty());
}

TEST_P(MaintenanceTest, TtlHidesThenDropsSegmentsWhenDue) {
  NamespaceOptions n;
  n.segment_bytes_max = 64 << 10;
  n.ttl_ms = 7 * kDayMs;
  ASSERT_TRUE(db_->CreateNamespace("sync", n).ok());
  auto put = [&](int i) {
    return db_->Append("sync", "inbox:" + std::to_string(i % 3), std::string(300, 'a' + i % 26))
        ->seq;
  };
  for (int i = 0; i < 600; ++i) put(i);  // day 0: several sealed segments
  const uint64_t segs0 = db_->DescribeNamespace("sync")->segments;
  ASSERT_GE(segs0, 3u);
  clock_->Advance(3 * kDayMs);
  for (int i = 0; i < 3; ++i) put(i);  // day 3: the active segment
  const Seq last = db_->LastSeq("sync", std::vector<std::string_view>{"inbox:0"})->at(0);
  clock_->Advance(4 * kDayMs - 1);  // just before day 0's messages are 7 days old
  ASSERT_TRUE(db_->Compact("sync", {}).ok());
  EXPECT_EQ(db_->DescribeNamespace("sync")->segments, segs0);
  EXPECT_EQ(db_->Get("sync", "inbox:0", 1).status().code(), Status::Code::kOk);
  clock_->Advance(2);  // now they are
  EXPECT_EQ(db_->Get("sync", "inbox:0", 1).status().code(), Status::Code::kDeleted);  // hidden
  auto p = db_->Compact("sync", {});
  ASSERT_TRUE(p.ok());
  EXPECT_GE(p->segments_expired, 2u);
  EXPECT_LT(db_->DescribeNamespace("sync")->segments, segs0);
  ScanOptions all;
  all.limit = 10000;
  auto left = db_->Scan("sync", "inbox:0", all).value();
  ASSERT_EQ(left.size(), 1u);  // only day 3's message
  EXPECT_EQ(left[0].seq, last);
  Reopen();
  EXPECT_EQ(db_->Scan("sync", "inbox:0", all)->size(), 1u);
  EXPECT_EQ(db_->Append("sync", "inbox:0", "x")->seq, last + 1);
  // Everything expires, the idle active segment too: no record is left, SeqIds go on.
  clock_->Advance(8 * kDayMs);
  ASSERT_TRUE(db_->Compact("sync", {}).ok());
  EXPECT_EQ(db_->DescribeNamespace("sync")->segments, 1u);  // a fresh, empty active segment
  EXPECT_LT(db_->DescribeNamespace("sync")->bytes_on_disk, 1024u);
  Reopen();
  EXPECT_EQ(db_->Append("sync", "inbox:0", "y")->seq, last + 2);
  const Seq last1 = db_->LastSeq("sync", std::vector<std::string_view>{"inbox:1"})->at(0);
  EXPECT_GT(last1, 0u);
  EXPECT_EQ(db_->Append("sync", "inbox:1", "y")->seq, last1 + 1);
}

TEST_P(MaintenanceTest, WallClockJumpsNeitherDropEarlyNorReorder) {
  NamespaceOptions n;
  n.segment_bytes_max = 64 << 10;
  n.ttl_ms = kDayMs;
  ASSERT_TRUE(db_->CreateNamespace("sync", n).ok());
  for (int i = 0; i < 400; ++i) ASSERT_TRUE(db_->Append("sync", "a", std::string(300, 'z')).ok());
  const uint64_t segs = db_->DescribeNamespace("sync")->segments;
  clock_->Set(kT0 + 30 * kDayMs);  // the wall clock jumps a month ahead; no time passed
  ASSERT_TRUE(db_->Compact("sync", {}).ok());
  EXPECT_EQ(db_->DescribeNamespace("sync")->segments, segs);  // nothing dropped early
  EXPECT_TRUE(db_->Get("sync", "a", 1).ok());
  clock_->Set(kT0 - kDayMs);  // and back before the messages were written
  auto r = db_->Append("sync", "a", "after the jump back");
  ASSERT_TRUE(r.ok());
  auto prev = db_->Get("sync", "a", r->seq - 1).value();
  EXPECT_GE(r->timestamp_ms, prev.timestamp_ms);  // order within the timeline holds
  clock_->Set(kT0);
  clock_->Advance(kDayMs + 1000);  // real time passes: now they expire
  ASSERT_TRUE(db_->Compact("sync", {}).ok());
  EXPECT_LT(db_->DescribeNamespace("sync")->segments, segs);
}

// Readers and a writer run while a full compaction runs, and are seen to: the compaction's
// output is not synced (so not committed) until both have made progress after it was written,
// and the test ends only once the reader has read again after the switch.
TEST_P(MaintenanceTest, ReadsAndAppendsDuringCompaction) {
  Fill(1500);
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::atomic<uint64_t> reads{0}, written{0};
  std::atomic<uint64_t> reads_at_gate{0}, written_at_gate{0};
  std::atomic<bool> at_gate{false};
  CompactionOutputGate gate([&] {
    if (!at_gate.exchange(true)) reads_at_gate = reads.load(), written_at_gate = written.load();
    return reads.load() >= reads_at_gate.load() + 3 && written.load() >= written_at_gate.load() + 3;
  });
  gate_ = &gate;
  Reopen();
  std::thread reader([&] {
    while (!stop) {
      for (int k = 0; k < 7; ++k) {
        ScanOptions o;
        o.limit = 50;
        o.direction = Direction::kBackward;
        auto r = db_->Scan("s", "bulk:" + std::to_string(k), o);
        if (!r.ok() || r->empty()) {
          bad++;
          continue;
        }
        for (size_t i = 1; i < r->size(); ++i) bad += (*r)[i].seq != (*r)[i - 1].seq - 1;
        auto g = db_->Get("s", "bulk:" + std::to_string(k), 1);
        bad += !g.ok();
      }
      reads++;
    }
  });
  std::thread writer([&] {
    while (!stop) {
      bad += !db_->Append("s", "w", "during " + std::to_string(written.load())).ok();
      written++;
      std::this_thread::sleep_for(std::chrono::microseconds(200));  // a chat's pace, not a flood
    }
  });
  CompactFull();
  EXPECT_GE(gate.held.load(), 1) << "no compacted segment was synced";
  EXPECT_EQ(gate.timed_out.load(), 0) << "reads or appends made no progress during compaction";
  const uint64_t after = reads.load();
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (reads.load() < after + 3 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_GE(reads.load(), after + 3) << "no reads after the compaction's switch";
  stop = true;
  writer.join();
  reader.join();
  EXPECT_EQ(bad.load(), 0);
  const std::vector<Seq> w = Seqs("w", Direction::kForward, 1'000'000);
  ASSERT_EQ(w.size(), written.load());
  for (size_t i = 0; i < w.size(); ++i) ASSERT_EQ(w[i], i + 1);
}

TEST_P(MaintenanceTest, RebuiltIndexOfCompactedFanoutsMatches) {
  // Timeline b gets messages of its own and fan-outs with a: compaction stores each fan-out with
  // a's records, so b's SeqIds are out of order in the file; a rebuilt index must sort them.
  for (int i = 0; i < 40; ++i) {
    Append("b", "own " + std::to_string(i));
    std::vector<std::string_view> t = {"a", "b"};
    ASSERT_TRUE(db_->AppendFanout("s", t, "fan " + std::to_string(i)).ok());
  }
  CompactFull();
  const std::vector<Seq> want = Seqs("b");
  ASSERT_EQ(want.size(), 80u);
  db_.reset();
  std::shared_ptr<FileSystem> fs = fs_;
  if (!fs) fs = NewPosixFileSystem();
  const std::string ns_dir = dir_ + "/ns/s";
  auto names = fs->ListDir(ns_dir);
  ASSERT_TRUE(names.ok());
  int removed = 0;
  for (const auto& name : *names) {
    if (name.find('-') != std::string::npos && name.ends_with(".idx")) {
      ASSERT_TRUE(fs->Remove(ns_dir + "/" + name).ok());
      ++removed;
    }
  }
  ASSERT_EQ(removed, 1);
  Reopen();  // rebuilds the compacted segment's index from its blocks
  EXPECT_EQ(Seqs("b"), want);
  EXPECT_EQ(Payload("b", 2), "fan 0");
  EXPECT_EQ(Payload("b", 3), "own 1");
}

TEST(BlockCacheTest, BlocksOfTwoStoresNeverMix) {
  // Two stores with identical layouts (same namespace id, segment ids, generations, offsets)
  // read from one thread: each must see its own bytes.
  auto build = [](const std::shared_ptr<SimFileSystem>& fs, char fill) {
    Options o;
    o.file_system = fs;
    o.clock = std::make_shared<ManualClock>(kT0);
    o.background_maintenance = false;
    o.prezero = Options::Prezero::kInline;
    auto db = std::move(Db::Open("/db", o).value());
    EXPECT_TRUE(db->CreateNamespace("s", {}).ok());
    for (int i = 0; i < 100; ++i) EXPECT_TRUE(db->Append("s", "t", std::string(100, fill)).ok());
    CompactOptions full;
    full.full = true;
    EXPECT_TRUE(db->Compact("s", full).ok());
    return db;
  };
  auto a = build(std::make_shared<SimFileSystem>(), 'a');
  auto b = build(std::make_shared<SimFileSystem>(), 'b');
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(a->Get("s", "t", 5)->payload, std::string(100, 'a'));
    EXPECT_EQ(b->Get("s", "t", 5)->payload, std::string(100, 'b'));
  }
}

// Nice values of this process's threads, from /proc/self/task/<tid>/stat (field 19).
std::multiset<int> ThreadNiceValues() {
  std::multiset<int> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream f(e.path() / "stat");
    std::string line;
    std::getline(f, line);
    std::istringstream rest(line.substr(line.rfind(')') + 2));  // after "pid (comm) "
    std::string field;
    for (int i = 3; i <= 19 && rest >> field; ++i) {
      if (i == 19) out.insert(std::stoi(field));
    }
  }
  return out;
}

TEST(MaintenancePriorityTest, BackgroundThreadRunsAtLowerPriority) {
  const int own = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  Options o;
  o.file_system = std::make_shared<SimFileSystem>();
  o.maintenance_nice = 7;
  auto db = std::move(Db::Open("/db", o).value());
  // The thread lowers its own priority as it starts: wait for it (bounded).
  for (int i = 0; i < 500 && ThreadNiceValues().count(std::min(own + 7, 19)) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(ThreadNiceValues().count(std::min(own + 7, 19)), 1u);
  ASSERT_TRUE(db->Close().ok());
  o.maintenance_nice = 20;
  auto bad = Db::Open("/db2", o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument) << bad.status().ToString();
}

}  // namespace
}  // namespace tldb
