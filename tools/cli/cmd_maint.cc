// tldb recall SEQ / tldb edit SEQ PAYLOAD / tldb trim BELOW_SEQ / tldb delete-timeline [--through]
// / tldb compact [--ns N] [--full]: maintenance through the server (write right; compact needs
// the admin right).
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "admin/progress.h"
#include "admin/text_table.h"
#include "commands.h"

namespace tldb::cli {

namespace {

const char* KindName(MutationKind k) {
  switch (k) {
    case MutationKind::kRecall:
      return "recall";
    case MutationKind::kEdit:
      return "edit";
    case MutationKind::kTrim:
      return "trim";
    case MutationKind::kDeleteTimeline:
      return "delete-timeline";
  }
  return "?";
}

struct MutateArgs {
  Seq seq = 0;
  std::string payload;
};

void RunMutate(CliContext& ctx, MutationKind kind, const MutateArgs& a) {
  if (!ctx.RequireTimeline()) return;
  auto c = ctx.Connect();
  if (!c) return;
  Mutation m{kind, ctx.timeline, a.seq, a.payload, Durability::kDefault};
  auto r = c->Mutate(ctx.ns, m, ctx.call());
  if (!r.ok()) return (void)ctx.Fail(r.status());
  if (ctx.json) {
    std::printf("{\"op\":\"%s\",\"seq\":%llu,\"noop\":%s}\n", KindName(kind),
                (unsigned long long)r->seq, r->noop ? "true" : "false");
    return;
  }
  const char* what = kind == MutationKind::kTrim             ? "first kept seq"
                     : kind == MutationKind::kDeleteTimeline ? "deleted through seq"
                                                             : "seq";
  std::printf("%s: %s %llu%s\n", KindName(kind), what, (unsigned long long)r->seq,
              r->noop ? " (already in effect, nothing written)" : "");
}

std::string ProgressLine(const CompactionStatus& s) {
  static const char* kState[] = {"queued", "running", "done", "failed"};
  const CompactionProgress& p = s.progress;
  return "compaction " + std::to_string(s.job_id) + " (" +
         (s.ns.empty() ? std::string("all namespaces") : s.ns) + ") " +
         kState[static_cast<int>(s.state)] + ": " + std::to_string(p.segments_done) + "/" +
         std::to_string(p.segments_total) + " segments, read " + admin::FormatBytes(p.bytes_read) +
         ", wrote " + admin::FormatBytes(p.bytes_written) + ", dropped " +
         std::to_string(p.records_dropped) + " records, " + std::to_string(p.segments_expired) +
         " expired segments";
}

void RunCompact(CliContext& ctx, const CLI::Option* ns_opt, bool full, uint32_t poll_ms) {
  auto c = ctx.Connect();
  if (!c) return;
  const std::string ns = ns_opt->count() > 0 ? ctx.ns : std::string();
  admin::ProgressPrinter printer(stderr, !ctx.json && ::isatty(STDERR_FILENO) != 0);
  auto r = c->Compact(
      ns, full,
      [&](const CompactionStatus& s) {
        // The final state is printed as the summary below. Before the engine planned the
        // run, segments_total is 0: show 0%, not 100%.
        if (ctx.json || s.finished()) return;
        printer.Step(s.progress.segments_done, std::max<uint64_t>(s.progress.segments_total, 1),
                     ProgressLine(s));
      },
      poll_ms, ctx.call());
  printer.Finish();
  if (!r.ok()) return (void)ctx.Fail(r.status());
  const CompactionProgress& p = r->progress;
  if (ctx.json) {
    std::printf(
        "{\"job_id\":%llu,\"ns\":%s,\"segments\":%llu,\"bytes_read\":%llu,\"bytes_written\":%llu,"
        "\"records_kept\":%llu,\"records_dropped\":%llu,\"segments_expired\":%llu}\n",
        (unsigned long long)r->job_id, JsonString(r->ns).c_str(),
        (unsigned long long)p.segments_done, (unsigned long long)p.bytes_read,
        (unsigned long long)p.bytes_written, (unsigned long long)p.records_kept,
        (unsigned long long)p.records_dropped, (unsigned long long)p.segments_expired);
  } else {
    std::printf("%s\n", ProgressLine(*r).c_str());
  }
}

void AddMutation(CLI::App& app, CliContext& ctx, MutationKind kind, const char* name,
                 const char* help, const char* seq_help, bool seq_required) {
  auto a = std::make_shared<MutateArgs>();
  CLI::App* cmd = app.add_subcommand(name, help);
  auto* seq = cmd->add_option("seq", a->seq, seq_help);
  if (seq_required) seq->required();
  if (kind == MutationKind::kEdit) {
    cmd->add_option("payload", a->payload, "New payload")->required();
  }
  cmd->callback([&ctx, kind, a] { RunMutate(ctx, kind, *a); });
}

}  // namespace

void AddMaintenanceCommands(CLI::App& app, CliContext& ctx) {
  AddMutation(app, ctx, MutationKind::kRecall, "recall",
              "Recall (delete) message SEQ of --timeline; get then answers Deleted",
              "SeqId to recall", true);
  AddMutation(app, ctx, MutationKind::kEdit, "edit", "Replace the payload of message SEQ",
              "SeqId to edit", true);
  AddMutation(app, ctx, MutationKind::kTrim, "trim", "Delete every message of --timeline below SEQ",
              "First SeqId to keep", true);
  AddMutation(app, ctx, MutationKind::kDeleteTimeline, "delete-timeline",
              "Delete every message of --timeline up to SEQ (default: its last)",
              "Last SeqId to delete (0 = the last)", false);

  auto full = std::make_shared<bool>(false);
  auto poll_ms = std::make_shared<uint32_t>(200);
  CLI::App* cmd = app.add_subcommand(
      "compact", "Compact on the server with progress (--ns N: one namespace; default: all)");
  cmd->add_flag("--full", *full, "Seal the active segment and rewrite every segment");
  cmd->add_option("--poll-ms", *poll_ms, "Progress poll interval")->capture_default_str();
  const CLI::Option* ns_opt = app.get_option("--ns");
  cmd->callback([&ctx, ns_opt, full, poll_ms] { RunCompact(ctx, ns_opt, *full, *poll_ms); });
}

}  // namespace tldb::cli
