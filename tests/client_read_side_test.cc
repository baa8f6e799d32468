// ReadSide, the client's state machine for who reads the socket, driven directly: every
// transition and the thread it wakes, with no sockets and no threads.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <vector>

#include "read_side.h"

namespace tldb::testing {
namespace {

using Caller = ReadSide::Caller;
using Kind = ReadSide::Wake::Kind;
using Owner = ReadSide::Owner;
using Wake = ReadSide::Wake;

constexpr Wake kNoWake{};
constexpr Wake kWakeIo{Kind::kIo, nullptr};
Wake CallerWake(Caller* c) {
  return {Kind::kCaller, c};
}
Wake OwnerWake(Caller* c) {
  return {Kind::kOwner, c};
}

TEST(ReadSideTest, AFreeSideGoesToTheCallerAndBackWhenItsOutcomeIsIn) {
  ReadSide side;
  Caller a;
  side.CallerWaits(&a);
  EXPECT_TRUE(side.Owns(&a));
  EXPECT_EQ(side.queued(), 0u);
  EXPECT_EQ(side.Finished(&a), OwnerWake(&a));  // it reads: the thread checks it is itself
  EXPECT_TRUE(side.Owns(&a));                   // until it leaves on its own thread
  EXPECT_EQ(side.Leave(&a), kNoWake);
  EXPECT_EQ(side.owner(), Owner::kNone);
}

TEST(ReadSideTest, CallersQueueAndTheSidePassesInArrivalOrder) {
  ReadSide side;
  Caller a, b, c;
  side.CallerWaits(&a);
  side.CallerWaits(&b);
  side.CallerWaits(&c);
  EXPECT_TRUE(side.Owns(&a));
  EXPECT_EQ(side.queued(), 2u);
  ASSERT_EQ(side.Finished(&a), OwnerWake(&a));
  EXPECT_EQ(side.Leave(&a), CallerWake(&b));  // b sleeps on its condition variable
  EXPECT_TRUE(side.Owns(&b));
  ASSERT_EQ(side.Finished(&b), OwnerWake(&b));
  EXPECT_EQ(side.Leave(&b), CallerWake(&c));
  EXPECT_TRUE(side.Owns(&c));
  EXPECT_EQ(side.queued(), 0u);
}

// b's response was read by a: b leaves the queue when its outcome is in, so the side is never
// handed to a caller that no longer needs it.
TEST(ReadSideTest, ACallerWhoseOutcomeIsInIsNeverHandedTheSide) {
  ReadSide side;
  Caller a, b;
  side.CallerWaits(&a);
  side.CallerWaits(&b);
  EXPECT_EQ(side.Finished(&b), CallerWake(&b));
  EXPECT_EQ(side.queued(), 0u);
  ASSERT_EQ(side.Finished(&a), OwnerWake(&a));
  EXPECT_EQ(side.Leave(&a), kNoWake);
  EXPECT_EQ(side.owner(), Owner::kNone);
  EXPECT_EQ(side.Leave(&b), kNoWake);  // b, back on its thread, owns nothing
  EXPECT_EQ(side.owner(), Owner::kNone);
}

TEST(ReadSideTest, AsynchronousWorkSendsAFreeSideToTheIoThread) {
  ReadSide side;
  EXPECT_EQ(side.SetIoWork(true), kWakeIo);
  EXPECT_EQ(side.owner(), Owner::kIo);
  EXPECT_EQ(side.IoRelease(), kNoWake);  // no caller waits: it keeps reading
  EXPECT_EQ(side.owner(), Owner::kIo);
  EXPECT_EQ(side.SetIoWork(false), kNoWake);
  EXPECT_EQ(side.IoRelease(), kNoWake);  // nothing left to read for anyone
  EXPECT_EQ(side.owner(), Owner::kNone);
}

// With asynchronous work (a subscription, say) the I/O thread gives the side to a waiting
// caller after its batch, and gets it back when no caller waits.
TEST(ReadSideTest, TheIoThreadPassesTheSideToAWaitingCallerAndGetsItBack) {
  ReadSide side;
  Caller a;
  ASSERT_EQ(side.SetIoWork(true), kWakeIo);
  side.CallerWaits(&a);
  EXPECT_EQ(side.queued(), 1u);
  EXPECT_EQ(side.IoRelease(), CallerWake(&a));
  EXPECT_TRUE(side.Owns(&a));
  ASSERT_EQ(side.Finished(&a), OwnerWake(&a));
  EXPECT_EQ(side.Leave(&a), kWakeIo);
  EXPECT_EQ(side.owner(), Owner::kIo);
}

TEST(ReadSideTest, AsynchronousWorkDoesNotTakeTheSideFromACaller) {
  ReadSide side;
  Caller a;
  side.CallerWaits(&a);
  EXPECT_EQ(side.SetIoWork(true), kNoWake);  // a reads on; it hands frames to the I/O thread
  EXPECT_TRUE(side.Owns(&a));
  ASSERT_EQ(side.Finished(&a), OwnerWake(&a));
  EXPECT_EQ(side.Leave(&a), kWakeIo);
}

// A hang-up the I/O thread sees while a caller reads: the caller is woken to yield, callers
// stop taking the side, and it stays with the I/O thread until the new connection is up; then
// the yielded caller (queued first) gets it back.
TEST(ReadSideTest, AHangupMovesTheSideToTheIoThreadUntilReconnected) {
  ReadSide side;
  Caller a, b;
  side.CallerWaits(&a);
  EXPECT_EQ(side.Hangup(), OwnerWake(&a));
  EXPECT_TRUE(side.MustYield());
  side.CallerWaits(&b);
  EXPECT_FALSE(side.Owns(&b));
  EXPECT_EQ(side.Yield(&a), kWakeIo);
  EXPECT_EQ(side.owner(), Owner::kIo);
  EXPECT_EQ(side.queued(), 2u);
  EXPECT_EQ(side.IoRelease(), kNoWake);  // it must read the EOF first
  EXPECT_EQ(side.owner(), Owner::kIo);
  side.Disconnected();
  EXPECT_FALSE(side.MustYield());
  EXPECT_EQ(side.IoRelease(), kNoWake);  // disconnected: it keeps the side while reconnecting
  EXPECT_EQ(side.owner(), Owner::kIo);
  side.Connected();
  EXPECT_EQ(side.IoRelease(), CallerWake(&a));
  EXPECT_TRUE(side.Owns(&a));
}

TEST(ReadSideTest, AHangupOnAFreeSideSendsItToTheIoThread) {
  ReadSide side;
  EXPECT_EQ(side.Hangup(), kWakeIo);
  EXPECT_EQ(side.owner(), Owner::kIo);
  EXPECT_EQ(side.Hangup(), kNoWake);  // it has the side already
}

TEST(ReadSideTest, ACallerThatReadAnErrorYieldsToTheIoThread) {
  ReadSide side;
  Caller a;
  side.CallerWaits(&a);
  EXPECT_EQ(side.Hangup(), OwnerWake(&a));  // a reported it itself: the wake is for itself
  EXPECT_EQ(side.Yield(&a), kWakeIo);
  EXPECT_EQ(side.Yield(&a), kNoWake);  // not the owner any more
}

// Close() while a caller reads: the caller is woken (an event, not a timeout) to yield; the
// side goes to the I/O thread, which fails what is outstanding; no caller takes it again.
TEST(ReadSideTest, CloseWakesTheReadingCallerAndEndsWithTheIoThread) {
  ReadSide side;
  Caller a, b, c;
  side.CallerWaits(&a);
  side.CallerWaits(&b);
  EXPECT_EQ(side.Close(), OwnerWake(&a));
  EXPECT_TRUE(side.MustYield());
  EXPECT_EQ(side.Yield(&a), kWakeIo);
  EXPECT_EQ(side.owner(), Owner::kIo);
  side.CallerWaits(&c);
  EXPECT_FALSE(side.Owns(&c));
  EXPECT_EQ(side.IoRelease(), kNoWake);
  EXPECT_EQ(side.owner(), Owner::kIo);
  for (Caller* x : {&a, &b, &c}) EXPECT_EQ(side.Finished(x), CallerWake(x));  // failed: Closed
  EXPECT_EQ(side.queued(), 0u);
}

TEST(ReadSideTest, CloseOnAFreeOrIoOwnedSideWakesTheIoThread) {
  ReadSide free_side;
  EXPECT_EQ(free_side.Close(), kWakeIo);
  EXPECT_EQ(free_side.owner(), Owner::kIo);
  ReadSide io_side;
  ASSERT_EQ(io_side.SetIoWork(true), kWakeIo);
  EXPECT_EQ(io_side.Close(), kWakeIo);  // it may sleep in poll() on the socket
}

// A seeded random walk over every event, checking the invariants after each step: one owner
// at most, the owner is never queued, a finished caller is never queued or handed the side,
// a free side on a live connection leaves nobody waiting and no asynchronous work unread, and
// every hand-over to a sleeping party comes with a wake for it.
TEST(ReadSideTest, InvariantsHoldOverARandomWalk) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    ReadSide side;
    std::vector<Caller> callers(6);
    std::set<Caller*> waiting, finished;  // waiting: called CallerWaits, not yet left
    bool io_work = false;
    for (int step = 0; step < 2000; ++step) {
      Caller* c = &callers[rng() % callers.size()];
      const Owner before = side.owner();
      Caller* owner_before = nullptr;
      for (auto& x : callers) {
        if (side.Owns(&x)) owner_before = &x;
      }
      Wake w;
      switch (rng() % 9) {
        case 0:
          if (!waiting.count(c)) {
            side.CallerWaits(c);
            waiting.insert(c);
            finished.erase(c);
          }
          break;
        case 1:
          if (waiting.count(c) && !finished.count(c)) {
            w = side.Finished(c);
            finished.insert(c);
            EXPECT_EQ(w.caller, c);
          }
          break;
        case 2:
          if (finished.count(c) && waiting.count(c)) {
            w = side.Leave(c);
            waiting.erase(c);
          }
          break;
        case 3:
          if (side.Owns(c) && side.MustYield() && !finished.count(c)) w = side.Yield(c);
          break;
        case 4:
          if (side.owner() == Owner::kIo) w = side.IoRelease();
          break;
        case 5:
          io_work = !io_work;
          w = side.SetIoWork(io_work);
          break;
        case 6:
          if (side.connected() && !side.hangup() && rng() % 8 == 0) w = side.Hangup();
          break;
        case 7:  // the I/O thread reads the EOF, then reconnects
          if (side.owner() == Owner::kIo && side.hangup()) side.Disconnected();
          if (side.owner() == Owner::kIo && !side.connected()) side.Connected();
          break;
        default:
          if (!side.closing() && rng() % 50 == 0) w = side.Close();
      }
      // A new owner that may be asleep is woken.
      if (side.owner() == Owner::kIo && before != Owner::kIo && w != kWakeIo) {
        ADD_FAILURE() << "seed " << seed << " step " << step << ": I/O thread not woken";
      }
      for (auto& x : callers) {
        if (side.Owns(&x) && owner_before != &x && &x != c) {
          EXPECT_EQ(w, CallerWake(&x)) << "seed " << seed << " step " << step;
        }
      }
      int owners = side.owner() == Owner::kIo ? 1 : 0;
      for (auto& x : callers) {
        if (side.Owns(&x)) {
          ++owners;
          EXPECT_TRUE(waiting.count(&x));
          if (owner_before != &x) {
            EXPECT_FALSE(finished.count(&x)) << "a finished caller got the side";
          }
        }
      }
      EXPECT_LE(owners, 1);
      size_t should_queue = 0;
      for (Caller* x : waiting) should_queue += !finished.count(x) && !side.Owns(x);
      EXPECT_EQ(side.queued(), should_queue) << "seed " << seed << " step " << step;
      if (side.owner() == Owner::kNone) {
        EXPECT_TRUE(side.connected());
        EXPECT_FALSE(side.closing() || side.hangup());
        EXPECT_EQ(side.queued(), 0u);
        EXPECT_FALSE(io_work);
      }
    }
  }
}

}  // namespace
}  // namespace tldb::testing
