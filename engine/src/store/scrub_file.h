// SCRUB: where a namespace's background scrub stands, so that it resumes there after a restart,
// and the sealed segments it found damaged (quarantined from reads, remembered across restarts).
// The byte layout is docs/format.md "Scrub position"; replaced atomically (tmp, fdatasync,
// rename, directory fsync). It holds no data: a missing file starts a fresh pass, a damaged one
// is reported and replaced.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tldb/status.h"
#include "tldb/types.h"

namespace tldb {

// What the scrub found wrong with one sealed segment, in `tldb verify`'s terms: the file (its
// name inside the namespace directory: the segment or its index), a byte offset in it, what.
struct ScrubFinding {
  std::string file_name;
  uint64_t offset = 0;
  std::string what;
  bool operator==(const ScrubFinding&) const = default;
};

struct ScrubState {
  static constexpr uint32_t kVersion = 1;
  bool in_pass = false;             // a pass has started and not finished
  TimestampMs pass_started_ms = 0;  // wall clock when the current (or last) pass started
  uint64_t next_segment_id = 0;     // the pass goes on with the first sealed id >= this
  uint64_t passes_completed = 0;
  struct Quarantined {
    uint64_t segment_id = 0;
    uint32_t gen = 0;
    ScrubFinding finding;
    bool operator==(const Quarantined&) const = default;
  };
  std::vector<Quarantined> quarantined;
  bool operator==(const ScrubState&) const = default;
};

std::string EncodeScrubState(const ScrubState& s);
Result<ScrubState> DecodeScrubState(std::string_view bytes, std::string_view what);

}  // namespace tldb
