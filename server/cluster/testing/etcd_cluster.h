// EtcdCluster: real etcd processes on 127.0.0.1 for the tests — one member or a few — each
// with its own data directory under a fresh temporary directory and free loopback ports.
//
// Contract:
// - Start() spawns every member (`etcd` looked up on PATH; each dies with the test process)
//   and returns once each member answers /health with "true" (a leader is elected), within
//   start_timeout_ms. When etcd is not installed it returns an error that says so (the tests
//   fail, they do not skip); other failures quote the end of the member's log. Ports are picked
//   free when the cluster is made, and again (up to kStartAttempts in all) when a member could
//   not bind one: another process on the machine may have taken it meanwhile, as an outgoing
//   connection's ephemeral port. Endpoints are final once Start returned.
// - Kill(i) sends SIGKILL; Pause(i)/Resume(i) send SIGSTOP/SIGCONT. The destructor resumes and
//   kills what still runs and removes the directories.
// Thread-safety: none; the test's main thread drives it.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cluster/etcd_types.h"
#include "common/server_process.h"
#include "common/temp_dir.h"
#include "tldb/status.h"

namespace tldb::cluster::testing {

class EtcdCluster {
 public:
  explicit EtcdCluster(size_t members, uint32_t start_timeout_ms = 20'000);
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  static constexpr int kStartAttempts = 3;
  [[nodiscard]] Status Start();
  [[nodiscard]] Status Kill(size_t member);
  [[nodiscard]] Status Pause(size_t member);
  [[nodiscard]] Status Resume(size_t member);

  size_t size() const { return client_ports_.size(); }
  std::string endpoint(size_t member) const;
  std::vector<std::string> endpoints() const;
  // All members' endpoints with test-sized timeouts (connect 500 ms, request 2 s).
  EtcdClientOptions ClientOptions() const;
  pid_t pid(size_t member) const;
  // The member's log (etcd's stderr), for failure messages.
  std::string LogTail(size_t member, size_t max_bytes = 2000) const;

 private:
  Status StartOnce();  // one attempt of Start on the ports picked
  Status WaitHealthy(size_t member, uint32_t timeout_ms);
  Status Signal(size_t member, int signal, const char* name);

  const uint32_t start_timeout_ms_;
  common::TempDir dir_{"tldb-etcd"};
  std::vector<uint16_t> client_ports_;
  std::vector<uint16_t> peer_ports_;
  std::vector<std::unique_ptr<common::ServerProcess>> members_;
  std::vector<bool> paused_;
};

}  // namespace tldb::cluster::testing
