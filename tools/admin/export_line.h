// ExportLine: one message of the export format (JSON Lines, one message per line):
//   {"ns":"store","timeline":"conv:1","seq":1,"timestamp_ms":1700000000000,
//    "client_msg_id":"m1","payload":"aGk="}
// The payload is always base64. `timeline` and `client_msg_id` are JSON strings when they are
// valid UTF-8, else they are written as "timeline_b64" / "client_msg_id_b64" (never lossy).
#pragma once

#include <string>
#include <string_view>

#include "tldb/status.h"
#include "tldb/types.h"

namespace tldb::admin {

struct ExportLine {
  std::string ns;
  std::string timeline;
  Message message;
};

std::string FormatExportLine(std::string_view ns, std::string_view timeline, Seq seq,
                             TimestampMs ts, std::string_view client_msg_id,
                             std::string_view payload);
// InvalidArgument naming the field that is missing or malformed.
Result<ExportLine> ParseExportLine(std::string_view line);

}  // namespace tldb::admin
