// MessageCodec: the bytes of a replication PeerMessage (docs/replication.md "Message encoding"):
// little-endian, the same primitives as the client protocol (protocol/wire.h). Every decode is
// bounds-checked; a message that does not decode is refused whole.
#pragma once

#include <string>
#include <string_view>

#include "replication/peer_message.h"
#include "tldb/status.h"

namespace tldb::repl {

class MessageCodec {
 public:
  static std::string Encode(const PeerMessage& m);
  static Result<PeerMessage> Decode(std::string_view bytes);
  // Upper bounds that protect the decoder (a frame is at most a group, about 4 MiB).
  static constexpr uint32_t kFramesMax = 4096;
  static constexpr uint32_t kLogsMax = 4096;
  static constexpr uint32_t kEpochsMax = 1u << 16;
  // A snapshot's manifest: two files (segment, index) per segment of each namespace, plus a
  // few more; 2^20 covers 64 TiB of 64 MiB segments.
  static constexpr uint32_t kFilesMax = 1u << 20;
};

}  // namespace tldb::repl
