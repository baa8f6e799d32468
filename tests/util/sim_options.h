// Options for a store on the simulated file system in a test: a manual clock, segments
// prepared inline (deterministic: no preparer thread) and no background maintenance (the test
// runs compaction and TTL itself).
#pragma once

#include <memory>
#include <utility>

#include "io/sim_file_system.h"
#include "tldb/clock.h"
#include "tldb/db.h"

namespace tldb::testing {

inline Options SimOptions(std::shared_ptr<SimFileSystem> fs, std::shared_ptr<Clock> clock) {
  Options o;
  o.file_system = std::move(fs);
  o.clock = std::move(clock);
  o.prezero = Options::Prezero::kInline;
  o.background_maintenance = false;
  return o;
}

}  // namespace tldb::testing
