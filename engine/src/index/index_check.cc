#include "index/index_check.h"

#include <algorithm>
#include <iterator>

#include "util/coding.h"

namespace tldb {
namespace {

using Severity = CheckProblem::Severity;

// Byte offset of the first timeline entry: after the header (64 bytes in version 1, 96 in
// version 2) and the hash directory (docs/format.md "Index file": 2^dir_bits + 1 slots of 4
// bytes).
uint64_t EntriesBase(const std::string& bytes) {
  const uint32_t version = DecodeFixed32(bytes.data() + index_format::kHdrVersion);
  const uint32_t dir_bits = DecodeFixed32(bytes.data() + index_format::kHdrDirectoryBits);
  const uint64_t header = version == 1 ? index_format::kHeaderBytesV1 : index_format::kHeaderBytes;
  return header + ((uint64_t{1} << dir_bits) + 1) * 4;
}

std::string FormatSeqs(Seq first, uint64_t count) {
  if (count == 0) return "none";
  return std::to_string(first) + ".." + std::to_string(first + count - 1);
}

std::string FormatOffset(uint32_t off) {
  return off == index_format::kGapOffset ? std::string("gap (deleted)") : std::to_string(off);
}

class IndexChecker {
 public:
  IndexChecker(const IndexFile& idx, const std::string& path, const IndexModel& m,
               const std::string& seg_path, std::vector<CheckProblem>* problems)
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
  void Mutations();
  void Blocks();
  uint64_t checked() const { return checked_; }

