// Db API behaviour, run on every I/O backend: simulated, POSIX and io_uring.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/temp_dir.h"
#include "io/sim_file_system.h"
#include "tldb/clock.h"
#include "tldb/db.h"
#include "tldb/file_system.h"

namespace tldb {
namespace {

class EngineTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sim") {
      fs_ = std::make_shared<SimFileSystem>();
      dir_ = "/db";
    } else {
      auto fs = NewFileSystem(GetParam());
      // Only a backend the kernel refuses (io_uring) is a skip; any other failure fails.
      if (!fs.ok() && fs.status().code() == Status::Code::kNotSupported) {
        GTEST_SKIP() << GetParam() << " not supported here: " << fs.status().ToString();
      }
      ASSERT_TRUE(fs.ok()) << GetParam() << ": " << fs.status().ToString();
      fs_ = *fs;
      dir_ = tmp_.path() + "/db";
    }
    clock_ = std::make_shared<ManualClock>(1'700'000'000'000);
    Reopen();
  }
  Options MakeOptions() {
    Options o;
    o.file_system = fs_;
    o.clock = clock_;
    if (GetParam() == "sim") {
      o.prezero = Options::Prezero::kInline;
      o.background_maintenance = false;  // deterministic: maintenance only when a test asks
    }
    if (prezero_) o.prezero = *prezero_;
    return o;
  }
  void Reopen() {
    db_.reset();
    auto db = Db::Open(dir_, MakeOptions());
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    NamespaceOptions small;
    small.segment_bytes_max = 64 << 10;  // roll often
    ASSERT_TRUE(db_->CreateNamespace("store", small).ok());
  }
  std::string Payload(int i) { return "{\"text\":\"message number " + std::to_string(i) + "\"}"; }

  common::TempDir tmp_;
  std::shared_ptr<FileSystem> fs_;
  std::shared_ptr<ManualClock> clock_;
  std::string dir_;
  std::unique_ptr<Db> db_;
  std::optional<Options::Prezero> prezero_;  // a test's own mode, on every backend
};

TEST_P(EngineTest, AppendAssignsConsecutiveSeqsAndGetReturnsThem) {
  for (int i = 1; i <= 5; ++i) {
    auto r = db_->Append("store", "conv:1", Payload(i));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->seq, static_cast<Seq>(i));
    EXPECT_EQ(r->timestamp_ms, 1'700'000'000'000);
    EXPECT_FALSE(r->deduplicated);
  }
  auto other = db_->Append("store", "conv:2", "x");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->seq, 1u);
  auto m = db_->Get("store", "conv:1", 3);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->seq, 3u);
  EXPECT_EQ(m->payload, Payload(3));
  EXPECT_TRUE(db_->Get("store", "conv:1", 6).status().IsNotFound());
  EXPECT_TRUE(db_->Get("store", "conv:9", 1).status().IsNotFound());
  EXPECT_EQ(db_->Get("store", "conv:1", 0).status().code(), Status::Code::kInvalidArgument);
  // Reads are counted (striped counters summed by Stats).
  const DbStats before = db_->Stats();
  ASSERT_TRUE(db_->Get("store", "conv:1", 1).ok());
  ASSERT_TRUE(db_->Get("store", "conv:1", 2).ok());
  ASSERT_TRUE(db_->Scan("store", "conv:1", {}).ok());
  const DbStats after = db_->Stats();
  EXPECT_EQ(after.gets, before.gets + 2);
  EXPECT_EQ(after.scans, before.scans + 1);
}

TEST_P(EngineTest, TimestampsNeverGoBackwards) {
  ASSERT_TRUE(db_->Append("store", "t", "a").ok());
  clock_->Advance(-60'000);  // the wall clock steps back a minute
  auto r = db_->Append("store", "t", "b");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->timestamp_ms, 1'700'000'000'000);
  clock_->Advance(120'000);
  auto r2 = db_->Append("store", "t", "c");
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->timestamp_ms, 1'700'000'060'000);
}

