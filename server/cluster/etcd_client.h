// EtcdClient: the calls tldb's replication layer makes to etcd (docs/replication.md), over
// etcd's JSON gateway (HTTP/1.1 + JSON, /v3/...) with libcurl.
//
// Contract:
// - Create() checks the options: at least one endpoint, each "http://host:port" (a trailing
//   '/' is dropped), non-zero timeouts; InvalidArgument otherwise.
// - Every call is bounded: per endpoint by connect_timeout_ms and request_timeout_ms, and it
//   tries each endpoint at most once, starting at the one that answered last.
// - Failover: a call moves on to the next endpoint when the current one could not be reached
//   (connect refused/failed). A read also moves on after a timeout, a broken connection or an
//   etcd "unavailable" answer (no leader, ...). A write does not: its outcome is unknown, so
//   the error is returned (TimedOut or IOError, "outcome unknown") and the next call starts at
//   the next endpoint. Callers make writes safe to repeat with the compare calls below.
// - Errors: IOError (transport, malformed answer, etcd unavailable), TimedOut, NotFound (lease
//   not found), Conflict (a compare failed), InvalidArgument, PermissionDenied, Busy. Every
//   message names the endpoint(s) and the call, e.g.
//   "etcd http://127.0.0.1:2379 /v3/kv/put key 'x': connect: Connection refused".
// - Leases: LeaseKeepAliveOnce returns the TTL left, 0 when the lease has expired (or never
//   existed). A key put with a lease is deleted by etcd when the lease expires or is revoked.
// - Watch() starts an EtcdWatch on its own thread and connection (see etcd_watch.h).
//
// Thread-safety: all methods may be called from any thread; unary calls share one kept-alive
// connection under one mutex, so they run one at a time. LeaseKeeper and EtcdWatch make their
// own connections and do not wait for this one.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cluster/curl_handle.h"
#include "cluster/etcd_types.h"
#include "tldb/status.h"

namespace tldb::cluster {

class EtcdWatch;

class EtcdClient {
 public:
  [[nodiscard]] static Result<std::unique_ptr<EtcdClient>> Create(EtcdClientOptions options);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  const EtcdClientOptions& options() const { return options_; }

  // GET /health of the endpoints in turn: OK once one says {"health":"true"}.
  [[nodiscard]] Status Health();

  [[nodiscard]] Result<LeaseGrantResult> LeaseGrant(int64_t ttl_s);
  // The TTL left in seconds after the refresh; 0: expired or unknown lease.
  [[nodiscard]] Result<int64_t> LeaseKeepAliveOnce(int64_t lease_id);
  // NotFound when the lease had already expired or never existed.
  [[nodiscard]] Status LeaseRevoke(int64_t lease_id);

  // Returns the revision of the put. lease 0: none. NotFound when the lease does not exist.
  [[nodiscard]] Result<int64_t> Put(std::string_view key, std::string_view value,
                                    int64_t lease = 0);
  [[nodiscard]] Result<std::optional<KeyValue>> Get(std::string_view key);
  // Every key starting with `prefix`, in key order, with the revision read at.
  [[nodiscard]] Result<RangeResult> GetPrefix(std::string_view prefix);
  // True when the key existed.
  [[nodiscard]] Result<bool> Delete(std::string_view key);

  // One transaction: if the key does not exist, put it (with `lease`) — its create revision is
  // the epoch; else report the holder. After an "outcome unknown" error the caller can Get the
  // key and compare the value with its own.
  [[nodiscard]] Result<CreateResult> CreateIfAbsent(std::string_view key, std::string_view value,
                                                    int64_t lease);
  // Put only if the key's mod revision is `expected_mod_revision` (0: the key must be absent).
  // Returns the new mod revision; Conflict (with the current one) otherwise.
  [[nodiscard]] Result<int64_t> CompareAndSwap(std::string_view key, int64_t expected_mod_revision,
                                               std::string_view value, int64_t lease = 0);
  // Delete only if the key's create revision is `create_revision` (a leader resigning with its
  // epoch). NotFound when the key is absent, Conflict when another incarnation holds it.
  [[nodiscard]] Status DeleteIfCreateRevision(std::string_view key, int64_t create_revision);

  // One transaction: when every comparison holds (each key's create revision, or mod revision,
  // equals the given one; 0: the key is absent), put every (key, value), without a lease.
  // True when they were put, false when a comparison failed (nothing written).
  struct Compare {
    std::string key;
    bool create = false;  // compare the create revision (else the mod revision)
    int64_t revision = 0;
  };
  [[nodiscard]] Result<bool> PutIf(const std::vector<Compare>& compares,
                                   const std::vector<std::pair<std::string, std::string>>& puts);

  // Watches `spec.key` (or the prefix) from spec.start_revision on a thread of its own.
  [[nodiscard]] Result<std::unique_ptr<EtcdWatch>> Watch(WatchSpec spec);

 private:
  enum class Kind { kRead, kWrite };
  explicit EtcdClient(EtcdClientOptions options);

  // POSTs `body` (GET when empty) to `path`, following the failover rules; returns the parsed
  // 200 answer. `what` names the call in messages (path and key).
  Result<nlohmann::json> Call(const char* path, const std::string& body, Kind kind,
                              const std::string& what);
  Result<nlohmann::json> Txn(const nlohmann::json& txn, const std::string& what);

  const EtcdClientOptions options_;
  std::mutex mu_;
  CurlHandle curl_;     // guarded by mu_
  size_t current_ = 0;  // guarded by mu_: the endpoint to try first
};

}  // namespace tldb::cluster
