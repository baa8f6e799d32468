// The value types of the etcd client layer (EtcdClient, EtcdWatch, LeaseKeeper): options and
// what etcd returns. Plain structs, no behaviour.
//
// Keys and values are byte strings (any bytes, '\0' included); they travel base64-encoded in
// etcd's JSON gateway, which the client hides. Revisions are etcd's cluster-wide revision
// counter: every change to the key space gets the next one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tldb/status.h"

namespace tldb::cluster {

struct EtcdClientOptions {
  // Cluster members' client URLs, "http://host:port"; tried in order, the next one after a
  // member fails (see EtcdClient's contract for which failures move on).
  std::vector<std::string> endpoints;
  uint32_t connect_timeout_ms = 1000;     // TCP connect, per endpoint
  uint32_t request_timeout_ms = 2000;     // a whole unary request, per endpoint
  size_t max_response_bytes = 16u << 20;  // a larger response (or watch batch) is an error
};

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;  // revision that created the key (the epoch of a leader key)
  int64_t mod_revision = 0;     // revision of its last change
  int64_t version = 0;          // changes since creation (1 after the create)
  int64_t lease = 0;            // attached lease, 0 for none
};

struct LeaseGrantResult {
  int64_t id = 0;
  int64_t ttl_s = 0;  // as granted; etcd may raise a short request to its minimum
};

// A prefix scan: the key-values and the store revision they were read at (watch from
// revision + 1 to see every later change).
struct RangeResult {
  int64_t revision = 0;
  std::vector<KeyValue> kvs;
};

struct CreateResult {
  bool created = false;
  // created: the new key's create revision (the epoch). Not created: the holder's.
  int64_t create_revision = 0;
  // Not created: the key as it is (value, lease, revisions); created: empty.
  std::optional<KeyValue> holder;
};

struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  // For a delete only key and mod_revision (the revision of the delete) are set.
  KeyValue kv;
};

struct WatchSpec {
  std::string key;
  bool prefix = false;  // true: every key starting with `key`
  // First revision to deliver; 0: changes after the watch is established.
  int64_t start_revision = 0;
  // Called on the watch's thread with each batch of events, revisions ascending, never twice for
  // one revision. Must not call EtcdWatch::Stop of its own watch.
  std::function<void(const std::vector<WatchEvent>&)> on_events;
  // Called once on the watch's thread when the watch ends by itself: history compacted past
  // the next revision (NotFound), or no endpoint served it for reconnect_give_up_ms (IOError).
  // Not called after Stop().
  std::function<void(const Status&)> on_end;
  uint32_t reconnect_give_up_ms = 30'000;
};

}  // namespace tldb::cluster
