#include "util/slab_chunks.h"

#include "util/check.h"

namespace tldb {

SlabChunks::SlabChunks(size_t chunk_bytes, size_t small_chunks, size_t chunks_per_slab)
    : chunk_bytes_(chunk_bytes), small_chunks_(small_chunks), chunks_per_slab_(chunks_per_slab) {
  TLDB_CHECK(chunk_bytes_ > 0 && chunks_per_slab_ > 0);
}

char* SlabChunks::Take() {
  ++taken_;
  if (taken_ <= small_chunks_) {
    buffers_.emplace_back(chunk_bytes_);
    bytes_held_ += chunk_bytes_;
    return buffers_.back().data();
  }
  if (left_in_slab_ == 0) {
    buffers_.emplace_back(chunk_bytes_ * chunks_per_slab_);
    bytes_held_ += chunk_bytes_ * chunks_per_slab_;
    left_in_slab_ = chunks_per_slab_;
  }
  const LargeBuffer& slab = buffers_.back();
  char* chunk = slab.data() + (chunks_per_slab_ - left_in_slab_) * chunk_bytes_;
  --left_in_slab_;
  return chunk;
}

}  // namespace tldb
