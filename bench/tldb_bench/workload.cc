#include "workload.h"

#include <algorithm>
#include <span>

namespace tldb::peerbench {

std::vector<Workload> PlanWorkloads(const BenchConfig& cfg) {
  std::vector<Workload> all = {
      {"get", WorkloadKind::kGet},
      {"latest20", WorkloadKind::kLatest20},
      {"history", WorkloadKind::kHistory},
      {"device_sync", WorkloadKind::kDeviceSync},
  };
  const Dur first = cfg.durabilities.empty() ? Dur::kSync : cfg.durabilities.front();
  all.push_back({"group_pull", WorkloadKind::kGroupPull, true, false, first});
  all.push_back({"longpoll", WorkloadKind::kLongPoll, true, false, first});
  for (Dur d : cfg.durabilities) {
    all.push_back({"chat", WorkloadKind::kChat, true, false, d});
    all.push_back({"chat_pipelined", WorkloadKind::kChatPipelined, true, true, d});
    for (uint32_t n : cfg.fanout_sizes) {
      if (n > cfg.users) continue;
      all.push_back(
          {"push_fanout_" + std::to_string(n), WorkloadKind::kPushFanout, true, false, d, n});
    }
  }
  all.push_back({"mixed", WorkloadKind::kMixed, true, false, first});
  if (cfg.workloads.empty()) return all;
  all.insert(all.begin(), {"ping", WorkloadKind::kPing});  // only when named
  std::vector<Workload> chosen;
  for (const auto& w : all) {
    if (std::find(cfg.workloads.begin(), cfg.workloads.end(), w.base) != cfg.workloads.end()) {
      chosen.push_back(w);
    }
  }
  return chosen;
}

WorkloadThread::WorkloadThread(const Dataset& ds, const Workload& w, uint32_t thread,
                               uint32_t threads)
    : ds_(ds),
      w_(w),
      thread_(thread),
      threads_(threads),
      rng_(ds.cfg().seed, static_cast<uint64_t>(w.kind) * 1000 + w.fanout * 7 + thread),
      payload_index_(rng_.Next()) {
  const uint32_t owned = (ds.cfg().users + threads - 1 - thread) / threads;
  sync_ckpt_.assign(owned, 0);
  pull_ckpt_.assign(static_cast<size_t>(owned) * ds.cfg().groups_per_user, 0);
}

uint32_t WorkloadThread::NextUser() {
  const uint32_t owned = static_cast<uint32_t>(sync_ckpt_.size());
  user_cursor_ = (user_cursor_ + 1 + static_cast<uint32_t>(rng_.Uniform(3))) % owned;
  return user_cursor_;  // index among this thread's users; user id = index * threads + thread
}

bool WorkloadThread::Step(Session& s, StepOutcome* o) {
  switch (w_.kind) {
    case WorkloadKind::kChat:
      return ChatAppend(s, o);
    case WorkloadKind::kChatPipelined:
      return Pipelined(s, o);
    case WorkloadKind::kPushFanout:
      return PushFanout(s, o);
    case WorkloadKind::kGroupPull:
      return GroupPull(s, o);
    case WorkloadKind::kDeviceSync:
      return DeviceSync(s, o);
    case WorkloadKind::kGet:
      return Get(s, o);
    case WorkloadKind::kLatest20:
      return Latest20(s, o);
    case WorkloadKind::kHistory:
      return History(s, o);
    case WorkloadKind::kMixed: {
      const double u = rng_.Unit();
      const double r = ds_.cfg().read_fraction;
      if (u >= r) return ChatAppend(s, o);
      if (u < r * 0.4) return Latest20(s, o);
      if (u < r * 0.7) return Get(s, o);
      return DeviceSync(s, o);
    }
    case WorkloadKind::kPing:
      return s.Ping();
    case WorkloadKind::kLongPoll:
      break;  // not a per-thread step: RunLongPoll (longpoll.h) drives it
  }
  return false;
}

bool WorkloadThread::ChatAppend(Session& s, StepOutcome* o) {
  const auto& tl = ds_.conversations()[ds_.PickConversation(rng_.Unit())];
  const std::string& p = ds_.payload(payload_index_++);
  if (!s.Append(tl, p, w_.dur)) return false;
  o->messages = 1;
  o->deliveries = 1;
  o->payload_bytes = p.size();
  return true;
}

bool WorkloadThread::Pipelined(Session& s, StepOutcome* o) {
  tls_.clear();
  payloads_.clear();
  const uint32_t depth = std::max<uint32_t>(1, ds_.cfg().pipeline_depth);
  for (uint32_t i = 0; i < depth; ++i) {
    tls_.push_back(&ds_.conversations()[ds_.PickConversation(rng_.Unit())]);
    payloads_.push_back(ds_.payload(payload_index_++));
    o->payload_bytes += payloads_.back().size();
  }
  if (!s.AppendBatch(tls_, payloads_, w_.dur)) return false;
  o->requests = o->messages = o->deliveries = depth;
  return true;
}

bool WorkloadThread::PushFanout(Session& s, StepOutcome* o) {
  const auto& users = ds_.sync_timelines();
  const uint32_t n = w_.fanout;
  const uint32_t first = static_cast<uint32_t>(rng_.Uniform(users.size()));
  tls_.clear();
  for (uint32_t i = 0; i < n; ++i) tls_.push_back(&users[(first + i) % users.size()]);
  const auto& group = ds_.groups()[ds_.PickGroup(rng_.Unit())];
  const std::string& p = ds_.payload(payload_index_++);
  if (!s.Fanout(group, tls_, p, w_.dur)) return false;
  o->messages = 1;
  o->deliveries = n + 1;
  o->payload_bytes = p.size();
  return true;
}

bool WorkloadThread::GroupPull(Session& s, StepOutcome* o) {
  if (rng_.Unit() < ds_.cfg().pull_write_fraction) {
    const auto& g = ds_.groups()[ds_.PickGroup(rng_.Unit())];
    const std::string& p = ds_.payload(payload_index_++);
    if (!s.Append(g, p, w_.dur)) return false;
    o->messages = o->deliveries = 1;
    o->payload_bytes = p.size();
    return true;
  }
  const uint32_t k = ds_.cfg().groups_per_user;
  const uint32_t idx = NextUser();
  const uint32_t user = idx * threads_ + thread_;
  tls_.clear();
  for (uint32_t i = 0; i < k; ++i) tls_.push_back(&ds_.groups()[ds_.GroupOfUser(user, i)]);
  ReadResult r;
  std::span<uint64_t> ckpt(pull_ckpt_.data() + static_cast<size_t>(idx) * k, k);
  if (!s.PullMany(tls_, ckpt, 100, &r)) return false;
  o->read_messages = r.count;
  return true;
}

bool WorkloadThread::DeviceSync(Session& s, StepOutcome* o) {
  const uint32_t idx = NextUser();
  const uint32_t user = idx * threads_ + thread_;
  ReadResult r;
  if (!s.After(ds_.sync_timelines()[user], sync_ckpt_[idx], 100, &r)) return false;
  // Caught up (short page): the next sync of this user is a new device, from the start.
  sync_ckpt_[idx] = r.count < 100 ? 0 : r.last_seq;
  o->read_messages = r.count;
  return true;
}

bool WorkloadThread::Get(Session& s, StepOutcome* o) {
  const auto& tl = ds_.conversations()[ds_.PickConversation(rng_.Unit())];
  const uint64_t seq = 1 + rng_.Uniform(std::max<uint32_t>(1, ds_.cfg().conv_messages));
  ReadResult r;
  if (!s.Get(tl, seq, &r)) return false;
  o->read_messages = r.count;
  return true;
}

bool WorkloadThread::Latest20(Session& s, StepOutcome* o) {
  const auto& tl = ds_.conversations()[ds_.PickConversation(rng_.Unit())];
  ReadResult r;
  if (!s.Latest(tl, 20, &r)) return false;
  o->read_messages = r.count;
  return true;
}

bool WorkloadThread::History(Session& s, StepOutcome* o) {
  const auto& tl = ds_.conversations()[rng_.Uniform(ds_.conversations().size())];
  const uint64_t before = 2 + rng_.Uniform(std::max<uint32_t>(1, ds_.cfg().conv_messages));
  ReadResult r;
  if (!s.Before(tl, before, 20, &r)) return false;
  o->read_messages = r.count;
  return true;
}

}  // namespace tldb::peerbench
