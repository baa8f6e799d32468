// Basic value types shared by the engine, server and client.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tldb {

// Per-timeline message sequence number. Assigned by the store, starts at 1, +1 per message.
// 0 means "none" (an empty timeline's last SeqId, an open scan bound).
using Seq = uint64_t;
// Milliseconds since the Unix epoch, assigned by the store.
using TimestampMs = int64_t;

// How durable an append must be before it is acknowledged.
enum class Durability : uint8_t {
  kDefault = 0,   // the namespace's default
  kSync = 1,      // after the group holding it is fdatasync'ed (group commit)
  kBuffered = 2,  // after the write reached the OS (survives a process crash, not power loss)
};

enum class Direction : uint8_t { kForward = 0, kBackward = 1 };

// One stored message as returned by reads.
struct Message {
  Seq seq = 0;
  TimestampMs timestamp_ms = 0;
  std::string client_msg_id;  // empty when none was given
  std::string payload;
};

// One stored message as Db::ScanVisit hands it over: views into the store's memory, valid only
// during the call that received it.
struct MessageView {
  Seq seq = 0;
  TimestampMs timestamp_ms = 0;
  std::string_view client_msg_id;
  std::string_view payload;
};

struct AppendResult {
  Seq seq = 0;
  TimestampMs timestamp_ms = 0;
  bool deduplicated = false;  // true: a retry; the original result is returned, nothing written
};

}  // namespace tldb
