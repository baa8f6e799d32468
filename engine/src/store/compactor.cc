#include "store/compactor.h"

#include <algorithm>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include "io/map_fault_registry.h"
#include "log/block_codec.h"
#include "log/file_names.h"
#include "log/segment_header.h"
#include "log/segment_records.h"
#include "store/floors.h"
#include "util/check.h"
#include "util/kill_point.h"
#include "util/test_hook.h"

namespace tldb {

using format::RecordType;

Compactor::Compactor(NamespaceState& st, const TimelineReader& reader,
                     std::vector<const SealedSegment*> inputs, const NamespaceOptions& opts,
                     uint64_t rate_bytes_per_s, const std::atomic<bool>& abort, uint32_t* next_gen,
                     CompactionProgress* progress)
    : st_(st),
      reader_(reader),
      abort_(abort),
      next_gen_(next_gen),
      inputs_(std::move(inputs)),
      opts_(opts),
      rate_(rate_bytes_per_s),
      progress_(progress),
      start_(std::chrono::steady_clock::now()) {
  for (const SealedSegment* seg : inputs_) input_ids_.insert(static_cast<uint32_t>(seg->id));
}

Status Compactor::DiscardOutput() {
  if (committed_ || out_gen_ == 0) return Status::Ok();
  FileSystem& fs = *st_.fs;
  const std::string idx = IndexFileName(st_.dir, out_id_, out_gen_);
  for (const std::string& path : {idx, idx + ".tmp", SegmentFileName(st_.dir, out_id_, out_gen_)}) {
    TLDB_ASSIGN_OR_RETURN(bool exists, fs.Exists(path));
    if (exists) TLDB_RETURN_IF_ERROR(fs.Remove(path));
  }
  return Status::Ok();
}

Status Compactor::Run() {
  TLDB_RETURN_IF_ERROR(Collect());
  Decide();
  TLDB_RETURN_IF_ERROR(Build());
  if (aborted_) return Status::Closed("compaction stopped: the store is closing");
  TLDB_KILL_POINT("compact.after_output_sync");
  TLDB_RETURN_IF_ERROR(WriteFloors(st_, Orphans()));
  TLDB_KILL_POINT("compact.after_floors");
  TLDB_RETURN_IF_ERROR(CommitAndSwitch());
  return CleanUp();
}

Status Compactor::Collect() {
  for (const SealedSegment* seg : inputs_) {
    const std::string name = SegmentFileName(st_.dir, seg->id, seg->gen);
    if (seg->failed()) return Status::IOError(seg->FailedError(st_.dir));
    MapFaultScope faults;   // a disk read error while reading the input fails the run
    seg->data->WillNeed();  // read whole and in order (the mapping is advised random)
    const auto data = seg->data->data();
    const std::string_view image(data.data(), data.size());
    uint64_t end = 0;
    auto visit = [&](uint64_t off, const RecordView& r) { Add(*seg, off, r); };
    Status s = seg->compressed
                   ? ForEachBlockRecord(image, seg->id, seg->gen, name, visit, nullptr, &end)
                   : ForEachPlainRecord(image, seg->id, name, visit, &end);
    if (faults.Faulted()) return Status::IOError(seg->FailedError(st_.dir));
    TLDB_RETURN_IF_ERROR(s);
    progress_->bytes_read += data.size();
    st_.counters.compaction_bytes_read += data.size();
    Throttle(data.size());
  }
  return Status::Ok();
}

std::string_view Compactor::Keep(std::string_view v) {
  if (v.empty()) return {};
  arena_.emplace_back(v);
  return arena_.back();
}

void Compactor::Add(const SealedSegment& seg, uint64_t off, const RecordView& r) {
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

namespace {

// Runs fn(i) for i in [0, n) under the namespace's read lock, let go after about
// kWorkPerHold units of work (cost(i) each; a fan-out record costs one per target) and before
// `before_hold` runs: an append's commit takes the lock exclusively, and one hold over 4,096
// fan-out records of 2,000 members each kept it waiting 0.6 s.
template <class Cost, class BeforeHold, class Fn>
void UnderReadLockInBatches(std::shared_mutex& mu, size_t n, Cost cost, BeforeHold before_hold,
                            Fn fn) {
  constexpr size_t kWorkPerHold = 4096;
  for (size_t i = 0; i < n;) {
    TLDB_TEST_HOOK("compact.between_batches");  // no lock held here
    before_hold();
    std::shared_lock l(mu);
    for (size_t work = 0; i < n && work < kWorkPerHold; ++i) {
      work += cost(i);
      fn(i);
    }
  }
}

}  // namespace

void Compactor::Decide() {
  JudgeOwnership();
  // Room for every message and fan-out target up front: growing the set rehashes all of it,
  // 0.1 s for the millions of targets of a fan-out segment, under the lock.
  size_t messages = 0;
  for (const Item& it : items_) messages += it.type == RecordType::kFanout ? it.targets.size() : 1;
  base_in_inputs_.reserve(messages);
  const auto item_cost = [&](size_t i) { return 1 + items_[i].targets.size(); };
  const auto one = [](size_t) { return size_t{1}; };
  const auto nothing = [] {};
  UnderReadLockInBatches(st_.mu, items_.size(), item_cost, nothing,
                         [&](size_t i) { Resolve(items_[i]); });
  UnderReadLockInBatches(st_.mu, disowned_keys_.size(), one, nothing, [&](size_t i) {
    const uint32_t tl = TimelineOf(disowned_keys_[i]);
    if (tl != TimelineTable::kNone) disowned_.insert(tl);
  });
  UnderReadLockInBatches(
      st_.mu, items_.size(), item_cost, [&] { limits_ = st_.Limits(); },
      [&](size_t i) { Judge(items_[i]); });
  // One trim record per timeline is enough: the newest (the last one read).
  std::unordered_map<uint32_t, Item*> last_trim;
  for (Item& it : items_) {
    if (it.type != RecordType::kTrim || !it.live) continue;
    Item*& prev = last_trim[it.timeline];
    if (prev != nullptr) prev->live = false;
    prev = &it;
  }
}

// The run judges against the ownership it reads here: a change made while it runs applies from
// the next run (the planner's cached live percentages are recomputed then).
void Compactor::JudgeOwnership() {
  const std::shared_ptr<const TimelineOwnership> ownership = st_.Ownership();
  if (ownership == nullptr || !*ownership) return;
  std::string_view last_key;  // records of one timeline often follow each other
  bool last_owned = true;
  auto owned = [&](std::string_view key) {
    if (key != last_key || last_key.empty()) {
      last_key = key;
      last_owned = TimelineRules::Owned(ownership.get(), st_.entry.name, key);
      if (!last_owned) disowned_keys_.push_back(key);
    }
    return last_owned;
  };
  for (Item& it : items_) {
    if (it.type == RecordType::kFanout) {
      std::erase_if(it.targets, [&](const FanoutTarget& t) { return !owned(t.key); });
    } else {
      it.owned = owned(it.key);
    }
  }
}

// Maps keys to timeline ids and notes which messages the inputs hold.
void Compactor::Resolve(Item& it) {
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

bool Compactor::MessageLive(uint32_t tl, Seq seq, TimestampMs ts) const {
  if (tl == TimelineTable::kNone) return false;
  // Records and fan-out targets of timelines not owned never get here (JudgeOwnership).
  return st_.rules.SurvivesRewrite(/*owned=*/true, tl, seq, ts, st_.table.state(tl).visible_seq(),
                                   limits_, [this](uint32_t segment) { return InRun(segment); });
}

void Compactor::Judge(Item& it) {
  const TimelineRules& rules = st_.rules;
  const bool known = it.timeline != TimelineTable::kNone;
  if (!it.owned) {  // TimelineRules::Owned: every record of the timeline is dead
    it.live = false;
    if (it.type == RecordType::kEdit && known) {
      forget_edits_.push_back({it.timeline, it.seq, it.segment, it.offset});
    }
    return;
  }
  switch (it.type) {
    case RecordType::kMessage:
      it.live = MessageLive(it.timeline, it.seq, it.ts);
      break;
    case RecordType::kFanout: {
      std::vector<FanoutTarget> live;
      for (const FanoutTarget& t : it.targets) {
        const uint32_t tl = TimelineOf(t.key);
        if (MessageLive(tl, t.seq, it.ts)) {
          live.push_back(t);
          live_target_timelines_.insert(tl);
        }
      }
      it.targets = std::move(live);
      it.live = !it.targets.empty();
      break;
    }
    case RecordType::kEdit: {
      it.live = known && rules.EditCurrent(it.timeline, it.seq, it.ts, it.segment, it.offset,
                                           st_.table.state(it.timeline).visible_seq(), limits_);
      it.as_message = it.live && base_in_inputs_.contains({it.timeline, it.seq});
      break;
    }
    case RecordType::kRecall: {
      const bool recalled = known && rules.Recalled(it.timeline, it.seq);
      // Still needed only while the recalled message itself survives outside this run.
      it.live = recalled && !base_in_inputs_.contains({it.timeline, it.seq}) && StoredElsewhere(it);
      if (!it.live && recalled) {
        forget_recalls_.push_back({it.timeline, it.seq});
      }
      break;
    }
    case RecordType::kTrim:
      it.live = known && rules.TrimCurrent(it.timeline, it.seq);
      break;
  }
}

bool Compactor::StoredElsewhere(const Item& it) {
  RecordView r;
  return reader_.LocateStored(it.timeline, it.seq, &r).ok();
}

std::string_view Compactor::SortKey(const Item& it) {
  return it.type == RecordType::kFanout ? it.targets.front().key : it.key;
}

Seq Compactor::SortSeq(const Item& it) {
  return it.type == RecordType::kFanout ? it.targets.front().seq : it.seq;
}

Status Compactor::Build() {
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
  out_gen_ = (*next_gen_)++;  // maint_mu_ is held
  const uint64_t checksum_id = ChecksumId(out_id_, out_gen_);
  // Sized once: grown by doubling, it would copy and fault in its pages about twice over (a
  // profile of synced appends beside a background compaction: a third of the process's page
  // faults were that growth).
  size_t raw_bytes = 0;
  std::vector<size_t> record_bytes;  // each record's encoded size, computed once
  record_bytes.reserve(live.size());
  for (const Item* it : live) {
    record_bytes.push_back(EncodedBytes(*it));
    raw_bytes += record_bytes.back();
  }
  std::string raw;
  raw.reserve(raw_bytes);
  std::vector<std::pair<uint32_t, uint32_t>> spans;  // (raw offset, length) per record
  spans.reserve(live.size());
  uint64_t offset = format::kSegmentHeaderBytes;
  for (size_t i = 0; i < live.size(); ++i) {
    const size_t n = record_bytes[i];
    Encode(*live[i], n, checksum_id, offset, &raw);
    spans.push_back({static_cast<uint32_t>(offset), static_cast<uint32_t>(n)});
    offset += n;
    progress_->records_kept++;
  }
  TLDB_CHECK(offset < (uint64_t{1} << 31));
  TLDB_CHECK(raw.size() == raw_bytes);
  return WriteOutput(raw, spans, checksum_id);
}

size_t Compactor::EncodedBytes(const Item& it) {
  return it.type == RecordType::kFanout ? EncodedFanoutBytes(it.targets, it.cmid, it.payload)
                                        : EncodedMessageBytes(it.key, it.cmid, it.payload);
}

void Compactor::Encode(Item& it, size_t n, uint64_t checksum_id, uint64_t offset,
                       std::string* raw) {
  const size_t at = raw->size();
  const auto off32 = static_cast<uint32_t>(offset);
  raw->resize(at + n);
  if (it.type == RecordType::kFanout) {
    EncodeFanout(raw->data() + at, checksum_id, offset, 0, it.targets, it.ts, it.cmid, it.payload);
    for (const FanoutTarget& t : it.targets) {
      indexer_.AddMessage(t.key, t.seq, off32, it.ts);
      if (!it.cmid.empty()) indexer_.AddDedupe(t.key, it.cmid, t.seq, it.ts);
    }
    return;
  }
  const bool message = it.type == RecordType::kMessage || it.as_message;
  if (message) {
    EncodeMessage(raw->data() + at, checksum_id, offset, 0, it.seq, it.ts, it.key, it.cmid,
                  it.payload);
    indexer_.AddMessage(it.key, it.seq, off32, it.ts);
    if (!it.cmid.empty()) indexer_.AddDedupe(it.key, it.cmid, it.seq, it.ts);
    if (it.as_message) converted_.push_back({it.timeline, it.seq, it.segment, it.offset});
  } else {
    EncodeMaintenance(raw->data() + at, it.type, checksum_id, offset, 0, it.seq, it.ts, it.key,
                      it.cmid, it.payload);
    indexer_.AddMutation(it.key, static_cast<uint8_t>(it.type), it.seq, off32, it.ts);
    if (it.type == RecordType::kEdit)
      moved_.push_back({it.timeline, it.seq, it.segment, it.offset, off32});
  }
}

Status Compactor::WriteOutput(const std::string& raw,
                              const std::vector<std::pair<uint32_t, uint32_t>>& spans,
                              uint64_t checksum_id) {
  SegmentHeader h;
  h.namespace_id = st_.entry.id;
  h.segment_id = out_id_;
  h.created_ms = st_.clock->NowMs();
  h.flags = kSegmentCompressed;
  h.gen = out_gen_;
  char header[format::kSegmentHeaderBytes];
  EncodeSegmentHeader(h, header);
  std::string file;
  // Room for the worst case at once (untouched capacity costs no pages): each block is resized
  // to its compression bound before it is cut to what zstd wrote.
  // Two blocks in a row hold more than block_max bytes (a block ends when the next record
  // would not fit), so there are at most 2 * raw / block_max + 1 of them.
  const uint64_t block_max = opts_.compress_block_bytes;
  const size_t blocks_max = std::min<size_t>(spans.size(), 2 * raw.size() / block_max + 1);
  file.reserve(sizeof header + EncodedBlockBytesMax(raw.size()) +
               blocks_max * EncodedBlockBytesMax(0));
  file.append(header, sizeof header);
  SegmentIndexBuilder b(st_.entry.id, out_id_);
  b.SetGeneration(out_gen_, true);
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
                static_cast<uint32_t>(file.size() - file_off), static_cast<uint32_t>(end - start)});
  }
  indexer_.Finish();
  if (indexer_.longest_gap() > kIndexGapMax) {
    const RecordIndexer::Skip& g = *std::max_element(
        indexer_.gaps().begin(), indexer_.gaps().end(),
        [](const auto& x, const auto& y) { return x.found - x.expected < y.found - y.expected; });
    return Status::NotSupported("timeline '" + g.key + "' has " +
                                std::to_string(g.found - g.expected) +
                                " consecutive deleted SeqIds: more than one index entry "
                                "carries; trim it instead");
  }
  indexer_.AddTo(&b);
  const uint32_t raw_end = spans.back().first + spans.back().second;
  const LargeBuffer idx = b.FinishBuffer(raw_end, indexer_.min_ts(), indexer_.max_ts());
  FileSystem& fs = *st_.fs;
  const std::string path = SegmentFileName(st_.dir, out_id_, out_gen_);
  TLDB_ASSIGN_OR_RETURN(auto f, fs.OpenWritable(path, /*create=*/true, /*exclusive=*/false));
  // Written in pieces so the rate limit can pace it. Not written back piece by piece
  // (io/write_back_pacer.h): measured, synced appends beside a compaction gained nothing
  // (docs/benchmarks.md "Background files written back at a pace").
  constexpr size_t kChunk = 1u << 20;
  for (size_t at = 0; at < file.size(); at += kChunk) {
    const size_t n = std::min(kChunk, file.size() - at);
    TLDB_RETURN_IF_ERROR(f->Write(at, {file.data() + at, n}));
    Throttle(n);
  }
  TLDB_RETURN_IF_ERROR(f->Sync());
  TLDB_RETURN_IF_ERROR(f->Close());
  TLDB_RETURN_IF_ERROR(
      fs.WriteFileAtomic(IndexFileName(st_.dir, out_id_, out_gen_), {idx.data(), idx.size()}));
  wrote_output_ = true;
  progress_->bytes_written += file.size() + idx.size();
  st_.counters.compaction_bytes_written += file.size() + idx.size();
  return Status::Ok();
}

