// Replays every file of tests/fuzz/<target>_corpus/ (seeds, and every input a fuzzer ever
// crashed on, kept as regressions) through the same entry functions the libFuzzer binaries
// call (tests/fuzz/fuzz_targets.h). A violated invariant aborts the test binary.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/fuzz_targets.h"

namespace tldb::fuzz {
namespace {

// Runs `target` on each corpus file in name order; returns how many there were.
size_t Replay(const std::string& name, void (*target)(const uint8_t*, size_t)) {
  const std::filesystem::path dir = std::filesystem::path(TLDB_FUZZ_DIR) / (name + "_corpus");
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    std::ifstream in(f, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    target(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  return files.size();
}

TEST(FuzzReplayTest, RecordCorpus) {
  EXPECT_GT(Replay("record", RecordTarget), 0u);
}

TEST(FuzzReplayTest, SegmentCorpus) {
  EXPECT_GT(Replay("segment", SegmentTarget), 0u);
}

TEST(FuzzReplayTest, SessionCorpus) {
  EXPECT_GT(Replay("session", SessionTarget), 0u);
}

}  // namespace
}  // namespace tldb::fuzz
