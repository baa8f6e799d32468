// Client: a C++ client for tldb-server (wire protocol: docs/protocol.md).
//
// Contract:
// - One Client is one TCP connection (TLS when ClientOptions::tls) plus one I/O thread. Every
// method is thread-safe.
//   Requests are pipelined: any number may be in flight, and responses are matched to requests
//   by request id, so slow requests (WAIT) do not hold up others.
// - A blocking call reads its own response on the calling thread when no other thread is
//   reading the connection (like a synchronous hiredis call: no thread hop); otherwise the
//   thread that reads it (another blocking caller or the I/O thread) hands it over.
// - Every operation exists in two forms: blocking (`Append`) and asynchronous (`AppendAsync`,
//   with a callback). Callbacks run on the client's I/O thread, once each, in the order
//   responses arrive; they must not block and must not call blocking methods of this client
//   (post to your own event loop instead; that is how WAIT and SUBSCRIBE are meant to be used
//   from a frontend's event loop).
// - Every call has a deadline (CallOptions::timeout_ms, else ClientOptions::request_timeout_ms);
//   past it the callback gets TimedOut and a late response is dropped.
// - When the connection breaks, the client reconnects (reconnect_attempts, with backoff) and
//   re-subscribes every subscription from the last message it delivered (no gap, no duplicate).
//   An APPEND or APPEND_FANOUT that carries a client_msg_id is re-sent automatically (the server
//   deduplicates it, so it is applied once); every other in-flight call fails with IOError
//   (an append without client_msg_id may or may not have been applied). MUTATE requests
//   (recall, edit, trim, delete-timeline) are re-sent too: each names an explicit SeqId, and
//   the engine makes a repeat a no-op (DeleteTimeline with through_seq 0 first resolves the
//   timeline's last SeqId, so a retry never deletes a message appended in between).
// - Errors are tldb::Status values: server-side engine errors keep their code; protocol errors
//   map to the nearest code with the protocol error name in the message.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/slot_map.h"
#include "tldb/db.h"
#include "tldb/options.h"
#include "tldb/status.h"
#include "tldb/types.h"

