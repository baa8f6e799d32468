// The session fuzz target's requests: the bytes of one session built from a fuzz input, and
// what was sent (session_target.cc checks the server's answers against it). See
// session_target.cc for what a session holds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace tldb::fuzz {

// The marker PING that ends every session.
inline constexpr char kSessionMarker[] = "fuzz-session-end";
inline constexpr uint64_t kSessionMarkerId = 0x5E55'10E1'D000'0001ull;

// A request of the session, as sent: a response must carry its id and opcode.
struct SentRequest {
  uint8_t op = 0;
  bool may_park = false;  // a WAIT longer than 30 ms: it may still be parked at the end
};

// Builds the session of input [data, data + size) into *out, and into *sent every request it
// holds by request id (ids may repeat); both are cleared first. *body is scratch space for a
// request's body. The caller may keep all three across inputs: a session may hold a 1 MiB
// request, and memory reused is not faulted in again (under ASan, a fresh copy faults every
// page).
void BuildSession(const uint8_t* data, size_t size, std::string* out, std::string* body,
                  std::multimap<uint64_t, SentRequest>* sent);

}  // namespace tldb::fuzz
