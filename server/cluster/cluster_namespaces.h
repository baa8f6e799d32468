// ClusterNamespaces: a sharded cluster's namespace catalog in etcd (docs/cluster.md
// "Namespaces"): <prefix>namespaces/<name> holds the namespace's options as JSON, e.g.
//   {"ttl_ms": 0, "messages_per_timeline_max": 0, "compact_live_pct": 50,
//    "compress_block_bytes": 16384, "compress_level": 1, "segment_bytes_max": 67108864,
//    "durability": 1}
// (durability: 0 default, 1 sync, 2 buffered). Every partition's primary applies it to its
// partition (ShardHost); this class only reads and writes etcd.
//
// Contract:
// - Create(name, options): one transaction creating the key when absent. Present with equal
//   options: OK (a retry); with other options: AlreadyExists. Name and options are checked
//   (ValidateNamespaceName/ValidateNamespaceOptions) before anything is written.
// - SetOptions(name, options): replaces the options by a compare-and-swap on the key's
//   mod_revision (creating the key when absent), retried a few times under contention.
// - List(): every namespace and its options (values that do not parse are skipped).
// - Thread-safe as the EtcdClient (which must outlive it).
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "cluster/etcd_client.h"
#include "tldb/options.h"

namespace tldb::cluster {

class ClusterNamespaces {
 public:
  ClusterNamespaces(EtcdClient& client, std::string prefix)
      : client_(client), prefix_(std::move(prefix)) {}

  std::string Key(std::string_view name) const {
    return prefix_ + "namespaces/" + std::string(name);
  }
  [[nodiscard]] Status Create(std::string_view name, const NamespaceOptions& options);
  [[nodiscard]] Status SetOptions(std::string_view name, const NamespaceOptions& options);
  [[nodiscard]] Result<std::map<std::string, NamespaceOptions>> List();

  static std::string ToJson(const NamespaceOptions& options);
  [[nodiscard]] static Result<NamespaceOptions> FromJson(std::string_view json);

 private:
  EtcdClient& client_;
  const std::string prefix_;
};

}  // namespace tldb::cluster
