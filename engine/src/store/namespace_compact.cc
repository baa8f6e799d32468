// NamespaceLog compaction (docs/design.md "Compaction").
//
// A run of consecutive sealed segments is rewritten into one output segment that keeps the
// lowest input id and takes a new generation, so SeqIds still grow with segment ids. The output
// holds only live records, sorted by (timeline, SeqId) — a timeline's history is contiguous —
// and stored as zstd blocks; its index has gaps where SeqIds were dropped.
//
// Steps, each safe to crash after:
//   1. collect   read the inputs' records (no lock; inputs are immutable and only maintenance,
//                which holds maint_mu_, removes segments)
//   2. decide    which records are live, under mu_ shared in batches (appends are not held up)
//   3. build     encode, compress, write and fdatasync the output and its index
//   4. floors    FLOORS gets timelines left without any record
//   5. commit    COMPACT names inputs and output (atomic write: the commit point)
//   6. switch    readers move to the output (mu_ exclusive, no I/O)
//   7. clean up  delete the inputs, fsync the directory, delete COMPACT
// Recovery deletes the outputs of an uncommitted run and the inputs of a committed one.
#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "log/block_codec.h"
#include "log/file_names.h"
#include "log/segment_records.h"
#include "store/namespace_log.h"
#include "util/check.h"
#include "util/kill_point.h"

namespace tldb {

using format::RecordType;

namespace {

// Raw record bytes read per run: bounds the memory a run holds (records, decompressed input
// blocks) and keeps an output segment's record space far below the u32 offset limit.
constexpr uint64_t kRunInputBytesMax = 128ull << 20;
static_assert(kRunInputBytesMax < (uint64_t{1} << 31));

struct Item {
  RecordType type = RecordType::kMessage;
  std::string_view key;  // keyed records; fan-out: empty
  Seq seq = 0;
  TimestampMs ts = 0;
  std::string_view cmid, payload;
  std::vector<FanoutTarget> targets;  // fan-out: all targets, then the live ones
  uint32_t segment = 0;
  uint32_t offset = 0;
  uint32_t timeline = TimelineTable::kNone;
  bool live = false;
  bool as_message = false;  // an edit whose message was in the inputs: it becomes the message
};

struct SeqKey {
  uint32_t timeline;
  Seq seq;
  bool operator==(const SeqKey&) const = default;
};
struct SeqKeyHash {
  size_t operator()(const SeqKey& k) const { return k.seq * 0x9E3779B97F4A7C15ull ^ k.timeline; }
};

}  // namespace

// Rewrites one run of consecutive sealed segments. Holds maint_mu_ (the caller's).
class Compactor {
 public:
  Compactor(NamespaceLog* log, std::vector<const SealedSegment*> inputs,
            const NamespaceOptions& opts, uint64_t rate_bytes_per_s, CompactionProgress* progress)
      : log_(log),
        inputs_(std::move(inputs)),
        opts_(opts),
        rate_(rate_bytes_per_s),
        progress_(progress),
        start_(std::chrono::steady_clock::now()) {
    for (const SealedSegment* seg : inputs_) input_ids_.insert(static_cast<uint32_t>(seg->id));
  }

  Status Run() {
    TLDB_RETURN_IF_ERROR(Collect());
    Decide();
    TLDB_RETURN_IF_ERROR(Build());
    if (aborted_) return Status::Closed("compaction stopped: the store is closing");
    TLDB_KILL_POINT("compact.after_output_sync");
    TLDB_RETURN_IF_ERROR(log_->WriteFloors(Orphans()));
    TLDB_KILL_POINT("compact.after_floors");
    TLDB_RETURN_IF_ERROR(CommitAndSwitch());
    return CleanUp();
  }

  bool committed() const { return committed_; }

