// How tldb-bench runs the server of a target (tldb-server, redis-server) as a child process:
// 20 s to become ready, killed if the harness dies (die_with_parent), logging to `log_path`;
// stopped with SIGTERM, then SIGKILL after 5 s.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "common/server_process.h"
#include "tldb/status.h"

namespace tldb::peerbench {

inline common::ServerProcessOptions HarnessServerOptions(std::string log_path) {
  common::ServerProcessOptions so;
  so.log_path = std::move(log_path);
  so.start_timeout_ms = 20'000;
  so.die_with_parent = true;  // never outlive the harness
  return so;
}

// The started server, or nullptr with *err set.
inline std::unique_ptr<common::ServerProcess> StartHarnessServer(common::ServerProcessOptions so,
                                                                 std::string* err) {
  auto server = std::make_unique<common::ServerProcess>(std::move(so));
  if (Status s = server->Start(); !s.ok()) {
    *err = s.message();
    return nullptr;
  }
  return server;
}

inline void StopHarnessServer(common::ServerProcess* server) {
  if (server && server->Alive()) (void)server->Stop(/*timeout_ms=*/5'000);
}

}  // namespace tldb::peerbench
