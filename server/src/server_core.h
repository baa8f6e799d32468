// ServerCore: what every event loop of one server shares.
//
// Lifetime: shared. Engine callbacks of appends hold a reference, so a completion that arrives
// after the server stopped (drain deadline passed) posts into a loop that still exists.
// Contract: built before the loops start and immutable afterwards, except the atomics
// (connection count, stopping flag), the WatchHub (thread-safe) and the loops themselves
// (their Post() is thread-safe), the per-address budgets, the admin thread, the compaction jobs
// and the backups (thread-safe; all stopped by Server::Stop after the loops, so no task outlives
// the server).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "access_rights.h"
#include "backup_registry.h"
#include "compaction_jobs.h"
#include "failure_budgets.h"
#include "peer_budgets.h"
#include "task_thread.h"
#include "tldb/db.h"
#include "tldb/server.h"
#include "tls/tls_context.h"
#include "watch_hub.h"

namespace tldb::server {

class Connection;
class Loop;

struct ServerCore : std::enable_shared_from_this<ServerCore> {
  ServerCore(Db* db_in, const ServerConfig& cfg, size_t loop_count)
      : db(db_in),
        config(cfg),
        auth(cfg.tokens),
        hub(loop_count),
        compactions(db_in),
        backups(db_in, cfg.data_dir),
        peers(cfg.peer_budgets ? std::make_unique<PeerBudgets>(PeerBudgets::LimitsOf(cfg))
                               : nullptr),
        refusals(cfg.refused_requests_per_s != 0
                     ? std::make_unique<FailureBudgets>(
                           FailureBudgets::Limits{static_cast<double>(cfg.refused_requests_per_s),
                                                  static_cast<double>(cfg.refused_requests_burst),
                                                  cfg.peer_budget_addresses_max})
                     : nullptr) {}
  ~ServerCore();

  void Log(std::string_view line) const;
  // The per-address budgets' clock (config.peer_budget_clock_ms, else NowMs()).
  int64_t PeerNowMs() const;
  // A request of `c` was refused because the client is wrong (FailureBudgets' contract):
  // charged to its client's budget, once it has one (after HELLO).
  void ChargeRefused(const Connection& c);

  Db* db;
  ServerConfig config;
  Authenticator auth;
  WatchHub hub;
  // Work that blocks (a catalog fsync: NS_CREATE, NS_SET_OPTIONS) runs here, never on a loop
  // thread.
  TaskThread admin;
  // COMPACT jobs, on their own thread so a long compaction does not delay NS_SET_OPTIONS.
  CompactionJobs compactions;
  // Online backups (BACKUP_OPEN/READ/CLOSE): snapshots under config.data_dir, on their own thread.
  BackupRegistry backups;
  // Per-peer-address budgets (thread-safe); null when ServerConfig::peer_budgets is off.
  const std::unique_ptr<PeerBudgets> peers;
  // Per-client budgets of refused requests (thread-safe); null when refused_requests_per_s is 0.
  const std::unique_ptr<FailureBudgets> refusals;
  std::vector<std::unique_ptr<Loop>> loops;
  int listen_fd = -1;
  // Set when the listener speaks TLS (ServerConfig::tls_cert_file); shared by every session.
  std::shared_ptr<const tls::TlsContext> tls;
  std::atomic<uint32_t> connections{0};
  // Bytes held by all connections in partial input and queued output (Loop::Account).
  std::atomic<int64_t> buffered_bytes{0};
  std::atomic<bool> stopping{false};
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

// Monotonic milliseconds / microseconds for timers and latencies.
int64_t NowMs();
int64_t NowUs();

}  // namespace tldb::server
