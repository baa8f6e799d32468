// LargeBuffer and SlabChunks: the huge-page-friendly memory of the timeline table and the active
// segment (zero-filled, but for the active segment's heap chunks).
#include "util/large_buffer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <utility>

#include "util/slab_chunks.h"

namespace tldb {
namespace {

bool AllZero(const char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

TEST(LargeBufferTest, ZeroFilledAndAlignedToHugePagesFromTwoMiB) {
  for (size_t bytes : {size_t{1}, size_t{4096}, size_t{1} << 20, LargeBuffer::kHugePageBytes,
                       (size_t{5} << 20) + 3}) {
    LargeBuffer b(bytes);
    ASSERT_NE(b.data(), nullptr);
    EXPECT_EQ(b.size(), bytes);
    EXPECT_TRUE(AllZero(b.data(), bytes)) << bytes;
    b.data()[bytes - 1] = 1;  // writable to the last byte
    if (bytes >= LargeBuffer::kHugePageBytes) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % LargeBuffer::kHugePageBytes, 0u);
    }
  }
  LargeBuffer none(0);
  EXPECT_EQ(none.data(), nullptr);
}

TEST(LargeBufferTest, HeapBuffersAreWritableToTheLastByte) {
  LargeBuffer b(size_t{3} << 20, LargeBuffer::Pages::kHeap);
  ASSERT_NE(b.data(), nullptr);
  EXPECT_EQ(b.size(), size_t{3} << 20);
  std::memset(b.data(), 7, b.size());  // not zero-filled: every byte is written first
  EXPECT_EQ(b.data()[b.size() - 1], 7);
}

TEST(LargeBufferTest, MovesOwnership) {
  LargeBuffer a(3u << 20);
  a.data()[0] = 42;
  char* p = a.data();
  LargeBuffer b(std::move(a));
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): the moved-from state
  EXPECT_EQ(b.data(), p);
  LargeBuffer c(100);
  c = std::move(b);
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(c.data()[0], 42);
  EXPECT_EQ(c.size(), 3u << 20);
}

TEST(SlabChunksTest, SmallChunksFirstThenSlabs) {
  constexpr size_t kChunk = size_t{160} << 10;
  SlabChunks chunks(kChunk, 2, 16);
  std::set<char*> seen;
  for (int i = 0; i < 40; ++i) {
    char* c = chunks.Take();
    ASSERT_TRUE(seen.insert(c).second) << "chunk " << i << " handed out twice";
    ASSERT_TRUE(AllZero(c, kChunk)) << i;
    c[0] = c[kChunk - 1] = 1;  // writable, and no two chunks overlap (checked next round)
  }
  // 2 small chunks, then 38 from slabs of 16: three slabs.
  EXPECT_EQ(chunks.bytes_held(), 2 * kChunk + 3 * 16 * kChunk);
  for (char* c : seen) {
    for (char* d : seen) {
      if (c != d) {
        ASSERT_TRUE(d + kChunk <= c || c + kChunk <= d);
      }
    }
  }
}

}  // namespace
}  // namespace tldb
