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

void Ledger::Fanout(const std::string& client_msg_id, std::vector<std::string> members) {
  std::lock_guard lock(mu_);
  fanouts_[client_msg_id] = std::move(members);
}

void Ledger::RecallRequested(const std::string& timeline, const std::string& client_msg_id) {
  std::lock_guard lock(mu_);
  timelines_[timeline][client_msg_id].recall_requested = true;
}

void Ledger::RecallAcked(const std::string& timeline, const std::string& client_msg_id) {
  std::lock_guard lock(mu_);
  Entry& e = timelines_[timeline][client_msg_id];
  if (!e.recall_acked) ++recalled_;
  e.recall_acked = true;
}

void Ledger::SeenLocked(const std::string& timeline, const std::string& client_msg_id, Seq seq) {
  auto [it, added] = seen_[timeline].emplace(seq, client_msg_id);
  if (!added && it->second != client_msg_id) {
    seen_violations_.push_back(timeline + ": seq " + std::to_string(seq) + " was seen holding '" +
                               it->second + "' and later '" + client_msg_id + "'");
  }
}

void Ledger::Seen(const std::string& timeline, const std::string& client_msg_id, Seq seq) {
  std::lock_guard lock(mu_);
  SeenLocked(timeline, client_msg_id, seq);
}

