// Dataset: the timelines, payloads and popularity samplers shared by every workload, built
// from BenchConfig alone (so every target gets identical data), plus Preload(), which writes
// the initial store: conv_messages per conversation, sync_messages per sync timeline,
// group_messages per group, as pipelined buffered appends followed by one Flush.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench_config.h"
#include "target.h"
#include "timeline_ref.h"
#include "zipf.h"

namespace tldb::peerbench {

class ProgressBar;

class Dataset {
 public:
  explicit Dataset(const BenchConfig& cfg);

  const BenchConfig& cfg() const { return cfg_; }
  const std::vector<TimelineRef>& conversations() const { return conv_; }
  const std::vector<TimelineRef>& sync_timelines() const { return sync_; }
  const std::vector<TimelineRef>& groups() const { return groups_; }
  const std::string& payload(uint64_t i) const { return pool_[i % pool_.size()]; }
  size_t pool_size() const { return pool_.size(); }
  double mean_payload_bytes() const { return mean_payload_; }
  // Popularity-skewed picks (rank 0 is the most popular).
  uint32_t PickConversation(double u) const { return conv_zipf_.Draw(u); }
  uint32_t PickGroup(double u) const { return group_zipf_.Draw(u); }
  // The k-th group a user belongs to (distinct for k < groups_per_user).
  uint32_t GroupOfUser(uint32_t user, uint32_t k) const;

  // Writes the initial store through `target`; returns messages written (0 on error, with err).
  uint64_t Preload(Target& target, ProgressBar* progress, std::string* err) const;

 private:
  BenchConfig cfg_;
  std::vector<TimelineRef> conv_, sync_, groups_;
  std::vector<std::string> pool_;
  double mean_payload_ = 0;
  ZipfSampler conv_zipf_, group_zipf_;
};

}  // namespace tldb::peerbench
