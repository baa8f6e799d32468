// AddressSanitizer defaults of the fuzzer binaries (not of fuzz_replay_test): ASAN_OPTIONS
// still overrides them.
//
// clear_shadow_mmap_threshold: ASan clears the shadow of a large region by mapping zero pages
// over it once it is above this size (64 KiB of shadow by default), and each such mapping in a
// process with threads on both cores flushes the other core's TLB by interrupt. The segment and
// session targets open stores whose first chunks (timeline table, key arena, active segment)
// are that large, several times per input: the flushes were about a third of the segment
// target's samples. Cleared with memset instead: 15-20% less CPU per input over the seed
// corpora (docs/reliability.md, "Fuzzing at depth").
extern "C" const char* __asan_default_options() {  // NOLINT(bugprone-reserved-identifier)
  return "clear_shadow_mmap_threshold=1099511627776";
}
