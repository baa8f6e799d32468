// tldb-server end to end, maintenance: compaction with progress and the cursor namespace.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "server_test_util.h"

namespace tldb::testing {
namespace {

using namespace std::chrono_literals;
using proto::ErrorCode;
using proto::Op;

TEST(ServerTest, CompactionRunsOnTheServerWithProgress) {
  Options db_options;
  db_options.background_maintenance = false;  // only the COMPACT below compacts
  TestServer ts({}, db_options);
  auto c = ts.Connect();
  ASSERT_TRUE(c);
  NamespaceOptions o;
  o.segment_bytes_max = 64 << 10;  // the minimum: a few hundred KiB make several segments
  o.durability = Durability::kBuffered;
  ASSERT_TRUE(c->CreateNamespace("cmp", o).ok());
  const std::string payload(1000, 'p');
  constexpr int kN = 400, kBatch = 40;
  // Batches of 40 KiB: a group commit goes whole into one segment, so each batch rolls to a
  // new 64 KiB segment and the namespace ends up with about ten of them.
  for (int b = 0; b < kN / kBatch; ++b) {
    std::atomic<int> done{0}, failed{0};
    for (int i = b * kBatch; i < (b + 1) * kBatch; ++i) {
      c->AppendAsync("cmp", "t", payload + std::to_string(i), {},
                     [&](Result<AppendResult> r) { (r.ok() ? done : failed)++; });
    }
    for (int i = 0; i < 1000 && done + failed < kBatch; ++i) std::this_thread::sleep_for(5ms);
    ASSERT_EQ(done.load(), kBatch);
  }
  ASSERT_TRUE(c->Trim("cmp", "t", 351).ok());  // 350 of 400 records are dead
  auto before = c->DescribeNamespace("cmp");
  ASSERT_TRUE(before.ok());
  ASSERT_GT(before->segments, 2u) << before->bytes_on_disk;

  std::vector<CompactionStatus> seen;
  auto r = c->Compact(
      "cmp", /*full=*/false, [&seen](const CompactionStatus& s) { seen.push_back(s); }, 5);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->state, CompactionStatus::State::kDone);
  EXPECT_EQ(r->ns, "cmp");
  EXPECT_GT(r->progress.segments_total, 0u);
  EXPECT_EQ(r->progress.segments_done, r->progress.segments_total);
  EXPECT_GE(r->progress.records_dropped, 300u);
  EXPECT_GT(r->progress.bytes_read, r->progress.bytes_written);
  ASSERT_FALSE(seen.empty());
  EXPECT_TRUE(seen.back().finished());
  for (size_t i = 1; i < seen.size(); ++i) {
    EXPECT_GE(seen[i].progress.segments_done, seen[i - 1].progress.segments_done);
  }
  auto after = c->DescribeNamespace("cmp");
  ASSERT_TRUE(after.ok());
  EXPECT_LT(after->bytes_on_disk, before->bytes_on_disk);
  // The data survived the rewrite; the trimmed messages stay deleted.
  auto kept = c->Scan("cmp", "t", {});
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  ASSERT_EQ(kept->size(), 50u);
  EXPECT_EQ(kept->front().seq, 351u);
  EXPECT_EQ(kept->front().payload, payload + "350");
  EXPECT_EQ(c->Get("cmp", "t", 10).status().code(), Status::Code::kDeleted);

  // The job can be looked up by id and as "the newest"; the counters moved.
  auto byid = c->GetCompaction(r->job_id);
  ASSERT_TRUE(byid.ok());
  EXPECT_EQ(byid->state, CompactionStatus::State::kDone);
  EXPECT_EQ(c->GetCompaction(0)->job_id, r->job_id);
  EXPECT_EQ(c->GetCompaction(r->job_id + 100).status().code(), Status::Code::kNotFound);
  auto st = c->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->Get("compactions_done"), 1u);
  EXPECT_EQ(st->Get("compaction_records_dropped"), r->progress.records_dropped);
  EXPECT_GE(st->Get("db_compactions"), 1u);  // the engine's own count of committed runs
  EXPECT_GE(st->Get("db_compaction_bytes_read"), r->progress.bytes_read);
  EXPECT_GE(st->Get("db_mutations"), 1u);  // the trim
  // An unknown namespace fails at once, not in the job.
  EXPECT_EQ(c->StartCompaction("nope", false).status().code(), Status::Code::kNotFound);
  // Every namespace (admin on "*": the anonymous server grants it).
  auto all = c->Compact("", true, nullptr, 5);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->ns, "");
}

