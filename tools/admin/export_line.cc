#include "export_line.h"

#include <nlohmann/json.hpp>

#include "base64.h"
#include "json_text.h"

namespace tldb::admin {
namespace {

using nlohmann::json;

// A string field that may come as "<name>" (text) or "<name>_b64" (base64 bytes).
Result<std::string> BytesField(const json& j, const std::string& name, bool required) {
  auto it = j.find(name);
  if (it != j.end()) {
    if (!it->is_string()) return Status::InvalidArgument("\"" + name + "\" is not a string");
    return it->get<std::string>();
  }
  it = j.find(name + "_b64");
  if (it == j.end()) {
    if (required) return Status::InvalidArgument("missing \"" + name + "\"");
    return std::string();
  }
  if (!it->is_string()) return Status::InvalidArgument("\"" + name + "_b64\" is not a string");
  return Base64Decode(it->get<std::string>());
}

}  // namespace

std::string FormatExportLine(std::string_view ns, std::string_view timeline, Seq seq,
                             TimestampMs ts, std::string_view client_msg_id,
                             std::string_view payload) {
  JsonObject o;
  o.Str("ns", ns).Bytes("timeline", timeline).Uint("seq", seq).Int("timestamp_ms", ts);
  o.Bytes("client_msg_id", client_msg_id).Str("payload", Base64Encode(payload));
  return o.Done();
}

Result<ExportLine> ParseExportLine(std::string_view line) {
  const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("not a JSON object");
  ExportLine out;
  TLDB_ASSIGN_OR_RETURN(out.ns, BytesField(j, "ns", true));
  TLDB_ASSIGN_OR_RETURN(out.timeline, BytesField(j, "timeline", true));
  TLDB_ASSIGN_OR_RETURN(out.message.client_msg_id, BytesField(j, "client_msg_id", false));
  auto seq = j.find("seq");
  if (seq == j.end() || !seq->is_number_unsigned() || seq->get<uint64_t>() == 0) {
    return Status::InvalidArgument("\"seq\" must be an integer >= 1");
  }
  out.message.seq = seq->get<uint64_t>();
  auto ts = j.find("timestamp_ms");
  if (ts == j.end() || !ts->is_number_integer()) {
    return Status::InvalidArgument("\"timestamp_ms\" must be an integer");
  }
  out.message.timestamp_ms = ts->get<int64_t>();
  auto payload = j.find("payload");
  if (payload == j.end() || !payload->is_string()) {
    return Status::InvalidArgument("\"payload\" must be a base64 string");
  }
  TLDB_ASSIGN_OR_RETURN(out.message.payload, Base64Decode(payload->get<std::string>()));
  return out;
}

}  // namespace tldb::admin