  // Deletes what a run that failed before its commit point wrote (recovery would, at the next
  // open). A later run in this process may write the same segment id with a higher generation,
  // and beside this stale lower one its output would lose at the next open.
  Status DiscardOutput() {
    if (committed_ || out_gen_ == 0) return Status::Ok();
    FileSystem& fs = *log_->fs_;
    const std::string idx = IndexFileName(log_->dir_, out_id_, out_gen_);
    for (const std::string& path :
         {idx, idx + ".tmp", SegmentFileName(log_->dir_, out_id_, out_gen_)}) {
      TLDB_ASSIGN_OR_RETURN(bool exists, fs.Exists(path));
      if (exists) TLDB_RETURN_IF_ERROR(fs.Remove(path));
    }
    return Status::Ok();
  }

 private:
  // ---- 1. collect ----
  Status Collect() {
    for (const SealedSegment* seg : inputs_) {
      const std::string name = SegmentFileName(log_->dir_, seg->id, seg->gen);
      seg->data->WillNeed();  // read whole and in order (the mapping is advised random)
      const auto data = seg->data->data();
      const std::string_view image(data.data(), data.size());
      uint64_t end = 0;
      auto visit = [&](uint64_t off, const RecordView& r) { Add(*seg, off, r); };
      Status s = seg->compressed
                     ? ForEachBlockRecord(image, seg->id, seg->gen, name, visit, nullptr, &end)
                     : ForEachPlainRecord(image, seg->id, name, visit, &end);
      TLDB_RETURN_IF_ERROR(s);
      progress_->bytes_read += data.size();
      log_->counters_.compaction_bytes_read += data.size();
      Throttle(data.size());
    }
    return Status::Ok();
  }

  // Copies the parts of a record that outlive the visit (compressed inputs are decompressed
  // into a reused buffer).
  std::string_view Keep(std::string_view v) {
    if (v.empty()) return {};
    arena_.emplace_back(v);
    return arena_.back();
  }

  void Add(const SealedSegment& seg, uint64_t off, const RecordView& r) {
    Item it;
    it.type = r.type;
    it.seq = r.seq;
    it.ts = r.timestamp_ms;
    it.segment = static_cast<uint32_t>(seg.id);
    it.offset = static_cast<uint32_t>(off);
    const bool copy = seg.compressed;
    it.key = copy ? Keep(r.key) : r.key;
    it.cmid = copy ? Keep(r.client_msg_id) : r.client_msg_id;
    it.payload = copy ? Keep(r.payload) : r.payload;
    if (r.type == RecordType::kFanout) {
      ForEachTarget(r, [&](const FanoutTarget& t) {
        it.targets.push_back({copy ? Keep(t.key) : t.key, t.seq});
      });
    }
    items_.push_back(std::move(it));
  }

  // ---- 2. decide ----
  void Decide() {
    constexpr size_t kBatch = 4096;  // records decided per hold of the read lock
    for (size_t from = 0; from < items_.size(); from += kBatch) {
      std::shared_lock l(log_->mu_);
      for (size_t i = from; i < std::min(items_.size(), from + kBatch); ++i) Resolve(items_[i]);
    }
    for (size_t from = 0; from < items_.size(); from += kBatch) {
      std::shared_lock l(log_->mu_);
      for (size_t i = from; i < std::min(items_.size(), from + kBatch); ++i) Judge(items_[i]);
    }
    // One trim record per timeline is enough: the newest (the last one read).
    std::unordered_map<uint32_t, Item*> last_trim;
    for (Item& it : items_) {
      if (it.type != RecordType::kTrim || !it.live) continue;
      Item*& prev = last_trim[it.timeline];
      if (prev != nullptr) prev->live = false;
      prev = &it;
    }
  }

  uint32_t TimelineOf(std::string_view key) const { return log_->table_.Find(key, KeyHash(key)); }

  // Maps keys to timeline ids and notes which messages the inputs hold.
  void Resolve(Item& it) {
    if (it.type == RecordType::kFanout) {
      for (const FanoutTarget& t : it.targets) {
        const uint32_t tl = TimelineOf(t.key);
        if (tl != TimelineTable::kNone) base_in_inputs_.insert({tl, t.seq});
      }
      return;
    }
    it.timeline = TimelineOf(it.key);
    if (it.type == RecordType::kMessage && it.timeline != TimelineTable::kNone) {
      base_in_inputs_.insert({it.timeline, it.seq});
    }
  }

