// The fuzz targets' entry logic, shared by the libFuzzer binaries (tests/fuzz/*_fuzzer.cc, built
// by tools/fuzz_smoke.sh with clang) and by fuzz_replay_test (any compiler), which runs every
// file of tests/fuzz/<target>_corpus/ through the same functions.
//
// Contract: each function accepts any bytes. A violated invariant (wrong data served, a
// round trip that is not the identity, a hang) prints what went wrong and aborts, which both
// libFuzzer and the replay test report as a failure; crashes and sanitizer reports likewise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace tldb::fuzz {

// record codec: arbitrary bytes through DecodeRecord (a decoded record must re-encode to the
// same bytes), and encode -> decode of a structured random record (must be the identity).
void RecordTarget(const uint8_t* data, size_t size);
// segment and index readers: a segment file (and optionally a sealed segment plus its index
// file) built from the input, fed to ScanSegment/ClassifyTail and SegmentIndexReader directly,
// then Db::Open on the simulated backend with and without salvage, reading everything back.
void SegmentTarget(const uint8_t* data, size_t size);
// server sessions: a sequence of valid frames with fuzzed fields sent to an in-process
// tldb-server (one event loop, Db on the simulated backend) over loopback.
void SessionTarget(const uint8_t* data, size_t size);

// Prints "fuzz invariant violated: what" and aborts.
[[noreturn]] inline void Fail(const char* what) {
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
  std::abort();
}

}  // namespace tldb::fuzz

#define TLDB_FUZZ_CHECK(cond)                                                         \
  do {                                                                                \
    if (!(cond)) ::tldb::fuzz::Fail(__FILE__ ":" TLDB_FUZZ_STR(__LINE__) ": " #cond); \
  } while (0)
#define TLDB_FUZZ_STR(x) TLDB_FUZZ_STR2(x)
#define TLDB_FUZZ_STR2(x) #x