TEST_P(EngineTest, ScanForwardBackwardLimitsAndBytes) {
  for (int i = 1; i <= 50; ++i) ASSERT_TRUE(db_->Append("store", "c", Payload(i)).ok());
  ScanOptions latest;
  latest.direction = Direction::kBackward;
  latest.limit = 20;
  auto l = db_->Scan("store", "c", latest);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  ASSERT_EQ(l->size(), 20u);
  EXPECT_EQ(l->front().seq, 50u);
  EXPECT_EQ(l->back().seq, 31u);
  ScanOptions page;
  page.from_seq = 10;
  page.to_seq = 14;
  auto p = db_->Scan("store", "c", page);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->size(), 5u);
  EXPECT_EQ(p->front().seq, 10u);
  EXPECT_EQ(p->back().payload, Payload(14));
  ScanOptions few_bytes;
  few_bytes.bytes_max = 1;
  auto b = db_->Scan("store", "c", few_bytes);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->size(), 1u);
  ScanOptions bad;
  bad.from_seq = 5;
  bad.to_seq = 4;
  EXPECT_EQ(db_->Scan("store", "c", bad).status().code(), Status::Code::kInvalidArgument);
  auto none = db_->Scan("store", "nobody", latest);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// ScanVisit hands over, as views, exactly what Scan returns: the same messages in the same
// order with the same fields, over sealed, compacted and active segments, recalled and edited
// messages, each direction, a range, a count limit and a byte cap; its errors are Scan's.
TEST_P(EngineTest, ScanVisitSeesWhatScanReturns) {
  for (int i = 1; i <= 400; ++i) {
    AppendOptions ao;
    const std::string id = i % 3 == 0 ? "msg-" + std::to_string(i) : "";
    ao.client_msg_id = id;
    ASSERT_TRUE(db_->Append("store", "c", Payload(i) + std::string(150, 'x'), ao).ok());
  }
  ASSERT_TRUE(db_->Recall("store", "c", 7).ok());
  ASSERT_TRUE(
      db_->Mutate("store", {MutationKind::kEdit, "c", 9, "edited", Durability::kDefault}).ok());
  ASSERT_TRUE(db_->Compact("store", {}).ok());  // the sealed segments become zstd blocks
  for (int i = 401; i <= 420; ++i) ASSERT_TRUE(db_->Append("store", "c", Payload(i)).ok());
  std::vector<ScanOptions> cases(6);
  cases[1].direction = Direction::kBackward;
  cases[1].limit = 20;
  cases[2].from_seq = 5;
  cases[2].to_seq = 60;
  cases[3].direction = Direction::kBackward;
  cases[3].to_seq = 300;
  cases[3].bytes_max = 2000;
  cases[4].limit = 1000;
  cases[5].from_seq = 410;
  for (size_t c = 0; c < cases.size(); ++c) {
    auto want = db_->Scan("store", "c", cases[c]);
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    ASSERT_FALSE(want->empty()) << c;
    std::vector<Message> got;
    auto n = db_->ScanVisit("store", "c", cases[c], [&got](const MessageView& m) {
      got.push_back({m.seq, m.timestamp_ms, std::string(m.client_msg_id), std::string(m.payload)});
    });
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    EXPECT_EQ(*n, got.size()) << c;
    ASSERT_EQ(got.size(), want->size()) << c;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].seq, (*want)[i].seq) << c << " " << i;
      EXPECT_EQ(got[i].timestamp_ms, (*want)[i].timestamp_ms) << c << " " << i;
      EXPECT_EQ(got[i].client_msg_id, (*want)[i].client_msg_id) << c << " " << i;
      EXPECT_EQ(got[i].payload, (*want)[i].payload) << c << " " << i;
    }
  }
  auto edited = db_->ScanVisit("store", "c", cases[2], [](const MessageView& m) {
    EXPECT_NE(m.seq, 7u);  // recalled
    if (m.seq == 9) {
      EXPECT_EQ(m.payload, "edited");
    }
  });
  ASSERT_TRUE(edited.ok());
  auto ignore = [](const MessageView&) {};
  ScanOptions bad;
  bad.from_seq = 5;
  bad.to_seq = 4;
  EXPECT_EQ(db_->ScanVisit("store", "c", bad, ignore).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(db_->ScanVisit("nowhere", "c", {}, ignore).status().code(),
            db_->Scan("nowhere", "c", {}).status().code());
  auto none = db_->ScanVisit("store", "nobody", {}, ignore);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0u);
}

