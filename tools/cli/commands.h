// The `tldb` subcommands. Each AddXxxCommand() lives in its own file (cmd_xxx.cc); a new
// subcommand (such as the data-directory admin commands) adds a file and one line in main.cc.
#pragma once

#include <CLI/CLI.hpp>

#include "cli_context.h"

namespace tldb::cli {

void AddAppendCommand(CLI::App& app, CliContext& ctx);
void AddGetCommand(CLI::App& app, CliContext& ctx);
void AddScanCommand(CLI::App& app, CliContext& ctx);
void AddLastCommand(CLI::App& app, CliContext& ctx);
void AddPullCommand(CLI::App& app, CliContext& ctx);  // READ_MULTI, WAIT with messages
void AddTailCommand(CLI::App& app, CliContext& ctx);
void AddStatsCommand(CLI::App& app, CliContext& ctx);
void AddPingCommand(CLI::App& app, CliContext& ctx);
void AddNsCommand(CLI::App& app, CliContext& ctx);
void AddCursorCommand(CLI::App& app, CliContext& ctx);
void AddClusterCommand(CLI::App& app, CliContext& ctx);       // cluster status
void AddBackupCommand(CLI::App& app, CliContext& ctx);        // online backup into a directory
void AddMaintenanceCommands(CLI::App& app, CliContext& ctx);  // recall edit trim ... compact
void AddOfflineCommands(CLI::App& app,
                        CliContext& ctx);  // inspect dump verify repair export import

}  // namespace tldb::cli