TEST(ServerTest, CursorNamespaceKeepsOneRecordPerCursor) {
  Options db_options;
  db_options.background_maintenance = false;  // only the Compact below compacts
  TestServer ts({}, db_options);
  auto info = ts.db().DescribeNamespace(kCursorNamespace);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->options.messages_per_timeline_max, 1u);
  auto c = ts.Connect();
  ASSERT_TRUE(c);
  constexpr Seq kMoves = 200;
  for (Seq s = 1; s <= kMoves; ++s) ASSERT_TRUE(c->Append("store", "conv:c", "m").ok());
  for (Seq s = 1; s <= kMoves; ++s) {
    auto r = c->SetCursor("dev1", "store", "conv:c", s);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE(r->moved);
  }
  // Backward moves still need reset, and the stored value is the newest record.
  EXPECT_FALSE(c->SetCursor("dev1", "store", "conv:c", 5)->moved);
  std::string_view k[] = {"conv:c"};
  EXPECT_EQ((*c->GetCursors("dev1", "store", k))[0].cursor, kMoves);
  ASSERT_TRUE(c->SetCursor("dev1", "store", "conv:c", 7, /*reset=*/true)->moved);
  EXPECT_EQ((*c->GetCursors("dev1", "store", k))[0].cursor, 7u);
  // Only one record of the 201 written is live.
  ScanOptions all;
  all.limit = 1000;
  auto records = ts.db().Scan(kCursorNamespace, "dev1|store|conv:c", all);
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ(records->front().seq, kMoves + 1);
  // Compaction reclaims the hidden records; the newest stays, also across a restart.
  auto before = ts.db().DescribeNamespace(kCursorNamespace);
  CompactOptions full;
  full.full = true;
  auto compacted = ts.db().Compact(kCursorNamespace, full);
  ASSERT_TRUE(compacted.ok()) << compacted.status().ToString();
  EXPECT_EQ(compacted->records_dropped, kMoves)  // 200 of the 201 records were dead
      << compacted->segments_total << " segments, read " << compacted->bytes_read << ", kept "
      << compacted->records_kept;
  EXPECT_LT(ts.db().DescribeNamespace(kCursorNamespace)->bytes_on_disk, before->bytes_on_disk);
  EXPECT_EQ((*c->GetCursors("dev1", "store", k))[0].cursor, 7u);
  ts.Restart();
  c = ts.Connect();
  ASSERT_TRUE(c);
  EXPECT_EQ((*c->GetCursors("dev1", "store", k))[0].cursor, 7u);
  ASSERT_TRUE(c->SetCursor("dev1", "store", "conv:c", 9)->moved);
  EXPECT_EQ((*c->GetCursors("dev1", "store", k))[0].cursor, 9u);
}

TEST(ServerTest, OlderCursorNamespaceIsBoundedOnStart) {
  TempDir dir;
  auto db = Db::Open(dir.path(), Options{});
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->CreateNamespace(kCursorNamespace, NamespaceOptions{}).ok());  // as before
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*db)->Append(kCursorNamespace, "d|store|t", "x").ok());
  ASSERT_TRUE(CreateDefaultNamespaces(**db).ok());
  EXPECT_EQ((*db)->DescribeNamespace(kCursorNamespace)->options.messages_per_timeline_max, 1u);
  auto left = (*db)->Scan(kCursorNamespace, "d|store|t", {});
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ(left->front().seq, 3u);
  ASSERT_TRUE((*db)->Close().ok());
}

}  // namespace
}  // namespace tldb::testing
