// WatchHub: which event loops have WAITs or SUBSCRIBEs on which timelines.
//
// Contract: loops Register()/Unregister() a (timeline key, loop) pair once per local watcher;
// Notify() is called by the loop that saw an append acknowledged and returns the loops that
// watch that timeline (it does not call them: the caller posts to each, so notifications take
// one cross-thread hop per interested loop, none when nobody watches). Thread-safe. Register and
// Watchers take the same shard lock, so a watcher registered before it reads LastSeq is either
// seen by the notifying loop or its LastSeq read already sees the append (no lost wake-up).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tldb::server {

// "ns\0timeline": the key of a timeline across namespaces.
std::string TimelineKey(std::string_view ns, std::string_view timeline);

class WatchHub {
 public:
  explicit WatchHub(size_t loops) : loops_(loops) {}
  void Register(const std::string& key, size_t loop);
  void Unregister(const std::string& key, size_t loop);
  // Loops that watch `key` (empty when none).
  std::vector<size_t> Watchers(const std::string& key);

 private:
  static constexpr size_t kShards = 16;  // lock striping: loops rarely contend
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::vector<uint32_t>> counts;  // key -> count per loop
  };
  Shard& ShardOf(const std::string& key) {
    return shards_[std::hash<std::string>()(key) % kShards];
  }

  size_t loops_;
  Shard shards_[kShards];
};

}  // namespace tldb::server