TEST_P(EngineTest, RetryWithClientMsgIdReturnsOriginalAcrossRestart) {
  AppendOptions o;
  o.client_msg_id = "device-7:msg-1";
  auto a = db_->Append("store", "conv:1", "hello", o);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(db_->Append("store", "conv:1", "other").ok());
  auto again = db_->Append("store", "conv:1", "hello", o);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->seq, a->seq);
  EXPECT_EQ(again->timestamp_ms, a->timestamp_ms);
  EXPECT_TRUE(again->deduplicated);
  Reopen();
  auto after = db_->Append("store", "conv:1", "hello", o);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->seq, a->seq);
  EXPECT_TRUE(after->deduplicated);
  auto last = db_->LastSeq("store", std::vector<std::string_view>{"conv:1"});
  ASSERT_TRUE(last.ok());
  EXPECT_EQ((*last)[0], 2u);
  // The same id on another timeline is a different message.
  auto elsewhere = db_->Append("store", "conv:2", "hello", o);
  ASSERT_TRUE(elsewhere.ok());
  EXPECT_FALSE(elsewhere->deduplicated);
}

TEST_P(EngineTest, ExpectedLastSeqConflicts) {
  AppendOptions o;
  o.expected_last_seq = 0;
  ASSERT_TRUE(db_->Append("store", "c", "a", o).ok());
  auto bad = db_->Append("store", "c", "b", o);
  EXPECT_EQ(bad.status().code(), Status::Code::kConflict);
  o.expected_last_seq = 1;
  auto good = db_->Append("store", "c", "b", o);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good->seq, 2u);
}

TEST_P(EngineTest, BadArgumentsGetClearErrors) {
  EXPECT_EQ(db_->Append("store", "", "x").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(db_->Append("store", std::string(256, 'k'), "x").status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(db_->Append("store", "t", std::string((1 << 20) + 1, 'p')).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_TRUE(db_->Append("nope", "t", "x").status().IsNotFound());
  AppendOptions o;
  const std::string long_id(65, 'i');
  o.client_msg_id = long_id;
  EXPECT_EQ(db_->Append("store", "t", "x", o).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(db_->CreateNamespace("Bad!", {}).code(), Status::Code::kInvalidArgument);
  NamespaceOptions other;
  other.ttl_ms = 5;
  EXPECT_EQ(db_->CreateNamespace("store", other).code(), Status::Code::kAlreadyExists);
  std::vector<std::string_view> dup = {"a", "a"};
  EXPECT_EQ(db_->AppendFanout("store", dup, "x").status().code(), Status::Code::kInvalidArgument);
  // A repeat far from its first listing is found too, named, and nothing is appended.
  std::vector<std::string> keys;
  for (int i = 0; i < 300; ++i) keys.push_back("m" + std::to_string(i));
  keys.emplace_back("m17");
  const std::vector<std::string_view> many(keys.begin(), keys.end());
  auto r = db_->AppendFanout("store", many, "x");
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("'m17' twice"), std::string::npos) << r.status().ToString();
  const std::vector<std::string_view> first = {"m0", "m17"};
  EXPECT_EQ(db_->LastSeq("store", first).value(), (std::vector<Seq>{0, 0}));
}

TEST_P(EngineTest, FanoutStoresOnceAndAssignsPerTimelineSeqs) {
  ASSERT_TRUE(db_->Append("store", "inbox:b", "earlier").ok());
  std::vector<std::string_view> t = {"conv:g", "inbox:a", "inbox:b"};
  AppendOptions o;
  o.client_msg_id = "g-1";
  auto r = db_->AppendFanout("store", t, "group hello", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].seq, 1u);
  EXPECT_EQ((*r)[2].seq, 2u);
  auto m = db_->Get("store", "inbox:b", 2);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->payload, "group hello");
  EXPECT_EQ(m->client_msg_id, "g-1");
  auto retry = db_->AppendFanout("store", t, "group hello", o);
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE((*retry)[1].deduplicated);
  EXPECT_EQ((*retry)[2].seq, 2u);
  Reopen();
  auto m2 = db_->Get("store", "inbox:a", 1);
  ASSERT_TRUE(m2.ok());
  EXPECT_EQ(m2->payload, "group hello");
}

// Pre-zeroing the next segment pays only for densely synced records: buffered appends get a
// fallocated segment at the roll instead; synced ones still get zeros. The decision is the
// background mode's (the inline mode always prepares and counts nothing), so every backend,
// the simulated one included, runs this test in that mode.
TEST_P(EngineTest, PrezeroOnlyWhereSyncsAreDense) {
  prezero_ = Options::Prezero::kBackground;
  Reopen();
  AppendOptions buffered;
  buffered.durability = Durability::kBuffered;
  const std::string payload(200, 'b');
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(db_->Append("store", "t", payload, buffered).ok());
  const uint64_t after_buffered = db_->Stats().prezero_skipped;
  AppendOptions synced;
  synced.durability = Durability::kSync;
  for (int i = 0; i < 1500; ++i) ASSERT_TRUE(db_->Append("store", "t", payload, synced).ok());
  const uint64_t after_synced = db_->Stats().prezero_skipped;
  EXPECT_GE(after_buffered, 4u) << "~400 KiB of buffered records over 64 KiB segments";
  EXPECT_LE(after_synced - after_buffered, 1u) << "synced records must keep their zeros";
  Reopen();
  auto all = db_->Scan("store", "t", ScanOptions{.limit = 10000});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3500u);
}

