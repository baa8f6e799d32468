// TimelineRef: one timeline as every target names it. `name` is the tldb timeline key and the
// Redis stream key ("c:17", "s:4711", "g:9"); `id` is its 8-byte number, the prefix of every
// RocksDB key (id big-endian, then the SeqId big-endian). Kinds: conversation, sync (a user's
// device inbox), group.
#pragma once

#include <cstdint>
#include <string>

namespace tldb::peerbench {

enum class TimelineKind : uint8_t { kConversation = 1, kSync = 2, kGroup = 3 };

struct TimelineRef {
  uint64_t id = 0;
  std::string name;

  static TimelineRef Make(TimelineKind kind, uint32_t n) {
    static constexpr char kPrefix[] = {'?', 'c', 's', 'g'};
    return {(static_cast<uint64_t>(kind) << 56) | n,
            std::string(1, kPrefix[static_cast<int>(kind)]) + ":" + std::to_string(n)};
  }
};

}  // namespace tldb::peerbench
