#include "replication/sim_transport.h"

#include <algorithm>

namespace tldb::repl {

void SimTransport::Send(uint32_t from, uint32_t to, std::string bytes) {
  std::lock_guard l(mu_);
  queue_.push_back({from, to, std::move(bytes)});
}

std::optional<SimTransport::Envelope> SimTransport::Next() {
  std::lock_guard l(mu_);
  while (!queue_.empty()) {
    const size_t window = std::min<size_t>(queue_.size(), std::max<uint32_t>(1, reorder_window_));
    const size_t pick = rng_() % window;
    Envelope e = std::move(queue_[pick]);
    queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(pick));
    if (cut_.count({e.from, e.to}) != 0 || (loss_pct_ != 0 && rng_() % 100 < loss_pct_)) {
      dropped_++;
      continue;
    }
    if (duplicate_pct_ != 0 && rng_() % 100 < duplicate_pct_) queue_.push_back(e);
    return e;
  }
  return std::nullopt;
}

size_t SimTransport::pending() const {
  std::lock_guard l(mu_);
  return queue_.size();
}

void SimTransport::SetLossPct(uint32_t pct) {
  std::lock_guard l(mu_);
  loss_pct_ = pct;
}

void SimTransport::SetDuplicatePct(uint32_t pct) {
  std::lock_guard l(mu_);
  duplicate_pct_ = pct;
}

void SimTransport::SetReorderWindow(uint32_t n) {
  std::lock_guard l(mu_);
  reorder_window_ = n;
}

void SimTransport::Cut(uint32_t a, uint32_t b, bool both_ways) {
  std::lock_guard l(mu_);
  cut_.insert({a, b});
  if (both_ways) cut_.insert({b, a});
}

void SimTransport::Isolate(uint32_t node, uint32_t nodes) {
  for (uint32_t n = 0; n < nodes; ++n) {
    if (n != node) Cut(node, n, true);
  }
}

void SimTransport::HealAll() {
  std::lock_guard l(mu_);
  cut_.clear();
}

void SimTransport::DropQueued(uint32_t node) {
  std::lock_guard l(mu_);
  const auto before = queue_.size();
  std::erase_if(queue_, [&](const Envelope& e) { return e.from == node || e.to == node; });
  dropped_ += before - queue_.size();
}

uint64_t SimTransport::dropped() const {
  std::lock_guard l(mu_);
  return dropped_;
}

}  // namespace tldb::repl
