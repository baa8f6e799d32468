// tldb-server: opens a data directory and serves it over the tldb wire protocol.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "cluster/cluster_node.h"
#include "cluster/controller.h"
#include "cluster/shard_host.h"
#include "cluster/sharded_db.h"
#include "tldb/db.h"
#include "tldb/server.h"

namespace {

int Fail(const std::string& what) {
  std::fprintf(stderr, "tldb-server: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tldb-server: timeline database server (wire protocol: docs/protocol.md)"};
  std::string data_dir = "./data";
  tldb::ServerConfig cfg;
  tldb::Options db_opts;
  std::vector<std::string> tokens;
  app.set_config("--config", "", "Read options from this TOML/INI file (key = value lines)");
  app.add_option("--data-dir", data_dir, "Data directory (created if missing)")
      ->capture_default_str();
  app.add_option("--listen", cfg.listen, "HOST:PORT to listen on; non-loopback needs --token")
      ->capture_default_str();
  app.add_option("--metrics-listen", cfg.metrics_listen,
                 "HOST:PORT serving Prometheus metrics at /metrics (no token); empty: none")
      ->capture_default_str();
  app.add_option("--threads", cfg.threads, "Event-loop threads (0 = one per core)")
      ->capture_default_str();
  app.add_option(
      "--token", tokens,
      "Access token NAME:SECRET[:rw=ns1,ns2][:r=ns3][:admin=ns4] ('*' = all namespaces); "
      "repeatable. With none, no authentication (loopback only)");
  app.add_option("--tls-cert", cfg.tls_cert_file,
                 "PEM certificate chain (leaf first); with --tls-key the listener speaks TLS "
                 "only. Without them: plain TCP")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", cfg.tls_key_file, "PEM private key of --tls-cert")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-client-ca", cfg.tls_client_ca_file,
                 "PEM CA certificates: clients must present a certificate signed by one "
                 "(mutual TLS)")
      ->check(CLI::ExistingFile);
  app.add_option("--frame-body-bytes-max", cfg.frame_body_bytes_max,
                 "Largest request frame body; larger frames close the connection")
      ->capture_default_str();
  app.add_option("--connections-max", cfg.connections_max, "Open connections at most")
      ->capture_default_str();
  app.add_option("--peer-budgets", cfg.peer_budgets,
                 "Per-address budgets of unauthenticated connections and failed handshakes "
                 "(a client that authenticates is never charged); false: off")
      ->capture_default_str();
  app.add_option("--peer-unauth-connections-per-s", cfg.peer_unauth_connections_per_s,
                 "Per address: connections not (yet) authenticated, per second")
      ->capture_default_str();
  app.add_option("--peer-unauth-connections-burst", cfg.peer_unauth_connections_burst,
                 "Per address: connections not (yet) authenticated, at once")
      ->capture_default_str();
  app.add_option("--peer-handshake-failures-per-s", cfg.peer_handshake_failures_per_s,
                 "Per address: connections closed before completing HELLO, per second")
      ->capture_default_str();
  app.add_option("--peer-handshake-failures-burst", cfg.peer_handshake_failures_burst,
                 "Per address: connections closed before completing HELLO, in a burst")
      ->capture_default_str();
  app.add_option("--peer-budget-addresses-max", cfg.peer_budget_addresses_max,
                 "Addresses the per-address budgets remember (least recently seen forgotten)")
      ->capture_default_str();
  app.add_option("--refused-requests-per-s", cfg.refused_requests_per_s,
                 "Per client (token at an address, or address without tokens): requests refused "
                 "after HELLO "
                 "(fatal protocol errors, PERMISSION_DENIED) per second; over budget, its new "
                 "HELLOs are refused; 0: off")
      ->capture_default_str();
  app.add_option("--refused-requests-burst", cfg.refused_requests_burst,
                 "Per client: requests refused after HELLO, in a burst")
      ->capture_default_str();
  app.add_option("--inflight-requests-max", cfg.inflight_requests_max,
                 "Requests of one connection in progress at once (then reading pauses)")
      ->capture_default_str();
  app.add_option("--output-buffer-bytes-max", cfg.output_buffer_bytes_max,
                 "Bytes queued for one client before it is disconnected as a slow consumer")
      ->capture_default_str();
  app.add_option("--buffers-bytes-max", cfg.buffers_bytes_max,
                 "Bytes all connections may hold in partial frames and queued output; above "
                 "it, reading pauses for connections holding any")
      ->capture_default_str();
  app.add_option("--send-stall-ms", cfg.send_stall_ms,
                 "Disconnect a client whose queued output makes no progress for this long")
      ->capture_default_str();
  app.add_option("--close-linger-ms", cfg.close_linger_ms,
                 "After a fatal error, read and drop a client's input at most this long before "
                 "closing, so that the error frame is not lost to a reset")
      ->capture_default_str();
  app.add_option("--idle-timeout-ms", cfg.idle_timeout_ms,
                 "Close connections with no request, in-flight work or subscription this long")
      ->capture_default_str();
  app.add_option("--frame-deadline-ms", cfg.frame_deadline_ms,
                 "A started frame must be complete within this time (slowloris defence)")
      ->capture_default_str();
  app.add_option("--slow-request-ms", cfg.slow_request_ms, "Log requests slower than this")
      ->capture_default_str();
  app.add_option("--shutdown-drain-ms", cfg.shutdown_drain_ms,
                 "On SIGINT/SIGTERM, wait at most this long for in-flight requests")
      ->capture_default_str();
  app.add_option("--subscribe-backfill-max", cfg.subscribe_backfill_max,
                 "Messages a SUBSCRIBE may replay from its after_seq")
      ->capture_default_str();
  app.add_option("--payload-bytes-max", db_opts.payload_bytes_max, "Largest message payload")
      ->capture_default_str();
  app.add_option("--fanout-timelines-max", db_opts.fanout_timelines_max,
                 "Most timelines in one APPEND_FANOUT")
      ->capture_default_str();
  uint64_t block_cache_mb = tldb::DefaultBlockCacheMb();
  app.add_option("--block-cache-mb", block_cache_mb,
                 "Engine block cache (decompressed blocks of compacted segments), MiB; 0: none. "
                 "Default: an eighth of physical memory, at least 64")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 20))
      ->capture_default_str();
  app.add_option("--io-backend", db_opts.io_backend, "Engine I/O backend: auto, uring, posix")
      ->capture_default_str();
  app.add_option("--net-backend", cfg.net_backend,
                 "How an event loop sends its answers: auto, uring (one submission per loop "
                 "iteration), posix (one send() per connection)")
      ->check(CLI::IsMember({"auto", "uring", "posix"}))
      ->capture_default_str();
  app.add_option("--background-compaction", db_opts.background_compaction,
                 "Engine: compact sealed segments in the background (false: only on COMPACT; "
                 "expired segments are still dropped and the scrub still runs)")
      ->capture_default_str();
  uint64_t scrub_period_h = db_opts.scrub_period_ms / 3'600'000;
  app.add_option("--scrub-period-h", scrub_period_h,
                 "Engine: the scrub re-verifies every sealed segment once per this many hours "
                 "(0: no scrub)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{24} * 366))
      ->capture_default_str();
  uint64_t compaction_mb_per_s = db_opts.compaction_bytes_per_s >> 20;
  app.add_option("--compaction-mb-per-s", compaction_mb_per_s,
                 "Engine: bytes compaction may read and write per second, MiB/s (0: unpaced)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 14))
      ->capture_default_str();
  app.add_option("--groups-in-flight", db_opts.groups_in_flight_max,
                 "Engine: groups written whose fdatasync may run at once, each on its own thread "
                 "while the next group is written (1: one group at a time; a replicated log ships "
                 "one group at a time whatever this says)")
      ->check(CLI::Range(uint32_t{1}, uint32_t{16}))
      ->capture_default_str();
  uint64_t writeback_mb_per_s = db_opts.background_writeback_bytes_per_s >> 20;
  app.add_option("--background-writeback-mb-per-s", writeback_mb_per_s,
                 "Engine: pace at which rolled segments' index files and prepared segments are "
                 "written back before their fdatasync, MiB/s (0: all at once)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 14))
      ->capture_default_str();
  uint64_t scrub_mb_per_s = db_opts.scrub_bytes_per_s >> 20;
  app.add_option("--scrub-mb-per-s", scrub_mb_per_s,
                 "Engine: disk bandwidth the scrub may read, MiB/s")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 14))
      ->capture_default_str();
  std::string cluster;
  tldb::cluster::ClusterNodeOptions node_opts;
  app.add_option("--cluster", cluster,
                 "Cluster mode: etcd=URL[,URL...] (etcd client URLs). Off: a single node, no etcd")
      ->capture_default_str();
  app.add_option("--node-id", node_opts.node,
                 "Cluster mode: this replica's id, 0..voters-1; in a sharded cluster (etcd holds "
                 "a slot map, docs/cluster.md) this server's id in the map")
      ->capture_default_str();
  app.add_option("--voters", node_opts.voters, "Cluster mode: replicas of the partition")
      ->capture_default_str();
  app.add_option("--advertise", node_opts.client_address,
                 "Cluster mode: the HOST:PORT clients reach this server at (default: --listen)");
  app.add_option("--peer-listen", node_opts.peer_listen,
                 "Cluster mode: HOST:PORT the other replicas connect to; in a sharded cluster "
                 "partition P's replica listens on PORT + P (port 0: each an ephemeral port)");
  app.add_option("--peer-tls-cert", node_opts.peer_tls_cert,
                 "Cluster mode: PEM certificate of this replica for mutual TLS with its peers "
                 "(it must name the host of --peer-listen; with --peer-tls-key, --peer-tls-ca)");
  app.add_option("--peer-tls-key", node_opts.peer_tls_key, "PEM private key of --peer-tls-cert");
  app.add_option("--peer-tls-ca", node_opts.peer_tls_ca,
                 "PEM CA that signs every replica's peer certificate");
  app.add_option("--lease-ttl-s", node_opts.lease_ttl_s,
                 "Cluster mode: etcd lease TTL; a dead primary is replaced after about this long")
      ->capture_default_str();
  app.add_option("--retain-for-absent-s", node_opts.retain_for_absent_s,
                 "Cluster mode: the primary keeps its log for a follower it does not hear from "
                 "this long; one away longer is rebuilt from a snapshot")
      ->check(CLI::Range(int64_t{1}, int64_t{30} * 24 * 3600))
      ->capture_default_str();
  int64_t controller_replace_after_ms = tldb::cluster::ControllerOptions{}.replace_after_ms;
  app.add_option("--controller-replace-after-ms", controller_replace_after_ms,
                 "Sharded cluster: the controller moves the replicas of a server gone this long "
                 "to other servers (docs/cluster.md \"The controller\"); 0: never")
      ->check(CLI::Range(int64_t{0}, int64_t{30} * 24 * 3600 * 1000))
      ->capture_default_str();
  int64_t controller_balance_interval_ms = tldb::cluster::ControllerOptions{}.balance_interval_ms;
  app.add_option("--controller-balance-interval-ms", controller_balance_interval_ms,
                 "Sharded cluster: the controller evens out the primaries (handovers) at most "
                 "this often, when they are off by more than one; 0: never")
      ->check(CLI::Range(int64_t{0}, int64_t{30} * 24 * 3600 * 1000))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  for (const auto& spec : tokens) {
    auto t = tldb::ParseServerToken(spec);
    if (!t.ok()) return Fail(t.status().ToString());
    cfg.tokens.push_back(*t);
  }
  db_opts.block_cache_bytes = block_cache_mb << 20;
  db_opts.scrub_period_ms = scrub_period_h * 3'600'000;
  db_opts.scrub_bytes_per_s = scrub_mb_per_s << 20;
  db_opts.compaction_bytes_per_s = compaction_mb_per_s << 20;
  db_opts.background_writeback_bytes_per_s = writeback_mb_per_s << 20;
  cfg.payload_bytes_max = db_opts.payload_bytes_max;
  cfg.fanout_timelines_max = db_opts.fanout_timelines_max;
  if (auto s = tldb::ValidateServerConfig(cfg); !s.ok()) return Fail(s.message());

  // Signals are taken synchronously by this thread only (sigwait); the loops never see them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // The engine's event lines go to stderr and, counted, to the metrics endpoint.
  cfg.data_dir = data_dir;
  cfg.engine_events = std::make_shared<tldb::EngineEvents>();
  db_opts.on_event = [events = cfg.engine_events](std::string_view e) {
    events->Note(e);
    std::fprintf(stderr, "tldb-server: engine: %.*s\n", static_cast<int>(e.size()), e.data());
  };
  std::unique_ptr<tldb::Db> single;
  std::unique_ptr<tldb::cluster::ClusterNode> node;
  std::unique_ptr<tldb::cluster::ShardHost> shards;
  std::unique_ptr<tldb::cluster::ShardedDb> sharded;
  std::unique_ptr<tldb::cluster::Controller> controller;
  tldb::Db* db = nullptr;
  if (cluster.empty()) {
    // A damaged namespace is refused (its requests answer CORRUPTION naming it, STATS counts
    // it) while the others serve. Not in cluster mode: a replica with a partial log must not
    // vote or serve (docs/replication.md "A damaged namespace").
    db_opts.refuse_damaged_namespaces = true;
    auto opened = tldb::Db::Open(data_dir, db_opts);
    if (!opened.ok()) return Fail("cannot open " + data_dir + ": " + opened.status().ToString());
    single = std::move(opened).value();
    db = single.get();
    for (const auto& [name, why] : db->Stats().refused_namespaces) {
      std::fprintf(stderr, "tldb-server: namespace %s refused: %s\n", name.c_str(), why.c_str());
    }
  } else {
    auto urls = tldb::cluster::ClusterNode::ParseClusterSpec(cluster);
    if (!urls.ok()) return Fail(urls.status().message());
    node_opts.etcd_endpoints = std::move(urls).value();
    if (node_opts.peer_listen.empty()) return Fail("cluster mode needs --peer-listen HOST:PORT");
    if (node_opts.client_address.empty()) node_opts.client_address = cfg.listen;
    node_opts.data_dir = data_dir;
    node_opts.db_options = db_opts;
    node_opts.namespaces = tldb::DefaultNamespaces();
    // A sharded cluster when etcd holds a slot map (docs/cluster.md), else one partition.
    tldb::cluster::ShardHostOptions so;
    so.etcd_endpoints = node_opts.etcd_endpoints;
    so.etcd_prefix = node_opts.etcd_prefix;
    so.server = node_opts.node;
    so.client_address = node_opts.client_address;
    so.peer_listen = node_opts.peer_listen;
    so.peer_tls_cert = node_opts.peer_tls_cert;
    so.peer_tls_key = node_opts.peer_tls_key;
    so.peer_tls_ca = node_opts.peer_tls_ca;
    so.data_dir = data_dir;
    so.db_options = db_opts;
    so.namespaces = node_opts.namespaces;
    so.lease_ttl_s = node_opts.lease_ttl_s;
    so.retain_for_absent_s = node_opts.retain_for_absent_s;
    auto host = tldb::cluster::ShardHost::Start(std::move(so));
    if (host.ok()) {
      shards = std::move(host).value();
      sharded = std::make_unique<tldb::cluster::ShardedDb>(*shards);
      db = sharded.get();
      // Every sharded server runs a controller; one at a time acts (elected through etcd).
      tldb::cluster::ControllerOptions co;
      co.etcd_endpoints = node_opts.etcd_endpoints;
      co.etcd_prefix = node_opts.etcd_prefix;
      co.server = node_opts.node;
      co.client_address = node_opts.client_address;
      if (!cfg.tokens.empty()) co.stats_token = cfg.tokens.front().secret;
      co.lease_ttl_s = node_opts.lease_ttl_s;
      co.replace_after_ms = controller_replace_after_ms;
      co.balance_interval_ms = controller_balance_interval_ms;
      auto started = tldb::cluster::Controller::Start(std::move(co));
      if (!started.ok()) return Fail("cannot start the controller: " + started.status().ToString());
      controller = std::move(started).value();
      cfg.extra_stats = [h = shards.get(), c = controller.get()](auto* out) {
        h->AddStats(out);
        c->AddStats(out);
      };
      cfg.cluster_map = [h = shards.get()] { return h->ClusterMapBody(); };
      std::fprintf(stderr, "tldb-server: sharded cluster server %u, slot map version %llu\n",
                   node_opts.node,
                   static_cast<unsigned long long>(shards->routing()->map.version()));
    } else if (!host.status().IsNotFound()) {
      return Fail("cannot start as a server of the sharded cluster (or read its slot map): " +
                  host.status().ToString());
    } else {
      // Node id `voters` is a sharded move's spare (placed only by the slot map), not an id to
      // start an unsharded replica with.
      if (node_opts.voters == 0) return Fail("--voters must be at least 1");
      if (node_opts.node >= node_opts.voters) {
        return Fail("--node-id " + std::to_string(node_opts.node) + " is not a replica of " +
                    std::to_string(node_opts.voters) + " voters (0.." +
                    std::to_string(node_opts.voters - 1) + ")");
      }
      auto started = tldb::cluster::ClusterNode::Start(node_opts);
      if (!started.ok()) return Fail("cannot join the cluster: " + started.status().ToString());
      node = std::move(started).value();
      db = node->db();
      cfg.extra_stats = [n = node.get()](auto* out) { n->AddStats(out); };
      std::fprintf(stderr, "tldb-server: cluster node %u of %u, peers at %s (%s)\n", node_opts.node,
                   node_opts.voters, node->peer_address().c_str(),
                   node_opts.peer_tls_cert.empty() ? "plain TCP" : "mutual TLS");
    }
  }
  // A sharded server's replicas create the default namespaces themselves (ShardHost).
  if (auto s = shards ? tldb::Status::Ok() : tldb::CreateDefaultNamespaces(*db); !s.ok()) {
    return Fail(s.ToString());
  }
  auto server = tldb::Server::Start(db, cfg);
  if (!server.ok()) return Fail("cannot start: " + server.status().ToString());
  std::fprintf(stderr, "tldb-server: data directory %s, listening on %s (%s, %s auth)\n",
               data_dir.c_str(), (*server)->listen_address().c_str(),
               cfg.tls_cert_file.empty()        ? "plain TCP"
               : cfg.tls_client_ca_file.empty() ? "TLS"
                                                : "mutual TLS",
               cfg.tokens.empty() ? "no" : "token");
  if ((*server)->metrics_port() != 0) {
    std::fprintf(stderr, "tldb-server: metrics at http://%s/metrics (port %u)\n",
                 cfg.metrics_listen.c_str(), (*server)->metrics_port());
  }
  std::printf("tldb-server listening on %s\n", (*server)->listen_address().c_str());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&sigs, &sig);
  std::fprintf(stderr, "tldb-server: received %s, stopping\n",
               sig == SIGINT ? "SIGINT" : "SIGTERM");
  (*server)->Stop();
  if (shards) {
    controller->Stop();      // resigns: another server's controller takes over at once
    (void)sharded->Close();  // the intent threads end first: they use the replicas
    shards->Stop();          // its primaries resign: other replicas lead at once
    std::fprintf(stderr, "tldb-server: stopped cleanly\n");
    return 0;
  }
  if (node) {
    node->Stop();  // a primary resigns: another replica leads at once
    std::fprintf(stderr, "tldb-server: stopped cleanly\n");
    return 0;
  }
  tldb::Status s = db->Sync();
  if (!s.ok()) std::fprintf(stderr, "tldb-server: sync failed: %s\n", s.ToString().c_str());
  s = db->Close();
  if (!s.ok()) return Fail("close failed: " + s.ToString());
  std::fprintf(stderr, "tldb-server: stopped cleanly\n");
  return 0;
}
