#include "tldb_embedded_target.h"

#include <vector>

#include "process_stats.h"
#include "tldb_session.h"

namespace tldb::peerbench {

using EmbeddedSession = TldbSession<Db>;

std::string TldbEmbeddedTarget::Describe() const {
  const Options d;
  const Options& o = options_;
  return "tldb engine library in-process; default Options except io_backend " + o.io_backend +
         (o.block_cache_bytes != d.block_cache_bytes
              ? " and block cache " + std::to_string(o.block_cache_bytes >> 20) + " MiB"
              : std::string()) +
         (o.background_compaction ? "" : ", no background compaction") +
         (o.compaction_bytes_per_s != d.compaction_bytes_per_s
              ? ", compaction " + std::to_string(o.compaction_bytes_per_s >> 20) + " MiB/s"
              : std::string()) +
         (o.maintenance_nice != d.maintenance_nice
              ? ", maintenance nice " + std::to_string(o.maintenance_nice)
              : std::string()) +
         " (in use: " + (db_ ? db_->Stats().io_backend : std::string("?")) +
         "); namespace default durability sync, per-call durability";
}

bool TldbEmbeddedTarget::Start(const std::string& dir, std::string* err) {
  dir_ = dir;
  auto db = Db::Open(dir, options_);
  if (!db.ok()) {
    *err = db.status().ToString();
    return false;
  }
  db_ = std::move(db).value();
  Status s = db_->CreateNamespace(kTldbNs, {});
  if (!s.ok()) {
    *err = s.ToString();
    return false;
  }
  return true;
}

std::unique_ptr<Session> TldbEmbeddedTarget::Connect(std::string*) {
  return std::make_unique<EmbeddedSession>(db_.get());
}

bool TldbEmbeddedTarget::Flush(std::string* err) {
  Status s = db_->Sync();
  if (!s.ok()) {
    *err = s.ToString();
    return false;
  }
  // As for RocksDB (whose flushes and compactions the harness lets finish): the compaction the
  // preload made due runs now, not during the measured workloads.
  auto c = db_->Compact(kTldbNs, CompactOptions{});
  if (!c.ok()) *err = c.status().ToString();
  return c.ok();
}

ResourceSample TldbEmbeddedTarget::Sample() {
  ResourceSample s;
  s.cpu_s = ProcessCpuSeconds(0);
  s.rss_bytes = ProcessRssBytes(0);
  s.write_bytes = ProcessWriteBytes(0);
  if (db_) s.store_write_bytes = db_->Stats().bytes_written;
  return s;
}

uint64_t TldbEmbeddedTarget::DiskBytes() {
  return DirAllocatedBytes(dir_);
}

void TldbEmbeddedTarget::Stop() {
  if (db_) (void)db_->Close();
  db_.reset();
}

}  // namespace tldb::peerbench
