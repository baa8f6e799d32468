#include "cluster/cluster_namespaces.h"

#include <nlohmann/json.hpp>

namespace tldb::cluster {
namespace {
// A compare-and-swap loses only to another change of the same namespace at the same moment.
constexpr int kSetAttemptsMax = 8;
}  // namespace

std::string ClusterNamespaces::ToJson(const NamespaceOptions& o) {
  return nlohmann::json{{"ttl_ms", o.ttl_ms},
                        {"messages_per_timeline_max", o.messages_per_timeline_max},
                        {"compact_live_pct", o.compact_live_pct},
                        {"compress_block_bytes", o.compress_block_bytes},
                        {"compress_level", o.compress_level},
                        {"segment_bytes_max", o.segment_bytes_max},
                        {"durability", static_cast<int>(o.durability)}}
      .dump();
}

Result<NamespaceOptions> ClusterNamespaces::FromJson(std::string_view json) {
  NamespaceOptions o;
  try {
    const auto j = nlohmann::json::parse(json);
    o.ttl_ms = j.at("ttl_ms").get<uint64_t>();
    o.messages_per_timeline_max = j.at("messages_per_timeline_max").get<uint64_t>();
    o.compact_live_pct = j.at("compact_live_pct").get<uint32_t>();
    o.compress_block_bytes = j.at("compress_block_bytes").get<uint32_t>();
    o.compress_level = j.at("compress_level").get<int32_t>();
    o.segment_bytes_max = j.at("segment_bytes_max").get<uint64_t>();
    const int d = j.at("durability").get<int>();
    if (d < 0 || d > 2) return Status::InvalidArgument("namespace options: bad durability");
    o.durability = static_cast<Durability>(d);
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("namespace options: not the JSON form: ") +
                                   e.what());
  }
  TLDB_RETURN_IF_ERROR(ValidateNamespaceOptions(o));
  return o;
}

Status ClusterNamespaces::Create(std::string_view name, const NamespaceOptions& options) {
  TLDB_RETURN_IF_ERROR(ValidateNamespaceName(name));
  TLDB_RETURN_IF_ERROR(ValidateNamespaceOptions(options));
  TLDB_ASSIGN_OR_RETURN(CreateResult r, client_.CreateIfAbsent(Key(name), ToJson(options), 0));
  if (r.created) return Status::Ok();
  auto held = r.holder ? FromJson(r.holder->value) : Result<NamespaceOptions>(NamespaceOptions{});
  if (held.ok() && *held == options && held->segment_bytes_max == options.segment_bytes_max &&
      held->durability == options.durability) {
    return Status::Ok();
  }
  return Status::AlreadyExists("namespace '" + std::string(name) +
                               "' exists in the cluster with other options");
}

Status ClusterNamespaces::SetOptions(std::string_view name, const NamespaceOptions& options) {
  TLDB_RETURN_IF_ERROR(ValidateNamespaceName(name));
  TLDB_RETURN_IF_ERROR(ValidateNamespaceOptions(options));
  for (int attempt = 0;; ++attempt) {
    TLDB_ASSIGN_OR_RETURN(auto kv, client_.Get(Key(name)));
    auto put = client_.CompareAndSwap(Key(name), kv ? kv->mod_revision : 0, ToJson(options));
    if (put.ok()) return Status::Ok();
    if (put.status().code() != Status::Code::kConflict || attempt + 1 >= kSetAttemptsMax) {
      return put.status();
    }
  }
}

Result<std::map<std::string, NamespaceOptions>> ClusterNamespaces::List() {
  const std::string dir = prefix_ + "namespaces/";
  TLDB_ASSIGN_OR_RETURN(RangeResult r, client_.GetPrefix(dir));
  std::map<std::string, NamespaceOptions> out;
  for (const KeyValue& kv : r.kvs) {
    auto o = FromJson(kv.value);
    if (o.ok()) out[kv.key.substr(dir.size())] = *o;
  }
  return out;
}

}  // namespace tldb::cluster
