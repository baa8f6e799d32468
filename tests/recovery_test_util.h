// Helpers shared by recovery_test and disk_error_test: a store on the simulated backend with a
// manual clock, inline pre-zeroing and no background maintenance (deterministic), and 64 KiB
// segments.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

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

// `n` bytes from a 64-bit LCG seeded by *rng (advanced): damage that repeats for a seed.
inline std::string RandomBytes(uint64_t* rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) {
    *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
    c = static_cast<char>(*rng >> 56);
  }
  return s;
}

}  // namespace tldb
