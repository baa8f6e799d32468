#include "server_core.h"

#include <cstdio>
#include <ctime>
#include <string>

#include "loop.h"

namespace tldb::server {

void ServerCore::Log(std::string_view line) const {
  if (config.log) {
    config.log(line);
    return;
  }
  char ts[32];
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::string s = std::string(ts) + " tldb-server: " + std::string(line) + "\n";
  std::fwrite(s.data(), 1, s.size(), stderr);
}

int64_t ServerCore::PeerNowMs() const {
  return config.peer_budget_clock_ms ? config.peer_budget_clock_ms() : NowMs();
}

void ServerCore::ChargeRefused(const Connection& c) {
  if (refusals && c.handshaken() && !c.client().empty()) refusals->Refused(c.client(), PeerNowMs());
}

ServerCore::~ServerCore() = default;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace tldb::server
