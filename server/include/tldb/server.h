// Server: the network front of a tldb::Db (wire protocol in docs/protocol.md).
//
// Contract:
// - Start() binds the listen address, starts `threads` event-loop threads and returns once the
//   server accepts connections; port() tells the bound port (useful with port 0).
// - The Db is borrowed: it must outlive the Server. All appends go through the server's
//   AppendAsync calls, so WAIT/SUBSCRIBE see every acknowledged append made through it.
// - Stop() is graceful and idempotent: stop accepting, answer pending WAITs, wait (bounded by
//   config.shutdown_drain_ms) for in-flight appends and queued output, close every connection,
//   join the threads. It does not Sync/Close the Db: the owner does that afterwards.
// - RequestStop() is async-signal-safe: it only writes to an eventfd; Wait() returns once a
//   stop was requested.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tldb/db.h"
#include "tldb/engine_events.h"
#include "tldb/status.h"

namespace tldb {

// One access token: "NAME:SECRET:rw=ns1,ns2:r=ns3:admin=ns4" on the command line. Namespace "*"
// grants every (non-system) namespace.
struct ServerToken {
  std::string name;
  std::string secret;
  std::vector<std::string> read_namespaces;   // read-only grants
  std::vector<std::string> write_namespaces;  // read + write grants
  // read + write + admin grants (namespace options, compaction); "*" also allows compacting
  // every namespace at once.
  std::vector<std::string> admin_namespaces;
};

struct ServerConfig {
  // "HOST:PORT" ("[::1]:7070" for IPv6). Port 0 picks a free port (tests).
  std::string listen = "127.0.0.1:7070";
  // Event-loop threads; 0 = one per core.
  uint32_t threads = 0;
  // How a loop makes the sends of one iteration (tldb/socket_sends.h): "uring" (all of them
  // in one io_uring submission), "posix" (one send() each) or "auto" (io_uring where the
  // kernel allows it). io_uring halved an echo server's CPU per request here
  // (docs/design-server.md "Sends of one iteration").
  std::string net_backend = "auto";
  // Largest frame body accepted. 4 MiB: a 1 MiB message plus keys with room to spare.
  uint32_t frame_body_bytes_max = 4u << 20;
  // Open connections at most. 10,000: each idle connection costs ~4 KiB of buffers plus a
  // file descriptor; the limit keeps a flood from exhausting descriptors.
  uint32_t connections_max = 10'000;
  // Per-peer-address budgets (docs/design-server.md "Per-address budgets"): a new connection
  // is refused (TOO_MANY_CONNECTIONS, before any state is allocated for it) while its address
  // (IPv4, or an IPv6 /64) is over either budget. Only what does not authenticate is charged:
  // a connection costs one unauthenticated-connection token until it completes HELLO (then the
  // token comes back), and one handshake-failure token if it closes without completing HELLO.
  // A client that authenticates is never charged; connections already open are never touched.
  bool peer_budgets = true;
  // 200 unauthenticated connections per second, 10,000 at once, per address: a whole fleet of
  // connections-max clients behind one NAT address may reconnect at the same moment (after a
  // restart) and each gets its token back once its HELLO is answered; only connections that
  // stay unauthenticated (held open without HELLO, or failing) use the budget up.
  uint32_t peer_unauth_connections_per_s = 200;
  uint32_t peer_unauth_connections_burst = 10'000;
  // 20 failed handshakes per second, 1,000 in a burst, per address: a revoked token on a hundred
  // clients behind one address, each retrying five times (the C++ client's reconnect attempts),
  // stays within the burst, while a client failing handshakes in a loop (thousands per second)
  // is cut to 20/s after its first 1,000.
  uint32_t peer_handshake_failures_per_s = 20;
  uint32_t peer_handshake_failures_burst = 1'000;
  // Addresses the budgets remember: the least recently seen is forgotten beyond it. 65,536
  // entries of ~100 bytes: ~6.5 MiB at most, more than the addresses connections-max
  // connections can come from.
  uint32_t peer_budget_addresses_max = 65'536;
  // Per client (its token's name at its address; on a server without tokens, its address),
  // requests refused after HELLO because the client is wrong: a fatal protocol error (malformed
  // or oversized frame, unknown opcode) or PERMISSION_DENIED (docs/design-server.md "Budgets of
  // refused requests"). While a client's budget is spent, its HELLO is held 500 ms and refused
  // with TOO_MANY_CONNECTIONS; its open connections are never touched. 100/s, 1,000 in a burst:
  // a host whose token lost a namespace meets 1,000 denials before its new connections are
  // refused, and a correct client is never charged, while a client failing in a loop (thousands
  // of refused requests per second, reconnecting after each fatal error) is cut to 100/s. 0
  // turns it off.
  uint32_t refused_requests_per_s = 100;
  uint32_t refused_requests_burst = 1'000;
  // Tests only: the clock of the per-address budgets, monotonic milliseconds (null: the
  // server's steady clock), so a test decides when a token comes back.
  std::function<int64_t()> peer_budget_clock_ms;
  // Requests of one connection being processed at once (appends waiting for group commit,
  // WAITs). At the limit the server stops reading that socket (TCP backpressure). 1024 covers
  // deep pipelining; beyond it one client could pin unbounded engine queue memory.
  uint32_t inflight_requests_max = 1024;
  // Bytes queued for a client that does not read. Past this it is disconnected (SLOW_CONSUMER)
  // instead of growing memory. 64 MiB: sixteen maximum-size frames.
  uint64_t output_buffer_bytes_max = 64ull << 20;
  // Bytes all connections together may hold in partly received frames and queued output.
  // Above it, the loops stop reading from every connection that holds any (the frame deadline
  // keeps running, so half-sent frames still time out). Each limit above bounds one
  // connection; this bounds their sum, which would otherwise reach connections_max times the
  // frame limit (40 GiB by default). 1 GiB; a connection can still add one 64 KiB read chunk.
  uint64_t buffers_bytes_max = 1ull << 30;
  // A connection whose queued output makes no progress for this long is disconnected.
  uint64_t send_stall_ms = 30'000;
  // After a FATAL error the server shuts its sending side down and reads and drops the
  // client's input for at most this long before it closes (docs/design-server.md "Closing"):
  // closing with unread input would reset the connection and lose the error frame. 5 s: a
  // client that reads takes what the socket buffers still hold (a few MiB) in milliseconds;
  // one that never closes holds its connection slot no longer than this.
  uint64_t close_linger_ms = 5'000;
  // A connection with no request, no in-flight work and no subscription for this long is
  // closed. 5 minutes: long enough for chatty frontends' pools, short enough to reclaim leaks.
  uint64_t idle_timeout_ms = 300'000;
  // Once the first byte of a frame arrived, the whole frame must arrive within this time
  // (slowloris defence). 10 s: a 4 MiB frame needs only ~4 Mbit/s to make it.
  uint64_t frame_deadline_ms = 10'000;
  // Requests slower than this are logged (one line each).
  uint64_t slow_request_ms = 500;
  // Graceful shutdown waits at most this long for in-flight requests and output to drain.
  uint64_t shutdown_drain_ms = 5'000;
  // Messages a SUBSCRIBE may replay from after_seq before it must scan instead.
  uint32_t subscribe_backfill_max = 1'000;
  // Payload limit announced to clients (should match the engine's Options::payload_bytes_max).
  uint32_t payload_bytes_max = 1u << 20;
  uint32_t fanout_timelines_max = 10'000;
  // Access tokens. Empty: no authentication (allowed on loopback addresses only).
  std::vector<ServerToken> tokens;
  // TLS (PEM files). With a certificate and its key the listener speaks TLS only (the frame
  // protocol runs unchanged inside it); without them, plain TCP. With a client CA as well,
  // every client must present a certificate signed by it (mutual TLS).
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  // Log sink: one line per notable event. Null: stderr.
  std::function<void(std::string_view)> log;
  // More STATS counters (cluster mode adds the replica's role, epoch and followers' lag).
  std::function<void(std::vector<std::pair<std::string, uint64_t>>*)> extra_stats;
  // Sharded cluster: the CLUSTER_MAP answer body (the slot map as this server knows it, with
  // primaries and addresses; docs/protocol.md "CLUSTER_MAP"). Called on a loop thread: it must
  // not block (return a cached copy). Null: CLUSTER_MAP answers NOT_SUPPORTED.
  std::function<Result<std::string>()> cluster_map;
  // "HOST:PORT" of the Prometheus endpoint (GET /metrics, docs/operations.md). Empty: none.
  // It needs no token (it shows counters, namespace names and sizes, never messages).
  std::string metrics_listen;
  // The metrics endpoint's view of the engine: the data directory (its file system's free
  // space) and the engine's event lines (read-only and out-of-space namespaces). Either may be
  // empty/null: those metrics are then left out. The data directory is also where online
  // backups put their snapshots (DATA_DIR/snapshots/, docs/protocol.md "Online backup"); empty:
  // BACKUP_OPEN is refused.
  std::string data_dir;
  std::shared_ptr<EngineEvents> engine_events;
};

// Parses "NAME:SECRET[:rw=ns1,ns2][:r=ns3][:admin=ns4]".
Result<ServerToken> ParseServerToken(std::string_view spec);
// Checks limits, the TLS files' presence (certificate and key together; a client CA only with
// them) and the protected-mode rule (non-loopback listen address needs a token).
Status ValidateServerConfig(const ServerConfig& config);
// Whether a "HOST:PORT" listen address is on the loopback interface.
bool IsLoopbackListen(std::string_view listen);
// tldb-server's default block cache, MiB: an eighth of the machine's physical memory, at least
// the engine's own default (64 MiB). A server is the machine's database, like Redis, which keeps
// all its data in memory: reads of compacted history decompress a 16 KiB block per cache miss,
// which cost gets with uniform keys 1.7x the server CPU of a hit (docs/benchmarks.md
// "tldb-server against Redis with the defaults"). An embedded Db keeps Options' 64 MiB: a
// library does not take a share of its host's memory unasked.
uint64_t DefaultBlockCacheMb();

class Server {
 public:
  static Result<std::unique_ptr<Server>> Start(Db* db, const ServerConfig& config);
  virtual ~Server() = default;

  virtual uint16_t port() const = 0;
  virtual std::string listen_address() const = 0;  // "127.0.0.1:7070"
  // The bound port of config.metrics_listen; 0 without one.
  virtual uint16_t metrics_port() const = 0;
  virtual void RequestStop() = 0;
  virtual void Wait() = 0;
  virtual void Stop() = 0;
};

// The system namespace that stores device cursors (created by the server on start).
inline constexpr std::string_view kCursorNamespace = "__cursors";
// TTL of the "sync" namespace: devices catch up within a week, then resync from "store".
inline constexpr uint64_t kSyncNamespaceTtlMs = 7ull * 24 * 3600 * 1000;

// Creates, when missing, the namespaces a fresh server starts with: "store" (kept forever),
// "sync" (7-day TTL) and the system namespace for cursors, which keeps one record per cursor
// timeline (messages_per_timeline_max = 1; set on an existing one too, so a data directory
// made by an older server stops growing).
Status CreateDefaultNamespaces(Db& db);
// The namespaces a fresh server has, with their options, in the order they are created (in
// cluster mode every replica creates them so, at start, with the same ids).
std::vector<std::pair<std::string, NamespaceOptions>> DefaultNamespaces();

}  // namespace tldb