  // A message (or fan-out target) is live unless trimmed, expired, recalled, or edited by an
  // edit record in this run (which then becomes the message). A message whose edit lies outside
  // the run stays: reads find its SeqId through the run and its payload through the overlay;
  // without it a scan would skip the SeqId while Get still answered it.
  bool MessageLive(uint32_t tl, Seq seq, TimestampMs ts) const {
    if (tl == TimelineTable::kNone || seq < log_->FirstKept(tl) || log_->Expired(ts)) return false;
    const MutationOverlay::Entry* e = log_->overlay_.Find(tl, seq);
    if (e == nullptr) return true;
    return e->kind == MutationOverlay::Kind::kEdited && !InRun(e->segment);
  }

  bool InRun(uint32_t segment) const { return input_ids_.contains(segment); }

  void Judge(Item& it) {
    const MutationOverlay& ov = log_->overlay_;
    switch (it.type) {
      case RecordType::kMessage:
        it.live = MessageLive(it.timeline, it.seq, it.ts);
        break;
      case RecordType::kFanout: {
        std::vector<FanoutTarget> live;
        for (const FanoutTarget& t : it.targets) {
          if (MessageLive(TimelineOf(t.key), t.seq, it.ts)) live.push_back(t);
        }
        it.targets = std::move(live);
        it.live = !it.targets.empty();
        break;
      }
      case RecordType::kEdit: {
        const MutationOverlay::Entry* e = ov.Find(it.timeline, it.seq);
        it.live = e != nullptr && e->kind == MutationOverlay::Kind::kEdited &&
                  e->segment == it.segment && e->offset == it.offset &&
                  it.seq >= log_->FirstKept(it.timeline) && !log_->Expired(it.ts);
        it.as_message = it.live && base_in_inputs_.contains({it.timeline, it.seq});
        break;
      }
      case RecordType::kRecall: {
        const MutationOverlay::Entry* e = ov.Find(it.timeline, it.seq);
        // Still needed only while the recalled message itself survives outside this run.
        it.live = e != nullptr && e->kind == MutationOverlay::Kind::kRecalled &&
                  !base_in_inputs_.contains({it.timeline, it.seq}) && StoredElsewhere(it);
        if (!it.live && e != nullptr && e->kind == MutationOverlay::Kind::kRecalled) {
          forget_recalls_.push_back({it.timeline, it.seq});
        }
        break;
      }
      case RecordType::kTrim:
        it.live = it.timeline != TimelineTable::kNone && it.seq == ov.TrimmedBelow(it.timeline);
        break;
    }
  }

  bool StoredElsewhere(const Item& it) {
    RecordView r;
    return log_->LocateLocked(it.timeline, it.seq, &r).ok();
  }

  // ---- 3. build ----
  static std::string_view SortKey(const Item& it) {
    return it.type == RecordType::kFanout ? it.targets.front().key : it.key;
  }
  static Seq SortSeq(const Item& it) {
    return it.type == RecordType::kFanout ? it.targets.front().seq : it.seq;
  }