namespace tldb {

struct ClientOptions {
  std::string server = "127.0.0.1:7070";  // HOST:PORT (numeric or localhost)
  std::string token;                      // the token's SECRET; empty: anonymous
  std::string client_name = "tldb-client";
  uint32_t connect_timeout_ms = 3'000;
  uint32_t request_timeout_ms = 10'000;  // default deadline of a call
  // Reconnection after a broken connection: attempts, first backoff (doubles each time).
  uint32_t reconnect_attempts = 5;
  uint32_t reconnect_backoff_ms = 50;
  // TLS, for a server started with --tls-cert (the frame protocol runs unchanged inside it).
  bool tls = false;
  // PEM CA certificates the server's certificate must chain to; empty: the system's CAs.
  std::string tls_ca_file;
  // PEM client certificate and its key, for a server that requires one (--tls-client-ca).
  std::string tls_cert_file;
  std::string tls_key_file;
  // The name the server's certificate must carry (DNS name, or IP address); empty: the host of
  // `server`. A host name is also sent as SNI.
  std::string tls_server_name;
};

struct CallOptions {
  uint32_t timeout_ms = 0;  // 0: ClientOptions::request_timeout_ms
};

// What HELLO told us.
struct ServerInfo {
  std::string server_name;
  uint32_t frame_body_bytes_max = 0;
  uint32_t payload_bytes_max = 0;
  uint32_t inflight_requests_max = 0;
  uint32_t fanout_timelines_max = 0;
  uint32_t wait_timeout_ms_max = 0;
  std::vector<std::pair<std::string, uint8_t>> grants;  // ns ("*" = all) -> 1 r, 2 w, 4 admin
};

struct WaitResult {
  bool ready = false;  // the timeline has messages after after_seq (else: timed out)
  Seq last_seq = 0;
};

// One timeline of a ReadMulti: read its messages with seq > after_seq.
struct TimelineAfter {
  std::string_view timeline;
  Seq after_seq = 0;
};

// The limits of a ReadMulti or WaitRead answer (0: the server's default; docs/protocol.md).
struct ReadLimits {
  uint32_t timeline_limit = 0;  // messages per timeline (0: 100; capped at 10,000)
  uint32_t limit = 0;           // messages in all (0: 10,000, WaitRead 100; capped at 10,000)
  uint32_t bytes_max = 0;       // payload bytes in the whole answer (0 or above: half the frame)
};

// What a read returned for one timeline.
struct TimelineRead {
  Seq last_seq = 0;               // the timeline's last seq when read (0: no such timeline)
  bool more = false;              // a limit cut it short: read again after messages.back().seq
  std::vector<Message> messages;  // seq > after_seq, oldest first
};

// A WAIT answered with the messages it waited for.
struct WaitReadResult {
  bool ready = false;  // the timeline has messages after after_seq (else: timed out)
  TimelineRead read;   // read.last_seq: the timeline's last seq; messages only when ready
};

struct ServerStatsSnapshot {
  std::vector<std::pair<std::string, uint64_t>> counters;
  std::string io_backend;
  uint64_t Get(std::string_view name) const;  // 0 when absent
};

struct CursorSetResult {
  Seq cursor = 0;      // stored value after the call
  bool moved = false;  // false: the request was behind the stored cursor (nothing written)
};

struct CursorState {
  Seq cursor = 0;
  Seq last_seq = 0;
  uint64_t unread = 0;
};

// The fields of a namespace's options to change (unset: keep the current value).
struct NamespaceOptionsUpdate {
  std::optional<uint64_t> ttl_ms;
  std::optional<uint64_t> messages_per_timeline_max;
  std::optional<uint32_t> compact_live_pct;
  std::optional<uint32_t> compress_block_bytes;
  std::optional<int32_t> compress_level;
  std::optional<Durability> durability;
  std::optional<uint64_t> segment_bytes_max;
};

// One server-side compaction job (COMPACT / COMPACT_STATUS).
struct CompactionStatus {
  enum class State : uint8_t { kQueued = 0, kRunning = 1, kDone = 2, kFailed = 3 };
  uint64_t job_id = 0;
  std::string ns;  // empty: every namespace
  bool full = false;
  State state = State::kQueued;
  Status error;  // kFailed: why
  CompactionProgress progress;
  bool finished() const { return state == State::kDone || state == State::kFailed; }
};
using CompactionProgressFn = std::function<void(const CompactionStatus&)>;

// An online backup opened on the server (BACKUP_OPEN; docs/protocol.md "Online backup"): the
// files of a snapshot of its data directory, to be read with ReadBackup and released with
// CloseBackup (or by closing the connection).
struct BackupManifest {
  struct File {
    std::string path;  // relative, '/'-separated ("CATALOG", "ns/<namespace>/<file>")
    uint64_t bytes = 0;
    uint64_t xxh3 = 0;  // XXH3-64 (seed 0) of the whole file
  };
  uint64_t backup_id = 0;
  uint32_t chunk_bytes_max = 0;  // the most bytes one ReadBackup returns
  std::vector<File> files;
  std::vector<SnapshotNamespace> namespaces;  // where each namespace's log ends in the backup
};

// A message pushed to a subscription, or the end of the subscription (status not OK).
struct SubscriptionEvent {
  Status status;
  std::string ns, timeline;
  Message message;
};

template <typename T>
using Callback = std::function<void(Result<T>)>;
using StatusCallback = std::function<void(Status)>;
using SubscriptionHandler = std::function<void(const SubscriptionEvent&)>;
using SubscriptionId = uint64_t;

// "NotFound: no such message": the same as Status::ToString() (tldb/status.h is header-only).
std::string StatusText(const Status& s);

class ClientImpl;

class Client {
 public:
  // Connects and handshakes (blocking, bounded by connect_timeout_ms).
  static Result<std::unique_ptr<Client>> Connect(const ClientOptions& options);
  ~Client();  // fails outstanding calls with Closed, joins the I/O thread
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const ServerInfo& server_info() const;
  // The HOST:PORT this client connected to (ClientOptions::server).
  const std::string& server_address() const;
  // Closes the connection now; later calls fail with Closed.
  void Close();

