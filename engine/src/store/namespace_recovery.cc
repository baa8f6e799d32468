// NamespaceLog recovery: load sealed segments through their index files (rebuilding an index
// that is missing or damaged), then scan the active segment record by record.
//
// The active segment's tail rule (docs/design.md "Recovery"): every record carries
// `synced_through`, the offset that was durable when it was encoded. At the first record that
// does not decode, the rest of the file is searched for valid records; if any of them claims a
// durable point beyond the damage, the damage lies in bytes that were fsync'ed: corruption,
// refused unless Options::salvage. Otherwise it is a torn tail of an unsynced group: cut off.
#include <algorithm>
#include <map>

#include "log/file_names.h"
#include "log/segment_header.h"
#include "log/segment_records.h"
#include "log/segment_scan.h"
#include "store/namespace_log.h"
#include "util/check.h"
#include "util/kill_point.h"

namespace tldb {

Status NamespaceLog::Recover() {
  TLDB_RETURN_IF_ERROR(fs_->CreateDir(dir_));
  TLDB_ASSIGN_OR_RETURN(NamespaceFiles listing, ListNamespaceFiles(*fs_, dir_));
  for (const auto& name : listing.temp_names) TLDB_RETURN_IF_ERROR(fs_->Remove(dir_ + "/" + name));
  TLDB_RETURN_IF_ERROR(ResolveCompaction(listing));
  TLDB_KILL_POINT("recover.after_cleanup");
  next_gen_ = listing.max_gen + 1;
  std::map<uint64_t, NamespaceFiles::Files> files;
  for (const auto& [id, has] : listing.by_id) {
    if (has.segment) {
      files[id] = has;
    } else {  // an index without its segment
      TLDB_RETURN_IF_ERROR(fs_->Remove(IndexFileName(dir_, id, has.gen)));
    }
  }
  if (files.empty()) {
    TLDB_RETURN_IF_ERROR(CreateActive(1));
    return LoadFloors();
  }
  const uint64_t last = files.rbegin()->first;
  const bool last_sealed = files.rbegin()->second.index || files.rbegin()->second.gen != 0;
  for (const auto& [id, has] : files) {
    if (id == last && !last_sealed) break;
    TLDB_RETURN_IF_ERROR(LoadSealed(id, has.gen, has.index));
  }
  TLDB_RETURN_IF_ERROR(last_sealed ? CreateActive(last + 1) : RecoverActive(last));
  // Last: a floor may be older than segments a crash kept from being deleted.
  TLDB_RETURN_IF_ERROR(LoadFloors());
  ForgetOrphanEdits();
  return Status::Ok();
}

// An edit record whose message is in no segment any more edits nothing: compaction kept the
// edit (its message was outside the run, and alive) and later dropped the message (recalled,
// in a run without the edit) and then the recall (its message was gone). Replaying the edit
// would bring the recalled message back; the running store had already forgotten it.
void NamespaceLog::ForgetOrphanEdits() {
  std::vector<std::pair<uint32_t, Seq>> orphans;
  overlay_.ForEach([&](uint32_t timeline, Seq seq, const MutationOverlay::Entry& e) {
    if (e.kind != MutationOverlay::Kind::kEdited) return;
    RecordView r;
    const Status s = LocateLocked(timeline, seq, &r);
    if (s.IsNotFound() || s.code() == Status::Code::kDeleted) orphans.emplace_back(timeline, seq);
  });
  for (const auto& [timeline, seq] : orphans) overlay_.Erase(timeline, seq);
}

// Finishes what a crash interrupted: the inputs of a committed compaction, and the outputs of
// one that never committed, are deleted; then the commit record.
Status NamespaceLog::ResolveCompaction(const NamespaceFiles& listing) {
  for (const auto& name : listing.stale_names) {
    if (db_options_.on_event) db_options_.on_event("recovery: removing replaced " + name);
    TLDB_RETURN_IF_ERROR(fs_->Remove(dir_ + "/" + name));
  }
  if (!listing.stale_names.empty()) TLDB_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  if (listing.compact_commit) {
    TLDB_RETURN_IF_ERROR(fs_->Remove(CompactCommitFileName(dir_)));
    TLDB_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  }
  return Status::Ok();
}

Status NamespaceLog::LoadSealed(uint64_t id, uint32_t gen, bool has_index) {
  auto seg = std::make_unique<SealedSegment>();
  seg->id = id;
  seg->gen = gen;
  const std::string name = SegmentFileName(dir_, id, gen), idx_name = IndexFileName(dir_, id, gen);
  TLDB_ASSIGN_OR_RETURN(seg->data, fs_->Map(name));
  seg->data->AdviseRandom();
  auto header = DecodeSegmentHeader(seg->data->data(), name);
  if (!header.ok()) return header.status();
  if (header->segment_id != id || header->namespace_id != entry_.id || header->gen != gen) {
    return Status::Corruption(name + ": header names another segment or namespace");
  }
  seg->compressed = (header->flags & kSegmentCompressed) != 0;
  Status s = Status::NotFound("no index");
  if (has_index) {
    auto mapped = fs_->Map(idx_name);
    if (mapped.ok()) {
      seg->index_file = std::move(mapped).value();
      seg->index_file->WillNeed();  // read whole: checksum, then every entry
      s = seg->index.Open(seg->index_file->data(), entry_.id, id, idx_name);
    } else {
      s = mapped.status();
    }
  }
  if (!s.ok()) {
    if (has_index && db_options_.on_event) {
      db_options_.on_event("rebuilding index of " + name + ": " + s.ToString());
    }
    TLDB_RETURN_IF_ERROR(RebuildIndex(*seg));
    TLDB_KILL_POINT("recover.after_index_rebuild");
    TLDB_ASSIGN_OR_RETURN(seg->index_file, fs_->Map(idx_name));
    TLDB_RETURN_IF_ERROR(seg->index.Open(seg->index_file->data(), entry_.id, id, idx_name));
  }
  if (seg->index.summary().generation != gen ||
      seg->index.summary().compressed != seg->compressed) {
    return Status::Corruption(idx_name + ": index describes another generation of the segment");
  }
  if (!seg->compressed && seg->index.summary().data_end > seg->data->data().size()) {
    return Status::Corruption(name + ": shorter than its index says (" +
                              std::to_string(seg->data->data().size()) + " < " +
                              std::to_string(seg->index.summary().data_end) + " bytes)");
  }
  seg->bytes = seg->data->data().size() + seg->index_file->data().size();
  TLDB_RETURN_IF_ERROR(FoldIndex(*seg));
  sealed_[id] = std::move(seg);
  return Status::Ok();
}

Status NamespaceLog::RebuildIndex(const SealedSegment& seg) {
  const std::string name = SegmentFileName(dir_, seg.id, seg.gen);
  TLDB_ASSIGN_OR_RETURN(auto data, fs_->ReadFileToString(name));
  struct Acc {
    TimestampMs last_ts = 0;
    std::vector<std::pair<Seq, uint32_t>> offsets;  // (SeqId, offset)
  };
  std::map<std::string, Acc, std::less<>> acc;
  SegmentIndexBuilder b(entry_.id, seg.id);
  b.SetGeneration(seg.gen, seg.compressed);
  TimestampMs min_ts = 0, max_ts = 0;
  auto add = [&](std::string_view key, Seq seq, uint64_t off, TimestampMs ts) {
    Acc& a = acc[std::string(key)];
    a.last_ts = std::max(a.last_ts, ts);
    a.offsets.push_back({seq, static_cast<uint32_t>(off)});
  };
  auto visit = [&](uint64_t off, const RecordView& r) {
    using format::RecordType;
    if (r.type == RecordType::kMessage) {
      add(r.key, r.seq, off, r.timestamp_ms);
      if (!r.client_msg_id.empty()) {
        b.AddDedupe(r.key, DedupeHash(KeyHash(r.key), r.client_msg_id), r.seq, r.timestamp_ms);
      }
    } else if (r.type == RecordType::kFanout) {
      bool first = true;
      ForEachTarget(r, [&](const FanoutTarget& t) {
        add(t.key, t.seq, off, r.timestamp_ms);
        if (first && !r.client_msg_id.empty()) {
          b.AddDedupe(t.key, DedupeHash(KeyHash(t.key), r.client_msg_id), t.seq, r.timestamp_ms);
        }
        first = false;
      });
    } else {
      b.AddMutation(r.key, KeyHash(r.key), static_cast<uint8_t>(r.type), r.seq,
                    static_cast<uint32_t>(off));
    }
    min_ts = min_ts == 0 ? r.timestamp_ms : std::min(min_ts, r.timestamp_ms);
    max_ts = std::max(max_ts, r.timestamp_ms);
  };
  uint64_t data_end = 0;
  Status damage = seg.compressed
                      ? ForEachBlockRecord(data, seg.id, seg.gen, name, visit, &b, &data_end)
                      : ForEachPlainRecord(data, seg.id, name, visit, &data_end);
  if (!damage.ok()) {
    if (!db_options_.salvage) return damage;
    if (db_options_.on_event)
      db_options_.on_event("salvage: ignoring the rest of " + damage.message());
  }
  for (auto& [key, a] : acc) {
    // A compaction output stores a fan-out with its first target, so other targets' SeqIds
    // arrive out of order; and it skips deleted SeqIds, which become gaps. A segment written by
    // appends holds consecutive SeqIds per timeline.
    std::sort(a.offsets.begin(), a.offsets.end());
    std::vector<uint32_t> offs;
    const Seq first = a.offsets.front().first;
    for (const auto& [seq, off] : a.offsets) {
      const Seq gap = seq - (first + offs.size());
      if (seq < first + offs.size() || (gap != 0 && !seg.compressed) || gap > kIndexGapMax) {
        return Status::Corruption(name + ": timeline '" + key + "' has seq " + std::to_string(seq) +
                                  " out of sequence");
      }
      offs.insert(offs.end(), gap, index_format::kGapOffset);
      offs.push_back(off);
    }
    b.AddTimeline(key, KeyHash(key), first, a.last_ts, offs);
  }
  const std::string idx = b.Finish(static_cast<uint32_t>(data_end), min_ts, max_ts);
  return fs_->WriteFileAtomic(IndexFileName(dir_, seg.id, seg.gen), idx);
}

Status NamespaceLog::FoldIndex(const SealedSegment& seg) {
  const SegmentIndexReader& idx = seg.index;
  std::vector<uint32_t> timeline_of(idx.timeline_count());
  for (uint32_t i = 0; i < idx.timeline_count(); ++i) {
    const IndexEntry e = idx.Entry(i);
    if (e.key_hash != KeyHash(e.key)) {
      return Status::Corruption(SegmentName(seg.id) + ": index entry " + std::to_string(i) +
                                " has a wrong key hash");
    }
    const uint32_t id = table_.FindOrInsert(e.key, e.key_hash);
    timeline_of[i] = id;
    if (e.count == 0) continue;  // only maintenance records of this timeline here
    TimelineState& st = table_.state(id);
    // SeqIds grow with the segment id; deleted ones may leave gaps (compaction, TTL).
    if (e.first_seq <= st.last_seq) {
      return Status::Corruption(SegmentFileName(dir_, seg.id, seg.gen) + ": timeline '" +
                                std::string(e.key) + "' continues at seq " +
                                std::to_string(e.first_seq) + " after seq " +
                                std::to_string(st.last_seq));
    }
    st.last_seq = e.first_seq + e.count - 1;
    st.unpublished = 0;
    st.last_ts = std::max(st.last_ts, e.last_ts);
    st.segs.Append(static_cast<uint32_t>(seg.id));
  }
  for (uint32_t i = 0; i < idx.mutation_count(); ++i) {
    const IndexMutation m = idx.Mutation(i);
    ApplyMutation(timeline_of[m.entry], static_cast<format::RecordType>(m.type), m.seq,
                  static_cast<uint32_t>(seg.id), m.offset);
  }
  const TimestampMs oldest = clock_->NowMs() - static_cast<int64_t>(db_options_.dedupe_age_ms);
  for (uint32_t i = 0; i < idx.dedupe_count(); ++i) {
    const IndexDedupe d = idx.Dedupe(i);
    if (d.ts >= oldest) dedupe_.Insert(d.cmid_hash, {timeline_of[d.entry], d.seq, d.ts});
  }
  return Status::Ok();
}

Status NamespaceLog::RecoverActive(uint64_t id) {
  const std::string path = SegmentFileName(dir_, id);
  TLDB_ASSIGN_OR_RETURN(std::string image, fs_->ReadFileToString(path));
  const SegmentScan scan = ScanSegment(image, id);
  if (!DecodeSegmentHeader(image, path).ok() && scan.valid_end <= format::kSegmentHeaderBytes &&
      scan.tail_zero) {
    // Created (or renamed from prepared zeros) but its header never became durable: records
    // are only appended after the header and the directory entry are synced, so it never held
    // one.
    TLDB_RETURN_IF_ERROR(fs_->Remove(path));
    return CreateActive(id);
  }
  TLDB_ASSIGN_OR_RETURN(SegmentHeader h, DecodeSegmentHeader(image, path));
  if (h.segment_id != id || h.namespace_id != entry_.id) {
    return Status::Corruption(path + ": header names another segment or namespace");
  }
  // Zeros after the last record are prepared space (or never-written bytes): kept as they are.
  const TailState tail = ClassifyTail(scan, image.size(), /*sealed=*/false);
  const std::string where = path + " offset " + std::to_string(scan.valid_end);
  if (tail == TailState::kCorrupt) {
    const std::string what =
        scan.copy_at != 0
            ? where + ": offset " + std::to_string(scan.copy_at) +
                  " holds a copy of the record at " + std::to_string(scan.copy_of) +
                  " with data after it (a duplicated or misplaced write displaced records)"
            : where + ": damaged record before the durable point " +
                  std::to_string(scan.claim_after);
    if (!db_options_.salvage) return Status::Corruption(what);
    if (db_options_.on_event) db_options_.on_event("salvage: cutting " + what);
  } else if (tail == TailState::kTornTail && db_options_.on_event) {
    db_options_.on_event("recovery: cut torn tail at " + where + " (" +
                         std::to_string(image.size() - scan.valid_end) + " bytes)");
  }
  TLDB_ASSIGN_OR_RETURN(auto file, fs_->OpenWritable(path, /*create=*/false, false));
  if (tail != TailState::kClean) {
    TLDB_RETURN_IF_ERROR(file->Truncate(scan.valid_end));
    TLDB_KILL_POINT("recover.after_tail_cut");
  }
  TLDB_RETURN_IF_ERROR(file->Sync());  // what we read is now durable, whatever it was before
  TLDB_KILL_POINT("recover.after_active_sync");
  const uint64_t file_bytes = tail != TailState::kClean ? scan.valid_end : image.size();
  image.resize(scan.valid_end);
  active_ = std::make_unique<ActiveSegment>(id, std::move(file), image);
  active_->set_allocated_end(file_bytes);  // prepared zeros are allocated; the rest is reserved
                                           // by the first group that needs it (MakeRoom)
  for (uint64_t off = format::kSegmentHeaderBytes; off < scan.valid_end;) {
    RecordView r;
    TLDB_CHECK(DecodeRecord(active_->At(off), id, off, &r) == DecodeOutcome::kOk);
    std::string problem;
    TLDB_RETURN_IF_ERROR(IndexActiveRecord(r, off, &problem));
    off += r.length;
  }
  published_end_ = active_->end();
  return Status::Ok();
}

Status NamespaceLog::IndexActiveRecord(const RecordView& r, uint64_t offset, std::string*) {
  auto one = [&](std::string_view key, Seq seq, std::string_view cmid) -> Status {
    const uint32_t id = table_.FindOrInsert(key, KeyHash(key));
    TimelineState& st = table_.state(id);
    // Within the segment a timeline's SeqIds are consecutive; its first one here only has to
    // be above every earlier one (older records may have expired).
    if (st.active_slot == kNoSlot ? seq <= st.last_seq : seq != st.last_seq + 1) {
      return Status::Corruption(SegmentName(active_->id()) + " offset " + std::to_string(offset) +
                                ": timeline '" + std::string(key) + "' has seq " +
                                std::to_string(seq) + " after " + std::to_string(st.last_seq));
    }
    IndexRecord(id, seq, offset, r.timestamp_ms, cmid);
    st.Publish(seq);
    return Status::Ok();
  };
  if (r.type == format::RecordType::kMessage) return one(r.key, r.seq, r.client_msg_id);
  if (r.type != format::RecordType::kFanout) {  // recall, edit, trim
    const uint32_t id = table_.FindOrInsert(r.key, KeyHash(r.key));
    active_->NoteTimestamp(r.timestamp_ms);
    active_->mutation_records().push_back(
        {id, static_cast<uint8_t>(r.type), r.seq, static_cast<uint32_t>(offset)});
    ApplyMutation(id, r.type, r.seq, static_cast<uint32_t>(active_->id()),
                  static_cast<uint32_t>(offset));
    return Status::Ok();
  }
  Status s;
  bool first = true;
  ForEachTarget(r, [&](const FanoutTarget& t) {
    if (s.ok()) s = one(t.key, t.seq, first ? r.client_msg_id : std::string_view{});
    first = false;
  });
  return s;
}

}  // namespace tldb
