#include "ledger.h"

#include <algorithm>
#include <set>

namespace tldb::faults {

void Ledger::Sent(int writer, const std::string& timeline, const std::string& client_msg_id,
                  std::string payload) {
  std::lock_guard lock(mu_);
  Entry& e = timelines_[timeline][client_msg_id];
  e.writer = writer;
  e.order = sent_++;
  e.payload = std::move(payload);
}

void Ledger::Acked(const std::string& timeline, const std::string& client_msg_id, Seq seq) {
  std::lock_guard lock(mu_);
  Entry& e = timelines_[timeline][client_msg_id];
  if (e.acks.empty()) ++acked_;
  ++acks_;
  e.acks.push_back(seq);
}

void Ledger::Seen(const std::string& timeline, const std::string& client_msg_id, Seq seq) {
  std::lock_guard lock(mu_);
  seen_[timeline].emplace(seq, client_msg_id);
}

uint64_t Ledger::seen() const {
  std::lock_guard lock(mu_);
  uint64_t n = 0;
  for (const auto& [_, m] : seen_) n += m.size();
  return n;
}

std::vector<std::string> Ledger::Timelines() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [t, _] : timelines_) out.push_back(t);
  return out;
}

uint64_t Ledger::sent() const {
  std::lock_guard lock(mu_);
  return sent_;
}
uint64_t Ledger::acked() const {
  std::lock_guard lock(mu_);
  return acked_;
}
uint64_t Ledger::acks() const {
  std::lock_guard lock(mu_);
  return acks_;
}

namespace {

using Violations = std::vector<std::string>;

void CheckStored(const std::string& t, const std::vector<Message>& msgs,
                 const std::map<std::string, LedgerEntry>& sent, Violations* v,
                 std::map<std::string, Seq>* stored_at) {
  for (size_t i = 0; i < msgs.size(); ++i) {
    const Message& m = msgs[i];
    if (m.seq != i + 1) {
      v->push_back(t + ": seq " + std::to_string(m.seq) + " at position " + std::to_string(i + 1) +
                   " (gap, reorder or duplicate seq)");
    }
    auto it = sent.find(m.client_msg_id);
    if (it == sent.end()) {
      v->push_back(t + ": seq " + std::to_string(m.seq) + " was never sent (client_msg_id '" +
                   m.client_msg_id + "')");
      continue;
    }
    if (m.payload != it->second.payload) {
      v->push_back(t + ": seq " + std::to_string(m.seq) + " payload differs from what was sent");
    }
    if (!stored_at->emplace(m.client_msg_id, m.seq).second) {
      v->push_back(t + ": client_msg_id '" + m.client_msg_id + "' stored twice");
    }
  }
}

}  // namespace

std::vector<std::string> Ledger::Check(const StoredTimelines& stored) const {
  std::lock_guard lock(mu_);
  Violations v;
  for (const auto& [t, _] : stored) {
    if (!timelines_.count(t)) v.push_back(t + ": a timeline that was never written");
  }
  for (const auto& [t, sent] : timelines_) {
    auto st = stored.find(t);
    static const std::vector<Message> kNone;
    const auto& msgs = st == stored.end() ? kNone : st->second;
    std::map<std::string, Seq> stored_at;
    CheckStored(t, msgs, sent, &v, &stored_at);
    // Acknowledged messages: present at their acknowledged seq; per writer, in send order.
    std::map<int, std::vector<std::pair<uint64_t, Seq>>> by_writer;
    for (const auto& [id, e] : sent) {
      if (e.acks.empty()) continue;
      auto at = stored_at.find(id);
      if (at == stored_at.end()) {
        v.push_back(t + ": acknowledged '" + id + "' (seq " + std::to_string(e.acks[0]) +
                    ") is missing");
        continue;
      }
      for (Seq a : e.acks) {
        if (a != at->second) {
          v.push_back(t + ": '" + id + "' acknowledged as seq " + std::to_string(a) +
                      " but stored at " + std::to_string(at->second));
        }
      }
      by_writer[e.writer].emplace_back(e.order, at->second);
    }
    // Messages readers saw: still there, same seq, same id.
    if (auto sn = seen_.find(t); sn != seen_.end()) {
      for (const auto& [seq, id] : sn->second) {
        auto at = stored_at.find(id);
        if (at == stored_at.end() || at->second != seq) {
          v.push_back(t + ": '" + id + "' was seen by a reader at seq " + std::to_string(seq) +
                      (at == stored_at.end() ? " and is gone"
                                             : " but is stored at " + std::to_string(at->second)));
        }
      }
    }
    for (auto& [w, list] : by_writer) {
      std::sort(list.begin(), list.end());
      for (size_t i = 1; i < list.size(); ++i) {
        if (list[i].second <= list[i - 1].second) {
          v.push_back(t + ": writer " + std::to_string(w) +
                      "'s acknowledged messages out of order");
        }
      }
    }
  }
  return v;
}

}  // namespace tldb::faults