  Status Build() {
    std::vector<Item*> live;
    for (Item& it : items_) {
      if (it.live) {
        live.push_back(&it);
      } else {
        progress_->records_dropped++;
      }
    }
    if (live.empty()) return Status::Ok();  // nothing survives: the inputs just go
    // By timeline, then SeqId; a message before the maintenance records of its SeqId.
    std::stable_sort(live.begin(), live.end(), [](const Item* a, const Item* b) {
      const auto ka = SortKey(*a), kb = SortKey(*b);
      if (ka != kb) return ka < kb;
      return SortSeq(*a) < SortSeq(*b);
    });
    out_id_ = inputs_.front()->id;
    out_gen_ = log_->next_gen_++;  // maint_mu_ is held
    const uint64_t checksum_id = ChecksumId(out_id_, out_gen_);
    std::string raw;
    std::vector<std::pair<uint32_t, uint32_t>> spans;  // (raw offset, length) per record
    uint64_t offset = format::kSegmentHeaderBytes;
    for (Item* it : live) {
      const size_t n = Encode(*it, checksum_id, offset, &raw);
      spans.push_back({static_cast<uint32_t>(offset), static_cast<uint32_t>(n)});
      offset += n;
      progress_->records_kept++;
    }
    TLDB_CHECK(offset < (uint64_t{1} << 31));
    return WriteOutput(raw, spans, checksum_id);
  }

  // Appends the output form of `it` at record-space offset `offset`; records its index entries.
  size_t Encode(Item& it, uint64_t checksum_id, uint64_t offset, std::string* raw) {
    const size_t at = raw->size();
    const auto off32 = static_cast<uint32_t>(offset);
    min_ts_ = min_ts_ == 0 ? it.ts : std::min(min_ts_, it.ts);
    max_ts_ = std::max(max_ts_, it.ts);
    if (it.type == RecordType::kFanout) {
      const size_t n = EncodedFanoutBytes(it.targets, it.cmid, it.payload);
      raw->resize(at + n);
      EncodeFanout(raw->data() + at, checksum_id, offset, 0, it.targets, it.ts, it.cmid,
                   it.payload);
      for (const FanoutTarget& t : it.targets) Note(t.key, t.seq, off32, it.ts);
      if (!it.cmid.empty())
        dedupe_.push_back({it.targets.front().key, it.cmid, it.targets.front().seq, it.ts});
      return n;
    }
    const bool message = it.type == RecordType::kMessage || it.as_message;
    const size_t n = EncodedMessageBytes(it.key, it.cmid, it.payload);
    raw->resize(at + n);
    if (message) {
      EncodeMessage(raw->data() + at, checksum_id, offset, 0, it.seq, it.ts, it.key, it.cmid,
                    it.payload);
      Note(it.key, it.seq, off32, it.ts);
      if (!it.cmid.empty()) dedupe_.push_back({it.key, it.cmid, it.seq, it.ts});
      if (it.as_message) converted_.push_back({it.timeline, it.seq, it.segment, it.offset});
    } else {
      EncodeMaintenance(raw->data() + at, it.type, checksum_id, offset, 0, it.seq, it.ts, it.key,
                        it.cmid, it.payload);
      mutations_.push_back({it.key, static_cast<uint8_t>(it.type), it.seq, off32});
      if (it.type == RecordType::kEdit)
        moved_.push_back({it.timeline, it.seq, it.segment, it.offset, off32});
    }
    return n;
  }

  void Note(std::string_view key, Seq seq, uint32_t off, TimestampMs ts) {
    auto& t = timelines_[key];
    t.offsets.push_back({seq, off});
    t.last_ts = std::max(t.last_ts, ts);
  }

