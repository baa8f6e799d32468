#include "store/namespace_recovery.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>

#include "index/index_merge.h"
#include "index/record_indexer.h"
#include "io/map_fault_registry.h"
#include "log/file_names.h"
#include "log/segment_header.h"
#include "log/segment_records.h"
#include "log/segment_scan.h"
#include "store/floors.h"
#include "tldb/replication.h"
#include "util/check.h"
#include "util/kill_point.h"
#include "util/test_hook.h"

namespace tldb {

Status NamespaceRecovery::Recover() {
  TLDB_RETURN_IF_ERROR(st_.fs->CreateDir(st_.dir));
  TLDB_ASSIGN_OR_RETURN(NamespaceFiles listing, ListNamespaceFiles(*st_.fs, st_.dir));
  for (const auto& name : listing.temp_names)
    TLDB_RETURN_IF_ERROR(st_.fs->Remove(st_.dir + "/" + name));
  TLDB_RETURN_IF_ERROR(ResolveCompaction(listing));
  TLDB_KILL_POINT("recover.after_cleanup");
  next_gen_ = listing.max_gen + 1;
  std::map<uint64_t, NamespaceFiles::Files> files;
  for (const auto& [id, has] : listing.by_id) {
    if (has.segment) {
      files[id] = has;
    } else {  // an index without its segment
      TLDB_RETURN_IF_ERROR(st_.fs->Remove(IndexFileName(st_.dir, id, has.gen)));
    }
  }
  if (files.empty()) {
    static_assert(kEmptyLogEnd.offset == format::kSegmentHeaderBytes);
    TLDB_RETURN_IF_ERROR(roller_.CreateActive(kEmptyLogEnd.segment));
    return LoadFloors(st_);
  }
  const uint64_t last = files.rbegin()->first;
  const bool last_sealed = files.rbegin()->second.index || files.rbegin()->second.gen != 0;
  std::vector<PendingSegment> pending;
  for (const auto& [id, has] : files) {
    if (id == last && !last_sealed) break;
    MapFaultScope faults;  // a disk read error while loading is an error, not a crash
    PendingSegment p;
    Status s = MapSealed(id, has.gen, has.index, &p);
    if (faults.Faulted()) return Status::IOError(p.seg->FailedError(st_.dir));
    TLDB_RETURN_IF_ERROR(s);
    pending.push_back(std::move(p));
  }
  OpenIndexes(&pending);
  std::vector<const SealedSegment*> loaded;  // in segment order
  for (PendingSegment& p : pending) {
    const uint64_t id = p.seg->id;
    const std::string disk_error = p.seg->FailedError(st_.dir);  // FinishSealed moves p.seg
    MapFaultScope faults;
    Status s = p.faulted ? Status::Ok() : FinishSealed(&p);
    if (p.faulted || faults.Faulted()) return Status::IOError(disk_error);
    TLDB_RETURN_IF_ERROR(s);
    loaded.push_back(st_.sealed.at(id).get());
  }
  {
    MapFaultScope faults;
    Status s = FoldIndexes(loaded);
    if (faults.Faulted()) {
      return Status::IOError(st_.dir + ": disk read error under an index file");
    }
    TLDB_RETURN_IF_ERROR(s);
  }
  TLDB_RETURN_IF_ERROR(last_sealed ? roller_.CreateActive(last + 1) : RecoverActive(last));
  // Last: a floor may be older than segments a crash kept from being deleted.
  TLDB_RETURN_IF_ERROR(LoadFloors(st_));
  ForgetOrphanEdits();
  return Status::Ok();
}

// An edit record whose message is in no segment any more edits nothing: compaction kept the
// edit (its message was outside the run, and alive) and later dropped the message (recalled,
// in a run without the edit) and then the recall (its message was gone). Replaying the edit
// would bring the recalled message back; the running store had already forgotten it.
void NamespaceRecovery::ForgetOrphanEdits() {
  std::vector<std::pair<uint32_t, Seq>> orphans;
  st_.rules.overlay().ForEach([&](uint32_t timeline, Seq seq, const MutationOverlay::Entry& e) {
    if (e.kind != MutationOverlay::Kind::kEdited) return;
    RecordView r;
    const Status s = reader_.LocateStored(timeline, seq, &r);
    if (s.IsNotFound() || s.code() == Status::Code::kDeleted) orphans.emplace_back(timeline, seq);
  });
  for (const auto& [timeline, seq] : orphans) st_.rules.overlay().Erase(timeline, seq);
}

// Finishes what a crash interrupted: the inputs of a committed compaction, and the outputs of
// one that never committed, are deleted; then the commit record.
Status NamespaceRecovery::ResolveCompaction(const NamespaceFiles& listing) {
  for (const auto& name : listing.stale_names) {
    if (st_.db_options.on_event) st_.db_options.on_event("recovery: removing replaced " + name);
    TLDB_RETURN_IF_ERROR(st_.fs->Remove(st_.dir + "/" + name));
  }
  if (!listing.stale_names.empty()) TLDB_RETURN_IF_ERROR(st_.fs->SyncDir(st_.dir));
  if (listing.compact_commit) {
    TLDB_RETURN_IF_ERROR(st_.fs->Remove(CompactCommitFileName(st_.dir)));
    TLDB_RETURN_IF_ERROR(st_.fs->SyncDir(st_.dir));
  }
  return Status::Ok();
}

Status NamespaceRecovery::MapSealed(uint64_t id, uint32_t gen, bool has_index, PendingSegment* p) {
  p->seg = std::make_unique<SealedSegment>();
  SealedSegment& seg = *p->seg;
  seg.id = id;
  seg.gen = gen;
  const std::string name = SegmentFileName(st_.dir, id, gen);
  TLDB_ASSIGN_OR_RETURN(seg.data, st_.fs->Map(name));
  seg.data->AdviseRandom();
  auto header = DecodeSegmentHeader(seg.data->data(), name);
  if (!header.ok()) return header.status();
  if (header->segment_id != id || header->namespace_id != st_.entry.id || header->gen != gen) {
    return Status::Corruption(name + ": header names another segment or namespace");
  }
  seg.compressed = (header->flags & kSegmentCompressed) != 0;
  p->index_status = Status::NotFound("no index");
  p->has_index = has_index;
  if (has_index) {
    auto mapped = st_.fs->Map(IndexFileName(st_.dir, id, gen));
    if (mapped.ok()) {
      seg.index_file = std::move(mapped).value();
    } else {
      p->index_status = mapped.status();
    }
  }
  return Status::Ok();
}

void NamespaceRecovery::OpenIndexes(std::vector<PendingSegment>* pending) const {
  // Each index file is read whole (checksum, then every entry): on every core, since a big
  // namespace has hundreds of MiB of them. Each worker opens whole files; nothing else is shared.
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < pending->size(); i = next++) {
      PendingSegment& p = (*pending)[i];
      if (!p.seg->index_file) continue;
      MapFaultScope faults;
      p.seg->index_file->WillNeed();
      p.index_status = p.seg->index.Open(p.seg->index_file->data(), st_.entry.id, p.seg->id,
                                         IndexFileName(st_.dir, p.seg->id, p.seg->gen));
      p.faulted = faults.Faulted();
    }
  };
  uint64_t bytes = 0;
  for (const PendingSegment& p : *pending) {
    if (p.seg->index_file) bytes += p.seg->index_file->data().size();
  }
  // Another thread only for enough bytes to be worth one: starting a thread costs tens of
  // microseconds, about what verifying 256 KiB of index takes.
  constexpr uint64_t kBytesPerExtraThread = 256u << 10;
  const size_t threads =
      std::min<uint64_t>({kRecoveryThreadsMax, std::max(1u, std::thread::hardware_concurrency()),
                          1 + bytes / kBytesPerExtraThread, std::max<size_t>(1, pending->size())});
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(work);
  work();
  for (std::thread& h : helpers) h.join();
}

