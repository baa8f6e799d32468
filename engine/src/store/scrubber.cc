#include "store/scrubber.h"

#include <algorithm>
#include <climits>
#include <mutex>
#include <shared_mutex>

#include "index/sealed_check.h"
#include "log/file_names.h"

namespace tldb {
namespace {

// The file's name inside its directory (findings are remembered by name, not by path).
std::string BaseName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

Status Scrubber::Load() {
  const std::string path = ScrubFileName(st_.dir);
  TLDB_ASSIGN_OR_RETURN(bool exists, st_.fs->Exists(path));
  if (!exists) {
    // Nothing sealed (a new namespace): nothing to check, so it counts as checked now and its
    // first pass comes a period later, not while the store is being filled. With sealed
    // segments and no SCRUB file (never scrubbed) the first pass is due at once.
    if (SealedEndId() == 0) {
      state_.pass_started_ms = st_.clock->NowMs();
      dirty_ = true;
    }
    return Status::Ok();
  }
  TLDB_ASSIGN_OR_RETURN(std::string bytes, st_.fs->ReadFileToString(path));
  auto decoded = DecodeScrubState(bytes, path);
  if (!decoded.ok()) {
    // It holds no data: a fresh pass starts, and the file is replaced at the next persist.
    st_.Event("namespace '" + st_.entry.name + "': scrub: " + decoded.status().message() +
              " (ignored: a new pass starts)");
    dirty_ = true;
    return Status::Ok();
  }
  state_ = std::move(*decoded);
  if (state_.in_pass) pass_end_id_ = SealedEndId();
  // Quarantines of segments that are gone (expired, compacted, moved away by tldb repair) are
  // forgotten; the others are set again.
  std::unique_lock l(st_.mu);
  std::erase_if(state_.quarantined, [&](const ScrubState::Quarantined& q) {
    auto it = st_.sealed.find(q.segment_id);
    if (it == st_.sealed.end() || it->second->gen != q.gen) {
      dirty_ = true;
      return true;
    }
    it->second->quarantine = q.finding;
    recheck_.push_back(q.segment_id);
    return false;
  });
  return Status::Ok();
}

int64_t Scrubber::PassDueInMs() const {
  if (state_.in_pass || cur_) return 0;
  if (state_.passes_completed == 0 && state_.pass_started_ms == 0) return 0;  // never ran
  const TimestampMs due =
      state_.pass_started_ms + static_cast<TimestampMs>(st_.db_options.scrub_period_ms);
  return std::max<int64_t>(due - st_.clock->NowMs(), 0);
}

int64_t Scrubber::DueInMs() const {
  if (st_.db_options.scrub_period_ms == 0) return INT64_MAX;
  if (!recheck_.empty()) return 0;
  return PassDueInMs();
}

uint64_t Scrubber::SealedEndId() const {
  std::shared_lock l(st_.mu);
  return st_.sealed.empty() ? 0 : st_.sealed.rbegin()->first + 1;
}

Result<bool> Scrubber::Pick() {
  Current c;
  bool picked = false;
  {
    std::shared_lock l(st_.mu);
    // Segments remembered as quarantined are checked again first (an index rebuilt by tldb
    // repair lifts its quarantine then, not a period later).
    while (!picked && !recheck_.empty()) {
      auto it = st_.sealed.find(recheck_.back());
      recheck_.pop_back();
      if (it == st_.sealed.end() || !it->second->quarantine) continue;
      c.id = it->first;
      c.gen = it->second->gen;
      c.recheck = picked = true;
    }
    if (!picked && state_.in_pass) {
      auto it = st_.sealed.lower_bound(state_.next_segment_id);
      if (it != st_.sealed.end() && it->first < pass_end_id_) {
        c.id = it->first;
        c.gen = it->second->gen;
        picked = true;
      }
    }
  }
  if (!picked) return false;
  c.seg_path = SegmentFileName(st_.dir, c.id, c.gen);
  c.idx_path = IndexFileName(st_.dir, c.id, c.gen);
  auto seg = st_.fs->OpenReadable(c.seg_path);
  if (!seg.ok()) {
    if (seg.status().IsNotFound()) {  // dropped or compacted since: nothing to check
      if (!c.recheck) {
        state_.next_segment_id = c.id + 1;
        dirty_ = true;
      }
      return Pick();
    }
    c.read_error = CheckProblem{CheckProblem::Severity::kError, c.seg_path, 0,
                                "read error: " + seg.status().message()};
  } else {
    c.seg = std::move(*seg);
    auto size = c.seg->Size();
    if (size.ok()) {
      c.seg_size = *size;
    } else {
      c.read_error = CheckProblem{CheckProblem::Severity::kError, c.seg_path, 0,
                                  "read error: " + size.status().message()};
    }
  }
  if (!c.read_error) {
    auto idx = st_.fs->OpenReadable(c.idx_path);
    if (idx.ok()) {
      c.has_idx = true;
      c.idx = std::move(*idx);
      auto size = c.idx->Size();
      if (size.ok()) {
        c.idx_size = *size;
      } else {
        c.read_error = CheckProblem{CheckProblem::Severity::kError, c.idx_path, 0,
                                    "read error: " + size.status().message()};
      }
    } else if (!idx.status().IsNotFound()) {
      c.read_error = CheckProblem{CheckProblem::Severity::kError, c.idx_path, 0,
                                  "read error: " + idx.status().message()};
    }
  }
  cur_ = std::move(c);
  return true;
}

Status Scrubber::ReadSome(uint64_t budget, uint64_t* read, bool* done) {
  Current& c = *cur_;
  while (!c.read_error && *read < budget) {
    const bool in_seg = c.seg_bytes.size() < c.seg_size;
    if (!in_seg && c.idx_bytes.size() >= c.idx_size) break;
    ReadableFile& f = in_seg ? *c.seg : *c.idx;
    std::string& buf = in_seg ? c.seg_bytes : c.idx_bytes;
    const uint64_t size = in_seg ? c.seg_size : c.idx_size;
    const uint64_t n = std::min({budget - *read, size - buf.size(), kReadChunkBytes});
    const size_t at = buf.size();
    buf.resize(at + n);
    auto got = f.Read(at, n, buf.data() + at);
    if (!got.ok() || *got == 0) {
      c.read_error =
          CheckProblem{CheckProblem::Severity::kError, in_seg ? c.seg_path : c.idx_path, at,
                       got.ok() ? std::string("file ends before its size")
                                : "read error: " + got.status().message()};
      buf.resize(at);
      break;
    }
    buf.resize(at + *got);
    *read += *got;
  }
  *done = c.read_error || (c.seg_bytes.size() >= c.seg_size && c.idx_bytes.size() >= c.idx_size);
  return Status::Ok();
}

void Scrubber::Finish(ScrubStepResult* out) {
  Current c = std::move(*cur_);
  cur_.reset();
  c.seg.reset();
  c.idx.reset();
  std::vector<CheckProblem> problems;
  if (c.read_error) {
    problems.push_back(*c.read_error);
  } else {
    const SegmentFile f = ParseSegmentFile(std::move(c.seg_bytes), c.seg_path, c.id, true, c.gen);
    std::unique_ptr<IndexFile> idx;
    if (c.has_idx) {
      idx = IndexFile::Parse(std::move(c.idx_bytes), c.idx_path, st_.entry.id, c.id);
    }
    SealedCheck check = CheckSealedSegment(f, idx.get(), c.idx_path, st_.entry.id);
    problems = std::move(check.problems);
  }
  std::erase_if(problems,
                [](const CheckProblem& p) { return p.severity != CheckProblem::Severity::kError; });
  if (!c.recheck) {
    state_.next_segment_id = c.id + 1;
    dirty_ = true;
  }
  out->segments_verified++;
  st_.counters.scrub_segments_verified++;
  const std::string who = "namespace '" + st_.entry.name + "': scrub: ";
  bool changed = false, present = false;
  {
    std::unique_lock l(st_.mu);
    auto it = st_.sealed.find(c.id);
    if (it != st_.sealed.end() && it->second->gen == c.gen) {
      present = true;
      SealedSegment& seg = *it->second;
      if (!problems.empty()) {
        const CheckProblem& p = problems.front();
        ScrubFinding finding{BaseName(p.file), p.offset, p.what};
        changed = seg.quarantine != finding;
        seg.quarantine = std::move(finding);
      } else if (seg.quarantine) {
        seg.quarantine.reset();
        changed = true;
      }
    }
  }
  if (!present) return;  // dropped or compacted meanwhile: what was read no longer matters
  if (problems.empty()) {
    if (changed) st_.Event(who + c.seg_path + " verified sound again: quarantine lifted");
  } else {
    out->segments_damaged++;
    st_.counters.scrub_damaged_segments++;
    for (const CheckProblem& e : problems) {
      st_.Event(who + "error: " + e.file + " offset " + std::to_string(e.offset) + ": " + e.what);
    }
    st_.Event(who + c.seg_path + " quarantined: reads that need it answer Corruption");
  }
  if (changed) MaybePersist(true);
}

Status Scrubber::Step(uint64_t bytes_budget, bool force, ScrubStepResult* out) {
  if (!cur_ && !state_.in_pass && (force || (recheck_.empty() && PassDueInMs() == 0))) {
    state_.in_pass = true;
    state_.pass_started_ms = st_.clock->NowMs();
    state_.next_segment_id = 0;
    pass_end_id_ = SealedEndId();
    dirty_ = true;
  }
  while (out->bytes_read < bytes_budget || (cur_ && cur_->seg_size + cur_->idx_size == 0)) {
    if (!cur_) {
      TLDB_ASSIGN_OR_RETURN(bool picked, Pick());
      if (!picked && !state_.in_pass) break;  // only rechecks were due, and they are done
      if (!picked) {
        state_.in_pass = false;
        state_.next_segment_id = 0;
        state_.passes_completed++;
        st_.counters.scrub_passes_completed++;
        out->pass_completed = true;
        dirty_ = true;
        MaybePersist(true);
        return Status::Ok();
      }
    }
    uint64_t read = 0;
    bool done = false;
    TLDB_RETURN_IF_ERROR(ReadSome(bytes_budget - out->bytes_read, &read, &done));
    out->bytes_read += read;
    st_.counters.scrub_bytes_read += read;
    if (!done) break;
    Finish(out);
  }
  MaybePersist(false);
  return Status::Ok();
}

void Scrubber::MaybePersist(bool now) {
  if (!dirty_) return;
  if (!now && st_.clock->MonoMs() - persisted_mono_ms_ < kPersistMs) return;
  if (Status s = Persist(); !s.ok()) {
    st_.Event("namespace '" + st_.entry.name +
              "': scrub: writing its position failed: " + s.ToString());
  }
}

Status Scrubber::Persist() {
  if (!dirty_) return Status::Ok();
  state_.quarantined.clear();
  {
    std::shared_lock l(st_.mu);
    for (const auto& [id, seg] : st_.sealed) {
      if (seg->quarantine) state_.quarantined.push_back({id, seg->gen, *seg->quarantine});
    }
  }
  TLDB_RETURN_IF_ERROR(st_.fs->WriteFileAtomic(ScrubFileName(st_.dir), EncodeScrubState(state_)));
  dirty_ = false;
  persisted_mono_ms_ = st_.clock->MonoMs();
  return Status::Ok();
}

}  // namespace tldb