  Status WriteOutput(const std::string& raw,
                     const std::vector<std::pair<uint32_t, uint32_t>>& spans,
                     uint64_t checksum_id) {
    SegmentHeader h;
    h.namespace_id = log_->entry_.id;
    h.segment_id = out_id_;
    h.created_ms = log_->clock_->NowMs();
    h.flags = kSegmentCompressed;
    h.gen = out_gen_;
    char header[format::kSegmentHeaderBytes];
    EncodeSegmentHeader(h, header);
    std::string file(header, sizeof header);
    SegmentIndexBuilder b(log_->entry_.id, out_id_);
    b.SetGeneration(out_gen_, true);
    const uint64_t block_max = opts_.compress_block_bytes;
    for (size_t i = 0; i < spans.size();) {  // whole records per block
      const uint32_t start = spans[i].first;
      uint64_t end = start;
      while (i < spans.size() && (end == start || end - start + spans[i].second <= block_max)) {
        end += spans[i].second;
        ++i;
      }
      const uint64_t file_off = file.size();
      EncodeBlock(std::string_view(raw).substr(start - format::kSegmentHeaderBytes, end - start),
                  start, checksum_id, file_off, opts_.compress_level, &file);
      b.AddBlock({start, static_cast<uint32_t>(file_off),
                  static_cast<uint32_t>(file.size() - file_off),
                  static_cast<uint32_t>(end - start)});
    }
    for (auto& [key, t] : timelines_) {
      std::sort(t.offsets.begin(), t.offsets.end());
      std::vector<uint32_t> offs;
      const Seq first = t.offsets.front().first;
      for (const auto& [seq, off] : t.offsets) {
        const Seq gap = seq - (first + offs.size());
        if (gap > kIndexGapMax) {
          return Status::NotSupported("timeline '" + std::string(key) + "' has " +
                                      std::to_string(gap) +
                                      " consecutive deleted SeqIds: more than one index entry "
                                      "carries; trim it instead");
        }
        offs.insert(offs.end(), gap, index_format::kGapOffset);
        offs.push_back(off);
      }
      b.AddTimeline(key, KeyHash(key), first, t.last_ts, offs);
    }
    for (const auto& d : dedupe_) {
      b.AddDedupe(d.key, DedupeHash(KeyHash(d.key), d.cmid), d.seq, d.ts);
    }
    for (const auto& m : mutations_) b.AddMutation(m.key, KeyHash(m.key), m.type, m.seq, m.offset);
    const uint32_t raw_end = spans.back().first + spans.back().second;
    const std::string idx = b.Finish(raw_end, min_ts_, max_ts_);
    FileSystem& fs = *log_->fs_;
    const std::string path = SegmentFileName(log_->dir_, out_id_, out_gen_);
    TLDB_ASSIGN_OR_RETURN(auto f, fs.OpenWritable(path, /*create=*/true, /*exclusive=*/false));
    constexpr size_t kChunk = 1u << 20;  // written in pieces so the rate limit can pace it
    for (size_t at = 0; at < file.size(); at += kChunk) {
      const size_t n = std::min(kChunk, file.size() - at);
      TLDB_RETURN_IF_ERROR(f->Write(at, {file.data() + at, n}));
      Throttle(n);
    }
    TLDB_RETURN_IF_ERROR(f->Sync());
    TLDB_RETURN_IF_ERROR(f->Close());
    TLDB_RETURN_IF_ERROR(fs.WriteFileAtomic(IndexFileName(log_->dir_, out_id_, out_gen_), idx));
    wrote_output_ = true;
    progress_->bytes_written += file.size() + idx.size();
    log_->counters_.compaction_bytes_written += file.size() + idx.size();
    return Status::Ok();
  }

  // ---- 4. floors: timelines whose every record was in the inputs and none is kept ----
  std::vector<uint32_t> Orphans() {
    std::set<uint32_t> touched;
    for (const Item& it : items_) {
      if (it.timeline != TimelineTable::kNone) touched.insert(it.timeline);
      for (const FanoutTarget& t : it.targets) touched.insert(TimelineOf(t.key));
    }
    std::vector<uint32_t> out;
    std::vector<uint32_t> segs;
    std::shared_lock l(log_->mu_);
    for (uint32_t tl : touched) {
      if (tl == TimelineTable::kNone) continue;
      const TimelineState& st = log_->table_.state(tl);
      if (st.active_slot != kNoSlot || timelines_.contains(log_->table_.key(tl))) continue;
      st.segs.Decode(&segs);
      if (std::all_of(segs.begin(), segs.end(),
                      [&](uint32_t id) { return input_ids_.contains(id); })) {
        out.push_back(tl);
      }
    }
    return out;
  }