Status NamespaceRecovery::FinishSealed(PendingSegment* p) {
  std::unique_ptr<SealedSegment>& seg = p->seg;
  const uint64_t id = seg->id;
  const uint32_t gen = seg->gen;
  const std::string name = SegmentFileName(st_.dir, id, gen),
                    idx_name = IndexFileName(st_.dir, id, gen);
  if (!p->index_status.ok()) {
    if (p->has_index && st_.db_options.on_event) {
      st_.db_options.on_event("rebuilding index of " + name + ": " + p->index_status.ToString());
    }
    TLDB_RETURN_IF_ERROR(RebuildIndex(*seg));
    TLDB_KILL_POINT("recover.after_index_rebuild");
    TLDB_ASSIGN_OR_RETURN(seg->index_file, st_.fs->Map(idx_name));
    TLDB_RETURN_IF_ERROR(seg->index.Open(seg->index_file->data(), st_.entry.id, id, idx_name));
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
  st_.sealed[id] = std::move(seg);
  return Status::Ok();
}

Status NamespaceRecovery::RebuildIndex(const SealedSegment& seg) {
  const std::string name = SegmentFileName(st_.dir, seg.id, seg.gen);
  TLDB_ASSIGN_OR_RETURN(auto data, st_.fs->ReadFileToString(name));
  RecordIndexer indexer;
  SegmentIndexBuilder b(st_.entry.id, seg.id);
  b.SetGeneration(seg.gen, seg.compressed);
  auto visit = [&](uint64_t off, const RecordView& r) { indexer.Add(off, r); };
  uint64_t data_end = 0;
  Status damage = seg.compressed
                      ? ForEachBlockRecord(data, seg.id, seg.gen, name, visit, &b, &data_end)
                      : ForEachPlainRecord(data, seg.id, name, visit, &data_end);
  if (!damage.ok()) {
    if (!st_.db_options.salvage) return damage;
    st_.Event("salvage: ignoring the rest of " + damage.message());
  }
  indexer.Finish();
  // A segment written by appends holds consecutive SeqIds per timeline; a compaction output
  // skips deleted ones (gaps), never more than one index entry carries.
  const RecordIndexer::Skip* bad = nullptr;
  if (!indexer.disorder().empty()) {
    bad = &indexer.disorder().front();
  } else if (!indexer.gaps().empty() && (!seg.compressed || indexer.longest_gap() > kIndexGapMax)) {
    bad = &indexer.gaps().front();
  }
  if (bad != nullptr) {
    return Status::Corruption(name + ": timeline '" + bad->key + "' has seq " +
                              std::to_string(bad->found) + " out of sequence");
  }
  indexer.AddTo(&b);
  const LargeBuffer idx =
      b.FinishBuffer(static_cast<uint32_t>(data_end), indexer.min_ts(), indexer.max_ts());
  return st_.fs->WriteFileAtomic(IndexFileName(st_.dir, seg.id, seg.gen), {idx.data(), idx.size()});
}

Status NamespaceRecovery::FoldIndexes(const std::vector<const SealedSegment*>& segs) {
  std::vector<const SegmentIndexReader*> readers;
  // Per segment, the timeline id of each index entry, for its mutation and dedupe entries
  // (left empty for a segment that has none).
  std::vector<std::vector<uint32_t>> timeline_of(segs.size());
  for (size_t r = 0; r < segs.size(); ++r) {
    const SegmentIndexReader& idx = segs[r]->index;
    readers.push_back(&idx);
    if (idx.mutation_count() > 0 || idx.dedupe_count() > 0) {
      timeline_of[r].resize(idx.timeline_count());
    }
  }
  // One timeline's entries arrive together, once, oldest segment first: each is added to the
  // table once, without a lookup, and its state is written while it is in cache; the table
  // places them all at the end, sized once. A big namespace's partitions are gathered on two
  // cores while this one folds (IndexMerge's ahead mode).
  TLDB_CHECK(st_.table.size() == 0);  // a fresh namespace: every key the merge starts is new
  uint64_t entries = 0;
  for (const SegmentIndexReader* r : readers) entries += r->timeline_count();
  const bool ahead = entries >= kFoldAheadEntriesMin && std::thread::hardware_concurrency() > 1;
  if (ahead) TLDB_TEST_HOOK("recover.fold_ahead");
  IndexMerge merge(std::move(readers), ahead);
  const IndexMerge::Partition* p = nullptr;
  // The segments of the timeline being folded, given to its state at once when the next starts
  // (one encoding and allocation per timeline instead of one per entry).
  std::vector<uint32_t> seg_ids;
  uint32_t id = TimelineTable::kNone;
  auto finish_timeline = [&] {
    if (!seg_ids.empty()) st_.table.state(id).segs.Assign(seg_ids);
    seg_ids.clear();
  };
  while (merge.Next(&p)) {
    if (p->wrong_hash != IndexMerge::kNone) {
      const IndexMerge::Item& bad = p->items[p->wrong_hash];
      return Status::Corruption(st_.SegmentName(segs[bad.reader]->id) + ": index entry " +
                                std::to_string(bad.entry) + " has a wrong key hash");
    }
    for (const IndexMerge::Item& e : p->items) {
      if (e.starts_key) {
        finish_timeline();
        id = st_.table.AddUnplaced(p->key(e));
      }
      if (!timeline_of[e.reader].empty()) timeline_of[e.reader][e.entry] = id;
      if (e.count == 0) continue;  // only maintenance records of this timeline here
      TimelineState& st = st_.table.state(id);
      // SeqIds grow with the segment id; deleted ones may leave gaps (compaction, TTL).
      const SealedSegment& seg = *segs[e.reader];
      if (e.first_seq <= st.last_seq) {
        return Status::Corruption(SegmentFileName(st_.dir, seg.id, seg.gen) + ": timeline '" +
                                  std::string(p->key(e)) + "' continues at seq " +
                                  std::to_string(e.first_seq) + " after seq " +
                                  std::to_string(st.last_seq));
      }
      st.last_seq = e.first_seq + e.count - 1;
      st.unpublished = 0;
      st.last_ts = std::max(st.last_ts, e.last_ts);
      seg_ids.push_back(static_cast<uint32_t>(seg.id));
    }
  }
  finish_timeline();
  if (merge.Faulted()) return Status::IOError(st_.dir + ": disk read error under an index file");
  st_.table.PlaceAdded();
  // Maintenance records and dedupe entries in log order, as the running store applied them.
  const TimestampMs oldest =
      st_.clock->NowMs() - static_cast<int64_t>(st_.db_options.dedupe_age_ms);
  for (size_t s = 0; s < segs.size(); ++s) {
    const SegmentIndexReader& idx = segs[s]->index;
    for (uint32_t m_at = 0; m_at < idx.mutation_count(); ++m_at) {
      const IndexMutation m = idx.Mutation(m_at);
      st_.rules.Apply(timeline_of[s][m.entry], static_cast<format::RecordType>(m.type), m.seq,
                      static_cast<uint32_t>(segs[s]->id), m.offset);
    }
    for (uint32_t d_at = 0; d_at < idx.dedupe_count(); ++d_at) {
      const IndexDedupe d = idx.Dedupe(d_at);
      if (d.ts >= oldest) st_.dedupe.Insert(d.cmid_hash, {timeline_of[s][d.entry], d.seq, d.ts});
    }
  }
  return Status::Ok();
}

Status NamespaceRecovery::RecoverActive(uint64_t id) {
  const std::string path = SegmentFileName(st_.dir, id);
  // Mapped, not copied: the recovered bytes stay in the page cache, where the ActiveSegment
  // reads them (a 64 MiB segment would otherwise cost 64 MiB of heap and a copy).
  TLDB_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> mapped, st_.fs->Map(path));
  mapped->WillNeed();  // read whole, now
  std::string_view image(mapped->data().data(), mapped->data().size());
  std::string salvaged;  // the image with inserted bytes removed (salvage only)
  // A disk read error under the mapping reads as zeros, which pass for prepared space: it must
  // stop recovery before anything is cut (MapFaultRegistry).
  MapFaultScope faults;
  auto read_failed = [&] { return faults.Faulted() || mapped->failed(); };
  const std::string read_error = path + ": disk read error in the active segment";
  SegmentScan scan = ScanSegment(image, id);
  if (read_failed()) return Status::IOError(read_error);
  if (!DecodeSegmentHeader(image, path).ok() && scan.valid_end <= format::kSegmentHeaderBytes &&
      scan.tail_zero) {
    // Created (or renamed from prepared zeros) but its header never became durable: records
    // are only appended after the header and the directory entry are synced, so it never held
    // one.
    TLDB_RETURN_IF_ERROR(st_.fs->Remove(path));
    return roller_.CreateActive(id);
  }
  TLDB_ASSIGN_OR_RETURN(SegmentHeader h, DecodeSegmentHeader(image, path));
  if (h.segment_id != id || h.namespace_id != st_.entry.id) {
    return Status::Corruption(path + ": header names another segment or namespace");
  }
  // Zeros after the last record are prepared space (or never-written bytes): kept as they are.
  TailState tail = ClassifyTail(scan, image.size(), /*sealed=*/false);
  const std::string where = path + " offset " + std::to_string(scan.valid_end);
  TLDB_ASSIGN_OR_RETURN(auto file, st_.fs->OpenWritable(path, /*create=*/false, false));
  if (tail == TailState::kCorrupt) {
    const std::string what = DescribeActiveDamage(path, scan);
    if (!st_.db_options.salvage) return Status::Corruption(what);
    uint64_t at = 0, bytes = 0;
    if (FindInsertion(image, id, scan, &at, &bytes)) {
      // Every record verifies again once the inserted bytes are gone: write the rest of the
      // file back `bytes` earlier (the tail past the new end is cut below).
      if (read_failed()) return Status::IOError(read_error);
      salvaged = std::string(image);
      salvaged.erase(at, bytes);
      image = salvaged;
      TLDB_RETURN_IF_ERROR(file->Write(at, {image.data() + at, image.size() - at}));
      TLDB_RETURN_IF_ERROR(file->Truncate(image.size()));
      st_.Event("salvage: removed " + std::to_string(bytes) + " bytes inserted at " + path +
                " offset " + std::to_string(at) + " (" + what + ")");
      scan = ScanSegment(image, id);
      tail = ClassifyTail(scan, image.size(), /*sealed=*/false);
    }
    if (tail == TailState::kCorrupt) {
      st_.Event("salvage: cutting " + DescribeActiveDamage(path, scan) + "; " +
                std::to_string(scan.resynced) + " records that verify after it are dropped");
    }
  } else if (tail == TailState::kTornTail && st_.db_options.on_event) {
    st_.db_options.on_event("recovery: cut torn tail at " + where + " (" +
                            std::to_string(image.size() - scan.valid_end) + " bytes)");
  }
  if (read_failed()) return Status::IOError(read_error);
  if (tail != TailState::kClean) {
    TLDB_RETURN_IF_ERROR(file->Truncate(scan.valid_end));
    TLDB_KILL_POINT("recover.after_tail_cut");
  }
  TLDB_RETURN_IF_ERROR(file->Sync());  // what we read is now durable, whatever it was before
  TLDB_KILL_POINT("recover.after_active_sync");
  const uint64_t file_bytes = tail != TailState::kClean ? scan.valid_end : image.size();
  image = image.substr(0, scan.valid_end);
  st_.active =
      salvaged.empty()
          ? std::make_unique<ActiveSegment>(id, std::move(file), std::move(mapped), scan.valid_end,
                                            st_.segment_bytes_max())
          : std::make_unique<ActiveSegment>(id, std::move(file), image, st_.segment_bytes_max());
  st_.active->set_allocated_end(file_bytes);  // prepared zeros are allocated; the rest is reserved
                                              // by the first group that needs it (MakeRoom)
  st_.active->set_zeroed_end(file_bytes);     // zeros ahead continue from there (SegmentPreparer)
  for (uint64_t off = format::kSegmentHeaderBytes; off < scan.valid_end;) {
    RecordView r;
    if (DecodeRecord(st_.active->At(off), id, off, &r) != DecodeOutcome::kOk) {
      // It decoded in the scan: only a disk read error under the mapping changes it.
      TLDB_CHECK(read_failed());
      return Status::IOError(read_error);
    }
    std::vector<GroupAssigner::Assigned> visible;
    TLDB_RETURN_IF_ERROR(assigner_.IndexDecoded(r, off, &visible));
    assigner_.Publish(visible);
    off += r.length;
  }
  st_.published_end = st_.active->end();
  return Status::Ok();
}

}  // namespace tldb
