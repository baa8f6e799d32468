// The records of a cross-partition fan-out (docs/cluster.md "Cross-partition fan-out",
// docs/protocol.md "Intent records"): what the home partition's primary keeps in the system
// namespace __intents, and what a client reads to learn whether every part is delivered.
// Shared by the server (cluster/intent_fanout.h) and the client (ClusterClient).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tldb/options.h"
#include "tldb/status.h"
#include "tldb/types.h"

namespace tldb::proto {

inline constexpr std::string_view kIntentNamespace = "__intents";
// The journal timeline of __intents: every intent of the partition, in order.
inline constexpr std::string_view kJournalTimeline = "#journal";

// The slot every key of __intents routes by: the decimal number before the first '|' of
// "<slot>|<ns>|<client_msg_id>"; nullopt for another key (routed as any timeline).
std::optional<uint16_t> IntentSlot(std::string_view key);
// The namespace an intent key "<slot>|<ns>|<client_msg_id>" is about (namespace names hold no
// '|'); nullopt for another key. A client may read (SCAN, GET, WAIT) an intent's timeline of
// __intents when it may read that namespace.
std::optional<std::string_view> IntentNamespaceOf(std::string_view key);
// The intent's key: "<FanoutHomeSlot(targets)>|<ns>|<client_msg_id>".
std::string IntentKey(std::string_view ns, std::span<const std::string_view> targets,
                      std::string_view client_msg_id);

struct Intent {
  std::string ns, client_msg_id, payload;
  std::vector<std::string> targets;  // sorted, distinct
  Durability durability = Durability::kDefault;
};
// u8 'I', ns str16, client_msg_id str16, durability u8, targets list<str16> (u32 count),
// payload bytes32.
std::string EncodeIntent(const Intent& intent);
Result<Intent> DecodeIntent(std::string_view bytes);
// A delivered mark: u8 'D', then list<{timeline str16, seq u64}> (u32 count): the targets of one
// delivered part and their SeqIds (0: the target held the message already, SeqId not known).
std::string EncodeMark(const std::vector<std::pair<std::string, Seq>>& delivered);
Result<std::vector<std::pair<std::string, Seq>>> DecodeMark(std::string_view bytes);
// The delivered targets of an intent timeline's records (the intent first, then its marks), or
// Corruption when the first is not an intent. `complete`: every target is marked.
struct IntentState {
  Intent intent;
  std::vector<std::pair<std::string, Seq>> delivered;  // in mark order
  bool complete = false;
};
Result<IntentState> ReadIntentState(std::span<const Message> records);

}  // namespace tldb::proto