  // ---- 5. commit, 6. switch ----
  Status CommitAndSwitch() {
    CompactCommit c;
    for (const SealedSegment* s : inputs_) c.inputs.push_back({s->id, s->gen});
    std::unique_ptr<SealedSegment> out;
    if (wrote_output_) {
      c.outputs.push_back({out_id_, out_gen_});
      TLDB_ASSIGN_OR_RETURN(out, OpenOutput());
    }
    FileSystem& fs = *log_->fs_;
    committed_ = true;  // from here on a failure may leave the commit record behind
    TLDB_RETURN_IF_ERROR(
        fs.WriteFileAtomic(CompactCommitFileName(log_->dir_), EncodeCompactCommit(c)));
    TLDB_KILL_POINT("compact.after_commit");
    {
      std::unique_lock l(log_->mu_);
      Switch(std::move(out));
    }
    TLDB_KILL_POINT("compact.after_switch");
    return Status::Ok();
  }

  Result<std::unique_ptr<SealedSegment>> OpenOutput() {
    auto seg = std::make_unique<SealedSegment>();
    seg->id = out_id_;
    seg->gen = out_gen_;
    seg->compressed = true;
    FileSystem& fs = *log_->fs_;
    TLDB_ASSIGN_OR_RETURN(seg->data, fs.Map(SegmentFileName(log_->dir_, out_id_, out_gen_)));
    seg->data->AdviseRandom();
    const std::string idx = IndexFileName(log_->dir_, out_id_, out_gen_);
    TLDB_ASSIGN_OR_RETURN(seg->index_file, fs.Map(idx));
    TLDB_RETURN_IF_ERROR(seg->index.Open(seg->index_file->data(), log_->entry_.id, out_id_, idx));
    seg->bytes = seg->data->data().size() + seg->index_file->data().size();
    return seg;
  }

  // Readers move to the output. Caller holds mu_ exclusively.
  void Switch(std::unique_ptr<SealedSegment> out) {
    std::set<uint32_t> touched;
    for (const SealedSegment* s : inputs_) {
      for (uint32_t i = 0; i < s->index.timeline_count(); ++i) {
        const IndexEntry e = s->index.Entry(i);
        if (e.count == 0) continue;
        const uint32_t tl = log_->table_.Find(e.key, e.key_hash);
        if (tl != TimelineTable::kNone) touched.insert(tl);
      }
    }
    for (const SealedSegment* s : inputs_) retired_.push_back(std::move(log_->sealed_.at(s->id)));
    for (uint32_t id : input_ids_) log_->sealed_.erase(id);
    std::vector<uint32_t> segs;
    for (uint32_t tl : touched) {
      TimelineState& st = log_->table_.state(tl);
      st.segs.Decode(&segs);
      std::erase_if(segs, [&](uint32_t id) { return input_ids_.contains(id); });
      if (timelines_.contains(log_->table_.key(tl))) {
        segs.push_back(static_cast<uint32_t>(out_id_));
        std::sort(segs.begin(), segs.end());
      }
      st.segs.Assign(segs);
    }
    MutationOverlay& ov = log_->overlay_;
    for (const auto& m : moved_) {
      const MutationOverlay::Entry* e = ov.Find(m.timeline, m.seq);
      if (e != nullptr && e->kind == MutationOverlay::Kind::kEdited && e->segment == m.segment &&
          e->offset == m.offset) {
        ov.Move(m.timeline, m.seq, static_cast<uint32_t>(out_id_), m.new_offset);
      }
    }
    for (const auto& c : converted_) {  // the output's message holds the edit now
      const MutationOverlay::Entry* e = ov.Find(c.timeline, c.seq);
      if (e != nullptr && e->kind == MutationOverlay::Kind::kEdited && e->segment == c.segment &&
          e->offset == c.offset) {
        ov.Erase(c.timeline, c.seq);
      }
    }
    for (const SeqKey& k : forget_recalls_) ov.Erase(k.timeline, k.seq);
    if (out) log_->sealed_[out_id_] = std::move(out);
  }

