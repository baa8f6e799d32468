// Target and Session: the one interface every store under test implements (tldb embedded,
// tldb-server over loopback, RocksDB embedded, Redis Streams over loopback).
//
// Contract:
// - Start() creates an empty store under `dir` (starting a server process if the target has
//   one); Stop() ends it. A Target is used by one process; Sessions by one thread each.
// - Connect() returns a Session: a connection (server targets) or a handle (embedded ones).
// - SeqIds are assigned by the store (or, for RocksDB, by the adapter) starting at 1, +1 per
//   message of a timeline, exactly like tldb.
// - Every Session call returns false on failure and leaves the reason in error().
// - WaitAfter() is the long-poll: it blocks until the timeline has messages after after_seq
//   (then returns up to n of them, oldest first) or until timeout_ms passes (count 0). Stores
//   with a wait primitive override it (Redis XREAD BLOCK, tldb-server WAIT); the default polls
//   After() every poll_us (tldb embedded and RocksDB have no wait primitive).
// - Sample() reads the resources spent so far by the store: CPU seconds (the server process
//   plus this process), resident memory of the store's process, bytes this store caused to be
//   written to storage (/proc/<pid>/io write_bytes).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>

#include "bench_config.h"
#include "timeline_ref.h"

namespace tldb::peerbench {

struct ReadResult {
  uint32_t count = 0;     // messages returned
  uint64_t last_seq = 0;  // SeqId of the last message returned (0: none)
  uint64_t bytes = 0;     // payload bytes returned
};

struct WaitSpec {
  uint32_t timeout_ms = 100;  // give up (count 0) after this long
  uint32_t poll_us = 1000;    // the default WaitAfter's polling interval
};

struct ResourceSample {
  double cpu_s = 0;          // user + system, store process and harness process
  double store_cpu_s = 0;    // the server process alone (0 for embedded targets)
  uint64_t rss_bytes = 0;    // resident memory of the process holding the store
  uint64_t write_bytes = 0;  // bytes sent to storage by that process
  // Log bytes the store itself reports writing (tldb: DbStats::bytes_written, excluding
  // pre-zeroing and page rewrites); 0 when the store does not say.
  uint64_t store_write_bytes = 0;
  // Bytes written to the disk holding the store, by anyone (filled in by the runner).
  uint64_t device_write_bytes = 0;
};

class Session {
 public:
  virtual ~Session() = default;
  virtual bool Append(const TimelineRef& tl, std::string_view payload, Dur d) = 0;
  // n appends with all of them in flight at once (pipelined, or one batch for RocksDB);
  // returns once every one is acknowledged.
  virtual bool AppendBatch(std::span<const TimelineRef* const> tls,
                           std::span<const std::string_view> payloads, Dur d) = 0;
  // Push mode: the payload goes to `conv`, and an entry to each member's sync timeline.
  virtual bool Fanout(const TimelineRef& conv, std::span<const TimelineRef* const> members,
                      std::string_view payload, Dur d) = 0;
  virtual bool Get(const TimelineRef& tl, uint64_t seq, ReadResult* r) = 0;
  // The newest n messages.
  virtual bool Latest(const TimelineRef& tl, uint32_t n, ReadResult* r) = 0;
  // Up to n messages with SeqId < before_seq, newest first (history paging).
  virtual bool Before(const TimelineRef& tl, uint64_t before_seq, uint32_t n, ReadResult* r) = 0;
  // Up to n messages with SeqId > after_seq, oldest first (device sync).
  virtual bool After(const TimelineRef& tl, uint64_t after_seq, uint32_t n, ReadResult* r) = 0;
  // Group pull: for each timeline, up to n messages after checkpoints[i]; checkpoints advance.
  virtual bool PullMany(std::span<const TimelineRef* const> tls, std::span<uint64_t> checkpoints,
                        uint32_t n, ReadResult* r) = 0;
  // Long-poll (see the contract above).
  virtual bool WaitAfter(const TimelineRef& tl, uint64_t after_seq, uint32_t n, const WaitSpec& w,
                         ReadResult* r) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(w.timeout_ms);
    for (;;) {
      if (!After(tl, after_seq, n, r)) return false;
      if (r->count > 0 || std::chrono::steady_clock::now() >= deadline) return true;
      std::this_thread::sleep_for(std::chrono::microseconds(w.poll_us));
    }
  }
  // One round trip that asks for no work (the ping workload): the request path alone. Only the
  // server targets have one.
  virtual bool Ping() { return Fail("ping: an embedded store has no round trip"); }
  const std::string& error() const { return error_; }

 protected:
  bool Fail(std::string e) {
    error_ = std::move(e);
    return false;
  }
  std::string error_;
};

class Target {
 public:
  virtual ~Target() = default;
  virtual std::string Name() const = 0;
  // One line on how the store is configured (goes into the results).
  virtual std::string Describe() const = 0;
  virtual bool Start(const std::string& dir, std::string* err) = 0;
  // Called before each write workload (Redis switches appendfsync here).
  virtual bool SetDurability(Dur d, std::string* err) = 0;
  virtual std::unique_ptr<Session> Connect(std::string* err) = 0;
  // Makes everything written so far durable (after the preload).
  virtual bool Flush(std::string* err) = 0;
  virtual ResourceSample Sample() = 0;
  // Bytes the store occupies on disk (allocated blocks).
  virtual uint64_t DiskBytes() = 0;
  virtual void Stop() = 0;
};

}  // namespace tldb::peerbench
