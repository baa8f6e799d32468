// Transport: how a replica's messages reach the other replicas of its partition. Best effort:
// a message may be lost, delayed, duplicated or reordered; the protocol (docs/replication.md)
// copes with each. Implementations: SimTransport (tests, seeded faults) and the TCP transport
// of tldb-server.
#pragma once

#include <cstdint>
#include <string>

namespace tldb::repl {

class Transport {
 public:
  virtual ~Transport() = default;
  // Queues `bytes` (an encoded Message) for node `to`. Thread-safe; never blocks on the network.
  virtual void Send(uint32_t from, uint32_t to, std::string bytes) = 0;
};

}  // namespace tldb::repl
