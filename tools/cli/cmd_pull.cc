// tldb pull [KEY[=AFTER] ...] [--after N] [--limit N] [--total N] [--bytes-max N] [--wait-ms MS]:
// pull mode, the messages after a seq of many timelines in one READ_MULTI; with --wait-ms, one
// timeline long-polled by a WAIT that returns the messages.
#include <charconv>
#include <cstdio>

#include "commands.h"

namespace tldb::cli {

namespace {

struct PullArgs {
  std::vector<std::string> keys;  // KEY or KEY=AFTER
  Seq after = 0;                  // for keys without =AFTER
  ReadLimits limits;
  int64_t wait_ms = -1;  // >= 0: WAIT with messages (one timeline)
};

// "KEY=AFTER" (the last '=' followed by digits only) or "KEY" (after = dflt).
bool ParseKey(const std::string& arg, Seq dflt, std::string* key, Seq* after) {
  const size_t eq = arg.rfind('=');
  if (eq == std::string::npos || eq + 1 == arg.size()) {
    *key = arg;
    *after = dflt;
    return true;
  }
  const char* end = arg.data() + arg.size();
  auto [p, ec] = std::from_chars(arg.data() + eq + 1, end, *after);
  if (ec != std::errc() || p != end) {
    *key = arg;
    *after = dflt;
    return arg.find_first_not_of("0123456789", eq + 1) != std::string::npos;
  }
  *key = arg.substr(0, eq);
  return true;
}

void Print(const CliContext& ctx, std::string_view key, const TimelineRead& r,
           const std::string& extra_json) {
  if (ctx.json) {
    std::string out = "{\"timeline\":" + JsonString(key) + extra_json +
                      ",\"last_seq\":" + std::to_string(r.last_seq) +
                      ",\"more\":" + (r.more ? "true" : "false") + ",\"messages\":[";
    for (size_t i = 0; i < r.messages.size(); ++i) {
      out += (i ? "," : "") + MessageJson(r.messages[i]);
    }
    std::printf("%s]}\n", out.c_str());
    return;
  }
  std::printf("%.*s\tlast=%llu\tmessages=%zu%s\n", static_cast<int>(key.size()), key.data(),
              static_cast<unsigned long long>(r.last_seq), r.messages.size(),
              r.more ? "\tmore (read again after the last one)" : "");
  for (const auto& m : r.messages) std::printf("  %s\n", MessageText(m).c_str());
}

void RunPull(CliContext& ctx, PullArgs a) {
  if (a.keys.empty()) {
    if (!ctx.RequireTimeline()) return;
    a.keys.push_back(ctx.timeline);
  }
  std::vector<std::string> names(a.keys.size());
  std::vector<TimelineAfter> reads(a.keys.size());
  for (size_t i = 0; i < a.keys.size(); ++i) {
    Seq after = 0;
    if (!ParseKey(a.keys[i], a.after, &names[i], &after)) {
      std::fprintf(stderr, "error: '%s': expected KEY or KEY=AFTER (a SeqId)\n", a.keys[i].c_str());
      ctx.exit_code = 2;
      return;
    }
    reads[i] = {names[i], after};
  }
  if (a.wait_ms >= 0 && reads.size() != 1) {
    std::fprintf(stderr, "error: --wait-ms long-polls one timeline, got %zu\n", reads.size());
    ctx.exit_code = 2;
    return;
  }
  auto c = ctx.Connect();
  if (!c) return;
  if (a.wait_ms >= 0) {
    auto r = c->WaitRead(ctx.ns, reads[0].timeline, reads[0].after_seq,
                         static_cast<uint32_t>(a.wait_ms), a.limits, ctx.call());
    if (!r.ok()) return (void)ctx.Fail(r.status());
    if (!ctx.json && !r->ready)
      std::printf("(no new message within %lld ms)\n", (long long)a.wait_ms);
    Print(ctx, names[0], r->read, std::string(",\"ready\":") + (r->ready ? "true" : "false"));
    return;
  }
  auto r = c->ReadMulti(ctx.ns, reads, a.limits, ctx.call());
  if (!r.ok()) return (void)ctx.Fail(r.status());
  for (size_t i = 0; i < names.size(); ++i) Print(ctx, names[i], (*r)[i], "");
}

}  // namespace

void AddPullCommand(CLI::App& app, CliContext& ctx) {
  auto a = std::make_shared<PullArgs>();
  CLI::App* cmd = app.add_subcommand(
      "pull", "The messages after a SeqId of several timelines, in one request (READ_MULTI)");
  cmd->add_option("timelines", a->keys, "KEY or KEY=AFTER (default: --timeline)");
  cmd->add_option("--after", a->after, "AFTER of the keys that give none")->capture_default_str();
  cmd->add_option("--limit", a->limits.timeline_limit, "Messages per timeline (0: 100)");
  cmd->add_option("--total", a->limits.limit, "Messages in all (0: 10,000; with --wait-ms: 100)");
  cmd->add_option("--bytes-max", a->limits.bytes_max, "Payload bytes in all (0: the server's cap)");
  cmd->add_option("--wait-ms", a->wait_ms,
                  "Long-poll one timeline this long (WAIT), printing the messages that arrive");
  cmd->callback([&ctx, a] { RunPull(ctx, *a); });
}

}  // namespace tldb::cli
