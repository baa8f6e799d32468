// tldb append [--id CMID] [--expect-last SEQ] [--durability sync|buffered] [--to KEY ...] TEXT
#include <cstdio>

#include "commands.h"

namespace tldb::cli {

namespace {

struct AppendArgs {
  std::string payload, id, durability = "default";
  int64_t expect_last = -1;
  std::vector<std::string> fanout;
};

void PrintResult(const CliContext& ctx, std::string_view timeline, const AppendResult& r) {
  if (ctx.json) {
    std::printf("{\"timeline\":%s,\"seq\":%llu,\"timestamp_ms\":%lld,\"deduplicated\":%s}\n",
                JsonString(timeline).c_str(), static_cast<unsigned long long>(r.seq),
                static_cast<long long>(r.timestamp_ms), r.deduplicated ? "true" : "false");
  } else {
    std::printf("%.*s seq %llu%s\n", static_cast<int>(timeline.size()), timeline.data(),
                static_cast<unsigned long long>(r.seq), r.deduplicated ? " (deduplicated)" : "");
  }
}

void Run(CliContext& ctx, const AppendArgs& a) {
  if (a.fanout.empty() && !ctx.RequireTimeline()) return;
  auto c = ctx.Connect();
  if (!c) return;
  AppendOptions o;
  o.client_msg_id = a.id;
  if (a.expect_last >= 0) o.expected_last_seq = static_cast<Seq>(a.expect_last);
  o.durability = a.durability == "sync"       ? Durability::kSync
                 : a.durability == "buffered" ? Durability::kBuffered
                                              : Durability::kDefault;
  if (a.fanout.empty()) {
    auto r = c->Append(ctx.ns, ctx.timeline, a.payload, o, ctx.call());
    if (!r.ok()) return (void)ctx.Fail(r.status());
    return PrintResult(ctx, ctx.timeline, *r);
  }
  std::vector<std::string_view> keys(a.fanout.begin(), a.fanout.end());
  auto r = c->AppendFanout(ctx.ns, keys, a.payload, o, ctx.call());
  if (!r.ok()) return (void)ctx.Fail(r.status());
  for (size_t i = 0; i < r->size(); ++i) PrintResult(ctx, keys[i], (*r)[i]);
}

}  // namespace

void AddAppendCommand(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<AppendArgs>();
  CLI::App* cmd = app.add_subcommand("append", "Append a message to --timeline (or --to ...)");
  cmd->add_option("payload", args->payload, "Message payload")->required();
  cmd->add_option("--id", args->id, "client_msg_id: retries with the same id are deduplicated");
  cmd->add_option("--expect-last", args->expect_last,
                  "Fail with Conflict unless the timeline's last seq is this");
  cmd->add_option("--durability", args->durability, "default, sync or buffered")
      ->check(CLI::IsMember({"default", "sync", "buffered"}));
  cmd->add_option("--to", args->fanout, "Fan out to these timelines (instead of --timeline)");
  cmd->callback([&ctx, args] { Run(ctx, *args); });
}

}  // namespace tldb::cli
