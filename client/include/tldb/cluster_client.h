// ClusterClient: a client of a replicated tldb cluster, one partition (docs/replication.md
// "Serving and clients") or many behind a slot map (docs/cluster.md "Clients").
//
// At its first call it asks a server for the slot map (CLUSTER_MAP). NOT_SUPPORTED means an
// unsharded cluster, and it behaves as it always did: it talks to the one server that serves
// (the primary); when a server answers NOT_PRIMARY naming the primary ("primary=HOST:PORT")
// it goes there; when the answer names none, or a server cannot be reached, it tries the next
// address of `servers`.
//
// With a map it keeps one connection per server address (opened on first use) and sends each
// request to the primary of its timeline's partition (SlotOf, SlotMap::RouteAddress). MOVED
// ("slot=S version=V partition=P address=HOST:PORT") sends the request to `address` and, when V
// is newer than the cached map, fetches the map again from the server that answered (once per
// version, unless that fetch failed); a MOVED it cannot parse makes it fetch the map again (once
// per call). NOT_PRIMARY naming a primary is followed and remembered for that partition until the
// map changes; an unreachable server makes it try the partition's next replica. Requests that name
// several timelines (AppendFanout, LastSeq, ReadMulti, GetCursors) are split by partition, one
// request per partition, and the answers put back in request order. A fan-out over several
// partitions is sent whole to its home (the partition of FanoutHomeSlot), whose primary keeps it
// as an intent record and delivers the other parts (docs/cluster.md "Cross-partition fan-out"):
// the answer holds the home's members' results and {seq 0} for the pending ones; WaitFanout
// waits until every part is delivered. A server without intents (it answers INVALID_ARGUMENT, or
// MOVED for a member's slot other than the home slot) gets it split by partition: then each part
// is atomic but not the whole, and retrying the call with the same client_msg_id completes one
// that failed half way, as long as the map still groups the targets the same way.
//
// Every append carries a client_msg_id (one is made up when the caller gives none) and keeps
// it across retries, so a retry after a failover or a redirect is answered with the original
// SeqId when the first attempt was committed, and is written once otherwise.
//
// Contract: thread-safe; calls are retried until `retry_ms_max` has passed, then the last
// error is returned (redirect loops included: MOVED answers that send the client in circles
// end there too). Only errors that say "try elsewhere or again" are retried: NOT_PRIMARY,
// MOVED (sharded), IO_ERROR, CLOSED (also SHUTTING_DOWN), TIMED_OUT, BUSY; any other answer is
// returned at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/slot_map.h"
#include "tldb/client.h"

namespace tldb {

struct ClusterClientOptions {
  std::vector<std::string> servers;  // HOST:PORT of some servers (any order)
  ClientOptions client;              // per-connection options (`server` is ignored)
  uint32_t retry_ms_max = 15'000;    // keep retrying a call this long (failover takes ~3 s)
  uint32_t retry_pause_ms = 50;      // between rounds over every address
  // A fan-out over several partitions goes whole to its home (an intent, delivered by the
  // server). False: always split by partition (the servers' own delivery uses this).
  bool fanout_by_intent = true;
};

class ClusterClient {
 public:
  static Result<std::unique_ptr<ClusterClient>> Connect(ClusterClientOptions options);

  Result<AppendResult> Append(std::string_view ns, std::string_view timeline,
                              std::string_view payload, AppendOptions opts = {});
  // Results in request order. Across partitions: one APPEND_FANOUT to the home; members not
  // yet delivered have seq 0 (see above). Split by partition when the server has no intents.
  Result<std::vector<AppendResult>> AppendFanout(std::string_view ns,
                                                 std::span<const std::string_view> timelines,
                                                 std::string_view payload, AppendOptions opts = {});
  // Waits until every member of the cross-partition fan-out (ns, timelines, client_msg_id) is
  // delivered: true then; false when `timeout_ms` passed first. NotFound when the home holds no
  // such intent (a fan-out within one partition is delivered when answered).
  Result<bool> WaitFanout(std::string_view ns, std::span<const std::string_view> timelines,
                          std::string_view client_msg_id, uint32_t timeout_ms);
  Result<Message> Get(std::string_view ns, std::string_view timeline, Seq seq);
  Result<std::vector<Message>> Scan(std::string_view ns, std::string_view timeline,
                                    const ScanOptions& opts);
  Result<std::vector<Seq>> LastSeq(std::string_view ns,
                                   std::span<const std::string_view> timelines);
  // `limits` apply to each partition's part: over several partitions `limit` and `bytes_max`
  // bound each part, not the sum (`timeline_limit` and every entry's `more` are exact).
  Result<std::vector<TimelineRead>> ReadMulti(std::string_view ns,
                                              std::span<const TimelineAfter> timelines,
                                              const ReadLimits& limits = {});
  Result<CursorSetResult> SetCursor(std::string_view device, std::string_view ns,
                                    std::string_view timeline, Seq seq, bool reset = false);
  Result<std::vector<CursorState>> GetCursors(std::string_view device, std::string_view ns,
                                              std::span<const std::string_view> timelines);

