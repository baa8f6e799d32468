// Workload: one IM access pattern, and WorkloadThread, the per-thread generator that executes
// its operations against a Session. Names (for --workloads):
//   chat            1:1 chat: one blocking append per request to a Zipf-popular conversation
//   chat_pipelined  the same with pipeline_depth appends in flight per client
//   push_fanout_N   group push mode: payload to the group's timeline + an entry in N members'
//                   sync timelines (one message = one op; N deliveries)
//   group_pull      group pull mode: pull_write_fraction appends to Zipf-popular groups; the
//                   rest are pulls: a device reads everything new in each of its groups
//   device_sync     a device reads up to 100 messages after its checkpoint from its sync
//                   timeline, and starts over from 0 once it has caught up (a new device)
//   get             one message by SeqId from a Zipf-popular conversation
//   latest20        history roaming: the latest 20 messages of a Zipf-popular conversation
//   history         history roaming: a 20-message page backward from a random point of a
//                   uniformly chosen (old) conversation
//   longpoll        live delivery: clients / 2 pairs of a writer and a waiting device; the
//                   device long-polls its sync timeline, the writer appends to it; latency is
//                   from the append's acknowledgement to the device receiving it (longpoll.h)
//   mixed           read_fraction reads (40% latest20, 30% get, 30% device sync), the rest
//                   chat appends
//   ping            one round trip that asks for no work (tldb-server PING, Redis PING): the
//                   request path alone, against which a get's cost is read. Server targets
//                   only, and run only when named (an embedded target fails it)
// Write workloads run once per durability; group_pull, longpoll and mixed use the first
// durability.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench_config.h"
#include "dataset.h"
#include "rng.h"
#include "target.h"

namespace tldb::peerbench {

enum class WorkloadKind {
  kChat,
  kChatPipelined,
  kPushFanout,
  kGroupPull,
  kDeviceSync,
  kGet,
  kLatest20,
  kHistory,
  kMixed,
  kLongPoll,
  kPing
};

struct Workload {
  std::string base;  // "chat", "push_fanout_200", ...
  WorkloadKind kind;
  bool writes = false;  // stores messages (has a durability)
  bool pipelined = false;
  Dur dur = Dur::kSync;
  uint32_t fanout = 0;
  std::string Name() const { return writes ? base + "/" + DurName(dur) : base; }
};

// Every workload of the run, reads first (on the preloaded store), then writes, then mixed.
std::vector<Workload> PlanWorkloads(const BenchConfig& cfg);

// What one Step did.
struct StepOutcome {
  uint32_t requests = 1;       // operations counted (a pipelined batch counts its size)
  uint32_t messages = 0;       // messages stored
  uint64_t payload_bytes = 0;  // payload bytes stored
  uint32_t deliveries = 0;     // timelines a message was written to (fan-out)
  uint32_t read_messages = 0;
};

class WorkloadThread {
 public:
  WorkloadThread(const Dataset& ds, const Workload& w, uint32_t thread, uint32_t threads);
  // Runs one operation (or one pipelined batch); false on error (Session::error()).
  bool Step(Session& s, StepOutcome* o);

 private:
  bool ChatAppend(Session& s, StepOutcome* o);
  bool Pipelined(Session& s, StepOutcome* o);
  bool PushFanout(Session& s, StepOutcome* o);
  bool GroupPull(Session& s, StepOutcome* o);
  bool DeviceSync(Session& s, StepOutcome* o);
  bool Get(Session& s, StepOutcome* o);
  bool Latest20(Session& s, StepOutcome* o);
  bool History(Session& s, StepOutcome* o);
  uint32_t NextUser();

  const Dataset& ds_;
  const Workload& w_;
  const uint32_t thread_, threads_;
  Rng rng_;
  uint64_t payload_index_;
  uint32_t user_cursor_ = 0;
  std::vector<uint64_t> sync_ckpt_;  // per owned user (device sync)
  std::vector<uint64_t> pull_ckpt_;  // per owned user x groups_per_user (group pull)
  std::vector<const TimelineRef*> tls_;
  std::vector<std::string_view> payloads_;
};

}  // namespace tldb::peerbench
