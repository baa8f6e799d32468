#include "cluster/etcd_watch.h"

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "admin/base64.h"
#include "cluster/curl_handle.h"
#include "cluster/etcd_json.h"

namespace tldb::cluster {

using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kReconnectPause = std::chrono::milliseconds(100);
constexpr int kPollMs = 1000;

bool Flag(const json& object, const char* name) {
  const auto it = object.find(name);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

std::string Text(const json& object, const char* name) {
  const auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Result<std::unique_ptr<EtcdWatch>> EtcdWatch::Start(const EtcdClientOptions& options,
                                                    size_t first_endpoint, WatchSpec spec) {
  const std::string what = "etcd watch '" + etcd_json::Printable(spec.key) + "'";
  if (!spec.on_events) return Status::InvalidArgument(what + ": no on_events callback");
  if (spec.key.empty() && !spec.prefix) return Status::InvalidArgument(what + ": empty key");
  if (spec.start_revision < 0) return Status::InvalidArgument(what + ": negative revision");
  if (options.endpoints.empty()) return Status::InvalidArgument(what + ": no endpoints");
  std::unique_ptr<EtcdWatch> w(
      new EtcdWatch(options, first_endpoint % options.endpoints.size(), std::move(spec)));
  if (w->multi_ == nullptr) return Status::IOError(what + ": libcurl gave no multi handle");
  w->thread_ = std::thread([p = w.get()] { p->Run(); });
  return w;
}

EtcdWatch::EtcdWatch(EtcdClientOptions options, size_t first_endpoint, WatchSpec spec)
    : options_(std::move(options)), spec_(std::move(spec)), endpoint_(first_endpoint) {
  const CurlHandle init;  // libcurl's global initialisation, once per process
  if (init.ok()) multi_ = curl_multi_init();
  if (spec_.start_revision > 0) {
    last_revision_ = spec_.start_revision - 1;
    revision_known_ = true;
  }
}

EtcdWatch::~EtcdWatch() {
  Stop();
  if (multi_ != nullptr) curl_multi_cleanup(multi_);
}

void EtcdWatch::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (multi_ != nullptr) curl_multi_wakeup(multi_);
  if (thread_.joinable()) thread_.join();
}

void EtcdWatch::Finish(const Status& status) {
  ended_ = true;
  if (spec_.on_end) spec_.on_end(status);
}

void EtcdWatch::Run() {
  const std::string what = "etcd watch '" + etcd_json::Printable(spec_.key) + "'";
  std::optional<Clock::time_point> failing_since;
  std::string failures;
  bool first = true;
  while (!stop_) {
    if (!first) ++reconnects_;
    first = false;
    const std::string& endpoint = options_.endpoints[endpoint_];
    std::string error;
    const End end = RunStream(endpoint, &error);
    if (end == End::kStopped) return;
    if (end == End::kCompacted) {
      Finish(Status::NotFound(what + " on " + endpoint + ": revision " +
                              std::to_string(last_revision_ + 1) + " is compacted (up to " +
                              std::to_string(compacted_revision_) + ")"));
      return;
    }
    const auto now = Clock::now();
    if (established_ || !failing_since) {
      failing_since = now;
      failures.clear();
    }
    if (!failures.empty()) failures += "; ";
    failures += endpoint + ": " + error;
    if (now - *failing_since >= std::chrono::milliseconds(spec_.reconnect_give_up_ms)) {
      Finish(Status::IOError(what + ": no endpoint served the watch for " +
                             std::to_string(spec_.reconnect_give_up_ms) + " ms: " + failures));
      return;
    }
    endpoint_ = (endpoint_ + 1) % options_.endpoints.size();
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, kReconnectPause, [this] { return stop_.load(); });
  }
}

EtcdWatch::End EtcdWatch::RunStream(const std::string& endpoint, std::string* error) {
  buffer_.clear();
  error_.clear();
  established_ = false;
  compacted_revision_ = 0;
  min_revision_ = revision_known_ ? last_revision_ + 1 : 0;

  json create = {
      {"key",
       admin::Base64Encode(spec_.key.empty() && spec_.prefix ? std::string(1, '\0') : spec_.key)}};
  if (spec_.prefix) create["range_end"] = admin::Base64Encode(etcd_json::PrefixEnd(spec_.key));
  if (min_revision_ > 0) create["start_revision"] = std::to_string(min_revision_);
  const json body = {{"create_request", create}};

  CurlHandle curl;
  if (!curl.ok()) {
    *error = "libcurl gave no handle";
    return End::kBroken;
  }
  curl.SetUpStream(endpoint + "/v3/watch", body.dump(), options_.connect_timeout_ms,
                   [this](std::string_view data) { return OnData(data); });
  curl_multi_add_handle(multi_, curl.get());
  End end = End::kBroken;
  CURLcode result = CURLE_OK;
  bool done = false;
  while (!done) {
    if (stop_) {
      end = End::kStopped;
      break;
    }
    int running = 0;
    if (const CURLMcode mc = curl_multi_perform(multi_, &running); mc != CURLM_OK) {
      *error = std::string("curl multi: ") + curl_multi_strerror(mc);
      break;
    }
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
      if (msg->msg == CURLMSG_DONE) {
        result = msg->data.result;
        done = true;
      }
    }
    if (done) break;
    curl_multi_poll(multi_, nullptr, 0, kPollMs, nullptr);
  }
  curl_multi_remove_handle(multi_, curl.get());
  if (end == End::kStopped) return end;
  if (compacted_revision_ > 0) return End::kCompacted;
  if (!done) return End::kBroken;
  if (!error_.empty()) {
    *error = error_;
  } else if (result != CURLE_OK) {
    *error = std::string("stream: ") + curl_easy_strerror(result);
  } else {
    const long status = curl.HttpStatus();
    *error = status == 200 ? "stream ended" : "HTTP " + std::to_string(status);
  }
  return End::kBroken;
}

