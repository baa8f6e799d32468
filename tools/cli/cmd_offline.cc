// Admin subcommands on a data directory (offline, read-only unless said otherwise) and their
// online forms: tldb inspect | dump | verify | repair | export | import. The logic lives in the
// tldb_admin library (tools/admin/); this file only parses flags and sets the exit code.
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <memory>

#include "admin/dump.h"
#include "admin/export.h"
#include "admin/import.h"
#include "admin/inspect.h"
#include "admin/progress.h"
#include "admin/repair.h"
#include "admin/verify.h"
#include "commands.h"
#include "tldb/file_system.h"

namespace tldb::cli {
namespace {

// Offline commands read files with plain POSIX I/O (read-only opens; no io_uring needed).
std::shared_ptr<FileSystem> Fs() {
  return NewPosixFileSystem();
}

bool Given(CLI::App& app, const char* flag) {
  return app.get_option(flag)->count() > 0;
}

std::string NsFilter(CLI::App& app, const CliContext& ctx) {
  return Given(app, "--ns") ? ctx.ns : std::string();
}

void AddInspect(CLI::App& app, CliContext& ctx) {
  auto path = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("inspect", "Store at a glance: DIR, or one SEGMENT file");
  cmd->add_option("path", *path, "Data directory or .seg file")->required();
  cmd->callback([&app, &ctx, path] {
    admin::InspectOptions o{ctx.json, NsFilter(app, ctx)};
    Status s = admin::Inspect(*Fs(), *path, o, std::cout);
    if (!s.ok()) ctx.Fail(s);
  });
}

void AddDump(CLI::App& app, CliContext& ctx) {
  auto path = std::make_shared<std::string>();
  auto o = std::make_shared<admin::DumpOptions>();
  CLI::App* cmd = app.add_subcommand("dump", "Records of DIR or a SEGMENT, one message per line");
  cmd->add_option("path", *path, "Data directory or .seg file")->required();
  cmd->add_option("--from-seq", o->from_seq, "Only messages with seq >= this");
  cmd->add_option("--limit", o->limit, "At most this many messages (0: all)");
  cmd->callback([&app, &ctx, path, o] {
    o->json = ctx.json;
    o->ns = NsFilter(app, ctx);
    o->timeline = ctx.timeline;
    Status s = admin::Dump(*Fs(), *path, *o, std::cout);
    if (!s.ok()) ctx.Fail(s);
  });
}

void AddVerify(CLI::App& app, CliContext& ctx) {
  auto path = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "verify", "Check every checksum, index entry and SeqId of DIR (exit 0 only if sound)");
  cmd->add_option("dir", *path, "Data directory")->required();
  cmd->callback([&ctx, path] {
    admin::ProgressPrinter progress(stderr, ::isatty(STDERR_FILENO) != 0);
    admin::VerifyOptions o;
    o.progress = [&](uint64_t done, uint64_t total, const std::string& file) {
      progress.Update(done, total, file);
    };
    auto r = admin::Verify(*Fs(), *path, o);
    progress.Finish();
    if (!r.ok()) return (void)ctx.Fail(r.status());
    admin::PrintVerifyReport(*r, ctx.json, std::cout);
    if (!r->sound()) ctx.exit_code = 1;
  });
}

void AddRepair(CLI::App& app, CliContext& ctx) {
  auto path = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "repair", "Server stopped: cut torn tails, rebuild indexes, quarantine corrupt segments");
  cmd->add_option("dir", *path, "Data directory")->required();
  cmd->callback([&ctx, path] {
    auto r = admin::Repair(*Fs(), *path);
    if (!r.ok()) return (void)ctx.Fail(r.status());
    admin::PrintRepairReport(*r, ctx.json, std::cout);
    if (!r->after.sound()) ctx.exit_code = 1;
  });
}

void AddExport(CLI::App& app, CliContext& ctx) {
  auto path = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "export", "Messages of DIR (or of --server with --ns and --timeline) as JSON Lines");
  cmd->add_option("dir", *path, "Data directory (omit with --server)");
  cmd->callback([&app, &ctx, path] {
    admin::ExportOptions o{NsFilter(app, ctx), {}};
    if (!ctx.timeline.empty()) o.timelines.push_back(ctx.timeline);
    uint64_t n = 0;
    Status s;
    if (!path->empty()) {
      s = admin::ExportDir(*Fs(), *path, o, std::cout, &n);
    } else if (Given(app, "--server")) {
      o.ns = ctx.ns;
      s = admin::CheckServerExport(o);
      if (s.ok()) {
        auto c = ctx.Connect();
        if (!c) return;
        s = admin::ExportServer(*c, o, std::cout, &n);
      }
    } else {
      std::cerr << "error: export needs a data directory or --server HOST:PORT\n";
      ctx.exit_code = 2;
      return;
    }
    std::cout.flush();
    if (s.ok() || n > 0) std::cerr << "exported " << n << " messages\n";
    if (!s.ok()) ctx.Fail(s);
  });
}

void AddImport(CLI::App& app, CliContext& ctx) {
  auto dir = std::make_shared<std::string>();
  auto file = std::make_shared<std::string>("-");
  CLI::App* cmd = app.add_subcommand(
      "import", "JSON Lines (from export) into DIR, keeping SeqIds and timestamps (idempotent)");
  cmd->add_option("dir", *dir, "Data directory (created if missing; the server must be stopped)")
      ->required();
  cmd->add_option("file", *file, "Input file, - for stdin")->capture_default_str();
  cmd->callback([&ctx, dir, file] {
    std::ifstream f;
    if (*file != "-") {
      f.open(*file);
      if (!f) return (void)ctx.Fail(Status::NotFound("cannot open " + *file));
    }
    auto r = admin::ImportIntoDir(*dir, *file == "-" ? std::cin : f);
    if (!r.ok()) return (void)ctx.Fail(r.status());
    admin::PrintImportStats(*r, ctx.json, std::cout);
  });
}

}  // namespace

void AddOfflineCommands(CLI::App& app, CliContext& ctx) {
  AddInspect(app, ctx);
  AddDump(app, ctx);
  AddVerify(app, ctx);
  AddRepair(app, ctx);
  AddExport(app, ctx);
  AddImport(app, ctx);
}

}  // namespace tldb::cli
