// Record codec, segment header, index file and timeline table unit tests.
#include "log/record.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "index/segment_index.h"
#include "index/timeline_table.h"
#include "log/file_names.h"
#include "log/segment_header.h"
#include "store/catalog.h"
#include "util/checksum.h"
#include "util/coding.h"
#include "util/large_buffer.h"
#include "util/sanitizers.h"

namespace tldb {
namespace {

std::string EncodeMsg(uint64_t seg, uint64_t off, Seq seq, std::string_view key,
                      std::string_view cmid, std::string_view payload, uint32_t synced = 0) {
  std::string buf(EncodedMessageBytes(key, cmid, payload), '\0');
  EncodeMessage(buf.data(), seg, off, synced, seq, 1700000000123, key, cmid, payload);
  return buf;
}

TEST(RecordTest, MessageRoundTrip) {
  const std::string rec = EncodeMsg(7, 64, 42, "conv:1", "cm-1", "hello", 64);
  RecordView r;
  ASSERT_EQ(DecodeRecord(rec, 7, 64, &r), DecodeOutcome::kOk);
  EXPECT_EQ(r.type, format::RecordType::kMessage);
  EXPECT_EQ(r.seq, 42u);
  EXPECT_EQ(r.key, "conv:1");
  EXPECT_EQ(r.client_msg_id, "cm-1");
  EXPECT_EQ(r.payload, "hello");
  EXPECT_EQ(r.timestamp_ms, 1700000000123);
  EXPECT_EQ(r.synced_through, 64u);
  EXPECT_EQ(r.length, rec.size());
}

// The worked example in docs/format.md, byte for byte.
TEST(RecordTest, MatchesWorkedExampleInFormatDoc) {
  const unsigned char want[] = {0x0e, 0x38, 0x8a, 0xc4, 0x2a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06,
                                0x02, 0x40, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
                                0x00, 0x00, 0x00, 0x68, 0xe5, 0xcf, 0x8b, 0x01, 0x00, 0x00, 'c',
                                'o',  'n',  'v',  ':',  '1',  'm',  '1',  'h',  'i'};
  std::string rec(EncodedMessageBytes("conv:1", "m1", "hi"), '\0');
  EncodeMessage(rec.data(), 1, 64, 64, 1, 1700000000000, "conv:1", "m1", "hi");
  ASSERT_EQ(rec.size(), sizeof want);
  EXPECT_EQ(rec, std::string(reinterpret_cast<const char*>(want), sizeof want));
  SegmentHeader h{1, 1, 1700000000000, 0};
  char hb[format::kSegmentHeaderBytes];
  EncodeSegmentHeader(h, hb);
  EXPECT_EQ(std::string(hb + 60, 4), std::string("\x87\x08\x76\x3b", 4));
}

TEST(RecordTest, EmptyPayloadAndMaxKey) {
  const std::string key(255, 'k');
  const std::string rec = EncodeMsg(1, 64, 1, key, "", "");
  RecordView r;
  ASSERT_EQ(DecodeRecord(rec, 1, 64, &r), DecodeOutcome::kOk);
  EXPECT_EQ(r.key, key);
  EXPECT_TRUE(r.payload.empty());
}

TEST(RecordTest, FanoutRoundTrip) {
  std::vector<FanoutTarget> t = {{"inbox:a", 5}, {"inbox:bb", 1}, {"conv:9", 77}};
  std::string buf(EncodedFanoutBytes(t, "id", "payload!"), '\0');
  EncodeFanout(buf.data(), 3, 1000, 0, t, 99, "id", "payload!");
  RecordView r;
  ASSERT_EQ(DecodeRecord(buf, 3, 1000, &r), DecodeOutcome::kOk);
  EXPECT_EQ(r.type, format::RecordType::kFanout);
  EXPECT_EQ(r.target_count, 3u);
  EXPECT_EQ(r.payload, "payload!");
  std::vector<std::pair<std::string, Seq>> got;
  ForEachTarget(r, [&](const FanoutTarget& x) { got.emplace_back(std::string(x.key), x.seq); });
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[1].first, "inbox:bb");
  EXPECT_EQ(got[2].second, 77u);
  Seq s = 0;
  EXPECT_TRUE(RecordSeqFor(r, "conv:9", &s));
  EXPECT_EQ(s, 77u);
  EXPECT_FALSE(RecordSeqFor(r, "nope", &s));
  // The read path's identity check: the key's own seq only, and a seq of another target with
  // this key's length is not taken for it.
  EXPECT_TRUE(RecordHolds(r, "conv:9", 77));
  EXPECT_TRUE(RecordHolds(r, "inbox:a", 5));
  EXPECT_FALSE(RecordHolds(r, "conv:9", 5));
  EXPECT_FALSE(RecordHolds(r, "inbox:a", 1));
  EXPECT_FALSE(RecordHolds(r, "inbox:c", 5));
  EXPECT_FALSE(RecordHolds(r, "nope", 77));
}

TEST(RecordTest, RecordHoldsForMessages) {
  const std::string rec = EncodeMsg(7, 64, 12, "conv:1", "", "x");
  RecordView r;
  ASSERT_EQ(DecodeRecord(rec, 7, 64, &r), DecodeOutcome::kOk);
  EXPECT_TRUE(RecordHolds(r, "conv:1", 12));
  EXPECT_FALSE(RecordHolds(r, "conv:1", 13));
  EXPECT_FALSE(RecordHolds(r, "conv:2", 12));
}

TEST(RecordTest, ChecksumCoversPositionSoMisdirectedWritesFail) {
  const std::string rec = EncodeMsg(7, 64, 1, "k", "", "x");
  RecordView r;
  EXPECT_EQ(DecodeRecord(rec, 7, 128, &r), DecodeOutcome::kBad);  // other offset
  EXPECT_EQ(DecodeRecord(rec, 8, 64, &r), DecodeOutcome::kBad);   // other segment
}

TEST(RecordTest, EveryBitFlipIsDetected) {
  const std::string rec = EncodeMsg(2, 64, 9, "conv:x", "c", "some payload bytes");
  for (size_t bit = 0; bit < rec.size() * 8; ++bit) {
    std::string bad = rec;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    RecordView r;
    const DecodeOutcome o = DecodeRecord(bad, 2, 64, &r);
    EXPECT_NE(o, DecodeOutcome::kOk) << "bit " << bit;
  }
}

TEST(RecordTest, TruncationIsTruncatedOrEnd) {
  const std::string rec = EncodeMsg(2, 64, 9, "conv:x", "", "payload");
  for (size_t n = 0; n < rec.size(); ++n) {
    RecordView r;
    const DecodeOutcome o = DecodeRecord({rec.data(), n}, 2, 64, &r);
    EXPECT_TRUE(o == DecodeOutcome::kTruncated || (n == 0 && o == DecodeOutcome::kEnd)) << n;
  }
  RecordView r;
  EXPECT_EQ(DecodeRecord(std::string(40, '\0'), 2, 64, &r), DecodeOutcome::kEnd);
}

TEST(SegmentHeaderTest, RoundTripAndDamage) {
  SegmentHeader h{3, 17, 123456, 0};
  char buf[format::kSegmentHeaderBytes];
  EncodeSegmentHeader(h, buf);
  auto d = DecodeSegmentHeader({buf, sizeof buf}, "seg");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->namespace_id, 3u);
  EXPECT_EQ(d->segment_id, 17u);
  EXPECT_EQ(d->created_ms, 123456);
  buf[20] ^= 1;
  auto bad = DecodeSegmentHeader({buf, sizeof buf}, "seg");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsCorruption());
}

