#include "soak_model.h"

#include <set>

namespace tldb::faults {

void SoakModel::Sent(const std::string& id, std::string payload, int64_t now_ms) {
  std::lock_guard l(mu_);
  SoakMessage& m = s_.by_id[id];
  m.versions = {std::move(payload)};
  m.sent_ms = now_ms;
}

void SoakModel::Acked(const std::string& id, Seq seq) {
  std::lock_guard l(mu_);
  s_.by_id[id].seq = seq;
}

void SoakModel::RecallRequested(const std::string& id) {
  std::lock_guard l(mu_);
  s_.by_id[id].recall_requested = true;
}

void SoakModel::RecallAcked(const std::string& id) {
  std::lock_guard l(mu_);
  s_.by_id[id].recall_acked = true;
}

void SoakModel::EditRequested(const std::string& id, std::string payload) {
  std::lock_guard l(mu_);
  s_.by_id[id].versions.push_back(std::move(payload));
}

void SoakModel::EditAcked(const std::string& id) {
  std::lock_guard l(mu_);
  SoakMessage& m = s_.by_id[id];
  m.acked_version = m.versions.size() - 1;
}

void SoakModel::TrimRequested(Seq below) {
  std::lock_guard l(mu_);
  s_.trim_requested = std::max(s_.trim_requested, below);
}

void SoakModel::TrimAcked(Seq below) {
  std::lock_guard l(mu_);
  s_.trim_acked = std::max(s_.trim_acked, below);
  std::erase_if(s_.by_id, [&](const auto& kv) {
    return kv.second.seq != 0 && kv.second.seq < s_.trim_acked;
  });
}

void SoakModel::ForgetSentBefore(int64_t before_ms) {
  std::lock_guard l(mu_);
  std::erase_if(s_.by_id, [&](const auto& kv) { return kv.second.sent_ms < before_ms; });
}

SoakSnapshot SoakModel::Take() const {
  std::lock_guard l(mu_);
  return s_;
}

std::string SoakPayloadId(const std::string& payload) {
  const size_t bar = payload.find('|');
  return bar == std::string::npos ? std::string() : payload.substr(0, bar);
}

namespace {

// Checks one served message against what was sent; appends violations to `out`.
void CheckServed(const std::string& where, const Message& m, const SoakSnapshot& before,
                 const SoakSnapshot& after, std::vector<std::string>* out) {
  const std::string id = SoakPayloadId(m.payload);
  auto b = before.by_id.find(id);
  auto a = after.by_id.find(id);
  // Trimmed during the read: `after` forgot it, `before` still knows it.
  const SoakMessage* found = a != after.by_id.end()    ? &a->second
                             : b != before.by_id.end() ? &b->second
                                                       : nullptr;
  if (found == nullptr) {
    out->push_back(where + ": message never sent (or long expired/trimmed) served");
    return;
  }
  const SoakMessage& sent = *found;
  if (!m.client_msg_id.empty() && m.client_msg_id != id) {
    out->push_back(where + ": client_msg_id '" + m.client_msg_id + "' for id '" + id + "'");
  }
  if (sent.seq != 0 && sent.seq != m.seq) {
    out->push_back(where + ": id '" + id + "' acknowledged at seq " + std::to_string(sent.seq));
  }
  const size_t oldest = b == before.by_id.end() ? 0 : b->second.acked_version;
  bool payload_ok = false;
  for (size_t v = oldest; v < sent.versions.size(); ++v)
    payload_ok |= m.payload == sent.versions[v];
  if (!payload_ok) out->push_back(where + ": payload differs from what was sent or edited");
  if (b != before.by_id.end() && b->second.recall_acked) {
    out->push_back(where + ": recalled message served");
  }
  if (m.seq < before.trim_acked) out->push_back(where + ": trimmed message served");
}

}  // namespace

std::vector<std::string> CheckSoakRead(const std::string& timeline, const SoakSnapshot& before,
                                       const SoakSnapshot& after, const std::vector<Message>& read,
                                       const SoakReadLimits& limits) {
  std::vector<std::string> out;
  std::set<std::string> ids;
  Seq prev = 0;
  for (const Message& m : read) {
    const std::string where = "'" + timeline + "' seq " + std::to_string(m.seq);
    if (m.seq <= prev) out.push_back(where + ": after seq " + std::to_string(prev));
    prev = m.seq;
    if (!ids.insert(SoakPayloadId(m.payload)).second) out.push_back(where + ": served twice");
    CheckServed(where, m, before, after, &out);
  }
  for (const auto& [id, b] : before.by_id) {
    if (!limits.complete) break;
    if (b.seq == 0 || ids.count(id) != 0) continue;
    auto a = after.by_id.find(id);
    if (a == after.by_id.end() || a->second.recall_requested) continue;
    if (b.seq < after.trim_requested) continue;
    const bool may_expire = limits.ttl_ms != 0 && b.sent_ms + static_cast<int64_t>(limits.ttl_ms) <=
                                                      limits.read_end_ms + limits.slack_ms;
    if (may_expire) continue;
    out.push_back("'" + timeline + "' seq " + std::to_string(b.seq) + ": acknowledged id '" + id +
                  "' missing");
  }
  return out;
}

}  // namespace tldb::faults