  // ---- blocking ----
  Result<AppendResult> Append(std::string_view ns, std::string_view timeline,
                              std::string_view payload, const AppendOptions& opts = {},
                              CallOptions call = {});
  Result<std::vector<AppendResult>> AppendFanout(std::string_view ns,
                                                 std::span<const std::string_view> timelines,
                                                 std::string_view payload,
                                                 const AppendOptions& opts = {},
                                                 CallOptions call = {});
  Result<Message> Get(std::string_view ns, std::string_view timeline, Seq seq,
                      CallOptions call = {});
  Result<std::vector<Message>> Scan(std::string_view ns, std::string_view timeline,
                                    const ScanOptions& opts, CallOptions call = {});
  // The newest `n` messages, oldest first (a backward scan from the end, reversed).
  Result<std::vector<Message>> Latest(std::string_view ns, std::string_view timeline, uint32_t n,
                                      CallOptions call = {});
  Result<std::vector<Seq>> LastSeq(std::string_view ns, std::span<const std::string_view> timelines,
                                   CallOptions call = {});
  // Pull mode (READ_MULTI): for each (timeline, after_seq), the messages with seq > after_seq,
  // oldest first, in request order, in one round trip. At most fanout_timelines_max timelines.
  // An entry with `more` was cut short by a limit: read again from its last message.
  Result<std::vector<TimelineRead>> ReadMulti(std::string_view ns,
                                              std::span<const TimelineAfter> timelines,
                                              const ReadLimits& limits = {}, CallOptions call = {});
  // Long-poll: returns once `timeline` has a message after `after_seq`, or after timeout_ms
  // (<= 60,000). The call's own deadline is extended by timeout_ms automatically.
  Result<WaitResult> Wait(std::string_view ns, std::string_view timeline, Seq after_seq,
                          uint32_t timeout_ms, CallOptions call = {});
  // Wait, answered with the messages after `after_seq` (WAIT with messages: one round trip).
  // limits.limit and limits.bytes_max bound them (timeline_limit is not used).
  Result<WaitReadResult> WaitRead(std::string_view ns, std::string_view timeline, Seq after_seq,
                                  uint32_t timeout_ms, const ReadLimits& limits = {},
                                  CallOptions call = {});
  Status CreateNamespace(std::string_view name, const NamespaceOptions& opts,
                         CallOptions call = {});
  Result<std::vector<NamespaceInfo>> ListNamespaces(CallOptions call = {});
  Result<NamespaceInfo> DescribeNamespace(std::string_view name, CallOptions call = {});
  Result<ServerStatsSnapshot> Stats(CallOptions call = {});
  // Round trip; returns the echoed bytes.
  Result<std::string> Ping(std::string_view data = {}, CallOptions call = {});
  // The slot map of a sharded cluster (CLUSTER_MAP, docs/cluster.md), checked as
  // proto::SlotMap::DecodeWire checks it (a malformed map is Corruption). NotSupported: the
  // server is not part of a sharded cluster (or too old to know the request).
  Result<proto::SlotMap> ClusterMap(CallOptions call = {});
  // Moves the device's cursor on (ns, timeline) forward to `seq` (backward too with reset).
  Result<CursorSetResult> SetCursor(std::string_view device, std::string_view ns,
                                    std::string_view timeline, Seq seq, bool reset = false,
                                    CallOptions call = {});
  Result<std::vector<CursorState>> GetCursors(std::string_view device, std::string_view ns,
                                              std::span<const std::string_view> timelines,
                                              CallOptions call = {});

  // Maintenance (write right on `ns`). Recall: Get then answers Deleted. Edit: replace the
  // payload. Trim: delete every message with SeqId < below_seq. DeleteTimeline: every message
  // with SeqId <= through_seq (0: the timeline's last, resolved before the request is sent).
  // The result's seq is the message's SeqId / the first kept / the last deleted; noop = true
  // when it was already in effect.
  Result<MutationResult> Mutate(std::string_view ns, const Mutation& m, CallOptions call = {});
  Result<MutationResult> Recall(std::string_view ns, std::string_view timeline, Seq seq,
                                CallOptions call = {});
  Result<MutationResult> Edit(std::string_view ns, std::string_view timeline, Seq seq,
                              std::string_view payload, CallOptions call = {});
  Result<MutationResult> Trim(std::string_view ns, std::string_view timeline, Seq below_seq,
                              CallOptions call = {});
  Result<MutationResult> DeleteTimeline(std::string_view ns, std::string_view timeline,
                                        Seq through_seq = 0, CallOptions call = {});
  // Admin right: changes the given options; returns the namespace as it is afterwards.
  Result<NamespaceInfo> SetNamespaceOptions(std::string_view name,
                                            const NamespaceOptionsUpdate& update,
                                            CallOptions call = {});
  // Admin right (on "*" when `ns` is empty: every namespace). Queues a compaction on the
  // server and returns its job id at once.
  Result<uint64_t> StartCompaction(std::string_view ns, bool full, CallOptions call = {});
  // A job's state and progress (job_id 0: the server's newest job).
  Result<CompactionStatus> GetCompaction(uint64_t job_id, CallOptions call = {});
  // StartCompaction, then polls every poll_ms until the job finishes, calling `progress` with
  // each status seen (may be null). Returns the final status, or the job's error.
  Result<CompactionStatus> Compact(std::string_view ns, bool full,
                                   const CompactionProgressFn& progress, uint32_t poll_ms = 200,
                                   CallOptions call = {});

  // Admin right on '*': the server takes a snapshot of its data directory and returns its
  // manifest. The backup stays open (at most 4 per server) until CloseBackup or until this
  // client's connection closes.
  Result<BackupManifest> OpenBackup(CallOptions call = {});
  // Up to bytes_max bytes (capped by the server at the manifest's chunk_bytes_max) of file
  // `file_index` from `offset`; empty at the end of the file.
  Result<std::string> ReadBackup(uint64_t backup_id, uint32_t file_index, uint64_t offset,
                                 uint32_t bytes_max, CallOptions call = {});
  Status CloseBackup(uint64_t backup_id, CallOptions call = {});