bool EtcdWatch::OnData(std::string_view data) {
  buffer_.append(data);
  size_t start = 0;
  for (size_t nl = buffer_.find('\n'); nl != std::string::npos; nl = buffer_.find('\n', start)) {
    if (!OnLine(std::string_view(buffer_).substr(start, nl - start))) return false;
    start = nl + 1;
  }
  buffer_.erase(0, start);
  if (buffer_.size() > options_.max_response_bytes) {
    error_ =
        "an event batch is larger than " + std::to_string(options_.max_response_bytes) + " bytes";
    return false;
  }
  return !stop_;
}

bool EtcdWatch::OnLine(std::string_view line) {
  if (line.find_first_not_of(" \r\t") == std::string_view::npos) return true;
  const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    error_ = "malformed stream line: " + std::string(line.substr(0, 200));
    return false;
  }
  if (const auto e = j.find("error"); e != j.end()) {
    error_ = etcd_json::ErrorStatus("watch", 200, e->dump()).message();
    return false;
  }
  const auto r = j.find("result");
  if (r == j.end() || !r->is_object()) return true;  // nothing this client asked for
  if (Flag(*r, "canceled")) {
    const auto compact = etcd_json::Int64Field(*r, "compact_revision");
    if (compact.ok() && *compact > 0) {
      compacted_revision_ = *compact;
    } else {
      error_ = "watch canceled: " + Text(*r, "cancel_reason");
    }
    return false;
  }
  if (Flag(*r, "created")) {
    established_ = true;
    if (!revision_known_) {
      const auto header = r->find("header");
      const auto rev = header == r->end() ? Result<int64_t>(int64_t{0})
                                          : etcd_json::Int64Field(*header, "revision");
      if (!rev.ok()) {
        error_ = rev.status().message();
        return false;
      }
      last_revision_ = *rev;
      min_revision_ = *rev + 1;
      revision_known_ = true;
    }
  }
  const auto events = r->find("events");
  if (events == r->end() || !events->is_array()) return true;
  std::vector<WatchEvent> batch;
  batch.reserve(events->size());
  for (const auto& e : *events) {
    WatchEvent ev;
    if (Text(e, "type") == "DELETE") ev.type = WatchEvent::Type::kDelete;
    const auto kv = e.find("kv");
    if (kv == e.end()) {
      error_ = "event without kv: " + e.dump();
      return false;
    }
    auto parsed = etcd_json::ParseKeyValue(*kv);
    if (!parsed.ok()) {
      error_ = parsed.status().message();
      return false;
    }
    ev.kv = std::move(*parsed);
    if (ev.kv.mod_revision < min_revision_) continue;
    batch.push_back(std::move(ev));
  }
  if (batch.empty()) return true;
  last_revision_ = batch.back().kv.mod_revision;
  revision_known_ = true;
  spec_.on_events(batch);
  return true;
}

}  // namespace tldb::cluster
