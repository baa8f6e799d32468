// SlabChunks: hands out zero-filled chunks of one size for a growing table. The first
// `small_chunks` are allocated one by one, so a small table stays small; after them chunks are
// carved from slabs of `chunks_per_slab` (LargeBuffer: whole huge pages, a page fault per 2 MiB
// instead of per 4 KiB). Chunks live as long as the SlabChunks. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "util/large_buffer.h"

namespace tldb {

class SlabChunks {
 public:
  SlabChunks(size_t chunk_bytes, size_t small_chunks, size_t chunks_per_slab);

  // A new zero-filled chunk of chunk_bytes.
  char* Take();
  // Bytes allocated (whole slabs included).
  uint64_t bytes_held() const { return bytes_held_; }

 private:
  const size_t chunk_bytes_, small_chunks_, chunks_per_slab_;
  std::vector<LargeBuffer> buffers_;
  size_t taken_ = 0;         // chunks handed out
  size_t left_in_slab_ = 0;  // chunks still free in the last slab
  uint64_t bytes_held_ = 0;
};

}  // namespace tldb
