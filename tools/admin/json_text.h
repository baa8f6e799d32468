// JSON text output for the admin commands: string quoting that never loses a byte, and a small
// builder for one flat JSON object per line (JSON Lines). Parsing (import) uses nlohmann-json.
//
// Contract: JsonQuote() of valid UTF-8 is a JSON string that decodes to the same bytes; bytes
// that are not valid UTF-8 are written as \u00XX (readable, not lossless) — callers that need
// lossless output for arbitrary bytes use JsonObject::Bytes(), which switches to a "<name>_b64"
// field holding base64 when the value is not valid UTF-8.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tldb::admin {

bool IsValidUtf8(std::string_view s);
// True when every byte is printable ASCII, tab, or part of valid UTF-8 (no control bytes).
bool IsPrintableText(std::string_view s);
std::string JsonQuote(std::string_view s);

class JsonObject {
 public:
  JsonObject& Str(std::string_view name, std::string_view value);
  // "name": value if valid UTF-8, else "name_b64": base64(value).
  JsonObject& Bytes(std::string_view name, std::string_view value);
  JsonObject& Int(std::string_view name, int64_t value);
  JsonObject& Uint(std::string_view name, uint64_t value);
  JsonObject& Double(std::string_view name, double value);
  JsonObject& Bool(std::string_view name, bool value);
  // `json` must already be valid JSON (a nested object or array).
  JsonObject& Raw(std::string_view name, std::string_view json);
  std::string Done() const { return text_ + "}"; }

 private:
  void Key(std::string_view name);
  std::string text_ = "{";
};

}  // namespace tldb::admin
