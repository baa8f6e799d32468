// ClientImpl: the connection core behind tldb::Client (framing, pipelining, deadlines,
// reconnection, subscriptions). Typed operations live in client.cc.
//
// Contract: Call() registers a request under a fresh request id and sends it (or queues it
// while reconnecting); its callback runs exactly once on the I/O thread: with the response
// body, an error Status, TimedOut at its deadline, IOError when the connection broke and the
// request could not be retried, or Closed on shutdown. Locks: mu_ guards the pending table and
// connection state, send_mu_ guards socket writes; they are never held together, and no lock
// is held while user callbacks run.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "protocol/codes.h"
#include "protocol/frame.h"
#include "tldb/client.h"

namespace tldb {

class ClientImpl {
 public:
  using RawCallback = std::function<void(Status, std::string_view body)>;

  static Result<std::unique_ptr<ClientImpl>> Connect(const ClientOptions& options);
  ~ClientImpl();

  // `retriable`: re-sent after a reconnection (appends with a client_msg_id).
  void Call(proto::Op op, std::string body, uint32_t timeout_ms, bool retriable, RawCallback cb);
  Result<SubscriptionId> Subscribe(std::string ns, std::string timeline, Seq after_seq,
                                   bool from_latest, SubscriptionHandler handler,
                                   uint32_t timeout_ms);
  Status Unsubscribe(SubscriptionId id, uint32_t timeout_ms);
  void Close();
  const ServerInfo& info() const { return info_; }
  const ClientOptions& options() const { return options_; }
  bool OnIoThread() const { return std::this_thread::get_id() == io_thread_.get_id(); }
  uint32_t Deadline(uint32_t timeout_ms) const {
    return timeout_ms ? timeout_ms : options_.request_timeout_ms;
  }

 private:
  struct Pending {
    uint8_t op = 0;
    std::string frame;  // kept until sent; kept for good when retriable
    int64_t deadline_ms = 0;
    bool retriable = false;
    bool sent = false;
    RawCallback cb;
  };
  struct Sub {
    std::string ns, timeline;
    Seq last_seq = 0;
    SubscriptionHandler handler;
    uint64_t wire_id = 0;  // request id of the SUBSCRIBE on the current connection
    bool active = false;
  };

  explicit ClientImpl(const ClientOptions& options) : options_(options) {}
  Result<int> DialAndHello(ServerInfo* info);
  void Run();
  void ReadAvailable();
  void Dispatch(const proto::FrameHeader& h, std::string_view body);
  void DeliverPush(uint64_t wire_id, std::string_view body);
  void OnDisconnect(const Status& why);
  void Reconnect();
  void Resubscribe(const std::vector<SubscriptionId>& ids);
  void ExpireDeadlines();
  void FailAll(const Status& s);
  bool SendFrame(const std::string& frame, uint64_t generation);
  // Call() that also binds the request id to subscription `sub` (0: none) before sending.
  void CallBound(proto::Op op, std::string body, uint32_t timeout_ms, bool retriable,
                 SubscriptionId sub, RawCallback cb);
  void StartSubscribe(SubscriptionId sid, Seq after_seq, bool from_latest, uint32_t timeout_ms,
                      std::function<void(Status)> done);

  ClientOptions options_;
  ServerInfo info_;
  std::thread io_thread_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool connected_ = false;
  bool closing_ = false;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, Pending> pending_;
  std::map<SubscriptionId, Sub> subs_;
  std::unordered_map<uint64_t, SubscriptionId> sub_by_wire_;
  SubscriptionId next_sub_ = 1;
  std::string last_fatal_;  // message of the last fatal error frame (for failures)

  std::mutex send_mu_;
  int fd_ = -1;
  uint64_t generation_ = 0;  // bumped on every disconnect

  std::string in_;  // I/O thread only
  int64_t last_expiry_ms_ = 0;
};

// Maps an error frame's code to a Status (engine codes pass through).
Status StatusFromWire(uint16_t code, std::string_view message);

}  // namespace tldb
