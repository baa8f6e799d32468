// Hostile clients against a real tldb-server: one load per misbehaviour, each repeating its
// "round" until stopped and recording whether the server answered as docs/protocol.md says.
//
// Contract:
// - The server runs with HostileServerArgs() (two tokens, short frame deadline and send stall)
//   and the namespace kHostileOpenNs exists (PrepareHostileTarget creates it and the data the
//   cases read).
// - A case's Run() repeats rounds until `stop` (checked between rounds, so at least one round
//   runs however late its thread starts; a round lasts at most ~15 s, usually milliseconds),
//   counting rounds and rounds that went as expected; the first ten deviations are kept as
//   text. A connection the server refuses at once with TOO_MANY_CONNECTIONS (its per-address
//   budgets, spent by the attackers' shared address) ends its round as refused, which is as
//   expected.
// - Run() closes every connection it opened before it returns.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "tldb/status.h"

namespace tldb::faults {

inline constexpr char kHostileAdminToken[] = "admin-secret";
inline constexpr char kHostileLimitedToken[] = "limited-secret";  // rw on kHostileOpenNs only
inline constexpr char kHostileOpenNs[] = "open";
inline constexpr uint32_t kHostileFrameDeadlineMs = 1'000;
inline constexpr uint32_t kHostileSendStallMs = 1'000;
// --buffers-bytes-max of the hostile server: small, so the large-frame case hits it.
inline constexpr uint64_t kHostileBuffersBytesMax = 32u << 20;

// The flags the hostile suites start tldb-server with.
std::vector<std::string> HostileServerArgs();
// Creates kHostileOpenNs, a "big" timeline (8 × 256 KiB) for the non-reading client and a
// "chat" timeline of 1,000 small messages.
Status PrepareHostileTarget(const std::string& address);

struct HostileOutcome {
  std::atomic<uint64_t> rounds{0}, as_expected{0};
  // Rounds (counted in as_expected too) whose connection the server refused at once with
  // TOO_MANY_CONNECTIONS: the per-address budgets (tldb-server --peer-budgets) once the
  // attackers' address has spent them. Such a round is what the server must do then.
  std::atomic<uint64_t> refused{0};
  void Note(bool ok, const std::string& what);  // one round's verdict
  void NoteRefused();  // a round refused by the per-address or per-client budgets
  std::vector<std::string> Deviations() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::string> deviations_;  // the first 10
};

struct HostileCaseOptions {
  uint32_t idle_connections = 2'000;
  uint32_t slowloris_connections = 100;   // per round
  uint32_t large_frame_connections = 40;  // per round, each holding a ~4 MiB partial frame
  uint32_t round_pause_us = 0;            // pause between two rounds of a case (0: flat out)
};

struct HostileCase {
  std::string name;
  std::string expectation;  // what the server must do, in words
  std::function<void(uint16_t port, const std::atomic<bool>& stop, HostileOutcome* out)> run;
};

std::vector<HostileCase> HostileCases(const HostileCaseOptions& options);

}  // namespace tldb::faults