  // ---- 7. clean up ----
  Status CleanUp() {
    FileSystem& fs = *log_->fs_;
    for (const auto& seg : retired_) {
      TLDB_RETURN_IF_ERROR(fs.Remove(IndexFileName(log_->dir_, seg->id, seg->gen)));
      TLDB_RETURN_IF_ERROR(fs.Remove(SegmentFileName(log_->dir_, seg->id, seg->gen)));
      TLDB_KILL_POINT("compact.after_input_unlink");
    }
    retired_.clear();  // unmaps: no reader can reach them any more
    TLDB_RETURN_IF_ERROR(fs.SyncDir(log_->dir_));
    TLDB_RETURN_IF_ERROR(fs.Remove(CompactCommitFileName(log_->dir_)));
    TLDB_KILL_POINT("compact.after_commit_unlink");
    TLDB_RETURN_IF_ERROR(fs.SyncDir(log_->dir_));
    progress_->segments_done += inputs_.size();
    log_->counters_.compactions++;
    return Status::Ok();
  }

  // Paces compaction I/O at rate_ bytes per second.
  void Throttle(uint64_t bytes) {
    if (log_->maint_abort_) aborted_ = true;
    if (rate_ == 0 || aborted_) return;
    io_bytes_ += bytes;
    const auto due = start_ + std::chrono::microseconds(io_bytes_ * 1'000'000 / rate_);
    std::this_thread::sleep_until(due);
  }

  NamespaceLog* log_;
  std::vector<const SealedSegment*> inputs_;
  std::set<uint32_t> input_ids_;  // ids of inputs_
  const NamespaceOptions opts_;
  const uint64_t rate_;
  CompactionProgress* progress_;
  const std::chrono::steady_clock::time_point start_;
  uint64_t io_bytes_ = 0;
  bool aborted_ = false;

  std::deque<std::string> arena_;
  std::vector<Item> items_;
  std::unordered_set<SeqKey, SeqKeyHash> base_in_inputs_;
  std::vector<SeqKey> forget_recalls_;

