// RedisTarget: Redis Streams (Debian's redis-server, started by the harness on a free loopback
// port with `appendonly yes`, no RDB snapshots, everything else default) driven through
// Debian's hiredis, one connection per Session. One stream per timeline; entries get the ID
// "0-<SeqId>" from `XADD key 0-* m <payload>` (Redis assigns the sequence part, +1 per entry,
// like tldb). Durability: kSync = appendfsync always, kBuffered = appendfsync everysec (the
// AOF is written before the reply in both; everysec fsyncs once a second).
// Reads: XRANGE id id (get), XREVRANGE + - COUNT n (latest), XREVRANGE (id - COUNT n (paging),
// XREAD COUNT n STREAMS ... (device sync, group pull over many streams in one command).
// Pipelined appends send n XADDs before reading n replies. Fan-out: XADD of the payload to the
// conversation, then one pipelined round of XADDs of a reference (conversation key + ID) to
// each member's stream.
#pragma once

#include <memory>
#include <string>

#include "common/server_process.h"
#include "harness_server.h"
#include "target.h"

namespace tldb::peerbench {

class RedisTarget : public Target {
 public:
  explicit RedisTarget(std::string redis_bin) : bin_(std::move(redis_bin)) {}
  std::string Name() const override { return "redis"; }
  std::string Describe() const override;
  bool Start(const std::string& dir, std::string* err) override;
  bool SetDurability(Dur d, std::string* err) override;
  std::unique_ptr<Session> Connect(std::string* err) override;
  bool Flush(std::string* err) override;
  ResourceSample Sample() override;
  uint64_t DiskBytes() override;
  ~RedisTarget() override { Stop(); }
  void Stop() override { StopHarnessServer(server_.get()); }

 private:
  std::string bin_, dir_, version_;
  uint16_t port_ = 0;
  std::unique_ptr<common::ServerProcess> server_;  // set by Start()
};

}  // namespace tldb::peerbench
