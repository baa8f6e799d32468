#include "cluster/etcd_coordinator.h"

#include <nlohmann/json.hpp>

namespace tldb::cluster {
namespace {

Result<uint32_t> NodeOf(const std::string& value) {
  try {
    size_t used = 0;
    const unsigned long n = std::stoul(value, &used);
    if (used == value.size()) return static_cast<uint32_t>(n);
  } catch (const std::exception&) {
  }
  return Status::Corruption("leader key holds '" + value + "', not a node id");
}

}  // namespace

Result<std::unique_ptr<EtcdCoordinator>> EtcdCoordinator::Start(EtcdCoordinatorOptions options) {
  std::unique_ptr<EtcdCoordinator> c(new EtcdCoordinator(std::move(options)));
  TLDB_ASSIGN_OR_RETURN(c->client_, EtcdClient::Create(c->options_.etcd));
  std::string voters;
  for (uint32_t n = 0; n < c->options_.voters; ++n) voters += (n ? "," : "") + std::to_string(n);
  auto v = c->client_->CreateIfAbsent(c->Key("voters"), voters, 0);
  if (!v.ok()) return v.status();
  if (!v->created && v->holder && v->holder->value != voters) {
    return Status::InvalidArgument("etcd says the partition's voters are " + v->holder->value +
                                   ", this node was started for " + voters);
  }
  std::lock_guard l(c->mu_);
  TLDB_RETURN_IF_ERROR(c->Register());
  return c;
}

EtcdCoordinator::~EtcdCoordinator() {
  if (keeper_) keeper_->Stop();
}

Status EtcdCoordinator::Register() {
  if (keeper_) keeper_->Stop();
  keeper_.reset();
  const std::string key = Key("nodes/" + std::to_string(options_.node));
  TLDB_ASSIGN_OR_RETURN(std::optional<KeyValue> held, client_->Get(key));
  if (held) {
    const std::string client = NodeClient(held->value);
    // The same server's key (from before a restart, or a lease this run lost) is taken over.
    if (client != options_.client_address) {
      return Status::Busy("replica " + std::to_string(options_.node) + " of partition " +
                          std::to_string(options_.partition) + " now runs at " +
                          (client.empty() ? "?" : client) + " (" + key + "): not registering");
    }
  }
  TLDB_ASSIGN_OR_RETURN(LeaseGrantResult g, client_->LeaseGrant(options_.lease_ttl_s));
  lease_ = g.id;
  nlohmann::json j{{"client", options_.client_address},
                   {"peer", options_.peer_address},
                   {"incarnation", std::to_string(options_.incarnation)}};
  // Only over what was read: a server that registered in between keeps the key.
  auto put = client_->CompareAndSwap(key, held ? held->mod_revision : 0, j.dump(), lease_);
  if (put.status().code() == Status::Code::kConflict) {
    return Status::Busy("replica " + std::to_string(options_.node) + " of partition " +
                        std::to_string(options_.partition) + ": " + key +
                        " changed while registering; trying again");
  }
  TLDB_RETURN_IF_ERROR(put.status());
  TLDB_ASSIGN_OR_RETURN(keeper_,
                        LeaseKeeper::Start(options_.etcd, lease_, g.ttl_s, [](const Status&) {}));
  return Status::Ok();
}

Status EtcdCoordinator::KeepAlive(uint32_t) {
  std::lock_guard l(mu_);
  if (unregistered_) return Status::IOError("the replica left this server: not registering");
  if (keeper_ && !keeper_->lost()) return Status::Ok();
  return Register();
}

Status EtcdCoordinator::Unregister() {
  std::lock_guard l(mu_);
  unregistered_ = true;
  if (keeper_) keeper_->Stop();
  keeper_.reset();
  if (lease_ == 0) return Status::Ok();
  const int64_t lease = lease_;
  lease_ = 0;
  return client_->LeaseRevoke(lease);
}

Result<repl::LeaderInfo> EtcdCoordinator::Campaign(uint32_t node) {
  std::lock_guard l(mu_);
  if (!keeper_ || keeper_->lost()) return Status::IOError("etcd lease lost: not campaigning");
  TLDB_ASSIGN_OR_RETURN(CreateResult r,
                        client_->CreateIfAbsent(LeaderKey(), std::to_string(node), lease_));
  if (r.created) return repl::LeaderInfo{true, node, static_cast<uint64_t>(r.create_revision)};
  if (!r.holder) return repl::LeaderInfo{};
  TLDB_ASSIGN_OR_RETURN(uint32_t holder, NodeOf(r.holder->value));
  return repl::LeaderInfo{true, holder, static_cast<uint64_t>(r.holder->create_revision)};
}

Result<repl::LeaderInfo> EtcdCoordinator::Leader(uint32_t) {
  TLDB_ASSIGN_OR_RETURN(auto kv, client_->Get(LeaderKey()));
  if (!kv) return repl::LeaderInfo{};
  TLDB_ASSIGN_OR_RETURN(uint32_t holder, NodeOf(kv->value));
  return repl::LeaderInfo{true, holder, static_cast<uint64_t>(kv->create_revision)};
}

Status EtcdCoordinator::Resign(uint32_t, uint64_t epoch) {
  Status s = client_->DeleteIfCreateRevision(LeaderKey(), static_cast<int64_t>(epoch));
  if (s.IsNotFound() || s.code() == Status::Code::kConflict) return Status::Ok();  // gone already
  return s;
}

Result<std::optional<uint32_t>> EtcdCoordinator::PromoteTarget(uint32_t) {
  TLDB_ASSIGN_OR_RETURN(auto kv, client_->Get(PromoteKey(options_.prefix, options_.partition)));
  if (!kv) return std::optional<uint32_t>();
  TLDB_ASSIGN_OR_RETURN(uint32_t node, NodeOf(kv->value));
  return std::optional<uint32_t>(node);
}

Status EtcdCoordinator::ClearPromote(uint32_t) {
  return client_->Delete(PromoteKey(options_.prefix, options_.partition)).status();
}

Result<bool> EtcdCoordinator::Initialized(uint32_t) {
  TLDB_ASSIGN_OR_RETURN(auto kv, client_->Get(InitializedKey()));
  return kv.has_value();
}

Status EtcdCoordinator::MarkInitialized(uint32_t) {
  return client_->CreateIfAbsent(InitializedKey(), "1", 0).status();
}

std::string EtcdCoordinator::NodeClient(const std::string& value) {
  try {
    return nlohmann::json::parse(value).at("client").get<std::string>();
  } catch (const nlohmann::json::exception&) {
    return "";
  }
}

Result<std::map<uint32_t, NodeAddresses>> EtcdCoordinator::Nodes() {
  TLDB_ASSIGN_OR_RETURN(RangeResult r, client_->GetPrefix(Key("nodes/")));
  std::map<uint32_t, NodeAddresses> out;
  for (const KeyValue& kv : r.kvs) {
    auto id = NodeOf(kv.key.substr(kv.key.rfind('/') + 1));
    if (!id.ok()) continue;
    try {
      const auto j = nlohmann::json::parse(kv.value);
      NodeAddresses a{j.at("client").get<std::string>(), j.at("peer").get<std::string>()};
      if (j.contains("incarnation"))
        a.incarnation = std::stoull(j["incarnation"].get<std::string>());
      out[*id] = std::move(a);
    } catch (const std::exception&) {  // not JSON, a field missing, or no number: skipped
    }
  }
  return out;
}

}  // namespace tldb::cluster
