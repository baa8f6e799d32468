// Helpers shared by recovery_test and disk_error_test: a store on the simulated backend with a
// manual clock, inline pre-zeroing and no background maintenance (deterministic), and 64 KiB
// segments.
#pragma once

#include <memory>

#include "io/sim_file_system.h"
#include "tldb/clock.h"
#include "tldb/db.h"

namespace tldb {

inline constexpr char kDir[] = "/db";

inline Options SimOptions(std::shared_ptr<SimFileSystem> fs, bool salvage = false) {
  Options o;
  o.file_system = std::move(fs);
  o.clock = std::make_shared<ManualClock>(1'700'000'000'000);
  o.salvage = salvage;
  o.prezero = Options::Prezero::kInline;  // deterministic: no background thread touches the fs
  o.background_maintenance = false;
  return o;
}

inline NamespaceOptions SmallSegments() {
  NamespaceOptions n;
  n.segment_bytes_max = 64 << 10;
  return n;
}

}  // namespace tldb
