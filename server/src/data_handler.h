// DataHandler: the timeline data requests. APPEND, APPEND_FANOUT and MUTATE are handed to the
// engine (Db::AppendAsync / AppendFanoutAsync / MutateAsync: durable before their answer) and
// completed through the loop's queue; GET, SCAN, LAST_SEQ and READ_MULTI are answered inline.
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
  void Scan(Connection& c, uint64_t id, std::string_view body);
  void LastSeq(Connection& c, uint64_t id, std::string_view body);
  // READ_MULTI: LAST_SEQ of every timeline, then the messages after each one's after_seq
  // (ReadBudget), answered in one frame.
  void ReadMulti(Connection& c, uint64_t id, std::string_view body);

 private:
  void AppendDone(uint64_t conn_id, uint64_t id, const std::string& key, int64_t start_us,
                  const Result<AppendResult>& r);
  void FanoutDone(uint64_t conn_id, uint64_t id, const std::vector<std::string>& keys,
                  int64_t start_us, const Result<std::vector<AppendResult>>& r);
  void MutateDone(uint64_t conn_id, uint64_t id, MutationKind kind, int64_t start_us,
                  const Result<MutationResult>& r);

  HandlerContext& ctx_;
  WatchHandler& watch_;
};

}  // namespace tldb::server
