// The Prometheus endpoint (--metrics-listen): a real tldb-server scraped over HTTP with libcurl,
// the exposition's names and TYPE lines, counters and histograms that move with traffic, the
// config-file form of the option, and the pieces behind it (EngineEvents, histogram buckets).
#include <curl/curl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "common/server_process.h"
#include "metrics_collector.h"
#include "server_stats.h"
#include "server_test_util.h"
#include "tldb/engine_events.h"

namespace tldb::testing {
namespace {

size_t AppendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

struct HttpResponse {
  long status = 0;
  std::string content_type;
  std::string body;
};

// One GET with libcurl; status 0 when the request failed.
HttpResponse HttpGet(const std::string& url) {
  HttpResponse r;
  CURL* curl = curl_easy_init();
  if (!curl) return r;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10'000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (curl_easy_perform(curl) == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    char* ct = nullptr;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct);
    if (ct) r.content_type = ct;
  }
  curl_easy_cleanup(curl);
  return r;
}

// A parsed exposition: TYPE per family, value per series ("name{labels}").
struct Exposition {
  std::map<std::string, std::string> types;
  std::map<std::string, std::string> help;
  std::map<std::string, double> values;
  std::vector<std::string> problems;  // lines that do not follow the text format

  double Value(const std::string& series) const {
    auto it = values.find(series);
    return it == values.end() ? -1 : it->second;
  }
  bool Has(const std::string& series) const { return values.contains(series); }
};

Exposition Parse(const std::string& text) {
  Exposition e;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.starts_with("# TYPE ") || line.starts_with("# HELP ")) {
      std::string rest = line.substr(7);
      size_t sp = rest.find(' ');
      if (sp == std::string::npos) {
        e.problems.push_back(line);
        continue;
      }
      (line[2] == 'T' ? e.types : e.help)[rest.substr(0, sp)] = rest.substr(sp + 1);
      continue;
    }
    if (line[0] == '#') continue;
    size_t sp = line.rfind(' ');
    if (sp == std::string::npos) {
      e.problems.push_back(line);
      continue;
    }
    const std::string value = line.substr(sp + 1);
    double v = 0;
    if (value == "+Inf") {
      v = std::numeric_limits<double>::infinity();
    } else if (value == "Nan" || value == "NaN") {
      v = std::numeric_limits<double>::quiet_NaN();
    } else {
      char* end = nullptr;
      v = std::strtod(value.c_str(), &end);
      if (end == value.c_str() || *end != '\0') e.problems.push_back(line);
    }
    e.values[line.substr(0, sp)] = v;
  }
  return e;
}

// The family a series belongs to: its name without labels and histogram suffixes.
std::string FamilyOf(const Exposition& e, const std::string& series) {
  std::string name = series.substr(0, series.find('{'));
  if (e.types.contains(name)) return name;
  for (const char* suffix : {"_bucket", "_count", "_sum"}) {
    if (name.ends_with(suffix)) {
      std::string base = name.substr(0, name.size() - std::strlen(suffix));
      if (e.types.contains(base)) return base;
    }
  }
  return {};
}

// The series of one histogram: cumulative bucket counts must not decrease, and +Inf = count.
void ExpectHistogramConsistent(const Exposition& e, const std::string& name,
                               const std::string& labels) {
  std::vector<std::pair<double, double>> buckets;  // (le, cumulative)
  const std::string prefix = name + "_bucket{" + labels + ",le=\"";
  for (auto it = e.values.lower_bound(prefix); it != e.values.end(); ++it) {
    if (!it->first.starts_with(prefix)) break;
    std::string le = it->first.substr(prefix.size());
    le = le.substr(0, le.find('"'));
    buckets.emplace_back(le == "+Inf" ? std::numeric_limits<double>::infinity() : std::stod(le),
                         it->second);
  }
  ASSERT_GE(buckets.size(), 20u) << name << "{" << labels << "}";
  std::sort(buckets.begin(), buckets.end());
  for (size_t i = 1; i < buckets.size(); ++i) {
    EXPECT_GE(buckets[i].second, buckets[i - 1].second) << name << " le=" << buckets[i].first;
  }
  EXPECT_TRUE(std::isinf(buckets.back().first));
  EXPECT_EQ(buckets.back().second, e.Value(name + "_count{" + labels + "}"));
}

