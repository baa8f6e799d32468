// Connection: the state of one client socket, owned by exactly one event loop.
//
// Contract: only the owning loop thread touches a Connection. Requests are parsed from `in`,
// responses are encoded straight into `out` (BeginFrame/EndFrame) and sent by the loop;
// asynchronous completions refer to a connection by `id` (never reused), so a completion for a
// connection that has since closed finds nothing and is dropped.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

#include "protocol/frame.h"
#include "protocol/wire.h"
#include "tldb/types.h"

namespace tldb::server {

class AccessRights;

// A WAIT parked until its timeline moves past after_seq or its deadline passes.
struct PendingWait {
  std::string ns, timeline, key;
  Seq after_seq = 0;
  std::multimap<int64_t, std::pair<uint64_t, uint64_t>>::iterator deadline;  // in Loop
};

// A SUBSCRIBE: every message with seq > last_pushed is pushed, in order, without gaps.
struct Subscription {
  std::string ns, timeline, key;
  Seq last_pushed = 0;
};

class Connection {
 public:
  Connection(uint64_t id, int fd, std::string peer, int64_t now_ms);
  ~Connection();  // closes the socket
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  uint64_t id() const { return id_; }
  int fd() const { return fd_; }
  const std::string& peer() const { return peer_; }
  size_t OutPending() const { return out.size() - out_sent; }
  bool Busy() const { return inflight > 0 || !waits.empty() || !subs.empty(); }

  // Encodes a frame into `out`; returns the start offset for EndFrame().
  size_t Begin(proto::Op op, uint16_t flags, uint64_t request_id) {
    NoteOutputStart();
    return proto::BeginFrame(&out, static_cast<uint8_t>(op), flags, request_id);
  }
  // Starts the send-stall clock (out_progress_ms) when output goes from empty to non-empty.
  void NoteOutputStart();
  void End(size_t start) { proto::EndFrame(&out, start); }
  proto::WireWriter Writer() { return proto::WireWriter(&out); }
  // An error response (fatal: the connection closes once it is sent).
  void Error(uint8_t op, uint64_t request_id, uint16_t code, std::string_view message, bool fatal);
  // Drops sent bytes from the front of `out` once they dominate it.
  void CompactOut();
  void CompactIn();

  std::string in;  // received, not yet parsed: [in_parsed, in.size())
  size_t in_parsed = 0;
  std::string out;  // encoded, not yet sent: [out_sent, out.size())
  size_t out_sent = 0;

  bool handshaken = false;
  const AccessRights* rights = nullptr;
  std::string token_name;
  uint32_t inflight = 0;         // async appends, cursor writes and parked WAITs
  bool closing = false;          // a fatal error was queued: send it, then close
  bool dirty = false;            // in the loop's flush list
  bool ready_queued = false;     // in the loop's ready list (requests left for the next turn)
  uint64_t turn_iteration = 0;   // the loop iteration of its last turn (one turn per iteration)
  bool registered = false;       // added to the loop's epoll set
  uint32_t epoll_events = 0;     // currently registered interest
  int64_t buffered_counted = 0;  // its share of ServerCore::buffered_bytes (Loop::Account)
  int64_t last_active_ms = 0;    // last complete request or response
  int64_t frame_start_ms = 0;    // first byte of an incomplete frame; 0 = none
  int64_t out_progress_ms = 0;   // last time queued output shrank (or became non-empty)
  std::string kill_reason;       // set: close at the next flush without sending more

  std::unordered_map<uint64_t, PendingWait> waits;  // by request id
  std::unordered_map<uint64_t, Subscription> subs;  // by subscription id (= request id)

 private:
  uint64_t id_;
  int fd_;
  std::string peer_;
};

}  // namespace tldb::server
