// tldb backup [--server HOST:PORT] DIR: an online backup of a running server into a new or empty
// DIR (admin right on '*'). DIR then opens as a data directory and `tldb verify DIR` finds it
// SOUND. The work is admin::RunBackup (tools/admin/backup.h).
#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "admin/backup.h"
#include "admin/progress.h"
#include "commands.h"

namespace tldb::cli {

void AddBackupCommand(CLI::App& app, CliContext& ctx) {
  auto dir = std::make_shared<std::string>();
  auto open_timeout_ms = std::make_shared<uint32_t>(3'600'000);
  CLI::App* cmd = app.add_subcommand(
      "backup", "Online backup of the server's data directory into DIR (new or empty)");
  cmd->add_option("dir", *dir, "Directory to write the backup to (created; must be empty)")
      ->required();
  cmd->add_option("--open-timeout-ms", *open_timeout_ms,
                  "How long the server may take to snapshot and checksum its data directory")
      ->capture_default_str();
  cmd->callback([&ctx, dir, open_timeout_ms] {
    // Refuse a non-empty DIR before connecting: nothing is asked of the server for a doomed run.
    if (Status s = admin::CheckBackupTarget(*dir); !s.ok()) return (void)ctx.Fail(s);
    auto c = ctx.Connect();
    if (!c) return;
    admin::ProgressPrinter printer(stderr, !ctx.json && ::isatty(STDERR_FILENO) != 0);
    admin::BackupOptions o;
    o.open_timeout_ms = *open_timeout_ms;
    o.progress = [&](uint64_t done, uint64_t total, const std::string& file) {
      if (!ctx.json) printer.Step(done, std::max<uint64_t>(total, 1), "backup: " + file);
    };
    auto r = admin::RunBackup(*c, *dir, o);
    printer.Finish();
    if (!r.ok()) return (void)ctx.Fail(r.status());
    admin::PrintBackupReport(*r, ctx.json, std::cout);
  });
}

}  // namespace tldb::cli
