// tldb get SEQ / tldb scan [--from] [--to] [--backward] [--limit] [--latest N] /
// tldb last [KEY ...]
#include <algorithm>
#include <cstdio>

#include "commands.h"

namespace tldb::cli {

namespace {

void PrintMessages(const CliContext& ctx, const std::vector<Message>& msgs) {
  for (const auto& m : msgs) {
    std::printf("%s\n", ctx.json ? MessageJson(m).c_str() : MessageText(m).c_str());
  }
}

struct ScanArgs {
  Seq from = 0, to = 0;
  bool backward = false;
  uint32_t limit = 100;
  uint32_t latest = 0;
};

void RunScan(CliContext& ctx, const ScanArgs& a) {
  if (!ctx.RequireTimeline()) return;
  auto c = ctx.Connect();
  if (!c) return;
  if (a.latest) {
    auto r = c->Latest(ctx.ns, ctx.timeline, a.latest, ctx.call());
    if (!r.ok()) return (void)ctx.Fail(r.status());
    return PrintMessages(ctx, *r);
  }
  ScanOptions o;
  o.from_seq = a.from;
  o.to_seq = a.to;
  o.direction = a.backward ? Direction::kBackward : Direction::kForward;
  o.limit = a.limit;
  auto r = c->Scan(ctx.ns, ctx.timeline, o, ctx.call());
  if (!r.ok()) return (void)ctx.Fail(r.status());
  PrintMessages(ctx, *r);
}

void RunGet(CliContext& ctx, Seq seq) {
  if (!ctx.RequireTimeline()) return;
  auto c = ctx.Connect();
  if (!c) return;
  auto r = c->Get(ctx.ns, ctx.timeline, seq, ctx.call());
  if (!r.ok()) return (void)ctx.Fail(r.status());
  PrintMessages(ctx, {*r});
}

void RunLast(CliContext& ctx, std::vector<std::string> keys) {
  if (keys.empty()) {
    if (!ctx.RequireTimeline()) return;
    keys.push_back(ctx.timeline);
  }
  auto c = ctx.Connect();
  if (!c) return;
  std::vector<std::string_view> views(keys.begin(), keys.end());
  auto r = c->LastSeq(ctx.ns, views, ctx.call());
  if (!r.ok()) return (void)ctx.Fail(r.status());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (ctx.json) {
      std::printf("{\"timeline\":%s,\"last_seq\":%llu}\n", JsonString(keys[i]).c_str(),
                  static_cast<unsigned long long>((*r)[i]));
    } else {
      std::printf("%s\t%llu\n", keys[i].c_str(), static_cast<unsigned long long>((*r)[i]));
    }
  }
}

}  // namespace

void AddGetCommand(CLI::App& app, CliContext& ctx) {
  auto seq = std::make_shared<Seq>(0);
  CLI::App* cmd = app.add_subcommand("get", "Print one message of --timeline");
  cmd->add_option("seq", *seq, "SeqId")->required();
  cmd->callback([&ctx, seq] { RunGet(ctx, *seq); });
}

void AddScanCommand(CLI::App& app, CliContext& ctx) {
  auto a = std::make_shared<ScanArgs>();
  CLI::App* cmd = app.add_subcommand("scan", "Print a range of --timeline");
  cmd->add_option("--from", a->from, "First SeqId (0 = from the start)");
  cmd->add_option("--to", a->to, "Last SeqId (0 = to the end)");
  cmd->add_flag("--backward", a->backward, "Newest first");
  cmd->add_option("--limit", a->limit, "At most this many messages")->capture_default_str();
  cmd->add_option("--latest", a->latest, "The newest N messages, oldest first");
  cmd->callback([&ctx, a] { RunScan(ctx, *a); });
}

void AddLastCommand(CLI::App& app, CliContext& ctx) {
  auto keys = std::make_shared<std::vector<std::string>>();
  CLI::App* cmd = app.add_subcommand("last", "Print the last SeqId of timelines");
  cmd->add_option("timelines", *keys, "Timeline keys (default: --timeline)");
  cmd->callback([&ctx, keys] { RunLast(ctx, *keys); });
}

}  // namespace tldb::cli
