#include "tldb_embedded_target.h"

#include <vector>

#include "process_stats.h"
#include "tldb_session.h"

namespace tldb::peerbench {

using EmbeddedSession = TldbSession<Db>;

std::string TldbEmbeddedTarget::Describe() const {
  return "tldb engine library in-process; default Options except io_backend " + io_backend_ +
         (block_cache_bytes_ != 0
              ? " and block cache " + std::to_string(block_cache_bytes_ >> 20) + " MiB"
              : std::string()) +
         (background_compaction_ ? "" : ", no background compaction") +
         " (in use: " + (db_ ? db_->Stats().io_backend : std::string("?")) +
         "); namespace default durability sync, per-call durability";
}

bool TldbEmbeddedTarget::Start(const std::string& dir, std::string* err) {
  dir_ = dir;
  Options o;
  o.io_backend = io_backend_;
  o.background_compaction = background_compaction_;
  if (block_cache_bytes_ != 0) o.block_cache_bytes = block_cache_bytes_;
  auto db = Db::Open(dir, o);
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
