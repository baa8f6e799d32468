#include "index_check.h"

#include <algorithm>

#include "util/coding.h"

namespace tldb::admin {
namespace {

using Severity = Problem::Severity;

// Byte offset of the first timeline entry: after the header and the hash directory
// (docs/format.md "Index file": 2^dir_bits + 1 slots of 4 bytes).
uint64_t EntriesBase(const std::string& bytes) {
  const uint32_t dir_bits = DecodeFixed32(bytes.data() + 56);
  return index_format::kHeaderBytes + ((uint64_t{1} << dir_bits) + 1) * 4;
}

std::string FormatSeqs(Seq first, uint64_t count) {
  return std::to_string(first) + ".." + std::to_string(first + count - 1);
}

class IndexChecker {
 public:
  IndexChecker(const IndexFile& idx, const std::string& path, const IndexModel& m,
               const std::string& seg_path, std::vector<Problem>* problems)
      : r_(idx.reader()),
        entries_base_(EntriesBase(idx.bytes())),
        path_(path),
        m_(m),
        seg_path_(seg_path),
        problems_(problems) {}
  void Header();
  void Entry(uint32_t i);
  void Missing();
  void Dedupe();
  uint64_t checked() const { return checked_; }

 private:
  void Add(uint64_t offset, std::string what) {
    problems_->push_back({Severity::kError, path_, offset, std::move(what)});
  }
  const SegmentIndexReader& r_;
  const uint64_t entries_base_;
  const std::string& path_;
  const IndexModel& m_;
  const std::string& seg_path_;
  std::vector<Problem>* problems_;
  uint64_t checked_ = 0;
};

void IndexChecker::Header() {
  const IndexSummary& s = r_.summary();
  if (s.data_end != m_.data_end) {
    Add(24, "index covers " + std::to_string(s.data_end) +
                " bytes of the segment, its records end at " + std::to_string(m_.data_end));
  }
  if (s.min_ts != m_.min_ts || s.max_ts != m_.max_ts) {
    Add(40, "index time range " + std::to_string(s.min_ts) + ".." + std::to_string(s.max_ts) +
                " differs from the records' " + std::to_string(m_.min_ts) + ".." +
                std::to_string(m_.max_ts));
  }
}

void IndexChecker::Entry(uint32_t i) {
  const IndexEntry e = r_.Entry(i);
  const uint64_t entry_off = entries_base_ + uint64_t{i} * index_format::kEntryBytes;
  const std::string who =
      "index entry " + std::to_string(i) + " (timeline '" + std::string(e.key) + "')";
  if (e.key_hash != KeyHash(e.key)) Add(entry_off, who + ": wrong key hash");
  auto it = m_.timelines.find(e.key);
  if (it == m_.timelines.end()) {
    Add(entry_off, who + ": the segment has no record of this timeline");
    return;
  }
  const IndexModel::Timeline& t = it->second;
  if (e.first_seq != t.first_seq || e.count != t.offsets.size()) {
    Add(entry_off, who + ": says seq " + FormatSeqs(e.first_seq, e.count) + ", the records hold " +
                       FormatSeqs(t.first_seq, t.offsets.size()));
  }
  const uint64_t offsets_base =
      entries_base_ + uint64_t{r_.timeline_count()} * index_format::kEntryBytes;
  const uint32_t n = std::min<uint32_t>(e.count, static_cast<uint32_t>(t.offsets.size()));
  for (uint32_t k = 0; k < n; ++k) {
    ++checked_;
    const uint32_t got = r_.Offset(e, k);
    if (got == t.offsets[k]) continue;
    Add(offsets_base + (uint64_t{e.offsets_start} + k) * 4,
        "timeline '" + std::string(e.key) + "' seq " + std::to_string(e.first_seq + k) +
            ": index points at segment offset " + std::to_string(got) + ", the record is at " +
            std::to_string(t.offsets[k]) + " (" + seg_path_ + ")");
  }
}

void IndexChecker::Missing() {
  for (const auto& [key, t] : m_.timelines) {
    IndexEntry e;
    if (!r_.Find(key, KeyHash(key), &e)) {
      Add(entries_base_, "timeline '" + key + "' (seq " + std::to_string(t.first_seq) +
                             ") has records in the segment but no index entry");
    }
  }
}

void IndexChecker::Dedupe() {
  std::vector<IndexModel::Dedupe> got;
  for (uint32_t i = 0; i < r_.dedupe_count(); ++i) {
    const IndexDedupe d = r_.Dedupe(i);
    got.push_back({std::string(r_.Entry(d.entry).key), d.cmid_hash, d.seq, d.ts});
  }
  std::vector<IndexModel::Dedupe> want = m_.dedupes;
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  if (got == want) return;
  const uint64_t base = entries_base_ + uint64_t{r_.timeline_count()} * index_format::kEntryBytes +
                        uint64_t{r_.offset_count()} * 4;
  Add(base, "dedupe entries differ from the records' client_msg_ids (" +
                std::to_string(got.size()) + " in the index, " + std::to_string(want.size()) +
                " expected)");
}

}  // namespace

uint64_t CheckIndex(const IndexFile& idx, const std::string& index_path, const IndexModel& model,
                    const std::string& segment_path, std::vector<Problem>* problems) {
  IndexChecker c(idx, index_path, model, segment_path, problems);
  c.Header();
  for (uint32_t i = 0; i < idx.reader().timeline_count(); ++i) c.Entry(i);
  c.Missing();
  c.Dedupe();
  return c.checked();
}

}  // namespace tldb::admin
