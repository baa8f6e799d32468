#include "dataset.h"

#include <atomic>
#include <thread>

#include "payload_generator.h"
#include "progress_bar.h"

namespace tldb::peerbench {

Dataset::Dataset(const BenchConfig& cfg)
    : cfg_(cfg), conv_zipf_(cfg.conversations, cfg.zipf_s), group_zipf_(cfg.groups, cfg.zipf_s) {
  for (uint32_t i = 0; i < cfg.conversations; ++i) {
    conv_.push_back(TimelineRef::Make(TimelineKind::kConversation, i));
  }
  for (uint32_t i = 0; i < cfg.users; ++i)
    sync_.push_back(TimelineRef::Make(TimelineKind::kSync, i));
  for (uint32_t i = 0; i < cfg.groups; ++i)
    groups_.push_back(TimelineRef::Make(TimelineKind::kGroup, i));
  pool_ = PayloadGenerator(cfg_).Pool(cfg.quick ? 4096 : 65536, cfg.seed);
  double sum = 0;
  for (const auto& p : pool_) sum += static_cast<double>(p.size());
  mean_payload_ = sum / static_cast<double>(pool_.size());
}

uint32_t Dataset::GroupOfUser(uint32_t user, uint32_t k) const {
  const uint32_t stride = std::max<uint32_t>(1, cfg_.groups / cfg_.groups_per_user);
  return (user * 2654435761u + k * stride) % cfg_.groups;
}

uint64_t Dataset::Preload(Target& target, ProgressBar* progress, std::string* err) const {
  struct Part {
    const std::vector<TimelineRef>* tls;
    uint32_t per_timeline;
  };
  const Part parts[] = {
      {&conv_, cfg_.conv_messages}, {&sync_, cfg_.sync_messages}, {&groups_, cfg_.group_messages}};
  uint64_t total = 0;
  for (const Part& p : parts) total += p.tls->size() * p.per_timeline;
  if (progress) progress->Begin(target.Name(), "preload", 0, total);

  const uint32_t threads = std::max<uint32_t>(1, cfg_.pipeline_clients);
  std::atomic<uint64_t> done{0};
  std::vector<std::string> errors(threads);
  std::vector<std::thread> workers;
  for (uint32_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      auto s = target.Connect(&errors[t]);
      if (!s) return;
      std::vector<const TimelineRef*> tls;
      std::vector<std::string_view> payloads;
      uint64_t msg = 0;
      auto flush = [&] {
        if (tls.empty()) return true;
        if (!s->AppendBatch(tls, payloads, Dur::kBuffered)) {
          errors[t] = s->error();
          return false;
        }
        done += tls.size();
        if (progress) progress->Add(tls.size());
        tls.clear();
        payloads.clear();
        return true;
      };
      for (const Part& p : parts) {
        for (size_t i = t; i < p.tls->size(); i += threads) {
          for (uint32_t j = 0; j < p.per_timeline; ++j) {
            tls.push_back(&(*p.tls)[i]);
            payloads.push_back(payload((*p.tls)[i].id * 131 + j));
            ++msg;
            if (tls.size() >= 64 && !flush()) return;
          }
        }
      }
      flush();
    });
  }
  for (auto& w : workers) w.join();
  if (progress) progress->End();
  for (const auto& e : errors) {
    if (!e.empty()) {
      *err = "preload: " + e;
      return 0;
    }
  }
  if (!target.Flush(err)) return 0;
  return done.load();
}

}  // namespace tldb::peerbench
