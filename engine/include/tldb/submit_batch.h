// SubmitBatch: groups the asynchronous writes a thread submits (Db::AppendAsync,
// AppendFanoutAsync, MutateAsync) into fewer group commits.
//
// Contract: while a SubmitBatch lives on a thread, an asynchronous write that thread submits is
// queued as usual but the namespace's committer thread is not woken for it; the outermost
// SubmitBatch wakes, when it ends, every committer its thread queued work for. An event loop
// that opens one around the requests of one iteration has them written as one group, with one
// wake-up of the committer and one write, instead of a group (and a thread hop) per request.
// What is queued is only delayed until the batch ends: a blocking write on the same thread
// inside the batch wakes the committer itself, and closing or dropping a namespace finishes
// its queue as always. Batches nest (only the outermost one's end wakes). A SubmitBatch must end
// on the thread that opened it. It holds no lock.
#pragma once

namespace tldb {

class SubmitBatch {
 public:
  SubmitBatch();
  ~SubmitBatch();
  SubmitBatch(const SubmitBatch&) = delete;
  SubmitBatch& operator=(const SubmitBatch&) = delete;
};

}  // namespace tldb
