// Backup messages: the bodies of the online-backup operations BACKUP_OPEN (0x70), BACKUP_READ
// (0x71) and BACKUP_CLOSE (0x72), with encoders and strict decoders (docs/protocol.md "Online
// backup").
//
// Contract: as messages.h — a Decode() accepts a body only if it is exactly one well-formed
// message. BACKUP_OPEN's request body is empty; BACKUP_CLOSE's response body is empty.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/wire.h"

namespace tldb::proto {

// Largest BACKUP_READ answer the server sends (bytes of file data): one read of this size is a
// short turn of an event loop (a page-cache copy of 1 MiB takes well under a millisecond; a cold
// disk read of it a few), and it is a quarter of the default frame limit.
inline constexpr uint32_t kBackupChunkBytesMax = 1u << 20;

struct BackupFile {
  std::string path;  // relative, '/'-separated: "CATALOG", "ns/<namespace>/<file>"
  uint64_t bytes = 0;
  uint64_t xxh3 = 0;  // XXH3-64 (seed 0) of the whole file
};
struct BackupNamespace {
  std::string ns;
  uint64_t segment = 0, offset = 0;  // the log position the backup of this namespace ends at
};
struct BackupOpenResponse {
  uint64_t backup_id = 0;
  uint32_t chunk_bytes_max = 0;  // the most bytes one BACKUP_READ answers
  std::vector<BackupFile> files;
  std::vector<BackupNamespace> namespaces;
};
struct BackupReadRequest {
  uint64_t backup_id = 0;
  uint32_t file_index = 0;  // into BackupOpenResponse::files
  uint64_t offset = 0;
  uint32_t bytes_max = 0;
};
struct BackupReadResponse {
  uint64_t offset = 0;
  std::string_view data;  // empty: offset is at the end of the file
};
struct BackupCloseRequest {
  uint64_t backup_id = 0;
};

void Encode(const BackupOpenResponse& m, WireWriter& w);
void Encode(const BackupReadRequest& m, WireWriter& w);
void Encode(const BackupReadResponse& m, WireWriter& w);
void Encode(const BackupCloseRequest& m, WireWriter& w);
bool Decode(std::string_view body, BackupOpenResponse* m);
bool Decode(std::string_view body, BackupReadRequest* m);
bool Decode(std::string_view body, BackupReadResponse* m);
bool Decode(std::string_view body, BackupCloseRequest* m);

// Decodes the request body of a backup opcode and discards it (DecodeAnyRequest).
bool DecodeBackupRequest(uint8_t op, std::string_view body);

}  // namespace tldb::proto