TEST(SegmentIndexTest, BuildAndFind) {
  SegmentIndexBuilder b(1, 5);
  std::vector<uint32_t> o1 = {64, 200, 300}, o2 = {100};
  b.AddTimeline("conv:1", KeyHash("conv:1"), 10, 555, o1);
  b.AddTimeline("inbox:2", KeyHash("inbox:2"), 1, 556, o2);
  b.AddDedupe("inbox:2", DedupeHash(KeyHash("inbox:2"), "cm"), 1, 556);
  const std::string file = b.Finish(400, 500, 556);
  SegmentIndexReader r;
  ASSERT_TRUE(r.Open(file, 1, 5, "idx").ok());
  EXPECT_EQ(r.timeline_count(), 2u);
  EXPECT_EQ(r.summary().data_end, 400u);
  IndexEntry e;
  ASSERT_TRUE(r.Find("conv:1", KeyHash("conv:1"), &e));
  EXPECT_EQ(e.first_seq, 10u);
  EXPECT_EQ(e.count, 3u);
  EXPECT_EQ(r.Offset(e, 2), 300u);
  EXPECT_FALSE(r.Find("conv:2", KeyHash("conv:2"), &e));
  ASSERT_EQ(r.dedupe_count(), 1u);
  EXPECT_EQ(r.Entry(r.Dedupe(0).entry).key, "inbox:2");
  EXPECT_FALSE(r.Open(file, 1, 6, "idx").ok());  // another segment's index
  for (size_t i = 0; i < file.size(); i += 7) {
    std::string bad = file;
    bad[i] ^= 0x10;
    SegmentIndexReader rb;
    EXPECT_FALSE(rb.Open(bad, 1, 5, "idx").ok()) << i;
  }
}

