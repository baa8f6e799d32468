#include "cluster/etcd_client.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "admin/base64.h"
#include "cluster/etcd_json.h"
#include "cluster/etcd_watch.h"

namespace tldb::cluster {

using admin::Base64Encode;
using etcd_json::Int64Field;
using etcd_json::ParseKeyValue;
using etcd_json::Printable;
using nlohmann::json;

namespace {

std::string KeyWhat(const char* path, std::string_view key) {
  return std::string(path) + " key '" + Printable(key) + "'";
}

Status CheckKey(std::string_view key, const std::string& what) {
  if (key.empty()) return Status::InvalidArgument("etcd " + what + ": empty key");
  return Status::Ok();
}

json PutOp(std::string_view key, std::string_view value, int64_t lease) {
  json put = {{"key", Base64Encode(key)}, {"value", Base64Encode(value)}};
  if (lease != 0) put["lease"] = std::to_string(lease);
  return put;
}

// A txn on one key: if its create revision (create) or mod revision equals `revision`, run
// `success`; else read the key (the failure branch's range).
json CompareTxn(std::string_view key, bool create, int64_t revision, json success) {
  const std::string k = Base64Encode(key);
  json compare = {{"key", k}, {"target", create ? "CREATE" : "MOD"}, {"result", "EQUAL"}};
  compare[create ? "create_revision" : "mod_revision"] = std::to_string(revision);
  return {{"compare", json::array({compare})},
          {"success", json::array({std::move(success)})},
          {"failure", json::array({{{"request_range", {{"key", k}}}}})}};
}

// The kvs of a range response (the top-level answer or a txn's response_range).
Result<std::vector<KeyValue>> Kvs(const json& range) {
  std::vector<KeyValue> out;
  const auto it = range.find("kvs");
  if (it == range.end()) return out;
  if (!it->is_array()) return Status::IOError("kvs is not an array");
  for (const auto& kv : *it) {
    TLDB_ASSIGN_OR_RETURN(auto parsed, ParseKeyValue(kv));
    out.push_back(std::move(parsed));
  }
  return out;
}

Result<int64_t> HeaderRevision(const json& answer) {
  const auto it = answer.find("header");
  if (it == answer.end()) return Status::IOError("answer without header");
  return Int64Field(*it, "revision");
}

// The failure branch's range (responses[0].response_range) of a txn answer.
Result<std::optional<KeyValue>> FailureRange(const json& answer) {
  const auto rs = answer.find("responses");
  if (rs == answer.end() || !rs->is_array() || rs->empty() || !(*rs)[0].is_object() ||
      !(*rs)[0].contains("response_range")) {
    return Status::IOError("txn answer without the failure branch's range: " + answer.dump());
  }
  TLDB_ASSIGN_OR_RETURN(auto kvs, Kvs((*rs)[0]["response_range"]));
  if (kvs.empty()) return std::optional<KeyValue>();
  return std::optional<KeyValue>(std::move(kvs.front()));
}

bool Succeeded(const json& answer) {
  const auto it = answer.find("succeeded");
  return it != answer.end() && it->is_boolean() && it->get<bool>();
}

// Adds "etcd <where>: " to a parse error.
template <typename T>
Result<T> Named(Result<T> r, const std::string& what) {
  if (r.ok()) return r;
  return Status(r.status().code(), "etcd " + what + ": " + r.status().message());
}

}  // namespace

Result<std::unique_ptr<EtcdClient>> EtcdClient::Create(EtcdClientOptions options) {
  if (options.endpoints.empty()) return Status::InvalidArgument("etcd client: no endpoints");
  for (auto& ep : options.endpoints) {
    while (!ep.empty() && ep.back() == '/') ep.pop_back();
    if (ep.rfind("http://", 0) != 0 || ep.size() <= 7) {
      return Status::InvalidArgument("etcd client: endpoint '" + ep + "' is not http://host:port");
    }
  }
  if (options.connect_timeout_ms == 0 || options.request_timeout_ms == 0 ||
      options.max_response_bytes == 0) {
    return Status::InvalidArgument(
        "etcd client: connect_timeout_ms, request_timeout_ms and max_response_bytes must be > 0");
  }
  std::unique_ptr<EtcdClient> client(new EtcdClient(std::move(options)));
  if (!client->curl_.ok()) return Status::IOError("etcd client: libcurl could not be initialised");
  return client;
}

EtcdClient::EtcdClient(EtcdClientOptions options) : options_(std::move(options)) {}

EtcdClient::~EtcdClient() = default;

Result<json> EtcdClient::Call(const char* path, const std::string& body, Kind kind,
                              const std::string& what) {
  std::lock_guard lock(mu_);
  const size_t n = options_.endpoints.size();
  const size_t first = current_;
  std::string failures;
  for (size_t i = 0; i < n; ++i) {
    const size_t idx = (first + i) % n;
    const std::string& ep = options_.endpoints[idx];
    const std::string where = "etcd " + ep + " " + what;
    CurlHandle::Response r =
        curl_.Request(ep + path, body, options_.connect_timeout_ms, options_.request_timeout_ms,
                      options_.max_response_bytes);
    Status s;
    bool move_on = false;
    if (r.code == CURLE_OK && r.http_status == 200) {
      current_ = idx;
      json j = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
      if (!j.is_object()) {
        return Status::IOError(where + ": malformed answer: " + r.body.substr(0, 200));
      }
      return j;
    }
    if (r.code == CURLE_OK) {
      s = etcd_json::ErrorStatus(where, r.http_status, r.body);
      // etcd could not serve it (no leader, internal): a read may ask another member.
      move_on = kind == Kind::kRead && s.code() == Status::Code::kIOError;
      if (!move_on) return s;  // an answer from etcd: this member stays the first to try
    } else {
      const bool not_sent = r.code == CURLE_COULDNT_CONNECT ||
                            r.code == CURLE_COULDNT_RESOLVE_HOST || r.request_bytes == 0;
      move_on = not_sent || kind == Kind::kRead;
      std::string m = where + ": " + r.error;
      if (!move_on) m += " (outcome unknown)";
      s = r.code == CURLE_OPERATION_TIMEDOUT ? Status::TimedOut(m) : Status::IOError(m);
    }
    current_ = (idx + 1) % n;  // the next call starts at the next member
    if (!move_on) return s;
    if (!failures.empty()) failures += "; ";
    failures += s.message();
  }
  return Status::IOError("etcd " + what + ": no endpoint answered: " + failures);
}

Result<json> EtcdClient::Txn(const json& txn, const std::string& what) {
  return Call("/v3/kv/txn", txn.dump(), Kind::kWrite, what);
}

Status EtcdClient::Health() {
  TLDB_ASSIGN_OR_RETURN(json j, Call("/health", "", Kind::kRead, "/health"));
  const auto it = j.find("health");
  if (it != j.end() && it->is_string() && it->get<std::string>() == "true") return Status::Ok();
  return Status::IOError("etcd /health: not healthy: " + j.dump());
}

Result<LeaseGrantResult> EtcdClient::LeaseGrant(int64_t ttl_s) {
  const std::string what = "/v3/lease/grant ttl " + std::to_string(ttl_s) + " s";
  if (ttl_s <= 0) return Status::InvalidArgument("etcd " + what + ": the TTL must be > 0");
  const json req = {{"TTL", std::to_string(ttl_s)}};
  TLDB_ASSIGN_OR_RETURN(json j, Call("/v3/lease/grant", req.dump(), Kind::kWrite, what));
  if (const auto e = j.find("error"); e != j.end() && e->is_string() && !e->empty()) {
    return Status::IOError("etcd " + what + ": " + e->get<std::string>());
  }
  LeaseGrantResult out;
  TLDB_ASSIGN_OR_RETURN(out.id, Named(Int64Field(j, "ID"), what));
  TLDB_ASSIGN_OR_RETURN(out.ttl_s, Named(Int64Field(j, "TTL"), what));
  if (out.id == 0) return Status::IOError("etcd " + what + ": no lease ID in " + j.dump());
  return out;
}

Result<int64_t> EtcdClient::LeaseKeepAliveOnce(int64_t lease_id) {
  const std::string what = "/v3/lease/keepalive lease " + std::to_string(lease_id);
  const json req = {{"ID", std::to_string(lease_id)}};
  // Refreshing twice is harmless: a read for the failover rules.
  TLDB_ASSIGN_OR_RETURN(json j, Call("/v3/lease/keepalive", req.dump(), Kind::kRead, what));
  // A streaming call: one {"result": ...} or {"error": ...} object per request.
  if (const auto e = j.find("error"); e != j.end()) {
    return etcd_json::ErrorStatus("etcd " + what, 200, e->dump());
  }
  const auto result = j.find("result");
  if (result == j.end()) return Status::IOError("etcd " + what + ": no result in " + j.dump());
  return Named(Int64Field(*result, "TTL"), what);
}

Status EtcdClient::LeaseRevoke(int64_t lease_id) {
  const std::string what = "/v3/lease/revoke lease " + std::to_string(lease_id);
  const json req = {{"ID", std::to_string(lease_id)}};
  return Call("/v3/lease/revoke", req.dump(), Kind::kWrite, what).status();
}

Result<int64_t> EtcdClient::Put(std::string_view key, std::string_view value, int64_t lease) {
  const std::string what = KeyWhat("/v3/kv/put", key);
  TLDB_RETURN_IF_ERROR(CheckKey(key, what));
  TLDB_ASSIGN_OR_RETURN(json j,
                        Call("/v3/kv/put", PutOp(key, value, lease).dump(), Kind::kWrite, what));
  return Named(HeaderRevision(j), what);
}

Result<std::optional<KeyValue>> EtcdClient::Get(std::string_view key) {
  const std::string what = KeyWhat("/v3/kv/range", key);
  TLDB_RETURN_IF_ERROR(CheckKey(key, what));
  const json req = {{"key", Base64Encode(key)}};
  TLDB_ASSIGN_OR_RETURN(json j, Call("/v3/kv/range", req.dump(), Kind::kRead, what));
  TLDB_ASSIGN_OR_RETURN(auto kvs, Named(Kvs(j), what));
  if (kvs.empty()) return std::optional<KeyValue>();
  return std::optional<KeyValue>(std::move(kvs.front()));
}

Result<RangeResult> EtcdClient::GetPrefix(std::string_view prefix) {
  const std::string what = "/v3/kv/range prefix '" + Printable(prefix) + "'";
  const json req = {{"key", Base64Encode(prefix.empty() ? std::string_view("\0", 1) : prefix)},
                    {"range_end", Base64Encode(etcd_json::PrefixEnd(prefix))}};
  TLDB_ASSIGN_OR_RETURN(json j, Call("/v3/kv/range", req.dump(), Kind::kRead, what));
  RangeResult out;
  TLDB_ASSIGN_OR_RETURN(out.revision, Named(HeaderRevision(j), what));
  TLDB_ASSIGN_OR_RETURN(out.kvs, Named(Kvs(j), what));
  return out;
}

Result<bool> EtcdClient::Delete(std::string_view key) {
  const std::string what = KeyWhat("/v3/kv/deleterange", key);
  TLDB_RETURN_IF_ERROR(CheckKey(key, what));
  const json req = {{"key", Base64Encode(key)}};
  TLDB_ASSIGN_OR_RETURN(json j, Call("/v3/kv/deleterange", req.dump(), Kind::kWrite, what));
  TLDB_ASSIGN_OR_RETURN(int64_t deleted, Named(Int64Field(j, "deleted"), what));
  return deleted > 0;
}

Result<CreateResult> EtcdClient::CreateIfAbsent(std::string_view key, std::string_view value,
                                                int64_t lease) {
  const std::string what = KeyWhat("/v3/kv/txn create-if-absent", key);
  TLDB_RETURN_IF_ERROR(CheckKey(key, what));
  const json txn = CompareTxn(key, /*create=*/true, 0, {{"request_put", PutOp(key, value, lease)}});
  TLDB_ASSIGN_OR_RETURN(json j, Txn(txn, what));
  CreateResult out;
  out.created = Succeeded(j);
  if (out.created) {
    TLDB_ASSIGN_OR_RETURN(out.create_revision, Named(HeaderRevision(j), what));
    return out;
  }
  TLDB_ASSIGN_OR_RETURN(out.holder, Named(FailureRange(j), what));
  if (!out.holder) return Status::IOError("etcd " + what + ": compare failed on an absent key");
  out.create_revision = out.holder->create_revision;
  return out;
}

Result<int64_t> EtcdClient::CompareAndSwap(std::string_view key, int64_t expected_mod_revision,
                                           std::string_view value, int64_t lease) {
  const std::string what = KeyWhat("/v3/kv/txn compare-and-swap", key) + " mod revision " +
                           std::to_string(expected_mod_revision);
  TLDB_RETURN_IF_ERROR(CheckKey(key, what));
  if (expected_mod_revision < 0) {
    return Status::InvalidArgument("etcd " + what + ": negative revision");
  }
  const json txn = CompareTxn(key, /*create=*/false, expected_mod_revision,
                              {{"request_put", PutOp(key, value, lease)}});
  TLDB_ASSIGN_OR_RETURN(json j, Txn(txn, what));
  if (Succeeded(j)) return Named(HeaderRevision(j), what);
  TLDB_ASSIGN_OR_RETURN(auto now, Named(FailureRange(j), what));
  return Status::Conflict("etcd " + what + ": the key's mod revision is " +
                          std::to_string(now ? now->mod_revision : 0) + (now ? "" : " (absent)"));
}

Result<bool> EtcdClient::PutIf(const std::vector<Compare>& compares,
                               const std::vector<std::pair<std::string, std::string>>& puts) {
  std::string what = "/v3/kv/txn put-if";
  json cmp = json::array(), success = json::array();
  for (const Compare& c : compares) {
    TLDB_RETURN_IF_ERROR(CheckKey(c.key, what));
    json one = {
        {"key", Base64Encode(c.key)}, {"target", c.create ? "CREATE" : "MOD"}, {"result", "EQUAL"}};
    one[c.create ? "create_revision" : "mod_revision"] = std::to_string(c.revision);
    cmp.push_back(std::move(one));
    what += " '" + Printable(c.key) + "'";
  }
  for (const auto& [key, value] : puts) {
    TLDB_RETURN_IF_ERROR(CheckKey(key, what));
    success.push_back({{"request_put", PutOp(key, value, 0)}});
  }
  const json txn = {{"compare", std::move(cmp)}, {"success", std::move(success)}};
  TLDB_ASSIGN_OR_RETURN(json j, Txn(txn, what));
  return Succeeded(j);
}

Status EtcdClient::DeleteIfCreateRevision(std::string_view key, int64_t create_revision) {
  const std::string what = KeyWhat("/v3/kv/txn delete-if-create-revision", key) +
                           " create revision " + std::to_string(create_revision);
  TLDB_RETURN_IF_ERROR(CheckKey(key, what));
  if (create_revision <= 0) {
    return Status::InvalidArgument("etcd " + what + ": the create revision must be > 0");
  }
  const json txn = CompareTxn(key, /*create=*/true, create_revision,
                              {{"request_delete_range", {{"key", Base64Encode(key)}}}});
  TLDB_ASSIGN_OR_RETURN(json j, Txn(txn, what));
  if (Succeeded(j)) return Status::Ok();
  TLDB_ASSIGN_OR_RETURN(auto now, Named(FailureRange(j), what));
  if (!now) return Status::NotFound("etcd " + what + ": the key is absent");
  return Status::Conflict("etcd " + what + ": held with create revision " +
                          std::to_string(now->create_revision));
}

Result<std::unique_ptr<EtcdWatch>> EtcdClient::Watch(WatchSpec spec) {
  size_t first = 0;
  {
    std::lock_guard lock(mu_);
    first = current_;
  }
  return EtcdWatch::Start(options_, first, std::move(spec));
}

}  // namespace tldb::cluster
