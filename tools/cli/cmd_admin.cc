// tldb stats / tldb ping [--count N] / tldb ns create|list|describe
#include <chrono>
#include <cstdio>

#include "commands.h"

namespace tldb::cli {

namespace {

const char* DurabilityName(Durability d) {
  return d == Durability::kSync ? "sync" : d == Durability::kBuffered ? "buffered" : "default";
}

void PrintNamespace(const CliContext& ctx, const NamespaceInfo& n) {
  if (ctx.json) {
    std::printf(
        "{\"name\":%s,\"id\":%u,\"ttl_ms\":%llu,\"segment_bytes_max\":%llu,\"durability\":\"%s\","
        "\"timelines\":%llu,\"segments\":%llu,\"bytes_on_disk\":%llu}\n",
        JsonString(n.name).c_str(), n.id, (unsigned long long)n.options.ttl_ms,
        (unsigned long long)n.options.segment_bytes_max, DurabilityName(n.options.durability),
        (unsigned long long)n.timelines, (unsigned long long)n.segments,
        (unsigned long long)n.bytes_on_disk);
  } else {
    std::printf("%s\tttl_ms=%llu\tdurability=%s\ttimelines=%llu\tsegments=%llu\tbytes=%llu\n",
                n.name.c_str(), (unsigned long long)n.options.ttl_ms,
                DurabilityName(n.options.durability), (unsigned long long)n.timelines,
                (unsigned long long)n.segments, (unsigned long long)n.bytes_on_disk);
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
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - t0)
                  .count();
    if (ctx.json) {
      std::printf("{\"server\":%s,\"rtt_us\":%lld}\n", JsonString(c->server_info().server_name).c_str(),
                  (long long)us);
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
};

void RunNsCreate(CliContext& ctx, const NsArgs& a) {
  auto c = ctx.Connect();
  if (!c) return;
  NamespaceOptions o;
  o.ttl_ms = a.ttl_ms;
  o.durability = a.durability == "buffered" ? Durability::kBuffered : Durability::kSync;
  Status s = c->CreateNamespace(a.name, o, ctx.call());
  if (!s.ok()) return (void)ctx.Fail(s);
  if (ctx.json) {
    std::printf("{\"created\":%s}\n", JsonString(a.name).c_str());
  } else {
    std::printf("namespace %s created\n", a.name.c_str());
  }
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
  CLI::App* ns = app.add_subcommand("ns", "Namespaces: create, list, describe");
  ns->require_subcommand(1);
  auto a = std::make_shared<NsArgs>();
  CLI::App* create = ns->add_subcommand("create", "Create a namespace");
  create->add_option("name", a->name, "Namespace name (a-z, 0-9, _ and -)")->required();
  create->add_option("--ttl-ms", a->ttl_ms, "Expire messages older than this (0 = keep)");
  create->add_option("--durability", a->durability, "sync or buffered")
      ->check(CLI::IsMember({"sync", "buffered"}))
      ->capture_default_str();
  create->callback([&ctx, a] { RunNsCreate(ctx, *a); });
  ns->add_subcommand("list", "List namespaces")->callback([&ctx] { RunNsList(ctx); });
  auto name = std::make_shared<std::string>();
  CLI::App* describe = ns->add_subcommand("describe", "Describe a namespace (default: --ns)");
  describe->add_option("name", *name, "Namespace name");
  describe->callback([&ctx, name] { RunNsDescribe(ctx, *name); });
}

}  // namespace tldb::cli