TEST(SegmentIndexTest, DirectoryFindsEveryTimelineOfABigIndex) {
  SegmentIndexBuilder b(1, 9);
  std::vector<uint32_t> off = {64};
  for (int i = 0; i < 5000; ++i) {
    const std::string k = "inbox:" + std::to_string(i);
    b.AddTimeline(k, KeyHash(k), 1 + i, 0, off);
  }
  const std::string file = b.Finish(100, 0, 0);
  SegmentIndexReader r;
  ASSERT_TRUE(r.Open(file, 1, 9, "idx").ok());
  for (int i = 0; i < 5000; ++i) {
    const std::string k = "inbox:" + std::to_string(i);
    IndexEntry e;
    ASSERT_TRUE(r.Find(k, KeyHash(k), &e)) << k;
    ASSERT_EQ(e.first_seq, static_cast<Seq>(1 + i));
  }
  IndexEntry e;
  EXPECT_FALSE(r.Find("inbox:5000", KeyHash("inbox:5000"), &e));
}

// Entries must be sorted by (key_hash, key): lookups binary-search by hash and recovery merges
// index files in that order (IndexMerge). An index whose entries are swapped, checksums
// recomputed, is refused (recovery then rebuilds it from the segment).
// A roll validates the index it built in memory, then reads the file it wrote (MoveTo): the
// reader answers from the copy, and a copy that differs in size or in its first or last page is
// refused.
TEST(SegmentIndexTest, MoveToReadsTheCopyAndRefusesADifferentOne) {
  SegmentIndexBuilder b(1, 9);
  std::vector<uint32_t> off = {64};
  for (int i = 0; i < 3000; ++i) {  // ~150 KiB: a first and a last page apart
    const std::string k = "inbox:" + std::to_string(i);
    b.AddTimeline(k, KeyHash(k), 1 + i, 0, off);
  }
  std::string built = b.Finish(100, 0, 0);
  const std::string copy = built;
  SegmentIndexReader r;
  ASSERT_TRUE(r.Open(built, 1, 9, "idx").ok());
  ASSERT_TRUE(r.MoveTo(copy, "copy").ok());
  std::fill(built.begin(), built.end(), '\0');  // the reader must not read this any more
  for (int i = 0; i < 3000; i += 7) {
    const std::string k = "inbox:" + std::to_string(i);
    IndexEntry e;
    ASSERT_TRUE(r.Find(k, KeyHash(k), &e)) << k;
    EXPECT_EQ(e.first_seq, static_cast<Seq>(1 + i));
  }
  for (const int what : {0, 1, 2}) {
    std::string other = copy;
    if (what == 0) other[10] ^= 1;                 // first page
    if (what == 1) other[other.size() - 20] ^= 1;  // last page
    if (what == 2) other.push_back('\0');          // size
    SegmentIndexReader r2;
    ASSERT_TRUE(r2.Open(copy, 1, 9, "idx").ok());
    EXPECT_TRUE(r2.MoveTo(other, "copy").IsCorruption()) << what;
  }
}

