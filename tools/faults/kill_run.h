// RunKillSuite: kill -9 under load against a real tldb-server process.
//
// Contract:
// - Starts the server (ServerProcess) on `data_dir`, creates namespace `ns` (sync durability,
//   small segments so rolls and segment preparation happen), and starts `writers` client
//   threads. Each appends to random timelines with unique client_msg_ids and random payloads,
//   logging the message in a Ledger before its first attempt and every acknowledgement after;
//   a failed append is retried with the same client_msg_id (new connection if needed) until
//   acknowledged or the run ends. A reader thread reads the latest 20 messages of random
//   timelines all along and logs what it saw (Ledger::Seen).
// - Meanwhile the server is SIGKILLed after a random delay in [kill_after_min_ms,
//   kill_after_max_ms] and restarted on the same port, `kills` times or until `duration_ms`
//   passes, whichever comes first (with shutdown_kill_max_us, SIGTERM first and SIGKILL
//   during the graceful shutdown). Recovery time = SIGKILL to the first PING answered by the
//   restarted server.
// - Then the writers stop, the server is SIGKILLed once more (idle) and restarted, every
//   timeline is read back and checked against the ledger (Ledger::Check).
// - Returns the report; violations are data, not errors. An error Status means the suite
//   could not run (server would not start, read-back failed).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ledger.h"
#include "tldb/client.h"
#include "tldb/status.h"

namespace tldb::faults {

struct KillRunOptions {
  std::string server_binary;
  std::string data_dir;
  std::string io_backend = "auto";  // --io-backend: auto, uring, posix
  std::string ns = "killtest";
  uint32_t writers = 4;
  uint32_t timelines = 8;
  uint32_t payload_bytes_max = 2'000;  // payloads are 1..this many random bytes
  uint32_t kills = 5;
  uint64_t duration_ms = 0;  // 0: no time bound (kills only)
  uint32_t kill_after_min_ms = 100;
  uint32_t kill_after_max_ms = 600;
  // > 0: each kill first sends SIGTERM (the server starts its graceful shutdown: stop
  // accepting, drain connections, Db::Close) and SIGKILLs it after a random delay in
  // [0, shutdown_kill_max_us) µs, so kills land in the shutdown steps themselves. A server that
  // finished shutting down first is only reaped.
  uint32_t shutdown_kill_max_us = 0;
  uint64_t seed = 1;
  std::string server_log;                            // server stderr (appended); empty: discarded
  std::function<void(const std::string&)> progress;  // one line per kill; may be null
};

struct KillRunReport {
  std::string io_backend;        // as reported by the server's STATS
  uint32_t kills = 0;            // under load (the final idle kill is not counted)
  uint32_t shutdown_kills = 0;   // of them: SIGKILL landed while the server was still running
                                 // its graceful shutdown (not yet exited after SIGTERM)
  uint64_t sent = 0;             // distinct messages attempted
  uint64_t acked = 0;            // distinct messages acknowledged
  uint64_t acks = 0;             // acknowledgements (retries' included)
  uint64_t failed_attempts = 0;  // attempts that failed and were retried
  uint64_t deduplicated = 0;     // retries answered with deduplicated = true
  uint64_t stored = 0;           // messages read back
  uint64_t seen = 0;             // distinct messages a concurrent reader saw during the run
  std::vector<double> recovery_ms;
  double recovery_p50_ms = 0, recovery_p99_ms = 0;
  std::vector<std::string> violations;
  std::string ToString() const;
};

Result<KillRunReport> RunKillSuite(const KillRunOptions& options);

// Client options for fault suites: short timeouts, a few quick reconnection attempts.
ClientOptions FaultClientOptions(const std::string& address);
// Polls the server with fresh connections until a PING is answered (or timeout_ms passes).
Status WaitUntilServing(const std::string& address, uint32_t timeout_ms);
// Reads every message of each timeline (forward scan, paged).
Result<StoredTimelines> ReadBack(Client& client, const std::string& ns,
                                 const std::vector<std::string>& timelines);
// The p-quantile (0..1) of the samples (nearest rank); 0 for none.
double Percentile(std::vector<double> samples, double p);

}  // namespace tldb::faults
