#include "store/namespace_state.h"

#include <algorithm>

#include "log/file_names.h"

namespace tldb {
namespace {
uint32_t NextInstanceId() {
  static std::atomic<uint32_t> next{1};
  return next.fetch_add(1);
}
}  // namespace

NamespaceState::NamespaceState(const std::string& db_dir, const CatalogEntry& e, const Options& o,
                               std::shared_ptr<FileSystem> f, std::shared_ptr<Clock> c)
    : dir(NamespaceDirName(db_dir, e.name)),
      entry(e),
      db_options(o),
      fs(std::move(f)),
      clock(std::move(c)),
      instance_id(NextInstanceId()),
      dedupe(o.dedupe_entries_max) {
  SetOptions(e.options);
  follower = o.follower;
  ttl_anchor_wall_ms_ = clock->NowMs();
  ttl_anchor_mono_ms_ = clock->MonoMs();
}

void NamespaceState::SetOptions(const NamespaceOptions& o) {
  std::lock_guard l(opts_mu_);
  opts_ = o;
  ttl_ms_ = o.ttl_ms;
  per_timeline_max_ = o.messages_per_timeline_max;
  segment_bytes_max_ = o.segment_bytes_max;
  durability_ = o.durability;
}

NamespaceOptions NamespaceState::options() const {
  std::lock_guard l(opts_mu_);
  return opts_;
}

void NamespaceState::SetOwnership(std::shared_ptr<const TimelineOwnership> owned) {
  std::lock_guard l(opts_mu_);
  owned_.swap(owned);  // the previous one is released after the lock
  ownership_gen_++;
}

std::shared_ptr<const TimelineOwnership> NamespaceState::Ownership() const {
  std::lock_guard l(opts_mu_);
  return owned_;
}

TimestampMs NamespaceState::TtlNowMs() const {
  const int64_t elapsed = clock->MonoMs() - ttl_anchor_mono_ms_;
  return std::min<TimestampMs>(clock->NowMs(), ttl_anchor_wall_ms_ + std::max<int64_t>(elapsed, 0));
}

void NamespaceState::SyncIndexes(uint64_t writeback_bytes_per_s) {
  if (Status s = unsynced_indexes.SyncAll(*fs, dir, writeback_bytes_per_s); !s.ok()) {
    Event("namespace '" + entry.name + "': an index file was not synced (" + s.ToString() +
          "); if it is damaged, the next open rebuilds it from its segment");
  }
}

std::string NamespaceState::SegmentName(uint64_t id) const {
  return SegmentFileName(dir, id);
}

void NamespaceState::Event(const std::string& what) const {
  if (db_options.on_event) db_options.on_event(what);
}

}  // namespace tldb