TEST_P(EngineTest, DataSurvivesReopenAcrossManySegments) {
  // 64 KiB segments: 6000 messages roll many segments and exercise sealed indexes.
  AppendOptions buffered;
  buffered.durability = Durability::kBuffered;
  for (int i = 1; i <= 6000; ++i) {
    ASSERT_TRUE(db_->Append("store", "t" + std::to_string(i % 7), Payload(i), buffered).ok());
  }
  auto info = db_->DescribeNamespace("store");
  ASSERT_TRUE(info.ok());
  EXPECT_GT(info->segments, 3u);
  Reopen();
  for (int k = 0; k < 7; ++k) {
    const std::string key = "t" + std::to_string(k);
    auto last = db_->LastSeq("store", std::vector<std::string_view>{key});
    ASSERT_TRUE(last.ok());
    ScanOptions all;
    all.limit = 10000;
    auto s = db_->Scan("store", key, all);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ASSERT_EQ(s->size(), (*last)[0]);
    for (size_t j = 0; j < s->size(); ++j) ASSERT_EQ((*s)[j].seq, j + 1);
  }
  auto m = db_->Get("store", "t3", 1);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->payload, Payload(3));
  ASSERT_TRUE(db_->Append("store", "t3", "after reopen").ok());
}

TEST_P(EngineTest, ConcurrentWritersAndReaders) {
  constexpr int kThreads = 8, kPer = 200;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> scans{0}, scans_with_data{0};
  std::thread reader([&] {
    do {  // at least once, and the writers start only after the first scan
      ScanOptions o;
      o.direction = Direction::kBackward;
      o.limit = 5;
      auto s = db_->Scan("store", "shared", o);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      for (size_t i = 1; i < s->size(); ++i) ASSERT_EQ((*s)[i].seq + 1, (*s)[i - 1].seq);
      if (!s->empty()) scans_with_data++;
      scans++;
      scans.notify_all();
    } while (!stop);
  });
  scans.wait(0);
  // The reader must scan while the writers write, not only before or after them: one writer
  // waits halfway (bounded) until the reader has seen their appends three times.
  std::atomic<bool> overlapped{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) {
        if (t == 0 && i == kPer / 2) {
          const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
          while (scans_with_data.load() < 3 && std::chrono::steady_clock::now() < give_up) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          }
          overlapped = scans_with_data.load() >= 3;
        }
        AppendOptions o;
        o.durability = i % 2 ? Durability::kBuffered : Durability::kSync;
        ASSERT_TRUE(db_->Append("store", "shared", Payload(t * kPer + i), o).ok());
      }
    });
  }
  for (auto& w : writers) w.join();
  stop = true;
  reader.join();
  auto last = db_->LastSeq("store", std::vector<std::string_view>{"shared"});
  ASSERT_TRUE(last.ok());
  EXPECT_EQ((*last)[0], static_cast<Seq>(kThreads * kPer));
  // Every group holds at least one append (an empty group counted would break this).
  EXPECT_LE(db_->Stats().groups_committed, static_cast<uint64_t>(kThreads * kPer));
  EXPECT_TRUE(overlapped) << "the reader did not scan while the writers wrote";
}