void Ledger::Seen(const std::string& timeline, const Message& m) {
  std::lock_guard lock(mu_);
  SeenLocked(timeline, m.client_msg_id, m.seq);
  const Entry* e = nullptr;
  if (auto t = timelines_.find(timeline); t != timelines_.end()) {
    if (auto it = t->second.find(m.client_msg_id); it != t->second.end()) e = &it->second;
  }
  if (e == nullptr) {
    seen_violations_.push_back(timeline + ": seq " + std::to_string(m.seq) + " was seen holding '" +
                               m.client_msg_id + "', never sent");
  } else if (e->payload != m.payload) {
    seen_violations_.push_back(timeline + ": '" + m.client_msg_id + "' was seen at seq " +
                               std::to_string(m.seq) + " with a payload other than the one sent");
  }
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
uint64_t Ledger::recalled() const {
  std::lock_guard lock(mu_);
  return recalled_;
}

namespace {

using Violations = std::vector<std::string>;

// The stored messages themselves: seqs, ids, payloads, recalls; fills *stored_at (id -> seq)
// and *held (seq -> id).
void CheckStored(const std::string& t, const std::vector<Message>& msgs,
                 const std::map<std::string, LedgerEntry>& sent, Violations* v,
                 std::map<std::string, Seq>* stored_at, std::map<Seq, std::string>* held) {
  // The seqs a scan may skip: acknowledged seqs of messages whose recall was requested.
  std::set<Seq> recalled;
  for (const auto& [_, e] : sent) {
    if (e.recall_requested) recalled.insert(e.acks.begin(), e.acks.end());
  }
  Seq prev = 0;
  for (const Message& m : msgs) {
    if (m.seq <= prev) {
      v->push_back(t + ": seq " + std::to_string(m.seq) + " after seq " + std::to_string(prev) +
                   " (reorder or duplicate seq)");
    } else if (m.seq - prev - 1 > recalled.size()) {
      v->push_back(t + ": seqs " + std::to_string(prev + 1) + " to " + std::to_string(m.seq - 1) +
                   " are missing (more than every recall explains)");
      prev = m.seq;
    } else {
      for (Seq s = prev + 1; s < m.seq; ++s) {
        if (!recalled.count(s)) {
          v->push_back(t + ": seq " + std::to_string(s) + " is missing (a gap no recall explains)");
        }
      }
      prev = m.seq;
    }
    held->emplace(m.seq, m.client_msg_id);
    auto it = sent.find(m.client_msg_id);
    if (it == sent.end()) {
      v->push_back(t + ": seq " + std::to_string(m.seq) + " was never sent (client_msg_id '" +
                   m.client_msg_id + "')");
      continue;
    }
    if (m.payload != it->second.payload) {
      v->push_back(t + ": seq " + std::to_string(m.seq) + " payload differs from what was sent");
    }
    if (it->second.recall_acked) {
      v->push_back(t + ": '" + m.client_msg_id + "' at seq " + std::to_string(m.seq) +
                   " is served after its recall was acknowledged");
    }
    if (!stored_at->emplace(m.client_msg_id, m.seq).second) {
      v->push_back(t + ": client_msg_id '" + m.client_msg_id + "' stored twice");
    }
  }
}

}  // namespace

std::vector<std::string> Ledger::Check(const StoredTimelines& stored) const {
  std::lock_guard lock(mu_);
  Violations v = seen_violations_;
  for (const auto& [t, _] : stored) {
    if (!timelines_.count(t)) v.push_back(t + ": a timeline that was never written");
  }
  std::map<std::string, std::map<std::string, Seq>> stored_ids;  // timeline -> id -> seq
  for (const auto& [t, sent] : timelines_) {
    auto st = stored.find(t);
    static const std::vector<Message> kNone;
    const auto& msgs = st == stored.end() ? kNone : st->second;
    std::map<std::string, Seq> stored_at;
    std::map<Seq, std::string> held;
    CheckStored(t, msgs, sent, &v, &stored_at, &held);
    // Acknowledged messages: present at their acknowledged seq (or recalled by the workload);
    // per writer, in send order.
    std::map<int, std::vector<std::pair<uint64_t, Seq>>> by_writer;
    for (const auto& [id, e] : sent) {
      if (e.acks.empty()) continue;
      auto at = stored_at.find(id);
      if (at == stored_at.end()) {
        if (!e.recall_requested) {
          v.push_back(t + ": acknowledged '" + id + "' (seq " + std::to_string(e.acks[0]) +
                      ") is missing");
        }
        continue;
      }
      bool placed = false;  // acknowledged with its seq (not only as a pending fan-out member)
      for (Seq a : e.acks) {
        placed |= a != 0;
        if (a != 0 && a != at->second) {
          v.push_back(t + ": '" + id + "' acknowledged as seq " + std::to_string(a) +
                      " but stored at " + std::to_string(at->second));
        }
      }
      if (placed) by_writer[e.writer].emplace_back(e.order, at->second);
    }
    // Messages readers and subscribers saw: still there, same seq, same id (or recalled by the
    // workload), and their seq holds nothing else.
    if (auto sn = seen_.find(t); sn != seen_.end()) {
      for (const auto& [seq, id] : sn->second) {
        if (auto h = held.find(seq); h != held.end() && h->second != id) {
          v.push_back(t + ": seq " + std::to_string(seq) + " was seen holding '" + id +
                      "' and now holds '" + h->second + "'");
          continue;
        }
        auto at = stored_at.find(id);
        auto e = sent.find(id);
        const bool recall = e != sent.end() && e->second.recall_requested;
        if (at == stored_at.end() && recall) continue;  // the workload's own recall
        if (at == stored_at.end() || at->second != seq) {
          v.push_back(t + ": '" + id + "' was seen at seq " + std::to_string(seq) +
                      (at == stored_at.end() ? " and is gone"
                                             : " but is stored at " + std::to_string(at->second)));
        }
      }
    }
    stored_ids[t] = std::move(stored_at);
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
  // Fan-outs: every acknowledged one is in every member once (CheckStored found any id stored
  // twice in a timeline; here each member must hold it).
  for (const auto& [id, members] : fanouts_) {
    bool acked = false;
    for (const std::string& t : members) {
      auto tl = timelines_.find(t);
      if (tl == timelines_.end()) continue;
      auto e = tl->second.find(id);
      acked |= e != tl->second.end() && !e->second.acks.empty();
    }
    if (!acked) continue;
    std::string missing;
    for (const std::string& t : members) {
      auto ids = stored_ids.find(t);
      if (ids == stored_ids.end() || !ids->second.count(id)) missing += " " + t;
    }
    if (!missing.empty()) {
      v.push_back("fan-out '" + id + "' (" + std::to_string(members.size()) +
                  " members) is missing from:" + missing);
    }
  }
  return v;
}

}  // namespace tldb::faults
