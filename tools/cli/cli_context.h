// CliContext: what every `tldb` subcommand shares: the connection flags, output mode, and the
// helpers that print results as human-readable text or JSON.
//
// Contract: subcommands are registered by AddXxxCommand() functions (one file each, declared in
// commands.h) that add a CLI11 subcommand and its callback; a callback returns the process exit
// code through `ctx.exit_code` (0 ok, 1 server/engine error, 2 usage error).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "tldb/client.h"

namespace tldb::cli {

struct CliContext {
  std::string server = "127.0.0.1:7070";
  std::string ns = "store";
  std::string timeline;
  std::string token;
  // TLS (any of the files or the name implies it).
  bool tls = false;
  std::string tls_ca, tls_cert, tls_key, tls_server_name;
  uint32_t timeout_ms = 10'000;
  bool json = false;
  int exit_code = 0;

  // Connects with the flags above; prints the error and sets exit_code on failure.
  std::unique_ptr<Client> Connect();
  // Prints "error: ..." to stderr and sets exit_code = 1. Returns false for convenience.
  bool Fail(const Status& s);
  bool RequireTimeline();
  CallOptions call() const { return CallOptions{timeout_ms}; }
};

// JSON string literal with escapes (payloads may hold any bytes).
std::string JsonString(std::string_view s);
std::string MessageJson(const Message& m);
std::string MessageText(const Message& m);

}  // namespace tldb::cli