TEST_P(EngineTest, AsyncAppendsCompleteWithCallbacks) {
  constexpr int kN = 300;
  std::vector<std::promise<Result<AppendResult>>> ps(kN);
  for (int i = 0; i < kN; ++i) {
    db_->AppendAsync("store", "async", Payload(i), {},
                     [&ps, i](Result<AppendResult> r) { ps[i].set_value(std::move(r)); });
  }
  for (int i = 0; i < kN; ++i) {
    auto r = ps[i].get_future().get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->seq, static_cast<Seq>(i + 1));  // one queue: submission order
  }
  std::promise<Result<std::vector<AppendResult>>> fp;
  std::vector<std::string_view> t = {"x", "y"};
  db_->AppendFanoutAsync("store", t, "f", {},
                         [&](Result<std::vector<AppendResult>> r) { fp.set_value(std::move(r)); });
  auto fr = fp.get_future().get();
  ASSERT_TRUE(fr.ok());
  EXPECT_EQ(fr->size(), 2u);
}

TEST_P(EngineTest, NamespacesPersistWithOptions) {
  NamespaceOptions sync_ns;
  sync_ns.ttl_ms = 7ull * 24 * 3600 * 1000;
  ASSERT_TRUE(db_->CreateNamespace("sync", sync_ns).ok());
  ASSERT_TRUE(db_->Append("sync", "inbox:1", "x").ok());
  Reopen();
  auto info = db_->DescribeNamespace("sync");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->options.ttl_ms, sync_ns.ttl_ms);
  EXPECT_EQ(info->timelines, 1u);
  auto list = db_->ListNamespaces();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 2u);
}

TEST_P(EngineTest, ImportPreservesSeqsAndTimestampsAndIsIdempotent) {
  Message m;
  m.seq = 41;  // an exported timeline whose older messages had expired
  m.timestamp_ms = 1'600'000'000'000;
  m.client_msg_id = "c-41";
  m.payload = "imported";
  for (int round = 0; round < 2; ++round) {
    auto r = db_->Import("store", "conv:old", m, Durability::kSync);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->seq, 41u);
    EXPECT_EQ(r->timestamp_ms, m.timestamp_ms);
    EXPECT_EQ(r->deduplicated, round == 1);
  }
  Message gap = m;
  gap.seq = 43;
  EXPECT_EQ(db_->Import("store", "conv:old", gap, Durability::kSync).status().code(),
            Status::Code::kInvalidArgument);
  Message other = m;
  other.payload = "different";
  EXPECT_EQ(db_->Import("store", "conv:old", other, Durability::kSync).status().code(),
            Status::Code::kConflict);
  Reopen();
  auto got = db_->Get("store", "conv:old", 41);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->timestamp_ms, m.timestamp_ms);
  auto next = db_->Append("store", "conv:old", "new");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->seq, 42u);
}

