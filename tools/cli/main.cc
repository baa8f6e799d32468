// tldb: command-line client for tldb-server.
//
//   tldb append --server 127.0.0.1:7070 --ns store --timeline conv:1 'hello'
//   tldb scan --timeline conv:1 --latest 20
//   tldb tail -f --timeline conv:1
//   tldb recall --timeline conv:1 7
//   tldb compact --server 127.0.0.1:7070 --ns store
//   tldb backup --server 127.0.0.1:7070 /backups/tldb-2026-01-01
#include <CLI/CLI.hpp>

#include "commands.h"

int main(int argc, char** argv) {
  tldb::cli::CliContext ctx;
  CLI::App app{"tldb: command-line client for tldb-server"};
  app.require_subcommand(1);
  app.fallthrough();  // connection flags may follow the subcommand name
  app.add_option("--server", ctx.server, "Server HOST:PORT")->capture_default_str();
  app.add_option("--ns", ctx.ns, "Namespace")->capture_default_str();
  app.add_option("--timeline", ctx.timeline, "Timeline key (e.g. conv:1)");
  app.add_option("--token", ctx.token, "Access token secret (when the server requires one)");
  app.add_flag("--tls", ctx.tls, "Connect with TLS (the server runs with --tls-cert)");
  app.add_option("--tls-ca", ctx.tls_ca,
                 "PEM CA file to verify the server's certificate (implies --tls; default: the "
                 "system's CAs)");
  app.add_option("--tls-cert", ctx.tls_cert,
                 "PEM client certificate, for a server with --tls-client-ca (implies --tls)");
  app.add_option("--tls-key", ctx.tls_key, "PEM key of --tls-cert");
  app.add_option("--tls-server-name", ctx.tls_server_name,
                 "Name the server's certificate must carry (default: the host of --server)");
  app.add_option("--timeout-ms", ctx.timeout_ms, "Per-request timeout")->capture_default_str();
  app.add_flag("--json", ctx.json, "Print JSON (one object per line) instead of text");
  tldb::cli::AddAppendCommand(app, ctx);
  tldb::cli::AddGetCommand(app, ctx);
  tldb::cli::AddScanCommand(app, ctx);
  tldb::cli::AddLastCommand(app, ctx);
  tldb::cli::AddPullCommand(app, ctx);
  tldb::cli::AddTailCommand(app, ctx);
  tldb::cli::AddStatsCommand(app, ctx);
  tldb::cli::AddPingCommand(app, ctx);
  tldb::cli::AddNsCommand(app, ctx);
  tldb::cli::AddCursorCommand(app, ctx);
  tldb::cli::AddClusterCommand(app, ctx);
  tldb::cli::AddMaintenanceCommands(app, ctx);
  tldb::cli::AddBackupCommand(app, ctx);
  tldb::cli::AddOfflineCommands(app, ctx);
  CLI11_PARSE(app, argc, argv);
  return ctx.exit_code;
}
