// TldbEmbeddedTarget: the tldb engine library in this process (tldb::Db), one namespace
// "bench" whose default durability is kSync; each call passes the durability asked for.
// Pipelined appends use AppendAsync; push-mode fan-out is one AppendFanout record (payload
// stored once, one index entry per member timeline).
#pragma once

#include <memory>

#include "target.h"
#include "tldb/db.h"

namespace tldb::peerbench {

class TldbEmbeddedTarget : public Target {
 public:
  TldbEmbeddedTarget(std::string io_backend, uint64_t block_cache_bytes, bool background_compaction)
      : io_backend_(std::move(io_backend)),
        block_cache_bytes_(block_cache_bytes),
        background_compaction_(background_compaction) {}
  std::string Name() const override { return "tldb"; }
  std::string Describe() const override;
  bool Start(const std::string& dir, std::string* err) override;
  bool SetDurability(Dur, std::string*) override { return true; }
  std::unique_ptr<Session> Connect(std::string* err) override;
  bool Flush(std::string* err) override;
  ResourceSample Sample() override;
  uint64_t DiskBytes() override;
  void Stop() override;

 private:
  std::string io_backend_, dir_;
  uint64_t block_cache_bytes_ = 0;  // 0: Options' default
  bool background_compaction_ = true;
  std::unique_ptr<Db> db_;
};

}  // namespace tldb::peerbench
