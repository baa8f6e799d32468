#include "json_text.h"

#include <cstdio>

#include "base64.h"

namespace tldb::admin {
namespace {

// Length of the UTF-8 sequence starting at s[i], or 0 if it is not valid UTF-8.
size_t Utf8SequenceBytes(std::string_view s, size_t i) {
  const auto c = static_cast<uint8_t>(s[i]);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((c & 0xe0) == 0xc0) {
    n = 2, cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3, cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4, cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto cc = static_cast<uint8_t>(s[i + k]);
    if ((cc & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (cc & 0x3f);
  }
  const uint32_t min_cp = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
  if (cp < min_cp || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = Utf8SequenceBytes(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

bool IsPrintableText(std::string_view s) {
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return IsValidUtf8(s);
}

std::string JsonQuote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = Utf8SequenceBytes(s, i);
    if (n > 1) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

void JsonObject::Key(std::string_view name) {
  if (text_.size() > 1) text_ += ',';
  text_ += JsonQuote(name);
  text_ += ':';
}

JsonObject& JsonObject::Str(std::string_view name, std::string_view value) {
  Key(name);
  text_ += JsonQuote(value);
  return *this;
}

JsonObject& JsonObject::Bytes(std::string_view name, std::string_view value) {
  if (IsValidUtf8(value)) return Str(name, value);
  Key(std::string(name) + "_b64");
  text_ += JsonQuote(Base64Encode(value));
  return *this;
}

JsonObject& JsonObject::Int(std::string_view name, int64_t value) {
  Key(name);
  text_ += std::to_string(value);
  return *this;
}

JsonObject& JsonObject::Uint(std::string_view name, uint64_t value) {
  Key(name);
  text_ += std::to_string(value);
  return *this;
}

JsonObject& JsonObject::Double(std::string_view name, double value) {
  Key(name);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", value);
  text_ += buf;
  return *this;
}

JsonObject& JsonObject::Bool(std::string_view name, bool value) {
  Key(name);
  text_ += value ? "true" : "false";
  return *this;
}

JsonObject& JsonObject::Raw(std::string_view name, std::string_view json) {
  Key(name);
  text_ += json;
  return *this;
}

}  // namespace tldb::admin
