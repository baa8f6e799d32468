// Connection: the state of one client socket, owned by exactly one event loop.
//
// Contract: only the owning loop thread touches a Connection. Requests are parsed from its
// input, responses are encoded straight into its output (Begin/End) and sent by the loop;
// asynchronous completions refer to a connection by `id` (never reused), so a completion for a
// connection that has since closed finds nothing and is dropped. A close is asked for with
// RequestClose() only; the loop then closes the connection (and the destructor the socket).
// On a TLS listener the connection owns a TlsSession over its socket: the loop reads and writes
// through it (Loop::Receive, Loop::Transmit), and the destructor (or BeginLinger) sends
// close_notify when the handshake had completed.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "peer_budgets.h"
#include "protocol/frame.h"
#include "protocol/wire.h"
#include "tldb/types.h"
#include "tls/tls_session.h"

namespace tldb::server {

class AccessRights;
class ChunkedScan;

// A WAIT parked until its timeline moves past after_seq or its deadline passes.
struct PendingWait {
  std::string ns, timeline, key;
  Seq after_seq = 0;
  // WAIT with messages (docs/protocol.md): the answer carries them, within these limits.
  bool with_messages = false;
  uint32_t limit = 0, bytes_max = 0;
  std::multimap<int64_t, std::pair<uint64_t, uint64_t>>::iterator deadline;  // in Loop
};

// A SUBSCRIBE: every message with seq > last_pushed is pushed, in order, without gaps.
struct Subscription {
  std::string ns, timeline, key;
  Seq last_pushed = 0;
};

class Connection {
 public:
  // How a close was asked for (RequestClose).
  enum class CloseMode {
    kAfterOutput,  // a fatal error answer was queued: send the output, then close
    kNow,          // close at the next flush without sending more (the reason is logged)
  };

  Connection(uint64_t id, int fd, std::string peer, int64_t now_ms);
  ~Connection();  // sends close_notify (TLS, best effort), closes the socket
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  uint64_t id() const { return id_; }
  int fd() const { return fd_; }
  const std::string& peer() const { return peer_; }
  int64_t created_ms() const { return created_ms_; }

  // ---- TLS (null on a plain-TCP listener)
  tls::TlsSession* tls() const { return tls_.get(); }
  void set_tls(std::unique_ptr<tls::TlsSession> s) { tls_ = std::move(s); }
  // The first byte was checked to be a TLS record (a plain-text client gets a plain answer).
  bool tls_checked() const { return tls_checked_; }
  void set_tls_checked() { tls_checked_ = true; }
  // A read needs the socket writable (handshake bytes to send): the loop waits for EPOLLOUT.
  bool tls_read_wants_write() const { return tls_read_wants_write_; }
  void set_tls_read_wants_write(bool v) { tls_read_wants_write_ = v; }
  // A write needs the socket readable: the loop waits for EPOLLIN, then flushes again.
  bool tls_write_wants_read() const { return tls_write_wants_read_; }
  void set_tls_write_wants_read(bool v) { tls_write_wants_read_ = v; }
  bool Busy() const { return inflight_ > 0 || !waits_.empty() || !subs_.empty() || scan_; }

  // ---- per-address budget (PeerBudgets): the key of the peer's address, and whether
  // PeerBudgets::Admit charged this connection (until it completes HELLO)
  const PeerKey& peer_key() const { return peer_key_; }
  void set_peer_key(const PeerKey& key) { peer_key_ = key; }
  bool peer_charged() const { return peer_charged_; }
  void set_peer_charged() { peer_charged_ = true; }
  void clear_peer_charged() { peer_charged_ = false; }

  // ---- per-client budget of refused requests (FailureBudgets): the client this connection's
  // HELLO named (empty before HELLO)
  const std::string& client() const { return client_; }
  void set_client(std::string client) { client_ = std::move(client); }
  // A refused HELLO's answer is held until this time (0: not held): nothing is sent before it
  // (Loop::HoldAnswer), so a client retrying in a loop waits for each refusal.
  int64_t hold_until_ms() const { return hold_until_ms_; }
  void set_hold_until_ms(int64_t ms) { hold_until_ms_ = ms; }

  // ---- a SCAN answered over several loop turns (ChunkedScan): while one is pending, the
  // connection's later requests wait (CanParse), so answers keep the requests' order
  ChunkedScan* scan() const { return scan_.get(); }
  void set_scan(std::unique_ptr<ChunkedScan> scan);
  void clear_scan();

  // ---- output: encoded into one buffer, sent by the loop
  // Encodes a frame into the output; returns the start offset for End().
  size_t Begin(proto::Op op, uint16_t flags, uint64_t request_id) {
    NoteOutputStart();
    return proto::BeginFrame(&out_, static_cast<uint8_t>(op), flags, request_id);
  }
  // A frame ended after a fatal error was queued is dropped: the connection closes right after
  // that error (docs/protocol.md "Flags"), so nothing may follow it, not even an answer that was
  // under way.
  void End(size_t start) {
    if (close_after_output_) {
      out_.resize(start);
      return;
    }
    proto::EndFrame(&out_, start);
  }
  proto::WireWriter Writer() { return proto::WireWriter(&out_); }
  // Starts the send-stall clock (out_progress_ms) when output goes from empty to non-empty.
  void NoteOutputStart();
  // An error response (fatal: the connection closes once it is sent).
  void Error(uint8_t op, uint64_t request_id, uint16_t code, std::string_view message, bool fatal);
  // Encoded, not yet sent.
  std::string_view PendingOutput() const { return std::string_view(out_).substr(out_sent_); }
  size_t OutPending() const { return out_.size() - out_sent_; }
  // Bytes in the output buffer, sent or not (grows with each response until CompactOut).
  size_t OutBytes() const { return out_.size(); }
  size_t OutCapacity() const { return out_.capacity(); }
  // `n` bytes of PendingOutput() were sent (restarts the send-stall clock).
  void Sent(size_t n);
  // Drops sent bytes from the front of the output once they dominate it.
  void CompactOut();
  int64_t out_progress_ms() const { return out_progress_ms_; }  // last time output shrank