// FinishInto writes the same bytes as Finish into a buffer kept across indexes, larger or not.
TEST(SegmentIndexTest, FinishIntoAKeptBufferWritesTheSameIndex) {
  LargeBuffer kept;
  for (const int timelines : {5000, 200, 9000}) {
    auto build = [&](SegmentIndexBuilder& b) {
      std::vector<uint32_t> off = {64, 80};
      for (int i = 0; i < timelines; ++i) {
        const std::string k = "conv:" + std::to_string(i);
        b.AddTimeline(k, KeyHash(k), 1 + i, 7, off);
      }
    };
    SegmentIndexBuilder a(1, 3), b(1, 3);
    build(a);
    build(b);
    const std::string want = a.Finish(100, 0, 7);
    const std::span<const char> got = b.FinishInto(&kept, 100, 0, 7);
    EXPECT_EQ(std::string_view(got.data(), got.size()), want) << timelines;
    EXPECT_EQ(got.data(), kept.data());
    EXPECT_GE(kept.size(), got.size());
  }
}

TEST(SegmentIndexTest, EntriesOutOfOrderAreRefused) {
  auto swapped = [](std::string file) {
    using namespace index_format;  // NOLINT(google-build-using-namespace): the file's layout
    const size_t dir_bytes =
        ((size_t{1} << DecodeFixed32(file.data() + kHdrDirectoryBits)) + 1) * 4;
    char* entries = file.data() + kHeaderBytes + dir_bytes;
    char tmp[kEntryBytes];
    std::memcpy(tmp, entries, kEntryBytes);
    std::memcpy(entries, entries + kEntryBytes, kEntryBytes);
    std::memcpy(entries + kEntryBytes, tmp, kEntryBytes);
    const size_t body = file.size() - kFooterBytes;
    EncodeFixed64(file.data() + body, Hash64(file.data(), body));
    return file;
  };
  std::vector<uint32_t> off = {64};
  SegmentIndexBuilder by_hash(1, 5);
  by_hash.AddTimeline("a", KeyHash("a"), 1, 0, off);
  by_hash.AddTimeline("b", KeyHash("b"), 1, 0, off);
  // Two keys under one (lying) hash: ordered by key.
  SegmentIndexBuilder by_key(1, 5);
  by_key.AddTimeline("a", 7, 1, 0, off);
  by_key.AddTimeline("b", 7, 1, 0, off);
  for (SegmentIndexBuilder* b : {&by_hash, &by_key}) {
    const std::string file = b->Finish(100, 0, 0);
    SegmentIndexReader ok;
    ASSERT_TRUE(ok.Open(file, 1, 5, "idx").ok());
    SegmentIndexReader bad;
    const Status s = bad.Open(swapped(file), 1, 5, "idx");
    EXPECT_TRUE(s.IsCorruption()) << s.ToString();
    EXPECT_NE(s.ToString().find("out of order"), std::string::npos) << s.ToString();
  }
}

// The directory is checked against the entries: a slot boundary moved by one entry (still
// monotonic, checksum right) would hide that entry from Find.
TEST(SegmentIndexTest, ADirectoryThatLiesIsRefused) {
  std::vector<uint32_t> off = {64};
  SegmentIndexBuilder b(1, 5);
  for (int i = 0; i < 300; ++i) {
    const std::string k = "conv:" + std::to_string(i);
    b.AddTimeline(k, KeyHash(k), 1, 0, off);
  }
  const std::string file = b.Finish(100, 0, 0);
  SegmentIndexReader ok;
  ASSERT_TRUE(ok.Open(file, 1, 5, "idx").ok());
  using namespace index_format;  // NOLINT(google-build-using-namespace): the file's layout
  const uint32_t bits = DecodeFixed32(file.data() + kHdrDirectoryBits);
  ASSERT_GE(bits, 2u);
  int refused = 0;
  for (const int move : {-1, 1}) {
    for (uint64_t slot = 1; slot < (uint64_t{1} << bits); ++slot) {
      std::string lie = file;
      char* at = lie.data() + kHeaderBytes + slot * 4;
      const uint32_t v = DecodeFixed32(at), before = DecodeFixed32(at - 4),
                     after = DecodeFixed32(at + 4);
      if ((move < 0 && v == before) || (move > 0 && v == after)) continue;  // not monotonic
      EncodeFixed32(at, static_cast<uint32_t>(v + move));
      const size_t body = lie.size() - kFooterBytes;
      EncodeFixed64(lie.data() + body, Hash64(lie.data(), body));
      SegmentIndexReader bad;
      const Status s = bad.Open(lie, 1, 5, "idx");
      EXPECT_TRUE(s.IsCorruption()) << slot << " " << move << ": " << s.ToString();
      EXPECT_NE(s.ToString().find("outside its directory slot"), std::string::npos) << s.ToString();
      ++refused;
    }
  }
  EXPECT_GT(refused, 20);
}