std::vector<uint32_t> Compactor::Orphans() {
  std::set<uint32_t> touched;
  for (const Item& it : items_) {  // a timeline not owned gets no floor: it is forgotten
    if (it.timeline != TimelineTable::kNone && it.owned) touched.insert(it.timeline);
  }
  touched.insert(live_target_timelines_.begin(), live_target_timelines_.end());
  touched.erase(TimelineTable::kNone);
  const std::vector<uint32_t> timelines(touched.begin(), touched.end());
  std::vector<uint32_t> out;
  std::vector<uint32_t> segs;
  UnderReadLockInBatches(
      st_.mu, timelines.size(), [](size_t) { return size_t{1}; }, [] {},
      [&](size_t i) {
        const uint32_t tl = timelines[i];
        const TimelineState& st = st_.table.state(tl);
        if (st.active_slot != kNoSlot || indexer_.HoldsMessages(st_.table.key(tl))) return;
        st.segs.Decode(&segs);
        if (std::all_of(segs.begin(), segs.end(),
                        [&](uint32_t id) { return input_ids_.contains(id); })) {
          out.push_back(tl);
        }
      });
  return out;
}

Status Compactor::CommitAndSwitch() {
  CompactCommit c;
  for (const SealedSegment* s : inputs_) c.inputs.push_back({s->id, s->gen});
  std::unique_ptr<SealedSegment> out;
  if (wrote_output_) {
    c.outputs.push_back({out_id_, out_gen_});
    TLDB_ASSIGN_OR_RETURN(out, OpenOutput());
  }
  FileSystem& fs = *st_.fs;
  committed_ = true;  // from here on a failure may leave the commit record behind
  TLDB_RETURN_IF_ERROR(fs.WriteFileAtomic(CompactCommitFileName(st_.dir), EncodeCompactCommit(c)));
  TLDB_KILL_POINT("compact.after_commit");
  FindSwitched();
  {
    std::unique_lock l(st_.mu);
    Switch(std::move(out));
  }
  TLDB_KILL_POINT("compact.after_switch");
  return Status::Ok();
}

