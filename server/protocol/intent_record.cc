#include "protocol/intent_record.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "protocol/slot_map.h"
#include "protocol/wire.h"

namespace tldb::proto {
namespace {

constexpr uint8_t kIntentTag = 'I';
constexpr uint8_t kMarkTag = 'D';

}  // namespace

std::optional<uint16_t> IntentSlot(std::string_view key) {
  const size_t bar = key.find('|');
  if (bar == key.npos || bar == 0) return std::nullopt;
  uint32_t slot = 0;
  auto [end, ec] = std::from_chars(key.data(), key.data() + bar, slot);
  if (ec != std::errc() || end != key.data() + bar || slot >= kSlotCount) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(slot);
}

std::optional<std::string_view> IntentNamespaceOf(std::string_view key) {
  if (!IntentSlot(key)) return std::nullopt;
  const size_t first = key.find('|');
  const size_t second = key.find('|', first + 1);
  if (second == key.npos || second == first + 1) return std::nullopt;
  return key.substr(first + 1, second - first - 1);
}

std::string IntentKey(std::string_view ns, std::span<const std::string_view> targets,
                      std::string_view client_msg_id) {
  return std::to_string(FanoutHomeSlot(targets)) + "|" + std::string(ns) + "|" +
         std::string(client_msg_id);
}

std::string EncodeIntent(const Intent& intent) {
  std::string out;
  WireWriter w(&out);
  w.U8(kIntentTag);
  w.Str16(intent.ns);
  w.Str16(intent.client_msg_id);
  w.U8(static_cast<uint8_t>(intent.durability));
  w.U32(static_cast<uint32_t>(intent.targets.size()));
  for (const std::string& t : intent.targets) w.Str16(t);
  w.Bytes32(intent.payload);
  return out;
}

Result<Intent> DecodeIntent(std::string_view bytes) {
  WireReader r(bytes);
  uint8_t tag = 0, durability = 0;
  std::string_view ns, id, payload;
  uint32_t n = 0;
  if (!r.U8(&tag) || tag != kIntentTag || !r.Str16(&ns) || !r.Str16(&id) || !r.U8(&durability) ||
      !r.U32(&n)) {
    return Status::Corruption("not an intent record");
  }
  Intent out{std::string(ns), std::string(id), {}, {}, static_cast<Durability>(durability)};
  for (uint32_t i = 0; i < n; ++i) {
    std::string_view t;
    if (!r.Str16(&t)) return Status::Corruption("intent record cut short");
    out.targets.emplace_back(t);
  }
  if (!r.Bytes32(&payload)) return Status::Corruption("intent record cut short");
  out.payload = std::string(payload);
  return out;
}

std::string EncodeMark(const std::vector<std::pair<std::string, Seq>>& delivered) {
  std::string out;
  WireWriter w(&out);
  w.U8(kMarkTag);
  w.U32(static_cast<uint32_t>(delivered.size()));
  for (const auto& [t, seq] : delivered) {
    w.Str16(t);
    w.U64(seq);
  }
  return out;
}

Result<std::vector<std::pair<std::string, Seq>>> DecodeMark(std::string_view bytes) {
  WireReader r(bytes);
  uint8_t tag = 0;
  uint32_t n = 0;
  if (!r.U8(&tag) || tag != kMarkTag || !r.U32(&n)) return Status::Corruption("not a mark");
  std::vector<std::pair<std::string, Seq>> out;
  for (uint32_t i = 0; i < n; ++i) {
    std::string_view t;
    uint64_t seq = 0;
    if (!r.Str16(&t) || !r.U64(&seq)) return Status::Corruption("mark cut short");
    out.emplace_back(std::string(t), seq);
  }
  return out;
}

Result<IntentState> ReadIntentState(std::span<const Message> records) {
  if (records.empty()) return Status::NotFound("no intent record");
  IntentState out;
  TLDB_ASSIGN_OR_RETURN(out.intent, DecodeIntent(records[0].payload));
  std::set<std::string, std::less<>> marked;
  for (size_t i = 1; i < records.size(); ++i) {
    auto mark = DecodeMark(records[i].payload);
    if (!mark.ok()) continue;
    for (auto& [t, seq] : *mark) {
      if (marked.insert(t).second) out.delivered.emplace_back(t, seq);
    }
  }
  out.complete = std::all_of(out.intent.targets.begin(), out.intent.targets.end(),
                             [&](const std::string& t) { return marked.count(t) != 0; });
  return out;
}

}  // namespace tldb::proto