class MetricsServer {
 public:
  explicit MetricsServer(std::vector<std::string> args)
      : server_({.binary = TLDB_SERVER_PATH,
                 .data_dir = dir_.path() + "/data",
                 .extra_args = std::move(args),
                 .log_path = dir_.path() + "/server.log"}) {}
  Status Start() { return server_.Start(); }
  common::ServerProcess& process() { return server_; }
  const std::string& dir() const { return dir_.path(); }

 private:
  common::TempDir dir_{"tldb-metrics"};
  common::ServerProcess server_;
};

// The families a scrape must have, with their types.
const std::map<std::string, std::string> kExpectedTypes = {
    {"tldb_requests_total", "counter"},
    {"tldb_request_errors_total", "counter"},
    {"tldb_request_duration_seconds", "histogram"},
    {"tldb_received_bytes_total", "counter"},
    {"tldb_sent_bytes_total", "counter"},
    {"tldb_connections", "gauge"},
    {"tldb_connections_max", "gauge"},
    {"tldb_connections_accepted_total", "counter"},
    {"tldb_connections_rejected_total", "counter"},
    {"tldb_connections_refused_peer_budget_total", "counter"},
    {"tldb_handshake_failures_total", "counter"},
    {"tldb_peer_budget_addresses", "gauge"},
    {"tldb_peer_budget_evictions_total", "counter"},
    {"tldb_scan_turns_yielded_total", "counter"},
    {"tldb_disconnects_total", "counter"},
    {"tldb_buffered_bytes", "gauge"},
    {"tldb_pushes_total", "counter"},
    {"tldb_waits_total", "counter"},
    {"tldb_slow_requests_total", "counter"},
    {"tldb_mutations_total", "counter"},
    {"tldb_uptime_seconds", "gauge"},
    {"tldb_engine_appends_total", "counter"},
    {"tldb_engine_group_commits_total", "counter"},
    {"tldb_engine_fdatasyncs_total", "counter"},
    {"tldb_engine_written_bytes_total", "counter"},
    {"tldb_engine_gets_total", "counter"},
    {"tldb_engine_scans_total", "counter"},
    {"tldb_engine_timelines", "gauge"},
    {"tldb_engine_memory_bytes", "gauge"},
    {"tldb_engine_ttl_segments_expired_total", "counter"},
    {"tldb_engine_compactions_total", "counter"},
    {"tldb_engine_block_cache_hits_total", "counter"},
    {"tldb_engine_scrub_passes_total", "counter"},
    {"tldb_engine_scrub_damaged_segments_total", "counter"},
    {"tldb_engine_scrub_segments_quarantined", "gauge"},
    {"tldb_engine_info", "gauge"},
    {"tldb_engine_namespaces_refused", "gauge"},
    {"tldb_compaction_jobs_total", "counter"},
    {"tldb_namespace_bytes", "gauge"},
    {"tldb_namespace_segments", "gauge"},
    {"tldb_namespace_timelines", "gauge"},
    {"tldb_namespace_read_only", "gauge"},
    {"tldb_namespace_no_space", "gauge"},
    {"tldb_engine_events_total", "counter"},
    {"tldb_data_dir_filesystem_free_bytes", "gauge"},
};

