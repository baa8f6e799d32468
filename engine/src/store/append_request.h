// AppendRequest: one message or fan-out append travelling through a namespace's group commit.
//
// Blocking callers keep the request on their stack (views point at their arguments) and wait on
// `done_sem`; async callers heap-allocate it, copy their arguments into `owned`, and get
// `on_done` called (which also frees it).
#pragma once

#include <functional>
#include <optional>
#include <semaphore>
#include <string>
#include <string_view>
#include <vector>

#include "tldb/db.h"
#include "tldb/status.h"
#include "tldb/types.h"

namespace tldb {

struct AppendRequest {
  bool fanout = false;
  // A recall/edit/trim/delete of `key` (0: an append). `target_seq` is the Mutation's seq; the
  // payload is an edit's new payload.
  MutationKind mutation{};
  bool is_mutation = false;
  Seq target_seq = 0;
  // Seals the active segment (if it holds a record) and writes nothing else: maintenance uses
  // it so that compaction and TTL reach data in an idle active segment.
  bool roll = false;
  std::string_view key;                   // message
  std::vector<std::string_view> targets;  // fan-out
  std::string_view payload;
  std::string_view cmid;
  std::optional<Seq> expected_last_seq;
  // Import: store with this SeqId and timestamp instead of assigning them (0: a normal append).
  Seq import_seq = 0;
  TimestampMs import_ts = 0;
  bool sync = true;
  size_t bytes_estimate = 0;  // encoded size, for batching and backpressure

  std::string owned;  // async: storage the views point into

  Status status;
  std::vector<AppendResult> results;  // one per timeline

  std::function<void(AppendRequest*)> on_done;  // async completion; null for blocking
  bool completed = false;                       // set by the leader before signalling
  std::binary_semaphore done_sem{0};            // blocking completion
};

}  // namespace tldb