TEST(TimelineTableTest, InsertFindGrowAndSegLists) {
  TimelineTable t;
  for (int i = 0; i < 20000; ++i) {
    const std::string k = "timeline:" + std::to_string(i);
    EXPECT_EQ(t.Insert(k, KeyHash(k)), static_cast<uint32_t>(i));
  }
  for (int i = 0; i < 20000; ++i) {
    const std::string k = "timeline:" + std::to_string(i);
    ASSERT_EQ(t.Find(k, KeyHash(k)), static_cast<uint32_t>(i));
    ASSERT_EQ(t.key(static_cast<uint32_t>(i)), k);
  }
  EXPECT_EQ(t.Find("missing", KeyHash("missing")), TimelineTable::kNone);
  SegList& l = t.state(5).segs;
  std::vector<uint32_t> want;
  for (uint32_t id = 1; id < 5000; id += 1 + id % 300) {
    l.Append(id);
    want.push_back(id);
  }
  std::vector<uint32_t> got;
  l.Decode(&got);
  EXPECT_EQ(got, want);
  EXPECT_GT(l.heap_bytes(), 0u);
}

// The newest id is kept at the front: last() and Append must agree with a full decode through
// every size (inline, spilled, regrown), with ids of every varint length, and Assign must give
// the list Append builds.
TEST(TimelineTableTest, SegListKeepsEveryIdThroughAppendsAndAssign) {
  SegList l;
  EXPECT_EQ(l.last(), 0u);
  std::vector<uint32_t> want, got;
  uint32_t id = 1;
  for (int i = 0; i < 300; ++i) {
    l.Append(id);
    want.push_back(id);
    ASSERT_EQ(l.last(), id);
    l.Decode(&got);
    ASSERT_EQ(got, want) << "after " << id;
    id += i % 7 == 0 ? 1 : (i % 7 == 1 ? 200 : (i % 7 == 2 ? 40'000 : 3));
  }
  l.Append(0xfffffff0u);  // five bytes as a varint, and the distance below it too
  want.push_back(0xfffffff0u);
  l.Decode(&got);
  EXPECT_EQ(got, want);
  EXPECT_EQ(l.last(), 0xfffffff0u);
  SegList a;
  a.Assign(want);
  a.Decode(&got);
  EXPECT_EQ(got, want);
  EXPECT_EQ(a.heap_bytes(), l.heap_bytes());
  a.Assign(std::vector<uint32_t>{7, 9});  // a heap list replaced by an inline one
  a.Append(12);
  a.Decode(&got);
  EXPECT_EQ(got, (std::vector<uint32_t>{7, 9, 12}));
  EXPECT_EQ(a.heap_bytes(), 0u);
  a.Assign(std::span<const uint32_t>());
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.last(), 0u);
}

// Recovery's bulk adding: keys added in hash order without a slot (after some inserted the
// usual way), then placed at once in slots sized for all; every key is found after it, inserts
// and erases go on as usual, and a key added twice is refused (it would have two ids).
TEST(TimelineTableTest, KeysAddedUnplacedAreFoundOncePlaced) {
  TimelineTable t;
  for (int i = 0; i < 10; ++i) {
    const std::string k = "before:" + std::to_string(i);
    t.Insert(k, KeyHash(k));
  }
  std::vector<std::pair<uint64_t, std::string>> keys;
  for (int i = 0; i < 50'000; ++i) {
    std::string k = "conv:" + std::to_string(i);
    keys.emplace_back(KeyHash(k), std::move(k));
  }
  std::sort(keys.begin(), keys.end());
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(t.AddUnplaced(keys[i].second), 10 + i);
    t.state(static_cast<uint32_t>(10 + i)).last_seq = i + 1;
  }
  t.PlaceAdded();
  t.PlaceAdded();  // nothing left to place
  EXPECT_EQ(t.size(), 50'010u);
  EXPECT_TRUE(t.homes_from_high_bits()) << "keys placed at once do not cluster";
  for (size_t i = 0; i < keys.size(); ++i) {
    const uint32_t id = t.Find(keys[i].second, keys[i].first);
    ASSERT_EQ(id, 10 + i) << keys[i].second;
    ASSERT_EQ(t.state(id).last_seq, i + 1);
  }
  for (int i = 0; i < 10; ++i) {
    const std::string k = "before:" + std::to_string(i);
    EXPECT_EQ(t.Find(k, KeyHash(k)), static_cast<uint32_t>(i));
  }
  t.Erase(10);
  EXPECT_EQ(t.Find(keys[0].second, keys[0].first), TimelineTable::kNone);
  EXPECT_EQ(t.Insert("after", KeyHash("after")), 10u) << "the freed id is taken again";
  EXPECT_EQ(t.Find(keys[1].second, keys[1].first), 11u);
  EXPECT_DEATH(
      {
        TimelineTable twice;
        twice.Insert("conv:1", KeyHash("conv:1"));
        twice.AddUnplaced("conv:1");
        twice.PlaceAdded();
      },
      "");
}

// Keys inserted one by one in hash order (a client importing timelines in the order another
// store listed them) would cluster at the front of a table that grows as they come: the first
// long probe run switches the homes to the hash's low bits, and every key stays findable. Keys
// in no particular order keep the high bits.
TEST(TimelineTableTest, KeysInsertedInHashOrderSwitchHomesToLowBits) {
  std::vector<std::pair<uint64_t, std::string>> keys;
  for (int i = 0; i < 200'000; ++i) {
    std::string k = "import:" + std::to_string(i);
    keys.emplace_back(KeyHash(k), std::move(k));
  }
  TimelineTable any_order;
  for (const auto& [h, k] : keys) any_order.Insert(k, h);
  EXPECT_TRUE(any_order.homes_from_high_bits());
  std::sort(keys.begin(), keys.end());
  TimelineTable in_order;
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(in_order.Insert(keys[i].second, keys[i].first), i);
  }
  EXPECT_FALSE(in_order.homes_from_high_bits());
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(in_order.Find(keys[i].second, keys[i].first), i) << keys[i].second;
  }
  in_order.Erase(5);
  EXPECT_EQ(in_order.Find(keys[5].second, keys[5].first), TimelineTable::kNone);
  EXPECT_EQ(in_order.Find(keys[6].second, keys[6].first), 6u);
}

