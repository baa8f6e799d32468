// Db::SetTimelineOwnership (docs/design.md "Ownership"): compaction drops every record of a
// timeline the store does not own, frees its memory once no record is left, and leaves owned
// timelines exactly as they read before. Run on every I/O backend: simulated, POSIX, io_uring.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common/temp_dir.h"
#include "index/segment_index.h"
#include "index/timeline_table.h"
#include "io/sim_file_system.h"
#include "tldb/clock.h"
#include "tldb/db.h"
#include "tldb/file_system.h"

namespace tldb {
namespace {

constexpr TimestampMs kT0 = 1'700'000'000'000;
constexpr uint64_t kMinuteMs = 60'000;
constexpr int kTimelines = 200;
constexpr int kRounds = 12;  // messages per timeline before the fan-outs

std::string Key(int t) {
  return "tl:" + std::to_string(t);
}
// Even timelines stay, odd ones go (a split keeps about half of every segment).
bool KeepEven(std::string_view ns, std::string_view tl) {
  if (ns != "s") return true;
  const int t = std::stoi(std::string(tl.substr(tl.find(':') + 1)));
  return t % 2 == 0;
}
// Incompressible bytes, so that what compaction saves is what it dropped, not what zstd packed.
std::string Payload(int t, int r) {
  std::mt19937 rng(static_cast<uint32_t>(t * 1000 + r));
  std::string s = "t" + std::to_string(t) + "r" + std::to_string(r) + ":";
  while (s.size() < 200) s.push_back(static_cast<char>(rng() & 0xff));
  return s;
}

// What a reader sees of one timeline: every message a scan returns (SeqId, timestamp, payload,
// client_msg_id), the answer of Get for each SeqId, and LastSeq.
struct View {
  std::vector<std::tuple<Seq, TimestampMs, std::string, std::string>> scan;
  std::vector<std::string> gets;
  Seq last = 0;
  bool operator==(const View&) const = default;
};
void PrintTo(const View& v, std::ostream* os) {
  *os << "last " << v.last << ", scan";
  for (const auto& [seq, ts, payload, cmid] : v.scan) {
    *os << " " << seq << "@" << ts << (cmid.empty() ? "" : "/" + cmid) << "="
        << payload.substr(0, payload.find(':'));
  }
  *os << ", gets";
  for (const std::string& g : v.gets) *os << " [" << g.substr(0, g.find(':')) << "]";
}

// Timeline by timeline, so that a failure names the timeline and shows both views.
void ExpectSame(const std::map<int, View>& got, const std::map<int, View>& want) {
  ASSERT_EQ(got.size(), want.size());
  int failures = 0;
  for (const auto& [t, v] : want) {
    const auto it = got.find(t);
    ASSERT_NE(it, got.end()) << t;
    EXPECT_EQ(it->second, v) << "timeline " << t;
    if (!(it->second == v) && ++failures == 3) return;
  }
}

class OwnershipTest : public ::testing::TestWithParam<std::string> {
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
    clock_ = std::make_shared<ManualClock>(kT0);
    Reopen();
  }
  void Reopen() {
    db_.reset();
    Options o;
    o.file_system = fs_;
    o.clock = clock_;
    o.background_maintenance = false;  // compaction runs when a test asks
    o.compaction_bytes_per_s = 0;
    if (GetParam() == "sim") o.prezero = Options::Prezero::kInline;
    auto db = Db::Open(dir_, o);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    NamespaceOptions n;
    n.segment_bytes_max = 64 << 10;  // many sealed segments
    n.ttl_ms = 60 * kMinuteMs;       // the first half of every timeline expires
    n.durability = Durability::kBuffered;
    ASSERT_TRUE(db_->CreateNamespace("s", n).ok());
  }
  Seq Append(const std::string& tl, const std::string& payload, std::string_view cmid = {}) {
    AppendOptions o;
    o.client_msg_id = cmid;
    auto r = db_->Append("s", tl, payload, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->seq : 0;
  }
  // kTimelines timelines of kRounds messages, appended round by round (every segment holds
  // every timeline), half of them an hour older than the rest (expired: TTL state), with
  // client_msg_ids, trims, recalls, edits and fan-outs across owned and disowned timelines.
  void Fill() {
    for (int r = 0; r < kRounds; ++r) {
      if (r == kRounds / 2) clock_->Advance(40 * kMinuteMs);
      for (int t = 0; t < kTimelines; ++t) {
        const std::string cmid = r == 10 ? "c-" + std::to_string(t) : "";
        ASSERT_EQ(Append(Key(t), Payload(t, r), cmid), static_cast<Seq>(r + 1));
      }
    }
    for (int t = 0; t + 3 < kTimelines; t += 10) {
      const std::string a = Key(t), b = Key(t + 1), c = Key(t + 3);
      const std::vector<std::string_view> targets{a, b, c};
      const std::string cmid = "f-" + std::to_string(t);  // client_msg_id is a view of it
      AppendOptions o;
      o.client_msg_id = cmid;
      ASSERT_TRUE(db_->AppendFanout("s", targets, Payload(t, 99), o).ok());
    }
    for (int t = 0; t < kTimelines; ++t) {
      switch (t % 10) {
        case 0:
        case 1:
          ASSERT_TRUE(db_->Trim("s", Key(t), 9).ok());
          break;
        case 2:
        case 3:
          ASSERT_TRUE(db_->Recall("s", Key(t), 8).ok());
          break;
        case 4:
        case 5:
          ASSERT_TRUE(db_->Edit("s", Key(t), 10, "edited " + std::to_string(t)).ok());
          break;
        default:
          break;
      }
    }
    clock_->Advance(30 * kMinuteMs);  // rounds 0-5 are now older than the hour
  }
  View Read(int t) {
    View v;
    ScanOptions o;
    o.limit = 1000;
    auto s = db_->Scan("s", Key(t), o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (s.ok()) {
      for (const Message& m : *s)
        v.scan.emplace_back(m.seq, m.timestamp_ms, m.payload, m.client_msg_id);
    }
    for (Seq q = 1; q <= kRounds + 2; ++q) {
      auto g = db_->Get("s", Key(t), q);
      // The code, not the message: its reason may change once compaction dropped the record
      // ("message was recalled" becomes "message was deleted").
      v.gets.push_back(g.ok() ? "ok " + g->payload
                              : "code " + std::to_string(static_cast<int>(g.status().code())));
    }
    const std::string key = Key(t);
    const std::vector<std::string_view> keys{key};
    auto last = db_->LastSeq("s", keys);
    EXPECT_TRUE(last.ok());
    if (last.ok()) v.last = last->front();
    return v;
  }
  std::map<int, View> ReadAll(bool owned) {
    std::map<int, View> out;
    for (int t = 0; t < kTimelines; ++t) {
      if (KeepEven("s", Key(t)) == owned) out[t] = Read(t);
    }
    return out;
  }
  // Bytes of the namespace's sealed segments: every index file and its segment file (the
  // active segment, and a next one prepared ahead, have no index file yet).
  uint64_t SealedBytes() {
    const std::string ns = dir_ + "/ns/s";
    auto names = fs_->ListDir(ns);
    EXPECT_TRUE(names.ok()) << names.status().ToString();
    uint64_t n = 0;
    for (const std::string& name : names.ok() ? *names : std::vector<std::string>{}) {
      if (!name.ends_with(".idx")) continue;
      const std::string seg = name.substr(0, name.size() - 4) + ".seg";
      for (const std::string& f : {name, seg}) {
        auto size = fs_->FileSize(ns + "/" + f);
        EXPECT_TRUE(size.ok()) << f << ": " << size.status().ToString();
        n += size.ok() ? *size : 0;
      }
    }
    return n;
  }
  CompactionProgress Compact(bool full) {
    CompactOptions o;
    o.full = full;
    auto r = db_->Compact("s", o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : CompactionProgress{};
  }

  common::TempDir tmp_;
  std::shared_ptr<FileSystem> fs_;
  std::shared_ptr<ManualClock> clock_;
  std::string dir_;
  std::unique_ptr<Db> db_;
};

TEST_P(OwnershipTest, CompactionDropsDisownedTimelinesAndKeepsOwnedOnesExactly) {
  Fill();
  // TTL drops first (ownership not set yet): what is left is the sealed second half.
  Compact(false);
  ASSERT_GE(db_->DescribeNamespace("s")->segments, 4u);
  const std::map<int, View> before = ReadAll(true);
  ASSERT_EQ(before.size(), static_cast<size_t>(kTimelines / 2));
  for (const auto& [t, v] : before) ASSERT_FALSE(v.scan.empty()) << t;
  const uint64_t bytes_before = SealedBytes();
  ASSERT_EQ(db_->Stats().timelines, static_cast<uint64_t>(kTimelines));

  db_->SetTimelineOwnership(KeepEven);
  // Not full: the planner must choose the segments because they hold disowned timelines (in a
  // namespace with a TTL it leaves fully live segments to expire otherwise).
  const CompactionProgress p = Compact(false);
  EXPECT_GT(p.segments_total, 0u);
  EXPECT_GT(p.records_dropped, 0u);

  // Owned timelines read exactly as before: messages, SeqIds, timestamps, trims, recalls,
  // edits, expiries, fan-outs, LastSeq.
  ExpectSame(ReadAll(true), before);
  // Disowned ones are gone from the sealed segments (half of every one of them).
  const uint64_t bytes_after = SealedBytes();
  EXPECT_LT(bytes_after, bytes_before * 6 / 10) << bytes_before << " -> " << bytes_after;
  // A full compaction seals the active segment too: no disowned record is left anywhere, and
  // their entries in the timeline table are freed.
  Compact(true);
  ExpectSame(ReadAll(true), before);
  EXPECT_EQ(db_->Stats().timelines, static_cast<uint64_t>(kTimelines / 2));

  // A retry of an owned timeline's message is still recognised, with its original SeqId.
  for (int t = 0; t < kTimelines; t += 2) {
    const std::string cmid = "c-" + std::to_string(t);  // client_msg_id is a view of it
    AppendOptions o;
    o.client_msg_id = cmid;
    auto r = db_->Append("s", Key(t), Payload(t, 10), o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->deduplicated) << t;
    EXPECT_EQ(r->seq, 11u) << t;
  }
  ExpectSame(ReadAll(true), before);

  // Ownership is not persisted, but what compaction dropped stays dropped: after a reopen with
  // every timeline owned, a full compaction and another reopen, the owned timelines read the
  // same and the disowned ones hold nothing sealed.
  Reopen();
  Compact(true);
  Reopen();
  ExpectSame(ReadAll(true), before);
  for (const auto& [t, v] : ReadAll(false)) {
    EXPECT_TRUE(v.scan.empty()) << t << ": " << v.scan.size() << " messages left";
    for (const std::string& g : v.gets) EXPECT_EQ(g.rfind("ok ", 0), std::string::npos) << t;
  }
  EXPECT_EQ(db_->Stats().timelines, static_cast<uint64_t>(kTimelines / 2));
}

TEST_P(OwnershipTest, NothingChangesWithoutOwnership) {
  Fill();
  Compact(false);  // TTL drops
  const std::map<int, View> owned = ReadAll(true), disowned = ReadAll(false);
  const uint64_t bytes_before = SealedBytes();
  db_->SetTimelineOwnership(KeepEven);
  db_->SetTimelineOwnership(nullptr);  // back to every timeline before any compaction ran
  const CompactionProgress p = Compact(false);
  EXPECT_EQ(p.segments_total, 0u);  // nothing to gain: fully live segments are left to expire
  const CompactionProgress full = Compact(true);
  EXPECT_GT(full.segments_total, 0u);
  ExpectSame(ReadAll(true), owned);
  ExpectSame(ReadAll(false), disowned);
  EXPECT_EQ(db_->Stats().timelines, static_cast<uint64_t>(kTimelines));
  // Incompressible payloads: a rewrite saves only what trims, recalls, edits and expiry
  // dropped (about a fifth here), so the drop the test above asserts is the disowned half.
  EXPECT_GT(SealedBytes(), bytes_before * 7 / 10);
  Reopen();
  ExpectSame(ReadAll(true), owned);
  ExpectSame(ReadAll(false), disowned);
}

TEST_P(OwnershipTest, FreedTimelineEntriesServeNewTimelines) {
  // Enough timelines to fill several chunks of the timeline table (16,384 states each).
  constexpr int kMany = 40'000;
  auto key = [](const char* prefix, int i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%06d", prefix, i);  // one key length for all
    return std::string(buf);
  };
  for (int i = 0; i < kMany; ++i) ASSERT_GT(Append(key("a:", i), "m"), 0u);
  Compact(true);  // everything sealed
  const DbStats full = db_->Stats();
  ASSERT_EQ(full.timelines, static_cast<uint64_t>(kMany));
  db_->SetTimelineOwnership(
      [](std::string_view, std::string_view tl) { return tl.back() % 2 == 0; });
  const CompactionProgress p = Compact(true);
  EXPECT_EQ(p.records_dropped, static_cast<uint64_t>(kMany / 2));
  EXPECT_EQ(db_->Stats().timelines, static_cast<uint64_t>(kMany / 2));
  // New timelines take the freed entries (states, key bytes, hash slots): the table does not
  // grow but for the free list itself (4 bytes per freed entry). Without freeing, 20,000 more
  // timelines would add a 768 KiB chunk of states and double the hash slots.
  for (int i = 0; i < kMany / 2; ++i) ASSERT_EQ(Append(key("b:", i), "n"), 1u);
  const DbStats refilled = db_->Stats();
  EXPECT_EQ(refilled.timelines, static_cast<uint64_t>(kMany));
  EXPECT_LT(refilled.memory_timeline_bytes, full.memory_timeline_bytes + (256 << 10));
  // Old and new timelines are all found (the freed slots left the hash table consistent).
  for (int i = 0; i < kMany; i += 7) {
    const std::string a = key("a:", i);
    auto g = db_->Get("s", a, 1);
    if (a.back() % 2 == 0) {
      ASSERT_TRUE(g.ok()) << a << ": " << g.status().ToString();
      EXPECT_EQ(g->payload, "m");
    } else {
      EXPECT_FALSE(g.ok()) << a;
    }
    if (i < kMany / 2) {
      auto n = db_->Get("s", key("b:", i), 1);
      ASSERT_TRUE(n.ok()) << n.status().ToString();
      EXPECT_EQ(n->payload, "n");
    }
  }
  // After a reopen the table holds only what is left, in fewer chunks than before.
  db_->SetTimelineOwnership([](std::string_view, std::string_view tl) {
    return tl.front() == 'b' || tl.back() % 2 == 0;
  });
  Compact(true);
  Reopen();
  const DbStats reopened = db_->Stats();
  EXPECT_EQ(reopened.timelines, static_cast<uint64_t>(kMany));
  db_->SetTimelineOwnership(
      [](std::string_view, std::string_view tl) { return tl.front() == 'b'; });
  Compact(true);
  Reopen();
  const DbStats only_new = db_->Stats();
  EXPECT_EQ(only_new.timelines, static_cast<uint64_t>(kMany / 2));
  EXPECT_LT(only_new.memory_timeline_bytes, full.memory_timeline_bytes);
}

// The table's Erase (backward-shift deletion, free list) against a std::map: random inserts and
// erases of keys of varying lengths, crossing several grows; every key is found or not as the
// map says, ids of live keys stay distinct, and a freed id comes back with a new key.
TEST(TimelineTableEraseTest, RandomInsertsAndErasesMatchAMap) {
  TimelineTable t;
  std::map<std::string, uint32_t> model;
  std::mt19937 rng(7);
  uint32_t reused = 0;
  for (int step = 0; step < 60'000; ++step) {
    const std::string k = "k" + std::string(rng() % 5, 'x') + std::to_string(rng() % 9'000);
    auto it = model.find(k);
    if (it == model.end()) {
      const uint32_t before_end = t.id_end();
      const uint32_t id = t.Insert(k, KeyHash(k));
      reused += id < before_end ? 1 : 0;
      ASSERT_EQ(t.key(id), k);
      t.state(id).last_seq = step + 1;
      model.emplace(k, id);
    } else if (rng() % 2 == 0) {
      ASSERT_EQ(t.Find(k, KeyHash(k)), it->second);
      t.Erase(it->second);
      model.erase(it);
    }
    ASSERT_EQ(t.size(), model.size());
  }
  EXPECT_GT(reused, 0u);
  std::set<uint32_t> ids;
  for (const auto& [k, id] : model) {
    ASSERT_EQ(t.Find(k, KeyHash(k)), id) << k;
    EXPECT_NE(t.state(id).last_seq, 0u);
    EXPECT_TRUE(ids.insert(id).second);
  }
  for (int i = 0; i < 9'000; ++i) {  // keys not in the model are not found
    const std::string k = "k" + std::to_string(i);
    if (!model.contains(k)) {
      EXPECT_EQ(t.Find(k, KeyHash(k)), TimelineTable::kNone) << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, OwnershipTest, ::testing::Values("sim", "posix", "uring"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tldb
