// dump: the records of a data directory or of one segment file, one message per line (a fan-out
// record gives one line per target): segment and offset, SeqId, timestamp, timeline, record type
// and flags, client_msg_id, and the payload as text when printable, else base64. JSON Lines with
// `json`. Read-only: safe beside a running server.
//
// Contract: messages come in log order (namespace, segment id, offset). Records past a torn or
// corrupt spot are not shown; a text-mode "#" line says where and why the scan stopped.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "io/file_system.h"
#include "tldb/types.h"

namespace tldb::admin {

struct DumpOptions {
  bool json = false;
  std::string ns;        // empty: every namespace
  std::string timeline;  // empty: every timeline
  Seq from_seq = 0;      // only messages with seq >= from_seq
  uint64_t limit = 0;    // at most this many lines (0: no limit)
};

Status Dump(FileSystem& fs, const std::string& path, const DumpOptions& options, std::ostream& out);

}  // namespace tldb::admin