  uint64_t out_id_ = 0;
  uint32_t out_gen_ = 0;
  bool wrote_output_ = false;
  bool committed_ = false;
  TimestampMs min_ts_ = 0, max_ts_ = 0;
  struct TimelineOut {
    std::vector<std::pair<Seq, uint32_t>> offsets;
    TimestampMs last_ts = 0;
  };
  std::map<std::string_view, TimelineOut> timelines_;
  struct DedupeOut {
    std::string_view key, cmid;
    Seq seq;
    TimestampMs ts;
  };
  std::vector<DedupeOut> dedupe_;
  struct MutationOut {
    std::string_view key;
    uint8_t type;
    Seq seq;
    uint32_t offset;
  };
  std::vector<MutationOut> mutations_;
  struct Moved {
    uint32_t timeline;
    Seq seq;
    uint32_t segment, offset, new_offset;
  };
  std::vector<Moved> moved_;
  struct Converted {
    uint32_t timeline;
    Seq seq;
    uint32_t segment, offset;
  };
  std::vector<Converted> converted_;
  std::vector<std::unique_ptr<SealedSegment>> retired_;
};

// The fraction of a sealed segment's messages that rewriting it alone cannot drop, in percent.
uint32_t NamespaceLog::LivePercent(const SealedSegment& seg) const {
  const SegmentIndexReader& idx = seg.index;
  uint64_t total = 0, live = 0;
  for (uint32_t i = 0; i < idx.timeline_count(); ++i) {
    const IndexEntry e = idx.Entry(i);
    const uint32_t tl = table_.Find(e.key, e.key_hash);
    const bool expired = Expired(e.last_ts);
    for (uint32_t k = 0; k < e.count; ++k) {
      if (idx.Offset(e, k) == index_format::kGapOffset) continue;
      ++total;
      const Seq seq = e.first_seq + k;
      if (tl == TimelineTable::kNone || expired || seq < FirstKept(tl)) continue;
      // An edit in another segment: rewriting this one alone keeps the message (Compactor::
      // MessageLive), so it counts as live here, or the segment would be rewritten in vain.
      const MutationOverlay::Entry* m = overlay_.Find(tl, seq);
      if (m == nullptr || (m->kind == MutationOverlay::Kind::kEdited && m->segment != seg.id)) {
        ++live;
      }
    }
  }
  return total == 0 ? 0 : static_cast<uint32_t>(live * 100 / total);
}

// Recomputed when maintenance records changed the overlay, or once a minute (records expire as
// time passes): planning then costs no scan of every index on every pass.
uint32_t NamespaceLog::CachedLivePercent(SealedSegment& seg) {
  constexpr int64_t kLiveCacheMs = 60'000;
  const uint64_t epoch = mutation_epoch_.load();
  const int64_t now = clock_->MonoMs();
  if (seg.live_epoch != epoch || now - seg.live_mono_ms > kLiveCacheMs) {
    seg.live_pct = LivePercent(seg);
    seg.live_epoch = epoch;
    seg.live_mono_ms = now;
  }
  return seg.live_pct;
}

// Runs of consecutive sealed segments worth rewriting: less than compact_live_pct live, or -
// in namespaces kept forever - never compacted yet (neither compressed nor clustered). Segments
// of a namespace with a TTL are left to expire unless recalls and trims thinned them.
std::vector<std::vector<const SealedSegment*>> NamespaceLog::PlanCompaction(bool full) {
  const NamespaceOptions opts = options();
  const uint32_t pct = opts.compact_live_pct;
  std::vector<std::vector<const SealedSegment*>> runs;
  std::vector<const SealedSegment*> run;
  uint64_t run_bytes = 0;
  std::shared_lock l(mu_);
  for (const auto& [id, seg] : sealed_) {
    const bool want = full || (seg->gen == 0 && opts.ttl_ms == 0) || CachedLivePercent(*seg) < pct;
    const uint64_t bytes =
        seg->compressed ? seg->index.summary().data_end : seg->data->data().size();
    if (!want || (!run.empty() && run_bytes + bytes > kRunInputBytesMax)) {
      if (!run.empty()) runs.push_back(std::move(run));
      run.clear();
      run_bytes = 0;
    }
    if (want) {
      if (full) CachedLivePercent(*seg);
      run.push_back(seg.get());
      run_bytes += bytes;
    }
  }
  if (!run.empty()) runs.push_back(std::move(run));
  // A lone compacted segment that is only there because of `full` gains nothing.
  std::erase_if(runs, [&](const auto& r) {
    return full && r.size() == 1 && r.front()->gen != 0 && r.front()->live_pct >= 100;
  });
  return runs;
}

Status NamespaceLog::Roll() {
  AppendRequest r;
  r.roll = true;
  r.sync = true;
  Submit(&r);
  return r.status;
}

Status NamespaceLog::Compact(const CompactOptions& o, CompactionProgress* total) {
  if (o.full) TLDB_RETURN_IF_ERROR(Roll());  // a full compaction includes the newest records
  TLDB_RETURN_IF_ERROR(DropExpired(total));
  std::lock_guard m(maint_mu_);
  // A run that failed after its commit record left files that only a restart sorts out.
  TLDB_RETURN_IF_ERROR(maint_sticky_);
  const auto runs = PlanCompaction(o.full);
  for (const auto& r : runs) total->segments_total += r.size();
  if (o.progress) o.progress(*total);
  for (const auto& r : runs) {
    Compactor c(this, r, options(), db_options_.compaction_bytes_per_s, total);
    Status s = c.Run();
    if (!s.ok()) {
      if (c.committed()) {
        maint_sticky_ = s;
      } else if (Status d = c.DiscardOutput(); !d.ok()) {
        maint_sticky_ = d;  // a stale output stays on disk: no more runs until recovery
      }
      if (db_options_.on_event) {
        db_options_.on_event("namespace '" + entry_.name + "': compaction failed: " + s.ToString());
      }
      return s;
    }
    if (o.progress) o.progress(*total);
  }
  return Status::Ok();
}

}  // namespace tldb