// A freed id survives the re-placements of a growing table: its key is in no slot after them,
// and every other key is found.
TEST(TimelineTableTest, FreedIdsSurviveGrowth) {
  TimelineTable t;
  for (int i = 0; i < 100; ++i) {
    const std::string k = "early:" + std::to_string(i);
    ASSERT_EQ(t.Insert(k, KeyHash(k)), static_cast<uint32_t>(i));
  }
  t.Erase(7);
  const uint64_t before = t.MemoryBytes();
  for (int i = 0; i < 40'000; ++i) {
    const std::string k = "late:" + std::to_string(i);
    t.Insert(k, KeyHash(k));
  }
  for (int i = 0; i < 100; ++i) {
    const std::string k = "early:" + std::to_string(i);
    EXPECT_EQ(t.Find(k, KeyHash(k)), i == 7 ? TimelineTable::kNone : static_cast<uint32_t>(i));
  }
  for (int i = 0; i < 40'000; ++i) {
    const std::string k = "late:" + std::to_string(i);
    const uint32_t id = t.Find(k, KeyHash(k));
    ASSERT_NE(id, TimelineTable::kNone) << k;
    ASSERT_EQ(t.key(id), k);
  }
  EXPECT_EQ(t.size(), 100u - 1 + 40'000u);
  EXPECT_GE(t.MemoryBytes(), before + (65'536 - 1'024) * 5) << "slots for 40,099 at load 3/4";
}

// A timeline leaves the table only when none of its records is anywhere (holds_no_records):
// freeing one that a segment, an active slot or an in-flight SeqId still names stops the
// process, since its id would be handed to another key while records still carry it.
TEST(TimelineTableTest, ATimelineWithRecordsIsNeverFreed) {
  auto erase_after = [](auto&& give_records) {
    TimelineTable t;
    const uint32_t id = t.Insert("conv:1", KeyHash("conv:1"));
    give_records(t.state(id));
    t.Erase(id);
  };
  erase_after([](TimelineState&) {});  // nothing names it: freed
  EXPECT_DEATH(erase_after([](TimelineState& s) { s.active_slot = 0; }), "holds_no_records");
  EXPECT_DEATH(erase_after([](TimelineState& s) {
                 s.last_seq = 1;
                 s.unpublished = 1;
               }),
               "holds_no_records");
  EXPECT_DEATH(erase_after([](TimelineState& s) {
                 const std::vector<uint32_t> ids{3};
                 s.segs.Assign(ids);
               }),
               "holds_no_records");
}

// A spilled segment list's heap pointer must sit at an 8-byte-aligned address: LeakSanitizer
// finds live pointers only in aligned words, and took a list held at an unaligned one for a
// leak (the session fuzzer stopped on it). Checked under ASan builds (timeline_table.h holds
// the layout's static_asserts).
TEST(TimelineTableTest, SpilledSegListsAreVisibleToTheLeakChecker) {
  auto t = std::make_unique<TimelineTable>();
  for (uint32_t i = 0; i < 64; ++i) {
    const std::string k = "tl:" + std::to_string(i);
    const uint32_t id = t->Insert(k, KeyHash(k));
    for (uint32_t seg = 1; seg <= 40; ++seg) t->state(id).segs.Append(seg * 1000);
    ASSERT_GT(t->state(id).segs.heap_bytes(), 0u);
  }
#ifdef TLDB_TEST_ASAN
  EXPECT_EQ(__lsan_do_recoverable_leak_check(), 0) << "a live segment list was taken for a leak";
#endif
}

TEST(CatalogTest, RoundTripAndValidation) {
  std::vector<CatalogEntry> c(2);
  c[0].id = 1;
  c[0].name = "store";
  c[1].id = 2;
  c[1].name = "sync";
  c[1].options.ttl_ms = 7ull * 24 * 3600 * 1000;
  const std::string bytes = EncodeCatalog(c);
  auto d = DecodeCatalog(bytes, "cat");
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->size(), 2u);
  EXPECT_EQ((*d)[1].options.ttl_ms, c[1].options.ttl_ms);
  std::string bad = bytes;
  bad[20] ^= 1;
  EXPECT_TRUE(DecodeCatalog(bad, "cat").status().IsCorruption());
  EXPECT_FALSE(ValidateNamespaceName("Bad Name").ok());
  EXPECT_FALSE(ValidateNamespaceName("").ok());
  EXPECT_TRUE(ValidateNamespaceName("sync_7-days").ok());
}

TEST(FileNamesTest, Parse) {
  uint64_t id = 0;
  EXPECT_EQ(ParseFileName("00000000000000ff.seg", &id), FileKind::kSegment);
  EXPECT_EQ(id, 255u);
  EXPECT_EQ(ParseFileName("00000000000000ff.idx", &id), FileKind::kIndex);
  EXPECT_EQ(ParseFileName("00000000000000ff.idx.tmp", &id), FileKind::kTemp);
  EXPECT_EQ(ParseFileName("LOCK", &id), FileKind::kOther);
  EXPECT_EQ(SegmentFileName("d", 1), "d/0000000000000001.seg");
}

}  // namespace
}  // namespace tldb
