// MakeTarget: builds a Target by name ("tldb", "tldb-server", "rocksdb", "redis"). The peer
// targets exist only when their libraries were found at configure time
// (TLDB_BENCH_HAVE_ROCKSDB / TLDB_BENCH_HAVE_HIREDIS); otherwise MakeTarget says so in err.
#pragma once

#include <memory>
#include <string>

#include "bench_config.h"
#include "target.h"

namespace tldb::peerbench {

std::unique_ptr<Target> MakeTarget(const std::string& name, const BenchConfig& cfg,
                                   std::string* err);

}  // namespace tldb::peerbench
