// TldbServerTarget: tldb-server started by the harness on a free loopback port (default
// server options, data under the target's directory), driven through the C++ client
// (tldb/client.h): one Client (one TCP connection) per Session. Pipelined appends use
// Client::AppendAsync; fan-out is one APPEND_FANOUT request. The longpoll workload waits with
// a WAIT that returns the messages (server_wait "wait"; "wait-scan": WAIT then SCAN), or
// ("subscribe") through a SUBSCRIBE kept open. group_pull reads a device's groups with one
// READ_MULTI (server_pull "read-multi"; "lastseq-scan": LAST_SEQ then a SCAN per timeline
// with news). The server runs with its default block cache unless --tldb-cache-mb names one
// (then --block-cache-mb, checked through STATS once it runs). With `tls` the server listens with
// TLS (a CA and a certificate for 127.0.0.1 are made with the openssl command in the target's
// directory at Start) and every client connects with TLS, verifying it.
#pragma once

#include <memory>
#include <string>

#include "common/server_process.h"
#include "harness_server.h"
#include "target.h"
#include "tldb/client.h"

namespace tldb::peerbench {

class TldbServerTarget : public Target {
 public:
  TldbServerTarget(std::string server_bin, std::string io_backend, std::string server_wait,
                   std::string server_pull, uint64_t block_cache_bytes, bool tls,
                   bool background_compaction)
      : bin_(std::move(server_bin)),
        io_backend_(std::move(io_backend)),
        wait_(std::move(server_wait)),
        pull_(std::move(server_pull)),
        block_cache_bytes_(block_cache_bytes),
        tls_(tls),
        background_compaction_(background_compaction) {}
  std::string Name() const override { return "tldb-server"; }
  std::string Describe() const override;
  bool Start(const std::string& dir, std::string* err) override;
  bool SetDurability(Dur, std::string*) override { return true; }
  std::unique_ptr<Session> Connect(std::string* err) override;
  bool Flush(std::string* err) override;
  ResourceSample Sample() override;
  uint64_t DiskBytes() override;
  ~TldbServerTarget() override { Stop(); }
  void Stop() override {
    control_.reset();
    StopHarnessServer(server_.get());
  }

 private:
  bool CheckBlockCache(std::string* err);
  // The options of every client connection (TLS with the target's CA when tls_).
  ClientOptions BaseClientOptions() const;

  std::string bin_, io_backend_, wait_, pull_, dir_, address_;
  uint64_t block_cache_bytes_ = 0;  // 0: the engine's default
  bool tls_ = false;
  bool background_compaction_ = true;              // false: --background-compaction false
  std::string tls_dir_;                            // ca.pem, server.pem, server.key
  std::unique_ptr<common::ServerProcess> server_;  // set by Start()
  std::unique_ptr<Client> control_;                // namespace creation, flush, STATS
};

}  // namespace tldb::peerbench
