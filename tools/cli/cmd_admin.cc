// tldb stats / tldb ping [--count N] / tldb ns create|list|describe|set
#include <chrono>
#include <cstdio>

#include "commands.h"

namespace tldb::cli {

namespace {

const char* DurabilityName(Durability d) {
  return d == Durability::kSync ? "sync" : d == Durability::kBuffered ? "buffered" : "default";
}

void PrintNamespace(const CliContext& ctx, const NamespaceInfo& n) {
  const NamespaceOptions& o = n.options;
  if (ctx.json) {
    std::printf(
        "{\"name\":%s,\"id\":%u,\"ttl_ms\":%llu,\"segment_bytes_max\":%llu,\"durability\":\"%s\","
        "\"messages_per_timeline_max\":%llu,\"compact_live_pct\":%u,\"compress_block_bytes\":%u,"
        "\"compress_level\":%d,\"timelines\":%llu,\"segments\":%llu,\"bytes_on_disk\":%llu}\n",
        JsonString(n.name).c_str(), n.id, (unsigned long long)o.ttl_ms,
        (unsigned long long)o.segment_bytes_max, DurabilityName(o.durability),
        (unsigned long long)o.messages_per_timeline_max, o.compact_live_pct, o.compress_block_bytes,
        o.compress_level, (unsigned long long)n.timelines, (unsigned long long)n.segments,
        (unsigned long long)n.bytes_on_disk);
  } else {
    std::printf(
        "%s\tttl_ms=%llu\tdurability=%s\tmessages_per_timeline_max=%llu\tcompact_live_pct=%u"
        "\tcompress_block_bytes=%u\tcompress_level=%d\ttimelines=%llu\tsegments=%llu\tbytes=%llu\n",
        n.name.c_str(), (unsigned long long)o.ttl_ms, DurabilityName(o.durability),
        (unsigned long long)o.messages_per_timeline_max, o.compact_live_pct, o.compress_block_bytes,
        o.compress_level, (unsigned long long)n.timelines, (unsigned long long)n.segments,
        (unsigned long long)n.bytes_on_disk);
  }
}

void RunStats(CliContext& ctx) {
  auto c = ctx.Connect();
  if (!c) return;
  auto r = c->Stats(ctx.call());
  if (!r.ok()) return (void)ctx.Fail(r.status());
  if (ctx.json) {
    std::printf("{\"io_backend\":%s", JsonString(r->io_backend).c_str());
    for (const auto& [k, v] : r->counters) {
      std::printf(",%s:%llu", JsonString(k).c_str(), (unsigned long long)v);
    }
    std::printf("}\n");
    return;
  }
  std::printf("%-36s %s\n", "io_backend", r->io_backend.c_str());
  for (const auto& [k, v] : r->counters) {
    std::printf("%-36s %llu\n", k.c_str(), (unsigned long long)v);
  }
}

void RunPing(CliContext& ctx, uint32_t count) {
  auto c = ctx.Connect();
  if (!c) return;
  for (uint32_t i = 0; i < count; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = c->Ping("ping", ctx.call());
    if (!r.ok()) return (void)ctx.Fail(r.status());
    auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    if (ctx.json) {
      std::printf("{\"server\":%s,\"rtt_us\":%lld}\n",
                  JsonString(c->server_info().server_name).c_str(), (long long)us);
    } else {
      std::printf("PONG from %s (%s): %lld us\n", ctx.server.c_str(),
                  c->server_info().server_name.c_str(), (long long)us);
    }
  }
}

struct NsArgs {
  std::string name;
  uint64_t ttl_ms = 0;
  std::string durability = "sync";
  uint64_t messages_per_timeline_max = 0;
  uint32_t compact_live_pct = NamespaceOptions{}.compact_live_pct;
  uint32_t compress_block_bytes = NamespaceOptions{}.compress_block_bytes;
  int32_t compress_level = NamespaceOptions{}.compress_level;
};

// `tldb ns set`: each flag given becomes a field of the update.
struct NsSetArgs {
  std::string name;
  NamespaceOptionsUpdate update;
  std::string durability;
};

void RunNsCreate(CliContext& ctx, const NsArgs& a) {
  auto c = ctx.Connect();
  if (!c) return;
  NamespaceOptions o;
  o.ttl_ms = a.ttl_ms;
  o.durability = a.durability == "buffered" ? Durability::kBuffered : Durability::kSync;
  o.messages_per_timeline_max = a.messages_per_timeline_max;
  o.compact_live_pct = a.compact_live_pct;
  o.compress_block_bytes = a.compress_block_bytes;
  o.compress_level = a.compress_level;
  Status s = c->CreateNamespace(a.name, o, ctx.call());
  if (!s.ok()) return (void)ctx.Fail(s);
  if (ctx.json) {
    std::printf("{\"created\":%s}\n", JsonString(a.name).c_str());
  } else {
    std::printf("namespace %s created\n", a.name.c_str());
  }
}

void RunNsSet(CliContext& ctx, NsSetArgs a) {
  if (!a.durability.empty()) {
    a.update.durability = a.durability == "buffered" ? Durability::kBuffered : Durability::kSync;
  }
  auto c = ctx.Connect();
  if (!c) return;
  auto r = c->SetNamespaceOptions(a.name.empty() ? ctx.ns : a.name, a.update, ctx.call());
  if (!r.ok()) return (void)ctx.Fail(r.status());
  PrintNamespace(ctx, *r);
}

// Adds --FLAG to `cmd`; when given, it sets `field` (std::optional<T>) of the update.
template <typename T>
void AddUpdateOption(CLI::App* cmd, const std::string& flag, const std::string& help,
                     std::optional<T>* field) {
  cmd->add_option_function<T>(
      flag, [field](const T& v) { *field = v; }, help);
}

void RunNsList(CliContext& ctx) {
  auto c = ctx.Connect();
  if (!c) return;
  auto r = c->ListNamespaces(ctx.call());
  if (!r.ok()) return (void)ctx.Fail(r.status());
  for (const auto& n : *r) PrintNamespace(ctx, n);
}

void RunNsDescribe(CliContext& ctx, const std::string& name) {
  auto c = ctx.Connect();
  if (!c) return;
  auto r = c->DescribeNamespace(name.empty() ? ctx.ns : name, ctx.call());
  if (!r.ok()) return (void)ctx.Fail(r.status());
  PrintNamespace(ctx, *r);
}

}  // namespace

void AddStatsCommand(CLI::App& app, CliContext& ctx) {
  app.add_subcommand("stats", "Print server counters")->callback([&ctx] { RunStats(ctx); });
}

void AddPingCommand(CLI::App& app, CliContext& ctx) {
  auto count = std::make_shared<uint32_t>(1);
  CLI::App* cmd = app.add_subcommand("ping", "Round trip to the server");
  cmd->add_option("--count", *count, "Pings to send")->capture_default_str();
  cmd->callback([&ctx, count] { RunPing(ctx, *count); });
}

void AddNsCommand(CLI::App& app, CliContext& ctx) {
  CLI::App* ns = app.add_subcommand("ns", "Namespaces: create, list, describe, set");
  ns->require_subcommand(1);
  auto a = std::make_shared<NsArgs>();
  CLI::App* create = ns->add_subcommand("create", "Create a namespace");
  create->add_option("name", a->name, "Namespace name (a-z, 0-9, _ and -)")->required();
  create->add_option("--ttl-ms", a->ttl_ms, "Expire messages older than this (0 = keep)");
  create->add_option("--durability", a->durability, "sync or buffered")
      ->check(CLI::IsMember({"sync", "buffered"}))
      ->capture_default_str();
  create->add_option("--messages-per-timeline-max", a->messages_per_timeline_max,
                     "Keep only the newest N messages of each timeline (0 = no limit)");
  create
      ->add_option("--compact-live-pct", a->compact_live_pct,
                   "Compact a segment once less than this % of it is live (1-100; 0 = default)")
      ->capture_default_str();
  create
      ->add_option("--compress-block-bytes", a->compress_block_bytes,
                   "zstd block size of compacted segments")
      ->capture_default_str();
  create->add_option("--compress-level", a->compress_level, "zstd level of compacted segments")
      ->capture_default_str();
  create->callback([&ctx, a] { RunNsCreate(ctx, *a); });
  auto s = std::make_shared<NsSetArgs>();
  CLI::App* set = ns->add_subcommand("set", "Change a namespace's options (admin right)");
  set->add_option("name", s->name, "Namespace name (default: --ns)");
  AddUpdateOption(set, "--ttl-ms", "Expire messages older than this (0 = keep)", &s->update.ttl_ms);
  AddUpdateOption(set, "--messages-per-timeline-max", "Keep only the newest N per timeline",
                  &s->update.messages_per_timeline_max);
  AddUpdateOption(set, "--compact-live-pct", "Compaction threshold (% live; 0 = default)",
                  &s->update.compact_live_pct);
  AddUpdateOption(set, "--compress-block-bytes", "zstd block size of compacted segments",
                  &s->update.compress_block_bytes);
  AddUpdateOption(set, "--compress-level", "zstd level of compacted segments",
                  &s->update.compress_level);
  AddUpdateOption(set, "--segment-bytes-max", "Roll the active segment at this size",
                  &s->update.segment_bytes_max);
  set->add_option("--durability", s->durability, "sync or buffered")
      ->check(CLI::IsMember({"sync", "buffered"}));
  set->callback([&ctx, s] { RunNsSet(ctx, *s); });
  ns->add_subcommand("list", "List namespaces")->callback([&ctx] { RunNsList(ctx); });
  auto name = std::make_shared<std::string>();
  CLI::App* describe = ns->add_subcommand("describe", "Describe a namespace (default: --ns)");
  describe->add_option("name", *name, "Namespace name");
  describe->callback([&ctx, name] { RunNsDescribe(ctx, *name); });
}

}  // namespace tldb::cli
