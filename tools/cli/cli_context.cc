#include "cli_context.h"

#include <cstdio>
#include <ctime>

namespace tldb::cli {

std::unique_ptr<Client> CliContext::Connect() {
  ClientOptions o;
  o.server = server;
  o.token = token;
  o.tls = tls || !tls_ca.empty() || !tls_cert.empty() || !tls_server_name.empty();
  o.tls_ca_file = tls_ca;
  o.tls_cert_file = tls_cert;
  o.tls_key_file = tls_key;
  o.tls_server_name = tls_server_name;
  o.client_name = "tldb-cli";
  o.request_timeout_ms = timeout_ms;
  o.connect_timeout_ms = std::min<uint32_t>(timeout_ms, 5'000);
  auto c = Client::Connect(o);
  if (!c.ok()) {
    Fail(c.status());
    return nullptr;
  }
  return std::move(c).value();
}

bool CliContext::Fail(const Status& s) {
  std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
  exit_code = 1;
  return false;
}

bool CliContext::RequireTimeline() {
  if (!timeline.empty()) return true;
  std::fprintf(stderr, "error: --timeline KEY is required\n");
  exit_code = 2;
  return false;
}

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    switch (ch) {
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
        if (ch < 0x20 || ch >= 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", ch);
          out += buf;
        } else {
          out.push_back(static_cast<char>(ch));
        }
    }
  }
  return out + "\"";
}

std::string MessageJson(const Message& m) {
  return "{\"seq\":" + std::to_string(m.seq) +
         ",\"timestamp_ms\":" + std::to_string(m.timestamp_ms) +
         ",\"client_msg_id\":" + JsonString(m.client_msg_id) +
         ",\"payload\":" + JsonString(m.payload) + "}";
}

std::string MessageText(const Message& m) {
  std::time_t secs = static_cast<std::time_t>(m.timestamp_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[32];
  std::strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
  std::string s = std::to_string(m.seq) + "\t" + ts + "\t";
  if (!m.client_msg_id.empty()) s += "[" + m.client_msg_id + "] ";
  return s + m.payload;
}

}  // namespace tldb::cli