Result<std::unique_ptr<SealedSegment>> Compactor::OpenOutput() {
  auto seg = std::make_unique<SealedSegment>();
  seg->id = out_id_;
  seg->gen = out_gen_;
  seg->compressed = true;
  FileSystem& fs = *st_.fs;
  TLDB_ASSIGN_OR_RETURN(seg->data, fs.Map(SegmentFileName(st_.dir, out_id_, out_gen_)));
  seg->data->AdviseRandom();
  const std::string idx = IndexFileName(st_.dir, out_id_, out_gen_);
  TLDB_ASSIGN_OR_RETURN(seg->index_file, fs.Map(idx));
  TLDB_RETURN_IF_ERROR(seg->index.Open(seg->index_file->data(), st_.entry.id, out_id_, idx));
  seg->bytes = seg->data->data().size() + seg->index_file->data().size();
  return seg;
}

void Compactor::FindSwitched() {
  std::vector<uint32_t> ids;
  const auto one = [](size_t) { return size_t{1}; };
  for (const SealedSegment* s : inputs_) {
    UnderReadLockInBatches(
        st_.mu, s->index.timeline_count(), one, [] {},
        [&](size_t i) {
          const IndexEntry e = s->index.Entry(static_cast<uint32_t>(i));
          if (e.count == 0) return;
          const uint32_t tl = st_.table.Find(e.key, e.key_hash);
          if (tl != TimelineTable::kNone) ids.push_back(tl);
        });
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  switched_.clear();
  switched_.reserve(ids.size());
  UnderReadLockInBatches(
      st_.mu, ids.size(), one, [] {},
      [&](size_t k) {
        switched_.push_back({ids[k], indexer_.HoldsMessages(st_.table.key(ids[k]))});
      });
}

void Compactor::Switch(std::unique_ptr<SealedSegment> out) {
  for (const SealedSegment* s : inputs_) retired_.push_back(std::move(st_.sealed.at(s->id)));
  for (uint32_t id : input_ids_) st_.sealed.erase(id);
  std::vector<uint32_t> segs;
  for (const Switched& sw : switched_) {
    TimelineState& st = st_.table.state(sw.timeline);
    st.segs.Decode(&segs);
    std::erase_if(segs, [&](uint32_t id) { return input_ids_.contains(id); });
    if (sw.in_output) {
      segs.push_back(static_cast<uint32_t>(out_id_));
      std::sort(segs.begin(), segs.end());
    }
    st.segs.Assign(segs);
  }
  MutationOverlay& ov = st_.rules.overlay();
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
  for (const auto& f : forget_edits_) {  // the edit record is gone: reads use the message's own
    const MutationOverlay::Entry* e = ov.Find(f.timeline, f.seq);
    if (e != nullptr && e->kind == MutationOverlay::Kind::kEdited && e->segment == f.segment &&
        e->offset == f.offset) {
      ov.Erase(f.timeline, f.seq);
    }
  }
  if (out) st_.sealed[out_id_] = std::move(out);
  FreeDisowned();
}

void Compactor::FreeDisowned() {
  std::vector<uint32_t> gone;
  for (const Switched& sw : switched_) {
    const uint32_t tl = sw.timeline;
    if (!disowned_.contains(tl)) continue;
    const TimelineState& s = st_.table.state(tl);
    if (s.holds_no_records()) gone.push_back(tl);
  }
  if (gone.empty()) return;
  if (st_.active) {  // a recall, edit or trim in the active segment still names its timeline
    std::unordered_set<uint32_t> named;
    for (const auto& m : st_.active->mutation_records()) named.insert(m.timeline);
    std::erase_if(gone, [&](uint32_t tl) { return named.contains(tl); });
  }
  for (uint32_t tl : gone) {
    st_.rules.overlay().ForgetTimeline(tl);
    st_.table.Erase(tl);
  }
}

Status Compactor::CleanUp() {
  FileSystem& fs = *st_.fs;
  for (const auto& seg : retired_) {
    TLDB_RETURN_IF_ERROR(fs.Remove(IndexFileName(st_.dir, seg->id, seg->gen)));
    TLDB_RETURN_IF_ERROR(fs.Remove(SegmentFileName(st_.dir, seg->id, seg->gen)));
    TLDB_KILL_POINT("compact.after_input_unlink");
  }
  retired_.clear();  // unmaps: no reader can reach them any more
  TLDB_RETURN_IF_ERROR(fs.SyncDir(st_.dir));
  TLDB_RETURN_IF_ERROR(fs.Remove(CompactCommitFileName(st_.dir)));
  TLDB_KILL_POINT("compact.after_commit_unlink");
  TLDB_RETURN_IF_ERROR(fs.SyncDir(st_.dir));
  progress_->segments_done += inputs_.size();
  st_.counters.compactions++;
  return Status::Ok();
}

void Compactor::Throttle(uint64_t bytes) {
  if (abort_) aborted_ = true;
  if (rate_ == 0 || aborted_) return;
  io_bytes_ += bytes;
  const auto due = start_ + std::chrono::microseconds(io_bytes_ * 1'000'000 / rate_);
  std::this_thread::sleep_until(due);
}

}  // namespace tldb
