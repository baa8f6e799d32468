// RunLongPoll: the live-delivery workload ("longpoll"): devices waiting for new messages on
// their sync timeline.
//
// max(1, clients / 2) pairs, each of a writer and a waiter with a Session of its own; pair p
// owns the sync timeline of user p * users / pairs for the whole run (no other writer). The
// waiter long-polls (Session::WaitAfter: Redis XREAD BLOCK, tldb-server WAIT then SCAN, the
// embedded stores poll) for the messages after the last one it received; the writer appends
// seeded payloads (the same sequence on every target) to that timeline.
//
// Closed loop (cfg.rate == 0): the writer appends its next message once the waiter has
// received the previous one, so the waiter is parked in its wait when a message comes.
// Latency = the moment the waiter has the message minus the moment the writer's Append
// returned (acknowledged). A message the waiter has before the writer's acknowledgement
// arrived (possible over loopback) counts as 0 and in `early`.
// Fixed rate (cfg.rate > 0, messages/s over all pairs): each writer appends on a schedule of
// intended times without waiting for its waiter; latency counts from the intended append
// time (append + delivery), so a stall is charged to every message it delayed.
//
// ops = messages delivered (each with a latency sample); messages = messages appended.
#pragma once

#include "bench_config.h"
#include "dataset.h"
#include "runner.h"
#include "target.h"
#include "workload.h"

namespace tldb::peerbench {

class ProgressBar;

WorkloadRun RunLongPoll(Target& target, const Dataset& ds, const Workload& w,
                        const BenchConfig& cfg, ProgressBar* progress);

}  // namespace tldb::peerbench
