// AppendRequest: one request travelling through a namespace's group commit. What it asks for is
// one of five kinds, each a type of its own, so that GroupAssigner handles each kind by its own
// rules and cannot mix them:
//   MessageAppend   one message to one timeline (SeqId assigned; retry-safe by client_msg_id)
//   FanoutAppend    one message to many timelines, one record with the payload once
//   MutationAppend  a recall, edit, trim or delete-timeline of one timeline
//   ImportAppend    one message stored with a given SeqId and timestamp (restore, import)
//   RollAppend      seals the active segment if it holds a record; writes nothing else
//                   (maintenance uses it so that compaction and TTL reach an idle active segment)
//   FlushAppend     writes nothing; with sync, makes every earlier append durable (Db::Sync)
//   ReplicaAppend   a follower's copy of a frame shipped by the primary (tldb/replication.h):
//                   its bytes at the same position, or the same roll; always a group alone
//
// Blocking callers keep the request on their stack (views point at their arguments) and wait on
// `done`; async callers heap-allocate it, copy their arguments into `owned` (Own()), and get
// `on_done` called (which also frees it).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tldb/db.h"
#include "tldb/replication.h"
#include "tldb/status.h"
#include "tldb/types.h"
#include "util/completion.h"

namespace tldb {

struct MessageAppend {
  std::string_view key, payload, cmid;
  std::optional<Seq> expected_last_seq;
};
struct FanoutAppend {
  std::vector<std::string_view> targets;
  std::string_view payload, cmid;
  // KeyHash of each target, computed on the caller's thread (DbImpl::PrepareFanout) so that the
  // group-commit leader does not hash thousands of keys again while every append waits.
  std::vector<uint64_t> key_hashes;
};
struct MutationAppend {
  MutationKind kind{};
  std::string_view key;
  Seq target_seq = 0;        // the Mutation's seq
  std::string_view payload;  // an edit's new payload
};
struct ImportAppend {
  std::string_view key, payload, cmid;
  Seq seq = 0;
  TimestampMs ts = 0;
};
struct RollAppend {};
struct FlushAppend {};
struct ReplicaAppend {
  const LogFrame* frame = nullptr;  // blocking callers only (Db::ApplyFrame)
};

using AppendOp = std::variant<MessageAppend, FanoutAppend, MutationAppend, ImportAppend, RollAppend,
                              FlushAppend, ReplicaAppend>;

struct AppendRequest {
  AppendOp op;
  bool sync = true;
  size_t bytes_estimate = 0;  // encoded size, for batching and backpressure

  std::string owned;  // async: storage the views point into

  Status status;
  std::vector<AppendResult> results;  // one per timeline

  std::function<void(AppendRequest*)> on_done;  // async completion; null for blocking
  bool completed = false;                       // set by the leader before signalling
  bool taken = false;  // the leader cut it into a group (read and written by the leader only)
  Completion done;     // blocking completion

  // Copies every argument the views point at into `owned` (async requests).
  void Own();
};

}  // namespace tldb
