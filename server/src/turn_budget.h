// TurnBudget: how much work one connection may make its loop do in one turn.
//
// Contract (per-connection fairness, docs/design-server.md "Fairness"):
// - A loop iteration gives every connection that has work (readable socket, or complete requests
//   buffered from an earlier turn) at most one turn. A turn ends when the connection has no more
//   work or its budget is spent; buffered requests left over wait for the connection's turn in
//   the next iteration (the loop keeps such connections on a ready list, so nothing is lost and
//   the order of one connection's requests and responses is unchanged).
// - A turn handles at most `requests` requests, stops handling new ones once their responses
//   reached `response_bytes` (a request is never split: one big SCAN answer ends the turn) and
//   receives at most `read_bytes` from the socket.
// - A connection that has not completed HELLO when its turn starts gets the Unauthenticated()
//   budget: one request (the only one it may send is HELLO) and a small read.
// So another connection's request waits, per iteration, for at most one turn of each connection
// that had work: `requests` requests or one request plus `response_bytes` of answer.
#pragma once

#include <algorithm>
#include <cstddef>

namespace tldb::server {

class TurnBudget {
 public:
  // 16 requests: a pipelining client still gets its responses batched (one send() per turn, and
  // each turn's ~16 small responses fill a few hundred bytes to a few KiB), while a request of
  // another connection waits behind at most 16 of its requests.
  static constexpr size_t kRequests = 16;
  // 256 KiB of encoded responses: about one latest-20 page of 12 KiB messages, or a SCAN of a
  // few thousand small ones; a larger answer is still produced whole (its size is capped by the
  // SCAN limits), but it is the last request of its turn.
  static constexpr size_t kResponseBytes = 256u << 10;
  // 256 KiB received per turn: four 64 KiB recv() calls, enough for 16 requests of any size
  // below 16 KiB; a larger frame arrives over several turns (the frame deadline still bounds it).
  static constexpr size_t kReadBytes = 256u << 10;
  // Before HELLO: one request (HELLO, or the fatal error answering anything else) and 16 KiB
  // read per turn, far above a HELLO's size (a version, a client name and a token).
  static constexpr size_t kUnauthenticatedRequests = 1;
  static constexpr size_t kUnauthenticatedReadBytes = 16u << 10;

  static TurnBudget For(bool authenticated) {
    return authenticated
               ? TurnBudget(kRequests, kResponseBytes, kReadBytes)
               : TurnBudget(kUnauthenticatedRequests, kResponseBytes, kUnauthenticatedReadBytes);
  }

  // Another request may be handled in this turn.
  bool CanHandle() const { return requests_ > 0 && response_bytes_ > 0; }
  // Bytes that may still be received in this turn.
  size_t ReadAllowance() const { return CanHandle() ? read_bytes_ : 0; }
  void NoteRequest(size_t response_bytes) {
    --requests_;
    response_bytes_ -= std::min(response_bytes_, response_bytes);
  }
  void NoteRead(size_t bytes) { read_bytes_ -= std::min(read_bytes_, bytes); }

 private:
  TurnBudget(size_t requests, size_t response_bytes, size_t read_bytes)
      : requests_(requests), response_bytes_(response_bytes), read_bytes_(read_bytes) {}

  size_t requests_;
  size_t response_bytes_;
  size_t read_bytes_;
};

}  // namespace tldb::server
