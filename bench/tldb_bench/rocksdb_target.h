// RocksDbTarget: RocksDB (Debian's librocksdb-dev) in this process, used as a timeline store
// the way an IM backend would: key = timeline id (8 bytes, big-endian) + SeqId (8 bytes,
// big-endian), value = payload. RocksDB has no per-key sequence, so the adapter assigns SeqIds
// from an in-memory counter per timeline (sharded mutexes), as an application would.
// Configuration (documented in docs/benchmarks.md): LRU block cache of
// BenchConfig::rocksdb_block_cache_bytes, 10-bit Bloom filters on whole keys, an 8-byte prefix
// extractor (timeline id) so scans stay in one timeline, 64 MiB memtables (= tldb's segment
// size), 2 background jobs (2 cores), default compression (Snappy).
// After the preload, Flush() waits for the flushes and compactions it started.
// Durability: kSync = WriteOptions::sync (fdatasync of the WAL, group-committed by RocksDB's
// write groups); kBuffered = WAL written to the OS, no sync (survives a process crash, as
// tldb's kBuffered). Pipelined appends are one WriteBatch; fan-out is one WriteBatch holding
// the payload under the conversation's key and a 16-byte reference (conversation id + SeqId)
// under each member's sync-timeline key.
#pragma once

#include <rocksdb/db.h>

#include <array>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "target.h"

namespace tldb::peerbench {

class RocksDbTarget : public Target {
 public:
  explicit RocksDbTarget(uint64_t block_cache_bytes) : cache_bytes_(block_cache_bytes) {}
  std::string Name() const override { return "rocksdb"; }
  std::string Describe() const override;
  bool Start(const std::string& dir, std::string* err) override;
  bool SetDurability(Dur, std::string*) override { return true; }
  std::unique_ptr<Session> Connect(std::string* err) override;
  bool Flush(std::string* err) override;
  ResourceSample Sample() override;
  uint64_t DiskBytes() override;
  void Stop() override;

  // The next SeqId of a timeline (the adapter's counter).
  uint64_t NextSeq(uint64_t timeline_id);
  rocksdb::DB* db() { return db_.get(); }

 private:
  struct Shard {
    std::mutex mu;
    std::unordered_map<uint64_t, uint64_t> last;
  };
  uint64_t cache_bytes_;
  std::string dir_;
  std::unique_ptr<rocksdb::DB> db_;
  std::array<Shard, 64> shards_;
};

}  // namespace tldb::peerbench