  // ---- asynchronous (callbacks on the I/O thread) ----
  void AppendAsync(std::string_view ns, std::string_view timeline, std::string_view payload,
                   const AppendOptions& opts, Callback<AppendResult> done, CallOptions call = {});
  void AppendFanoutAsync(std::string_view ns, std::span<const std::string_view> timelines,
                         std::string_view payload, const AppendOptions& opts,
                         Callback<std::vector<AppendResult>> done, CallOptions call = {});
  void GetAsync(std::string_view ns, std::string_view timeline, Seq seq, Callback<Message> done,
                CallOptions call = {});
  void ScanAsync(std::string_view ns, std::string_view timeline, const ScanOptions& opts,
                 Callback<std::vector<Message>> done, CallOptions call = {});
  void LastSeqAsync(std::string_view ns, std::span<const std::string_view> timelines,
                    Callback<std::vector<Seq>> done, CallOptions call = {});
  void ReadMultiAsync(std::string_view ns, std::span<const TimelineAfter> timelines,
                      const ReadLimits& limits, Callback<std::vector<TimelineRead>> done,
                      CallOptions call = {});
  void WaitAsync(std::string_view ns, std::string_view timeline, Seq after_seq, uint32_t timeout_ms,
                 Callback<WaitResult> done, CallOptions call = {});
  void WaitReadAsync(std::string_view ns, std::string_view timeline, Seq after_seq,
                     uint32_t timeout_ms, const ReadLimits& limits, Callback<WaitReadResult> done,
                     CallOptions call = {});
  void CreateNamespaceAsync(std::string_view name, const NamespaceOptions& opts,
                            StatusCallback done, CallOptions call = {});
  void ListNamespacesAsync(Callback<std::vector<NamespaceInfo>> done, CallOptions call = {});
  void DescribeNamespaceAsync(std::string_view name, Callback<NamespaceInfo> done,
                              CallOptions call = {});
  void StatsAsync(Callback<ServerStatsSnapshot> done, CallOptions call = {});
  void PingAsync(std::string_view data, Callback<std::string> done, CallOptions call = {});
  void ClusterMapAsync(Callback<proto::SlotMap> done, CallOptions call = {});
  void SetCursorAsync(std::string_view device, std::string_view ns, std::string_view timeline,
                      Seq seq, bool reset, Callback<CursorSetResult> done, CallOptions call = {});
  void GetCursorsAsync(std::string_view device, std::string_view ns,
                       std::span<const std::string_view> timelines,
                       Callback<std::vector<CursorState>> done, CallOptions call = {});

  void MutateAsync(std::string_view ns, const Mutation& m, Callback<MutationResult> done,
                   CallOptions call = {});
  void RecallAsync(std::string_view ns, std::string_view timeline, Seq seq,
                   Callback<MutationResult> done, CallOptions call = {});
  void EditAsync(std::string_view ns, std::string_view timeline, Seq seq, std::string_view payload,
                 Callback<MutationResult> done, CallOptions call = {});
  void TrimAsync(std::string_view ns, std::string_view timeline, Seq below_seq,
                 Callback<MutationResult> done, CallOptions call = {});
  void DeleteTimelineAsync(std::string_view ns, std::string_view timeline, Seq through_seq,
                           Callback<MutationResult> done, CallOptions call = {});
  void SetNamespaceOptionsAsync(std::string_view name, const NamespaceOptionsUpdate& update,
                                Callback<NamespaceInfo> done, CallOptions call = {});
  void StartCompactionAsync(std::string_view ns, bool full, Callback<uint64_t> done,
                            CallOptions call = {});
  void GetCompactionAsync(uint64_t job_id, Callback<CompactionStatus> done, CallOptions call = {});
  void OpenBackupAsync(Callback<BackupManifest> done, CallOptions call = {});
  void ReadBackupAsync(uint64_t backup_id, uint32_t file_index, uint64_t offset, uint32_t bytes_max,
                       Callback<std::string> done, CallOptions call = {});
  void CloseBackupAsync(uint64_t backup_id, StatusCallback done, CallOptions call = {});

  // ---- subscriptions ----
  // Delivers every message of (ns, timeline) with seq > after_seq (from_latest: only messages
  // appended from now on) to `handler`, in order, on the I/O thread, until Unsubscribe() or
  // the subscription ends (handler gets a non-OK status once; not after Close() or the
  // Client's destruction). Returns once the server confirmed the subscription.
  Result<SubscriptionId> Subscribe(std::string_view ns, std::string_view timeline, Seq after_seq,
                                   bool from_latest, SubscriptionHandler handler,
                                   CallOptions call = {});
  Status Unsubscribe(SubscriptionId id, CallOptions call = {});

 private:
  explicit Client(std::unique_ptr<ClientImpl> impl);
  std::unique_ptr<ClientImpl> impl_;
};

}  // namespace tldb