  // Runs fn(client) with the same redirects and retries (any Client call). Unsharded: on the
  // primary. Sharded: on a server of `servers` (for requests that name no timeline).
  template <typename T>
  Result<T> Call(const std::function<Result<T>(Client&)>& fn) {
    std::optional<Result<T>> out;
    Status s = Run([&](Client& c) {
      out.emplace(fn(c));
      return out->status();
    });
    if (!s.ok()) return s;
    return std::move(*out);
  }
  // Runs fn(client) on the server of `timeline`'s partition (sharded; the primary otherwise),
  // following redirects. fn must name only timelines of `timeline`'s slot.
  template <typename T>
  Result<T> CallFor(std::string_view timeline, const std::function<Result<T>(Client&)>& fn) {
    std::optional<Result<T>> out;
    Status s = Routed(timeline, [&](Client& c) {
      out.emplace(fn(c));
      return out->status();
    });
    if (!s.ok()) return s;
    return std::move(*out);
  }

  // Unsharded: the address in use ("" before the first call succeeded).
  std::string current() const;
  // NOT_PRIMARY answers that named a primary, followed so far.
  uint64_t redirects() const { return redirects_.load(); }
  // MOVED answers followed so far.
  uint64_t moved() const { return moved_.load(); }
  // Whether the cluster is sharded (false before the first call, and for one partition).
  bool sharded() const;
  // The cached map's version (0: none: unsharded or not asked yet).
  uint64_t map_version() const;
  // The cached map (null when none).
  std::shared_ptr<const proto::SlotMap> slot_map() const;
  // Fetches the map now (from a server of `servers`), whatever the cached version. Also
  // decides sharded / unsharded when no call did yet. NOT_SUPPORTED on a client that has a map
  // is returned as an error and the map is kept.
  Status RefreshMap();

 private:
  using Clock = std::chrono::steady_clock;
  enum class Mode { kUnknown, kUnsharded, kSharded };

  explicit ClusterClient(ClusterClientOptions options) : options_(std::move(options)) {}
  // Unsharded: fn(client) until it succeeds, fails for good, or retry_ms_max passes.
  Status Run(const std::function<Status(Client&)>& fn);
  // The client for the address to try now (connecting if needed), or the connect error.
  Result<std::shared_ptr<Client>> Current();
  // After `s` from `used`: where to go next. False if `s` is not worth a retry.
  bool Redirect(const std::shared_ptr<Client>& used, const Status& s);
  std::string NewClientMsgId();

  // At the first call: CLUSTER_MAP decides the mode (and gives the map).
  Status EnsureMode();
  // Whether `timelines` belong to more than one partition at the cached map (sharded only).
  bool SpansPartitions(std::span<const std::string_view> timelines);
  Mode mode() const;
  // fn on the server of `timeline`'s partition (sharded), or Run(fn).
  Status Routed(std::string_view timeline, const std::function<Status(Client&)>& fn);
  // Sharded: fn on the server of `slot` until it succeeds, fails for good, or `deadline`.
  // With `grouped_at` (the version of the map a split request was grouped by), MOVED is
  // returned as soon as the cached map is another version (after a refresh, or before an
  // attempt), so that the caller splits the request again.
  Status RunSlot(uint16_t slot, const std::function<Status(Client&)>& fn,
                 Clock::time_point deadline, std::optional<uint64_t> grouped_at);
  // part(client, indices) for items 0..count-1 grouped by the partition of key(i) (one group
  // when unsharded); part fills the answers of its indices.
  Status Scatter(size_t count, const std::function<std::string_view(size_t)>& key,
                 const std::function<Status(Client&, const std::vector<size_t>&)>& part);
  // The connection to `address` (opened when missing).
  Result<std::shared_ptr<Client>> ConnTo(const std::string& address);
  void DropConn(const std::string& address, const std::shared_ptr<Client>& used);
  // Where a request for `slot` goes now.
  std::string RouteOf(const proto::SlotMap& map, uint16_t slot);
  // After `address` failed for `partition`: its next replica (or the next seed address).
  void NextReplica(const proto::SlotMap& map, uint32_t partition, const std::string& address);
  // CLUSTER_MAP on `c`; installs the answer when not older than the cached map.
  Status FetchMap(Client& c);
  void Install(proto::SlotMap map);

  const ClusterClientOptions options_;
  mutable std::mutex mu_;
  // Unsharded (and the seed connection of a sharded client).
  std::string address_;  // where calls go
  size_t next_ = 0;      // the next address of options_.servers to try
  std::shared_ptr<Client> client_;
  // Sharded.
  Mode mode_ = Mode::kUnknown;
  std::shared_ptr<const proto::SlotMap> map_;
  uint64_t refresh_asked_ = 0;  // the newest version a MOVED made us fetch the map for
  std::map<std::string, std::shared_ptr<Client>> conns_;  // by address
  std::map<uint32_t, std::string> route_;  // partition -> address learnt (NOT_PRIMARY, failures)
  std::atomic<uint64_t> redirects_{0};
  std::atomic<uint64_t> moved_{0};
  std::atomic<uint64_t> ids_{0};
  std::string id_prefix_;
};

}  // namespace tldb