// SeqIds up to 2^64 - 1 (an import may bring any): scans in both directions end, whole, and
// nothing in them wraps (a scan's read-ahead once looped past the top of the SeqId range).
TEST_P(EngineTest, ScansReachTheLargestSeqIds) {
  constexpr Seq kTop = ~Seq{0};
  std::vector<Seq> all;  // the 10 SeqIds up to kTop
  for (Seq seq = kTop - 9; seq != kTop; ++seq) all.push_back(seq);
  all.push_back(kTop);
  Message m;
  m.timestamp_ms = 1'600'000'000'000;
  for (Seq seq : all) {
    m.seq = seq;
    m.payload = "p" + std::to_string(kTop - seq);
    auto r = db_->Import("store", "conv:top", m, Durability::kSync);
    ASSERT_TRUE(r.ok()) << seq << ": " << r.status().ToString();
  }
  auto seqs = [&](Direction d, uint32_t limit) {
    std::vector<Seq> out;
    auto r = db_->Scan("store", "conv:top", ScanOptions{.direction = d, .limit = limit});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok()) {
      for (const Message& msg : *r) out.push_back(msg.seq);
    }
    return out;
  };
  const std::vector<Seq> all_backward(all.rbegin(), all.rend());
  for (int reopened = 0; reopened < 2; ++reopened) {
    EXPECT_EQ(seqs(Direction::kForward, 100), all);
    EXPECT_EQ(seqs(Direction::kBackward, 3),
              std::vector<Seq>(all_backward.begin(), all_backward.begin() + 3));
    EXPECT_EQ(seqs(Direction::kBackward, 100), all_backward);
    auto latest =
        db_->Scan("store", "conv:top", ScanOptions{.direction = Direction::kBackward, .limit = 1});
    ASSERT_TRUE(latest.ok()) << latest.status().ToString();
    ASSERT_EQ(latest->size(), 1u);
    EXPECT_EQ(latest->front().payload, "p0");
    Reopen();  // and again from the recovered segment
  }
  // The timeline holds the largest SeqId: an append or a fan-out to it is refused with a clear
  // error (it must not wrap to SeqId 0), and the store goes on serving.
  auto appended = db_->Append("store", "conv:top", "one more");
  EXPECT_EQ(appended.status().code(), Status::Code::kInvalidArgument)
      << appended.status().ToString();
  EXPECT_NE(appended.status().message().find("largest SeqId"), std::string::npos);
  const std::vector<std::string_view> targets = {"conv:other", "conv:top"};
  const uint64_t timelines_before = db_->Stats().timelines;
  auto fanned = db_->AppendFanout("store", targets, "to both");
  EXPECT_EQ(fanned.status().code(), Status::Code::kInvalidArgument) << fanned.status().ToString();
  EXPECT_EQ(db_->Stats().timelines, timelines_before) << "the refused fan-out left conv:other";
  EXPECT_EQ(seqs(Direction::kBackward, 1), std::vector<Seq>{kTop});
  auto other = db_->Append("store", "conv:other", "still served");
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_EQ(other->seq, 1u);
  // A trim below a SeqId it holds is taken (last + 1 must not wrap to 0 and refuse it).
  auto trimmed = db_->Trim("store", "conv:top", kTop - 4);
  ASSERT_TRUE(trimmed.ok()) << trimmed.status().ToString();
  EXPECT_FALSE(trimmed->noop);
  EXPECT_EQ(seqs(Direction::kForward, 100), std::vector<Seq>(all.end() - 5, all.end()));
  // A delete through the largest SeqId (named, or as the timeline's last) cannot be written as
  // a trim record: refused, never answered as a no-op that deletes nothing.
  for (Seq through : {Seq{0}, kTop}) {
    auto deleted = db_->DeleteTimeline("store", "conv:top", through);
    EXPECT_EQ(deleted.status().code(), Status::Code::kInvalidArgument)
        << through << ": " << deleted.status().ToString();
    EXPECT_NE(deleted.status().message().find("largest SeqId"), std::string::npos);
  }
  EXPECT_EQ(seqs(Direction::kForward, 100), std::vector<Seq>(all.end() - 5, all.end()));
  auto deleted = db_->DeleteTimeline("store", "conv:top", kTop - 1);
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_FALSE(deleted->noop);
  Reopen();
  EXPECT_EQ(seqs(Direction::kForward, 100), std::vector<Seq>{kTop});
}

TEST_P(EngineTest, SecondOpenOfSameDirectoryIsRefused) {
  auto second = Db::Open(dir_, MakeOptions());
  EXPECT_FALSE(second.ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, EngineTest, ::testing::Values("sim", "posix", "uring"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tldb
