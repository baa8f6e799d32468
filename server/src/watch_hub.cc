#include "watch_hub.h"

namespace tldb::server {

std::string TimelineKey(std::string_view ns, std::string_view timeline) {
  std::string k;
  k.reserve(ns.size() + 1 + timeline.size());
  k.append(ns);
  k.push_back('\0');
  k.append(timeline);
  return k;
}

void WatchHub::Register(const std::string& key, size_t loop) {
  Shard& s = ShardOf(key);
  std::lock_guard lock(s.mu);
  auto& v = s.counts[key];
  if (v.empty()) v.resize(loops_);
  ++v[loop];
}

void WatchHub::Unregister(const std::string& key, size_t loop) {
  Shard& s = ShardOf(key);
  std::lock_guard lock(s.mu);
  auto it = s.counts.find(key);
  if (it == s.counts.end() || it->second[loop] == 0) return;
  --it->second[loop];
  for (uint32_t c : it->second) {
    if (c) return;
  }
  s.counts.erase(it);
}

std::vector<size_t> WatchHub::Watchers(const std::string& key) {
  std::vector<size_t> out;
  Shard& s = ShardOf(key);
  std::lock_guard lock(s.mu);
  auto it = s.counts.find(key);
  if (it == s.counts.end()) return out;
  for (size_t i = 0; i < it->second.size(); ++i) {
    if (it->second[i]) out.push_back(i);
  }
  return out;
}

}  // namespace tldb::server
