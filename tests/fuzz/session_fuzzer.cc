// libFuzzer entry for the session target; the logic is in session_target.cc (shared with
// fuzz_replay_test). Build and run: tools/fuzz.sh session SECONDS (docs/reliability.md).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tldb::fuzz::SessionTarget(data, size);
  return 0;
}
