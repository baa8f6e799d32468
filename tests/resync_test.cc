// Resynchronisation of the active segment after damage (docs/format.md "Reading rules",
// docs/reliability.md "Resynchronisation"): bytes inserted before the durable point move every
// later record off the offset its checksum is seeded with; recovery must find them where they
// were moved, refuse to open with the file and offset, and salvage must keep every record.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "log/file_names.h"
#include "log/record.h"
#include "log/segment_scan.h"
#include "recovery_test_util.h"

namespace tldb {
namespace {

// A store on the simulated backend whose active segment holds `n` synced appends (each
// acknowledged durable) to four timelines.
class ResyncTest : public ::testing::Test {
 protected:
  void Build(int n, Durability d = Durability::kSync) {
    fs_ = std::make_shared<SimFileSystem>();
    auto db = std::move(Db::Open(kDir, SimOptions(fs_)).value());
    NamespaceOptions big;
    big.segment_bytes_max = 4 << 20;  // every append stays in the one active segment
    ASSERT_TRUE(db->CreateNamespace("store", big).ok());
    AppendOptions a;
    a.durability = d;
    for (int i = 0; i < n; ++i) {
      const std::string key = "t" + std::to_string(i % 4);
      const std::string p = "payload-" + std::to_string(i) + std::string(i % 23, 'x');
      ASSERT_TRUE(db->Append("store", key, p, a).ok());
      sent_[key].push_back(p);
    }
    ASSERT_TRUE(db->Close().ok());
    seg_ = SegmentFileName(std::string(kDir) + "/ns/store", 1);
    original_ = fs_->GetFileData(seg_).value();
    for (uint64_t off = format::kSegmentHeaderBytes;;) {
      RecordView r;
      if (DecodeRecord({original_.data() + off, original_.size() - off}, 1, off, &r) !=
          DecodeOutcome::kOk) {
        end_ = off;
        break;
      }
      offs_.push_back(off);
      off += r.length;
    }
    ASSERT_EQ(offs_.size(), static_cast<size_t>(n));
  }

  // Messages served per timeline after opening `bytes` (-1: refused with Corruption).
  int64_t Served(const std::string& bytes, bool salvage, std::string* refusal = nullptr,
                 std::vector<std::string>* events = nullptr) {
    EXPECT_TRUE(fs_->SetFileData(seg_, bytes).ok());
    Options o = SimOptions(fs_, salvage);
    if (events != nullptr) o.on_event = [events](std::string_view e) { events->emplace_back(e); };
    auto db = Db::Open(kDir, o);
    if (!db.ok()) {
      EXPECT_TRUE(db.status().IsCorruption()) << db.status().ToString();
      if (refusal != nullptr) *refusal = db.status().ToString();
      return -1;
    }
    int64_t served = 0;
    for (const auto& [key, sent] : sent_) {
      ScanOptions all;
      all.limit = 100'000;
      auto got = (*db)->Scan("store", key, all);
      EXPECT_TRUE(got.ok());
      for (size_t i = 0; i < got->size(); ++i) {
        EXPECT_EQ((*got)[i].seq, i + 1);
        EXPECT_EQ((*got)[i].payload, sent[i]) << key << " seq " << i + 1;
      }
      served += static_cast<int64_t>(got->size());
    }
    return served;
  }

  std::shared_ptr<SimFileSystem> fs_;
  std::string seg_, original_;
  std::vector<uint64_t> offs_;
  uint64_t end_ = 0;
  std::map<std::string, std::vector<std::string>> sent_;
};

// The case of issue #16: 37 random bytes inserted at 40% of an active segment holding 3,000
// acknowledged sync appends. Before the resynchronising search the store opened with 1,199
// messages and the other 1,801 were cut as a torn tail without an error.
TEST_F(ResyncTest, ThirtySevenBytesAtFortyPercentOfThreeThousandSyncAppends) {
  Build(3000);
  uint64_t rng = 16;
  const uint64_t at = format::kSegmentHeaderBytes + (end_ - format::kSegmentHeaderBytes) * 4 / 10;
  std::string bad = original_;
  bad.insert(at, RandomBytes(&rng, 37));
  const SegmentScan scan = ScanSegment(bad, 1);
  EXPECT_EQ(ClassifyTail(scan, bad.size(), false), TailState::kCorrupt);
  EXPECT_GT(scan.resynced, 1700u);
  std::string refusal;
  ASSERT_EQ(Served(bad, false, &refusal), -1) << "acknowledged messages cut silently";
  EXPECT_NE(refusal.find(seg_ + " offset "), std::string::npos) << refusal;
  EXPECT_NE(refusal.find("bytes were inserted"), std::string::npos) << refusal;
  std::vector<std::string> events;
  EXPECT_EQ(Served(bad, true, nullptr, &events), 3000) << "salvage must keep every record";
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].rfind("salvage: removed 37 bytes inserted at " + seg_, 0), 0u) << events[0];
  // The salvaged file is the original again and opens strictly.
  EXPECT_EQ(fs_->GetFileData(seg_).value().substr(0, end_), original_.substr(0, end_));
  EXPECT_EQ(Served(fs_->GetFileData(seg_).value(), false), 3000);
}

