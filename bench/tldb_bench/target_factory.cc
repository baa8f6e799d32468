#include "target_factory.h"

#include "tldb_embedded_target.h"
#include "tldb_server_target.h"
#ifdef TLDB_BENCH_HAVE_ROCKSDB
#include "rocksdb_target.h"
#endif
#ifdef TLDB_BENCH_HAVE_HIREDIS
#include "redis_target.h"
#endif

namespace tldb::peerbench {

std::unique_ptr<Target> MakeTarget(const std::string& name, const BenchConfig& cfg,
                                   std::string* err) {
  if (name == "tldb") {
    Options o;
    o.io_backend = cfg.tldb_io_backend;
    if (cfg.tldb_block_cache_bytes != 0) o.block_cache_bytes = cfg.tldb_block_cache_bytes;
    o.background_compaction = cfg.tldb_background_compaction;
    if (cfg.tldb_compaction_bytes_per_s != 0) {
      o.compaction_bytes_per_s = cfg.tldb_compaction_bytes_per_s;
    }
    if (cfg.tldb_maintenance_nice >= 0) o.maintenance_nice = cfg.tldb_maintenance_nice;
    return std::make_unique<TldbEmbeddedTarget>(std::move(o));
  }
  if (name == "tldb-server") {
    return std::make_unique<TldbServerTarget>(cfg.server_bin, cfg.tldb_io_backend, cfg.server_wait,
                                              cfg.server_pull, cfg.server_block_cache_bytes,
                                              cfg.server_tls, cfg.tldb_background_compaction);
  }
#ifdef TLDB_BENCH_HAVE_ROCKSDB
  if (name == "rocksdb") return std::make_unique<RocksDbTarget>(cfg.rocksdb_block_cache_bytes);
#endif
#ifdef TLDB_BENCH_HAVE_HIREDIS
  if (name == "redis") return std::make_unique<RedisTarget>(cfg.redis_bin);
#endif
  if (name == "rocksdb" || name == "redis") {
    *err = name + " was not built in (install the peers with tools/bench_peers.sh)";
  } else {
    *err = "unknown target " + name;
  }
  return nullptr;
}

}  // namespace tldb::peerbench
