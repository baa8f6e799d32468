#include "util/checksum.h"

#include <xxhash.h>

#include "util/check.h"

namespace tldb {

uint64_t Hash64(const void* data, size_t len, uint64_t seed) {
  return XXH3_64bits_withSeed(data, len, seed);
}

Hasher64::Hasher64(uint64_t seed) : state_(XXH3_createState()) {
  TLDB_CHECK(state_ != nullptr);
  XXH3_64bits_reset_withSeed(static_cast<XXH3_state_t*>(state_), seed);
}
Hasher64::~Hasher64() {
  XXH3_freeState(static_cast<XXH3_state_t*>(state_));
}
void Hasher64::Update(const void* data, size_t len) {
  XXH3_64bits_update(static_cast<XXH3_state_t*>(state_), data, len);
}
uint64_t Hasher64::Digest() const {
  return XXH3_64bits_digest(static_cast<XXH3_state_t*>(state_));
}

}  // namespace tldb
