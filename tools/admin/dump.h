// dump: the records of a data directory or of one segment file (plain or compressed), one
// message per line (a fan-out record gives one line per target): segment and offset, SeqId,
// timestamp, timeline, record type and flags, client_msg_id, and the payload as text when
// printable, else base64. Maintenance records get one line each, typed recall / edit / trim,
// whose SeqId is the target (the message recalled or edited; for a trim the first SeqId kept);
// an edit shows its new payload. JSON Lines with `json` (maintenance lines have "target_seq").
// Read-only: safe beside a running server. It shows the records as stored: use export for what
// the store serves.
//
// Contract: lines come in file order (namespace, segment id, record offset; in a compressed
// segment offsets are record-space offsets, the ones its index uses). Records past a torn or
// corrupt spot are not shown; a text-mode "#" line says where and why the scan stopped.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "tldb/file_system.h"
#include "tldb/types.h"

namespace tldb::admin {

struct DumpOptions {
  bool json = false;
  std::string ns;        // empty: every namespace
  std::string timeline;  // empty: every timeline
  Seq from_seq = 0;      // only lines with seq (or target seq) >= from_seq
  uint64_t limit = 0;    // at most this many lines (0: no limit)
};

Status Dump(FileSystem& fs, const std::string& path, const DumpOptions& options, std::ostream& out);

}  // namespace tldb::admin
