// tldb tail [-n N] [-f] [--exit-after N] [--duration-ms MS]: the newest messages of
// --timeline, then (with -f) every new message as the server acknowledges it (SUBSCRIBE).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <deque>
#include <mutex>

#include "commands.h"

namespace tldb::cli {

namespace {

std::atomic<bool> g_interrupted{false};

struct TailArgs {
  uint32_t lines = 10;
  bool follow = false;
  uint64_t exit_after = 0;   // 0: until interrupted
  uint64_t duration_ms = 0;  // 0: until interrupted
};

// Receives pushes on the client's I/O thread; the main thread prints them.
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<SubscriptionEvent> events;
};

void Print(const CliContext& ctx, const Message& m) {
  std::printf("%s\n", ctx.json ? MessageJson(m).c_str() : MessageText(m).c_str());
  std::fflush(stdout);
}

void Follow(CliContext& ctx, Client& c, Seq after, const TailArgs& a) {
  auto inbox = std::make_shared<Inbox>();
  auto sub = c.Subscribe(
      ctx.ns, ctx.timeline, after, false,
      [inbox](const SubscriptionEvent& e) {
        std::lock_guard lock(inbox->mu);
        inbox->events.push_back(e);
        inbox->cv.notify_one();
      },
      ctx.call());
  if (!sub.ok()) return (void)ctx.Fail(sub.status());
  std::signal(SIGINT, [](int) { g_interrupted = true; });
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(a.duration_ms);
  uint64_t printed = 0;
  while (!g_interrupted && (a.exit_after == 0 || printed < a.exit_after)) {
    if (a.duration_ms && std::chrono::steady_clock::now() >= end) break;
    std::unique_lock lock(inbox->mu);
    inbox->cv.wait_for(lock, std::chrono::milliseconds(50), [&] { return !inbox->events.empty(); });
    while (!inbox->events.empty() && (a.exit_after == 0 || printed < a.exit_after)) {
      SubscriptionEvent e = std::move(inbox->events.front());
      inbox->events.pop_front();
      if (!e.status.ok()) return (void)ctx.Fail(e.status);
      Print(ctx, e.message);
      ++printed;
    }
  }
  (void)c.Unsubscribe(*sub);
}

void Run(CliContext& ctx, const TailArgs& a) {
  if (!ctx.RequireTimeline()) return;
  auto c = ctx.Connect();
  if (!c) return;
  Seq last = 0;
  if (a.lines > 0) {
    auto r = c->Latest(ctx.ns, ctx.timeline, a.lines, ctx.call());
    if (!r.ok()) return (void)ctx.Fail(r.status());
    for (const auto& m : *r) Print(ctx, m);
    if (!r->empty()) last = r->back().seq;
  }
  if (!a.follow) return;
  if (last == 0) {
    std::string_view key = ctx.timeline;
    auto seqs = c->LastSeq(ctx.ns, std::span<const std::string_view>(&key, 1), ctx.call());
    if (!seqs.ok()) return (void)ctx.Fail(seqs.status());
    last = (*seqs)[0];
  }
  Follow(ctx, *c, last, a);
}

}  // namespace

void AddTailCommand(CLI::App& app, CliContext& ctx) {
  auto a = std::make_shared<TailArgs>();
  CLI::App* cmd = app.add_subcommand("tail", "Print the newest messages; -f follows new ones");
  cmd->add_option("-n,--lines", a->lines, "Newest messages printed first")->capture_default_str();
  cmd->add_flag("-f,--follow", a->follow, "Keep printing new messages (Ctrl-C stops)");
  cmd->add_option("--exit-after", a->exit_after, "With -f: stop after this many new messages");
  cmd->add_option("--duration-ms", a->duration_ms, "With -f: stop after this long");
  cmd->callback([&ctx, a] { Run(ctx, *a); });
}

}  // namespace tldb::cli