// Inserted random bytes of several lengths at every record boundary and inside every record
// (header fields, body), and after the last record. Acknowledged sync appends are never cut
// silently: the store refuses to open (salvage then keeps every record) or opens with all of
// them. The one exception is damage inside the last record, which no later record can vouch
// for: like a flipped bit there, it cannot be told from a torn write of the last group.
TEST_F(ResyncTest, InsertedBytesOfSeveralLengthsEverywhere) {
  Build(24);
  uint64_t rng = 1;
  int variants = 0, refused = 0, whole = 0, last_record_cut = 0, salvaged_whole = 0;
  for (size_t len : {1, 7, 37, 512}) {
    for (size_t i = 0; i <= offs_.size(); ++i) {
      const uint64_t off = i < offs_.size() ? offs_[i] : end_;
      const uint64_t next = i + 1 < offs_.size() ? offs_[i + 1] : end_;
      std::vector<uint64_t> where = {off};
      if (i < offs_.size()) {
        for (uint64_t d : {1, 4, 6, 9, 13, 17, 25, 32}) where.push_back(off + d);
        where.push_back((off + next) / 2);
        where.push_back(next - 1);
      }
      for (uint64_t at : where) {
        ++variants;
        std::string bad = original_;
        bad.insert(at, RandomBytes(&rng, len));
        const std::string what = std::to_string(len) + " bytes at " + std::to_string(at);
        const int64_t strict = Served(bad, false);
        if (strict == -1) {
          ++refused;
          std::vector<std::string> events;
          const int64_t salvaged = Served(bad, true, nullptr, &events);
          EXPECT_EQ(salvaged, 24) << what << ": salvage did not keep every record";
          salvaged_whole += salvaged == 24 ? 1 : 0;
          continue;
        }
        if (strict == 24) {
          ++whole;
        } else if (i + 1 == offs_.size() && at > off) {
          EXPECT_EQ(strict, 23) << what;
          ++last_record_cut;
        } else {
          ADD_FAILURE() << what << ": " << 24 - strict << " acknowledged messages cut silently";
        }
      }
    }
  }
  std::printf(
      "inserted bytes: %d variants: %d refused (salvage kept every record in %d), %d "
      "opened whole, %d cut the last record (nothing after it vouches), 0 silent cuts "
      "before it\n",
      variants, refused, salvaged_whole, whole, last_record_cut);
  EXPECT_GT(refused, variants / 2);
}

// False positives: random bytes (and a torn tail of them) after the last record never verify as
// a moved record, so a torn tail stays a torn tail.
TEST_F(ResyncTest, RandomTailStaysATornTail) {
  Build(40, Durability::kBuffered);
  uint64_t rng = 99;
  for (int k = 0; k < 50; ++k) {
    std::string bad = original_.substr(0, end_) + RandomBytes(&rng, 4096 + 97 * k);
    const SegmentScan scan = ScanSegment(bad, 1);
    EXPECT_EQ(scan.moved_at, 0u) << k;
    EXPECT_EQ(ClassifyTail(scan, bad.size(), false), TailState::kTornTail) << k;
  }
  // The tail of the segment cut inside a record (a torn group): still a torn tail.
  for (uint64_t cut = offs_[30] + 1; cut < end_; cut += 13) {
    std::string bad = original_.substr(0, cut) + std::string(4096, '\0');
    EXPECT_NE(ClassifyTail(ScanSegment(bad, 1), bad.size(), false), TailState::kCorrupt) << cut;
  }
}

// Buffered appends share one synced_through per group, so the shift of a moved record is not
// told by its own header: the search derives it from the chain or tries every shift.
TEST_F(ResyncTest, InsertionAmongBufferedRecordsIsFound) {
  Build(200, Durability::kBuffered);
  uint64_t rng = 5;
  for (size_t i : {size_t{3}, size_t{77}, size_t{150}}) {
    for (uint64_t d : {0, 2, 20}) {
      std::string bad = original_;
      bad.insert(offs_[i] + d, RandomBytes(&rng, 37));
      const SegmentScan scan = ScanSegment(bad, 1);
      EXPECT_NE(scan.moved_at, 0u) << i << "+" << d;
      EXPECT_EQ(ClassifyTail(scan, bad.size(), false), TailState::kCorrupt) << i << "+" << d;
      uint64_t at = 0, bytes = 0;
      EXPECT_TRUE(FindInsertion(bad, 1, scan, &at, &bytes)) << i << "+" << d;
      EXPECT_EQ(bytes, 37u);
    }
  }
}

}  // namespace
}  // namespace tldb
