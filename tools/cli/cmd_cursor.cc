// tldb cursor set --device D SEQ [--reset] / tldb cursor get --device D [KEY ...]
#include <cstdio>

#include "commands.h"

namespace tldb::cli {

namespace {

struct CursorArgs {
  std::string device;
  Seq seq = 0;
  bool reset = false;
  std::vector<std::string> timelines;
};

void RunSet(CliContext& ctx, const CursorArgs& a) {
  if (!ctx.RequireTimeline()) return;
  auto c = ctx.Connect();
  if (!c) return;
  auto r = c->SetCursor(a.device, ctx.ns, ctx.timeline, a.seq, a.reset, ctx.call());
  if (!r.ok()) return (void)ctx.Fail(r.status());
  if (ctx.json) {
    std::printf("{\"cursor\":%llu,\"moved\":%s}\n", (unsigned long long)r->cursor,
                r->moved ? "true" : "false");
  } else {
    std::printf("cursor %llu%s\n", (unsigned long long)r->cursor,
                r->moved ? "" : " (unchanged: cursors only move forward without --reset)");
  }
}

void RunGet(CliContext& ctx, CursorArgs a) {
  if (a.timelines.empty()) {
    if (!ctx.RequireTimeline()) return;
    a.timelines.push_back(ctx.timeline);
  }
  auto c = ctx.Connect();
  if (!c) return;
  std::vector<std::string_view> keys(a.timelines.begin(), a.timelines.end());
  auto r = c->GetCursors(a.device, ctx.ns, keys, ctx.call());
  if (!r.ok()) return (void)ctx.Fail(r.status());
  for (size_t i = 0; i < keys.size(); ++i) {
    const CursorState& s = (*r)[i];
    if (ctx.json) {
      std::printf("{\"timeline\":%s,\"cursor\":%llu,\"last_seq\":%llu,\"unread\":%llu}\n",
                  JsonString(keys[i]).c_str(), (unsigned long long)s.cursor,
                  (unsigned long long)s.last_seq, (unsigned long long)s.unread);
    } else {
      std::printf("%s\tcursor=%llu\tlast=%llu\tunread=%llu\n", a.timelines[i].c_str(),
                  (unsigned long long)s.cursor, (unsigned long long)s.last_seq,
                  (unsigned long long)s.unread);
    }
  }
}

}  // namespace

void AddCursorCommand(CLI::App& app, CliContext& ctx) {
  CLI::App* cursor = app.add_subcommand("cursor", "Device cursors: set, get");
  cursor->require_subcommand(1);
  auto a = std::make_shared<CursorArgs>();
  cursor->add_option("--device", a->device, "Device id")->required();
  CLI::App* set = cursor->add_subcommand("set", "Move the device's cursor on --timeline");
  set->add_option("seq", a->seq, "SeqId synced/read")->required();
  set->add_flag("--reset", a->reset, "Allow moving the cursor backward");
  set->callback([&ctx, a] { RunSet(ctx, *a); });
  CLI::App* get = cursor->add_subcommand("get", "Cursors and unread counts");
  get->add_option("timelines", a->timelines, "Timeline keys (default: --timeline)");
  get->callback([&ctx, a] { RunGet(ctx, *a); });
}

}  // namespace tldb::cli
