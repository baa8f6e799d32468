// DataHandler: the timeline data requests. APPEND, APPEND_FANOUT and MUTATE are handed to the
// engine (Db::AppendAsync / AppendFanoutAsync / MutateAsync: durable before their answer) and
// completed through the loop's queue; GET, SCAN, LAST_SEQ and READ_MULTI are answered inline
// (a SCAN longer than one ChunkedScan step over several turns of its connection).
//
// Contract: one per Loop; its request methods and completions run on that loop's thread only.
// Blocks on nothing: the engine copies what an async call needs before it returns and runs the
// callback on an engine thread, which only posts the result back (AsyncCall); reads are served
// from memory and mmap'ed segments. Owns no lock and no state: an acknowledged append is passed
// to the WatchHandler (WAIT/SUBSCRIBE of every loop).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "connection.h"
#include "handler_context.h"
#include "watch_handler.h"

namespace tldb::server {

class DataHandler {
 public:
  DataHandler(HandlerContext& ctx, WatchHandler& watch) : ctx_(ctx), watch_(watch) {}

  void Append(Connection& c, uint64_t id, std::string_view body);
  void AppendFanout(Connection& c, uint64_t id, std::string_view body);
  void Mutate(Connection& c, uint64_t id, std::string_view body);
  void Get(Connection& c, uint64_t id, std::string_view body);
  // SCAN: its first step (ChunkedScan) inline; when more is left, the connection keeps the
  // scan and its loop calls ContinueScan in its next turns, one step per turn, until answered.
  void Scan(Connection& c, uint64_t id, std::string_view body);
  void ContinueScan(Connection& c);
  void LastSeq(Connection& c, uint64_t id, std::string_view body);
  // READ_MULTI: LAST_SEQ of every timeline, then the messages after each one's after_seq
  // (ReadBudget), answered in one frame.
  void ReadMulti(Connection& c, uint64_t id, std::string_view body);

 private:
  void AnswerScan(Connection& c, const ChunkedScan& scan);
  void AppendDone(uint64_t conn_id, uint64_t id, const std::string& key, int64_t start_us,
                  const Result<AppendResult>& r);
  void FanoutDone(uint64_t conn_id, uint64_t id, const std::vector<std::string>& keys,
                  int64_t start_us, const Result<std::vector<AppendResult>>& r);
  void MutateDone(uint64_t conn_id, uint64_t id, MutationKind kind, int64_t start_us,
                  const Result<MutationResult>& r);

  HandlerContext& ctx_;
  WatchHandler& watch_;
  // The encoded messages of a SCAN answered in one step, kept for the next SCAN of this loop so
  // that a latest-N read allocates nothing for its answer; dropped above kScanBufferKeepBytes
  // (one large answer does not pin its memory for ever).
  static constexpr size_t kScanBufferKeepBytes = 256u << 10;
  std::string scan_buffer_;
};

}  // namespace tldb::server
