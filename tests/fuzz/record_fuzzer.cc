// libFuzzer entry for the record target; the logic is in record_target.cc (shared with
// fuzz_replay_test). Build and run: tools/fuzz.sh record SECONDS (docs/reliability.md).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tldb::fuzz::RecordTarget(data, size);
  return 0;
}
