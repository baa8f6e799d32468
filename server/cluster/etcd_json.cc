#include "cluster/etcd_json.h"

#include <array>
#include <charconv>
#include <cstdio>

namespace tldb::cluster::etcd_json {

namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> MakeReverse() {
  std::array<int8_t, 256> r{};
  for (auto& v : r) v = -1;
  for (size_t i = 0; i < kAlphabet.size(); ++i) {
    r[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  }
  return r;
}
constexpr std::array<int8_t, 256> kReverse = MakeReverse();

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t n = static_cast<uint32_t>(static_cast<uint8_t>(bytes[i])) << 16;
    if (rest == 2) n |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const size_t pad = last ? (text[i + 3] == '=' ? (text[i + 2] == '=' ? 2 : 1) : 0) : 0;
    uint32_t n = 0;
    for (size_t j = 0; j < 4; ++j) {
      int v = 0;
      if (j < 4 - pad) {
        v = kReverse[static_cast<unsigned char>(text[i + j])];
        if (v < 0) return std::nullopt;
      }
      n = (n << 6) | static_cast<uint32_t>(v);
    }
    out += static_cast<char>((n >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

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
    auto bytes = Base64Decode(it->get_ref<const std::string&>());
    if (!bytes) return Status::IOError(std::string(field) + " is not base64: " + it->dump());
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