TEST(ServerMetricsTest, RealServerExposesCountersThatMoveWithTraffic) {
  const uint16_t metrics_port = common::FreeLoopbackPort();
  ASSERT_NE(metrics_port, 0);
  MetricsServer s(
      {"--threads", "2", "--metrics-listen", "127.0.0.1:" + std::to_string(metrics_port)});
  ASSERT_TRUE(s.Start().ok());
  const std::string url = "http://127.0.0.1:" + std::to_string(metrics_port) + "/metrics";

  HttpResponse first = HttpGet(url);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_TRUE(first.content_type.starts_with("text/plain")) << first.content_type;
  Exposition before = Parse(first.body);
  EXPECT_TRUE(before.problems.empty()) << before.problems.front();
  for (const auto& [name, type] : kExpectedTypes) {
    EXPECT_EQ(before.types[name], type) << name;
    EXPECT_FALSE(before.help[name].empty()) << name;
  }
  // Naming: every family of ours has the prefix, counters end in _total, and every series
  // belongs to a family with a TYPE line.
  for (const auto& [name, type] : before.types) {
    if (!name.starts_with("tldb_")) continue;
    EXPECT_EQ(type == "counter", name.ends_with("_total")) << name << " is a " << type;
  }
  for (const auto& [series, v] : before.values) {
    EXPECT_FALSE(FamilyOf(before, series).empty()) << series;
  }
  EXPECT_EQ(before.Value("tldb_connections_max"), 10'000);
  EXPECT_TRUE(before.Has("tldb_namespace_bytes{namespace=\"store\"}"));
  EXPECT_TRUE(before.Has("tldb_namespace_read_only{namespace=\"store\"}"));
  EXPECT_EQ(before.Value("tldb_namespace_read_only{namespace=\"store\"}"), 0);
  EXPECT_GT(before.Value("tldb_data_dir_filesystem_free_bytes"), 0);

  ClientOptions o;
  o.server = s.process().address();
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  constexpr int kAppends = 12, kGets = 5;
  for (int i = 0; i < kAppends; ++i) {
    ASSERT_TRUE((*c)->Append("store", "metrics:1", "message " + std::to_string(i)).ok());
  }
  for (int i = 1; i <= kGets; ++i) ASSERT_TRUE((*c)->Get("store", "metrics:1", i).ok());
  ASSERT_TRUE((*c)->Latest("store", "metrics:1", 20).ok());
  EXPECT_EQ((*c)->Get("store", "metrics:1", 1'000).status().code(), Status::Code::kNotFound);
  ASSERT_TRUE((*c)->Recall("store", "metrics:1", 2).ok());

  HttpResponse second = HttpGet(url);
  ASSERT_EQ(second.status, 200);
  Exposition after = Parse(second.body);
  EXPECT_TRUE(after.problems.empty()) << after.problems.front();
  auto delta = [&](const std::string& series) {
    return after.Value(series) - before.Value(series);
  };
  EXPECT_EQ(delta("tldb_requests_total{op=\"append\"}"), kAppends);
  EXPECT_EQ(delta("tldb_requests_total{op=\"get\"}"), kGets + 1);
  EXPECT_EQ(delta("tldb_requests_total{op=\"scan\"}"), 1);
  EXPECT_EQ(delta("tldb_request_errors_total{code=\"NOT_FOUND\"}"), 1);
  EXPECT_EQ(delta("tldb_mutations_total{kind=\"recall\"}"), 1);
  EXPECT_EQ(delta("tldb_engine_appends_total"), kAppends);
  EXPECT_EQ(delta("tldb_engine_mutations_total"), 1);
  EXPECT_GE(delta("tldb_engine_gets_total"), kGets + 1);
  EXPECT_GE(delta("tldb_engine_group_commits_total"), 1);
  EXPECT_GE(delta("tldb_engine_fdatasyncs_total"), 1);  // "store" appends are synced
  EXPECT_GT(delta("tldb_engine_written_bytes_total"), 0);
  EXPECT_GT(delta("tldb_received_bytes_total"), 0);
  EXPECT_GT(delta("tldb_sent_bytes_total"), 0);
  EXPECT_EQ(after.Value("tldb_connections"), 1);
  EXPECT_GE(delta("tldb_connections_accepted_total"), 1);
  EXPECT_GE(after.Value("tldb_namespace_timelines{namespace=\"store\"}"), 1);
  EXPECT_GT(after.Value("tldb_namespace_bytes{namespace=\"store\"}"), 0);
  // Latency: every append and get was timed, and the histograms are consistent.
  EXPECT_EQ(delta("tldb_request_duration_seconds_count{op=\"append\"}"), kAppends);
  EXPECT_EQ(delta("tldb_request_duration_seconds_count{op=\"get\"}"), kGets + 1);
  EXPECT_GT(delta("tldb_request_duration_seconds_sum{op=\"append\"}"), 0);
  for (const char* op : {"append", "get", "scan", "mutate", "hello"}) {
    ExpectHistogramConsistent(after, "tldb_request_duration_seconds",
                              std::string("op=\"") + op + "\"");
  }
  // Every metric the Grafana dashboard and docs/operations.md name is served.
  for (const char* doc : {"docs/grafana-tldb.json", "docs/operations.md"}) {
    std::ifstream f(std::string(TLDB_SOURCE_DIR) + "/" + doc);
    ASSERT_TRUE(f) << doc;
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::set<std::string> names;
    for (size_t i = text.find("tldb_"); i != std::string::npos; i = text.find("tldb_", i + 1)) {
      if (i > 0 && (std::isalnum(static_cast<unsigned char>(text[i - 1])) || text[i - 1] == '_' ||
                    text[i - 1] == '/' || text[i - 1] == '-')) {
        continue;  // part of a longer word or a file name
      }
      size_t end = i;
      while (end < text.size() &&
             (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_')) {
        ++end;
      }
      names.insert(text.substr(i, end - i));
    }
    EXPECT_GT(names.size(), 20u) << doc;
    for (const std::string& name : names) {
      if (name.ends_with("_")) continue;  // "tldb_" as a prefix in prose
      // Served in cluster mode only: cluster_process_test checks those.
      if (name.starts_with("tldb_cluster_")) continue;
      // Served by a sharded server only: shard_process_test checks those.
      if (name.starts_with("tldb_shard_")) continue;
      // Present only while a namespace is refused as damaged (none is here).
      if (name == "tldb_engine_namespace_refused") continue;
      EXPECT_FALSE(FamilyOf(after, name).empty()) << doc << " names " << name;
    }
  }
  // STATS over the wire reads the same counters.
  auto stats = (*c)->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->Get("db_appends"), after.Value("tldb_engine_appends_total"));
  EXPECT_EQ(stats->Get("errors"), 1u);

  (*c)->Close();
  auto rc = s.process().Stop();
  ASSERT_TRUE(rc.ok());
  EXPECT_EQ(*rc, 0);
}

TEST(ServerMetricsTest, ConfigFileTurnsTheEndpointOn) {
  const uint16_t metrics_port = common::FreeLoopbackPort();
  ASSERT_NE(metrics_port, 0);
  common::TempDir conf_dir("tldb-metrics-conf");
  const std::string conf = conf_dir.path() + "/tldb.conf";
  {
    std::ofstream f(conf);
    f << "# the key of each option is its long name\n"
      << "threads = 1\n"
      << "metrics-listen = \"127.0.0.1:" << metrics_port << "\"\n";
  }
  MetricsServer s({"--config", conf});
  ASSERT_TRUE(s.Start().ok());
  HttpResponse r = HttpGet("http://127.0.0.1:" + std::to_string(metrics_port) + "/metrics");
  ASSERT_EQ(r.status, 200);
  Exposition e = Parse(r.body);
  EXPECT_EQ(e.Value("tldb_event_loops"), 1);  // the file's threads = 1 was read too
  EXPECT_EQ(e.types["tldb_requests_total"], "counter");
  auto rc = s.process().Stop();
  ASSERT_TRUE(rc.ok());
  EXPECT_EQ(*rc, 0);
}

TEST(ServerMetricsTest, OffByDefaultAndABusyPortFailsStart) {
  ServerConfig bad;
  bad.metrics_listen = "no-port";
  Status v = ValidateServerConfig(bad);
  EXPECT_FALSE(v.ok());
  EXPECT_NE(v.message().find("metrics-listen"), std::string::npos) << v.ToString();

  TestServer plain;
  EXPECT_EQ(plain.server().metrics_port(), 0);

  ServerConfig cfg;
  cfg.metrics_listen = "127.0.0.1:0";
  TestServer with(cfg);
  const uint16_t taken = with.server().metrics_port();
  ASSERT_NE(taken, 0);
  EXPECT_EQ(HttpGet("http://127.0.0.1:" + std::to_string(taken) + "/metrics").status, 200);
  // Without data_dir and engine_events, those metrics are left out, the rest is there.
  Exposition e = Parse(HttpGet("http://127.0.0.1:" + std::to_string(taken) + "/metrics").body);
  EXPECT_FALSE(e.types.contains("tldb_data_dir_filesystem_free_bytes"));
  EXPECT_FALSE(e.types.contains("tldb_engine_events_total"));
  EXPECT_FALSE(e.types.contains("tldb_namespace_read_only"));
  EXPECT_TRUE(e.Has("tldb_namespace_bytes{namespace=\"store\"}"));
  // A fatal protocol error is counted by its code too (and in STATS `errors`).
  {
    common::RawConn raw(with.port());
    ASSERT_TRUE(raw.connected());
    ASSERT_TRUE(raw.SendFrame(proto::Op::kPing, 1, ""));  // before HELLO
    EXPECT_TRUE(raw.WaitEof(5'000));
  }
  e = Parse(HttpGet("http://127.0.0.1:" + std::to_string(taken) + "/metrics").body);
  EXPECT_EQ(e.Value("tldb_request_errors_total{code=\"HANDSHAKE_REQUIRED\"}"), 1);
  EXPECT_EQ(e.Value("tldb_disconnects_total{reason=\"protocol\"}"), 1);

  common::TempDir other_dir;
  auto other = Db::Open(other_dir.path(), {});
  ASSERT_TRUE(other.ok());
  ServerConfig busy;
  busy.listen = "127.0.0.1:0";
  busy.threads = 1;
  busy.metrics_listen = "127.0.0.1:" + std::to_string(taken);
  auto s = Server::Start(other->get(), busy);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Status::Code::kIOError) << s.status().ToString();
  EXPECT_NE(s.status().message().find("metrics-listen"), std::string::npos);
  (void)(*other)->Close();
}

TEST(ServerMetricsTest, EngineEventsTrackReadOnlyAndNoSpaceNamespaces) {
  // The lines as the engine writes them (engine/src/store/group_commit.cc and others).
  EngineEvents ev;
  ev.Note("namespace 'store': no space, appends fail until space is freed: NoSpace: ENOSPC");
  ev.Note("namespace 'sync': no space, appends fail until space is freed: NoSpace: ENOSPC");
  EngineEvents::Snapshot s = ev.Get();
  EXPECT_EQ(s.no_space, (std::set<std::string>{"store", "sync"}));
  ev.Note("namespace 'store': space reserved again, appends resume");
  ev.Note("namespace 'it''s': write failed, log is now read-only: IOError: EIO");
  ev.Note("ttl: dropping expired 000012.seg");
  ev.Note("maintenance of 'store': IOError: EIO");
  ev.Note("namespace 'store': compaction failed: IOError: EIO");
  ev.Note("recovery: cut torn tail at 000003.seg@4096 (12 bytes)");
  ev.Note("something new");
  ev.Note(
      "namespace 'store': scrub: error: /d/ns/store/0000000000000001.seg offset 64: sealed "
      "segment damaged: checksum mismatch or malformed record (65000 bytes, 12 valid records "
      "after it)");
  s = ev.Get();
  EXPECT_EQ(s.no_space, (std::set<std::string>{"sync"}));
  EXPECT_EQ(s.read_only, (std::set<std::string>{"it''s"}));
  using K = EngineEvents::Kind;
  auto count = [&](K k) { return s.counts[static_cast<int>(k)]; };
  EXPECT_EQ(count(K::kNoSpace), 2u);
  EXPECT_EQ(count(K::kSpaceResumed), 1u);
  EXPECT_EQ(count(K::kWriteFailed), 1u);
  EXPECT_EQ(count(K::kTtlDrop), 1u);
  EXPECT_EQ(count(K::kMaintenanceFailed), 1u);
  EXPECT_EQ(count(K::kCompactionFailed), 1u);
  EXPECT_EQ(count(K::kRecovery), 1u);
  EXPECT_EQ(count(K::kOther), 1u);
  EXPECT_EQ(count(K::kScrub), 1u);
  EXPECT_EQ(EngineEvents::KindName(K::kWriteFailed), "write_failed");
  EXPECT_EQ(EngineEvents::KindName(K::kScrub), "scrub");
}

TEST(ServerMetricsTest, ExportedBucketBoundsAreExactEdgesOfTheLatencyHistogram) {
  // A sample of exactly a bound's microseconds falls at or below it; one more does not.
  std::vector<uint64_t> bounds = server::MetricsCollector::BucketBoundsMicros();
  ASSERT_EQ(bounds.size(), 27u);
  for (size_t k = 0; k < bounds.size(); ++k) {
    for (uint64_t micros : {bounds[k], bounds[k] + 1}) {
      server::LatencyHistogram h;
      h.Record(micros);
      std::array<uint64_t, server::LatencyHistogram::kBuckets> counts{};
      uint64_t sum = 0;
      h.AddTo(&counts, &sum);
      EXPECT_EQ(sum, micros);
      uint64_t below = 0;
      for (size_t i = 0; i < 4 * (k + 1); ++i) below += counts[i];
      EXPECT_EQ(below, micros == bounds[k] ? 1u : 0u) << "bound " << bounds[k] << " µs";
    }
  }
}

}  // namespace
}  // namespace tldb::testing
