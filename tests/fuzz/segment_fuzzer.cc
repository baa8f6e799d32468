// libFuzzer entry for the segment target; the logic is in segment_target.cc (shared with
// fuzz_replay_test). Build and run: tools/fuzz.sh segment SECONDS (docs/reliability.md).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tldb::fuzz::SegmentTarget(data, size);
  return 0;
}
