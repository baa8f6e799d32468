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
  // `options`: the Options the store opens with (the defaults but what the bench's flags set).
  explicit TldbEmbeddedTarget(Options options) : options_(std::move(options)) {}
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
  Options options_;
  std::string dir_;
  std::unique_ptr<Db> db_;
};

}  // namespace tldb::peerbench
