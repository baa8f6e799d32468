// TimelineReader: the read path of one namespace — Get, Scan (forward, and backward for "latest
// N"), LastSeq — and the lookups the write path, the compactor and recovery make. It walks a
// timeline with TimelineRuns, reads records with RecordFetcher and asks TimelineRules what each
// SeqId serves: it restates none of the deletion rules.
//
// A disk read error under a sealed segment's mapping (MapFaultRegistry) answers IOError for the
// requests that touch it; every other read goes on.
//
// Contract: Get, Scan and LastSeq take NamespaceState::mu shared for the whole read (never
// exclusive; appends only wait for it while a group is assigned or published). Locate* expect
// the caller to hold mu (shared or exclusive). Readers see only published SeqIds.
#pragma once

#include <functional>
#include <string_view>
#include <vector>

#include "store/namespace_state.h"
#include "store/record_fetcher.h"
#include "store/timeline_runs.h"

namespace tldb {

class TimelineReader {
 public:
  explicit TimelineReader(NamespaceState& st) : st_(st), fetch_(st) {}

  // NotFound: never existed; Deleted: recalled, trimmed, deleted or expired.
  Result<Message> Get(std::string_view key, Seq seq) const;
  Result<std::vector<Message>> Scan(std::string_view key, const ScanOptions& o) const;
  // Scan's messages handed to `visit` as views (Db::ScanVisit), under the namespace's read lock;
  // the number visited.
  Result<uint32_t> ScanVisit(std::string_view key, const ScanOptions& o,
                             const std::function<void(const MessageView&)>& visit) const;
  Seq LastSeq(std::string_view key) const;

  // The record holding (timeline, seq) as stored (no deletion rules). Caller holds mu.
  Status LocateStored(uint32_t timeline, Seq seq, RecordView* r) const;
  // The same with the deletion rules applied: Deleted for a recalled, trimmed or expired
  // message, the edit record for an edited one. Caller holds mu.
  Status LocateLive(uint32_t timeline, Seq seq, const TimelineRules::Limits& l,
                    RecordView* r) const;
  const RecordFetcher& fetcher() const { return fetch_; }

 private:
  Result<Message> GetImpl(std::string_view key, Seq seq) const;
  // The scan itself, the one place its rules live: each message in scan order goes to
  // sink.Add(record, seq) (sink.Reserve(n) first, with the count a typical page needs), until
  // the range, o.limit or o.bytes_max ends it. Takes the read lock.
  template <typename Sink>
  Status ScanInto(std::string_view key, const ScanOptions& o, Sink& sink) const;
  Status ReadError(std::string_view key) const;
  // The most messages a scan makes room for before it reads any (80 bytes each).
  static constexpr uint64_t kScanReserveMax = 64;
  // How many records a scan fetches into the CPU cache ahead of the one it reads.
  static constexpr Seq kScanPrefetchRecords = 4;
  void HintAhead(const TimelineRuns& runs, const TimelineRuns::Run& run, Seq seq, bool fwd,
                 Seq first, Seq last, Seq* hinted) const;

  NamespaceState& st_;
  RecordFetcher fetch_;
};

}  // namespace tldb
