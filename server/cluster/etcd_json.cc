#include "cluster/etcd_json.h"

#include <charconv>
#include <cstdio>

#include "admin/base64.h"

namespace tldb::cluster::etcd_json {

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

std::string Printable(std::string_view key) {
  std::string out;
  for (size_t i = 0; i < key.size() && out.size() < 80; ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (out.size() >= 80) out += "...";
  return out;
}

Result<int64_t> Int64Field(const nlohmann::json& object, const char* name) {
  if (!object.is_object()) return Status::IOError(std::string("expected an object around ") + name);
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return int64_t{0};
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    int64_t v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size() && !s.empty()) return v;
  }
  return Status::IOError(std::string("field ") + name + " is not an int64: " + it->dump());
}

Result<KeyValue> ParseKeyValue(const nlohmann::json& object) {
  if (!object.is_object()) return Status::IOError("key-value is not an object: " + object.dump());
  KeyValue kv;
  for (const char* field : {"key", "value"}) {
    const auto it = object.find(field);
    if (it == object.end()) continue;  // empty bytes are left out
    if (!it->is_string()) return Status::IOError(std::string(field) + " is not a string");
    auto bytes = admin::Base64Decode(it->get_ref<const std::string&>());
    if (!bytes.ok()) {
      return Status::IOError(std::string(field) + " " + it->dump() + ": " +
                             bytes.status().message());
    }
    (field[0] == 'k' ? kv.key : kv.value) = std::move(*bytes);
  }
  TLDB_ASSIGN_OR_RETURN(kv.create_revision, Int64Field(object, "create_revision"));
  TLDB_ASSIGN_OR_RETURN(kv.mod_revision, Int64Field(object, "mod_revision"));
  TLDB_ASSIGN_OR_RETURN(kv.version, Int64Field(object, "version"));
  TLDB_ASSIGN_OR_RETURN(kv.lease, Int64Field(object, "lease"));
  return kv;
}

Status ErrorStatus(const std::string& where, long http_status, std::string_view body) {
  const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  std::string message;
  int code = -1;
  if (j.is_object()) {
    if (const auto it = j.find("message"); it != j.end() && it->is_string()) {
      message = it->get<std::string>();
    }
    if (const auto it = j.find("code"); it != j.end() && it->is_number_integer()) {
      code = it->get<int>();
    }
  }
  if (message.empty()) message = std::string(body.substr(0, 200));
  const std::string m = where + ": HTTP " + std::to_string(http_status) + ": " + message;
  switch (code) {  // gRPC status codes
    case 3:        // INVALID_ARGUMENT
    case 11:       // OUT_OF_RANGE (e.g. a compacted revision)
      return Status::InvalidArgument(m);
    case 4:  // DEADLINE_EXCEEDED
      return Status::TimedOut(m);
    case 5:  // NOT_FOUND (e.g. lease not found)
      return Status::NotFound(m);
    case 6:  // ALREADY_EXISTS
      return Status::AlreadyExists(m);
    case 7:   // PERMISSION_DENIED
    case 16:  // UNAUTHENTICATED
      return Status::PermissionDenied(m);
    case 8:  // RESOURCE_EXHAUSTED
      return Status::Busy(m);
    case 9:   // FAILED_PRECONDITION
    case 10:  // ABORTED
      return Status::Conflict(m);
    case 12:  // UNIMPLEMENTED
      return Status::NotSupported(m);
    default:  // UNAVAILABLE (no leader, request timed out), INTERNAL, UNKNOWN, or no code
      return Status::IOError(m);
  }
}

}  // namespace tldb::cluster::etcd_json