 private:
  void Add(uint64_t offset, std::string what) {
    problems_->push_back({Severity::kError, path_, offset, std::move(what)});
  }
  uint64_t DedupeBase() const {
    return entries_base_ + uint64_t{r_.timeline_count()} * index_format::kEntryBytes +
           uint64_t{r_.offset_count()} * 4;
  }
  uint64_t MutationBase() const {
    return DedupeBase() + uint64_t{r_.dedupe_count()} * index_format::kDedupeBytes;
  }
  uint64_t BlockBase() const {
    return MutationBase() + uint64_t{r_.mutation_count()} * index_format::kMutationBytes;
  }
  const SegmentIndexReader& r_;
  const uint64_t entries_base_;
  const std::string& path_;
  const IndexModel& m_;
  const std::string& seg_path_;
  std::vector<CheckProblem>* problems_;
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
  if (s.generation != m_.generation || s.compressed != m_.compressed) {
    Add(68, "index describes generation " + std::to_string(s.generation) +
                (s.compressed ? " compressed" : " plain") + ", the segment is generation " +
                std::to_string(m_.generation) + (m_.compressed ? " compressed" : " plain") +
                ": the store refuses to open");
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
  if (e.count == 0 && t.offsets.empty()) return;  // only maintenance records here: checked below
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
            ": index points at segment offset " + FormatOffset(got) + ", the record is at " +
            FormatOffset(t.offsets[k]) + " (" + seg_path_ + ")");
  }
}

void IndexChecker::Missing() {
  for (const auto& [key, t] : m_.timelines) {
    IndexEntry e;
    if (!r_.Find(key, KeyHash(key), &e)) {
      Add(entries_base_, "timeline '" + key + "' (seq " + std::to_string(t.first_seq) +
                             ") has records in the segment but no index entry");
    } else if (e.count == 0 && !t.offsets.empty()) {
      Add(entries_base_, "timeline '" + key + "' has messages (seq " +
                             FormatSeqs(t.first_seq, t.offsets.size()) +
                             ") but its index entry lists none");
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
  // An index written before fan-outs were remembered under every target holds only the first
  // target's entry (docs/format.md): that is still a correct index.
  std::vector<IndexModel::Dedupe> later = m_.later_target_dedupes, older;
  std::sort(later.begin(), later.end());
  std::set_difference(want.begin(), want.end(), later.begin(), later.end(),
                      std::back_inserter(older));
  if (!later.empty() && got == older) return;
  Add(DedupeBase(), "dedupe entries differ from the records' client_msg_ids (" +
                        std::to_string(got.size()) + " in the index, " +
                        std::to_string(want.size()) + " expected)");
}

void IndexChecker::Mutations() {
  std::vector<IndexModel::Mutation> got;
  for (uint32_t i = 0; i < r_.mutation_count(); ++i) {
    const IndexMutation x = r_.Mutation(i);
    if (x.entry >= r_.timeline_count()) {
      Add(MutationBase() + uint64_t{i} * index_format::kMutationBytes,
          "mutation entry " + std::to_string(i) + " names timeline entry " +
              std::to_string(x.entry) + " of " + std::to_string(r_.timeline_count()));
      return;
    }
    got.push_back({std::string(r_.Entry(x.entry).key), x.type, x.seq, x.offset});
  }
  const std::vector<IndexModel::Mutation>& want = m_.mutations;
  // The engine lists them in record order, and replays them in that order at open.
  for (size_t i = 0; i < std::max(got.size(), want.size()); ++i) {
    if (i < got.size() && i < want.size() && got[i] == want[i]) continue;
    const auto describe = [](const std::vector<IndexModel::Mutation>& v, size_t k) {
      if (k >= v.size()) return std::string("nothing");
      return std::string(RecordTypeName(static_cast<format::RecordType>(v[k].type))) +
             " of timeline '" + v[k].key + "' seq " + std::to_string(v[k].seq) + " at offset " +
             std::to_string(v[k].offset);
    };
    Add(MutationBase() + uint64_t{std::min(i, got.size())} * index_format::kMutationBytes,
        "mutation entry " + std::to_string(i) + " says " + describe(got, i) +
            ", the segment's maintenance records say " + describe(want, i) + " (" +
            std::to_string(got.size()) + " entries, " + std::to_string(want.size()) + " records; " +
            seg_path_ + ")");
    return;
  }
}

void IndexChecker::Blocks() {
  const auto& want = m_.blocks;
  for (uint32_t i = 0; i < std::max<size_t>(r_.block_count(), want.size()); ++i) {
    const uint64_t at =
        BlockBase() + uint64_t{std::min(i, r_.block_count())} * index_format::kBlockBytes;
    if (i >= r_.block_count()) {
      Add(at, "block table lists " + std::to_string(r_.block_count()) +
                  " blocks, the segment has " + std::to_string(want.size()));
      return;
    }
    const IndexBlock b = r_.Block(i);
    if (i >= want.size()) {
      Add(at, "block table entry " + std::to_string(i) + " (file offset " +
                  std::to_string(b.file_offset) + ") names no block of the segment (it has " +
                  std::to_string(want.size()) + ")");
      return;
    }
    const IndexBlock& w = want[i];
    if (b.raw_start != w.raw_start || b.file_offset != w.file_offset ||
        b.stored_bytes != w.stored_bytes || b.raw_bytes != w.raw_bytes) {
      Add(at, "block table entry " + std::to_string(i) + " says file offset " +
                  std::to_string(b.file_offset) + ", " + std::to_string(b.stored_bytes) +
                  " bytes holding record space " + std::to_string(b.raw_start) + "+" +
                  std::to_string(b.raw_bytes) + "; the block header at " +
                  std::to_string(w.file_offset) + " says " + std::to_string(w.stored_bytes) +
                  " bytes holding " + std::to_string(w.raw_start) + "+" +
                  std::to_string(w.raw_bytes) + " (" + seg_path_ + ")");
    }
  }
}

}  // namespace

uint64_t CheckIndex(const IndexFile& idx, const std::string& index_path, const IndexModel& model,
                    const std::string& segment_path, std::vector<CheckProblem>* problems) {
  IndexChecker c(idx, index_path, model, segment_path, problems);
  c.Header();
  for (uint32_t i = 0; i < idx.reader().timeline_count(); ++i) c.Entry(i);
  c.Missing();
  c.Dedupe();
  c.Mutations();
  c.Blocks();
  return c.checked();
}

}  // namespace tldb