  // ---- input: received bytes not yet parsed
  bool HasUnparsed() const { return in_.size() > in_parsed_; }
  std::string_view Unparsed() const { return std::string_view(in_).substr(in_parsed_); }
  void Consumed(size_t n) { in_parsed_ += n; }
  void AppendInput(std::string_view bytes) { in_.append(bytes); }
  // Empties the input (everything was parsed).
  void ClearInput() {
    in_.clear();
    in_parsed_ = 0;
  }
  size_t InCapacity() const { return in_.capacity(); }
  void CompactIn();

  // ---- closing: the one way to ask for it (the loop closes)
  // kNow wins over kAfterOutput; the first kNow reason is kept.
  void RequestClose(CloseMode mode, std::string reason = {});
  bool close_requested() const { return close_after_output_ || close_now_; }
  bool close_after_output() const { return close_after_output_; }
  bool close_now() const { return close_now_; }
  const std::string& close_reason() const { return close_reason_; }
  // After a kAfterOutput close has sent its output: the sending side is shut down (a FIN after
  // that output; TLS close_notify first) and the loop reads and drops input until the client
  // closes or `until_ms` passes. A close() with unread input sends a reset, and the kernel then
  // drops the output it has not delivered yet, the FATAL error frame among it.
  void BeginLinger(int64_t until_ms);
  bool lingering() const { return linger_until_ms_ != 0; }
  int64_t linger_until_ms() const { return linger_until_ms_; }

  // ---- handshake and rights
  void Handshaken(const AccessRights* rights) {
    handshaken_ = true;
    rights_ = rights;
  }
  bool handshaken() const { return handshaken_; }
  const AccessRights* rights() const { return rights_; }

  // ---- requests in flight: async appends, cursor writes and parked WAITs
  uint32_t inflight() const { return inflight_; }
  void AddInflight() { ++inflight_; }
  void DropInflight() {
    if (inflight_ > 0) --inflight_;
  }

  // ---- the loop's bookkeeping
  bool dirty() const { return dirty_; }  // in the loop's flush list
  void set_dirty(bool v) { dirty_ = v; }
  // In the loop's ready list (requests left for the next turn).
  bool ready_queued() const { return ready_queued_; }
  void set_ready_queued(bool v) { ready_queued_ = v; }
  // The loop iteration of its last turn (one turn per iteration).
  uint64_t turn_iteration() const { return turn_iteration_; }
  void set_turn_iteration(uint64_t v) { turn_iteration_ = v; }
  // Added to the loop's epoll set, with interest `epoll_events`.
  bool registered() const { return registered_; }
  uint32_t epoll_events() const { return epoll_events_; }
  void Registered(uint32_t events) {
    registered_ = true;
    epoll_events_ = events;
  }
  // Its share of ServerCore::buffered_bytes (Loop::Account).
  int64_t buffered_counted() const { return buffered_counted_; }
  void set_buffered_counted(int64_t v) { buffered_counted_ = v; }
  // Last complete request or response.
  int64_t last_active_ms() const { return last_active_ms_; }
  void set_last_active_ms(int64_t v) { last_active_ms_ = v; }
  // First byte of an incomplete frame; 0 = none.
  int64_t frame_start_ms() const { return frame_start_ms_; }
  void set_frame_start_ms(int64_t v) { frame_start_ms_ = v; }

  // ---- WAIT / SUBSCRIBE state (the WatchHandler's)
  std::unordered_map<uint64_t, PendingWait>& waits() { return waits_; }  // by request id
  // By subscription id (= request id).
  std::unordered_map<uint64_t, Subscription>& subs() { return subs_; }

 private:
  uint64_t id_;
  int fd_;
  std::string peer_;
  int64_t created_ms_;
  std::unique_ptr<tls::TlsSession> tls_;  // destroyed before the socket is closed
  bool tls_checked_ = false;
  bool tls_read_wants_write_ = false;
  bool tls_write_wants_read_ = false;

  std::string in_;  // received, not yet parsed: [in_parsed_, in_.size())
  size_t in_parsed_ = 0;
  std::string out_;  // encoded, not yet sent: [out_sent_, out_.size())
  size_t out_sent_ = 0;

  bool close_after_output_ = false;
  bool close_now_ = false;
  std::string close_reason_;
  int64_t linger_until_ms_ = 0;  // 0: not lingering

  bool handshaken_ = false;
  const AccessRights* rights_ = nullptr;
  uint32_t inflight_ = 0;
  bool dirty_ = false;
  bool ready_queued_ = false;
  uint64_t turn_iteration_ = 0;
  bool registered_ = false;
  uint32_t epoll_events_ = 0;
  int64_t buffered_counted_ = 0;
  int64_t last_active_ms_ = 0;
  int64_t frame_start_ms_ = 0;
  int64_t out_progress_ms_ = 0;  // last time queued output shrank (or became non-empty)

  PeerKey peer_key_;
  bool peer_charged_ = false;
  std::string client_;
  int64_t hold_until_ms_ = 0;
  std::unique_ptr<ChunkedScan> scan_;

  std::unordered_map<uint64_t, PendingWait> waits_;
  std::unordered_map<uint64_t, Subscription> subs_;
};

}  // namespace tldb::server
