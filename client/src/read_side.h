// ReadSide: who owns the read side of a client connection's socket. A pure state machine (no
// locks, no I/O): ClientImpl calls it under its mutex and performs the Wake it returns.
//
// Contract: at most one owner at a time, the I/O thread or one blocking caller; only the owner
// receives from the socket, parses the input buffer, and (the I/O thread only) closes the
// socket, so nothing is ever read from or closed under another thread. Ownership changes hands
// only through the calls below, and every call that hands it to a thread which may be asleep
// returns that thread as the Wake to perform:
// - A blocking caller that waits for its response takes the side when it is free (the common
//   case: it reads its own response, no thread hop); otherwise it queues.
// - The owner gives the side up when it has no more reason to read: a caller when its outcome
//   is in (or when asked to yield), the I/O thread after each batch it read once a caller waits
//   or it has no asynchronous work. A released side goes, in this order, to the I/O thread when
//   it must have it (closing, a hang-up seen, disconnected), to the first queued caller, to the
//   I/O thread when it has asynchronous work (calls with callbacks, subscriptions), else nobody.
// - A hang-up (a read error, the peer closing) or Close() sends the side to the I/O thread: at
//   once when it is free, else the owning caller is woken to yield it. The I/O thread keeps it
//   while disconnected and reconnecting.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

namespace tldb {

class ReadSide {
 public:
  // A blocking caller (ClientImpl's waiter derives from it; tests use it as is).
  struct Caller {};
  enum class Owner : uint8_t { kNone, kIo, kCaller };
  // The thread to wake after a transition: the I/O thread; a caller that sleeps off the socket
  // (on its condition variable), because it now owns the side or has its outcome; or the
  // caller that owns the side, asleep in poll() on the socket (it re-checks: outcome in, or
  // MustYield). A thread that wakes itself skips the wake.
  struct Wake {
    enum class Kind : uint8_t { kNone, kIo, kCaller, kOwner };
    Kind kind = Kind::kNone;
    Caller* caller = nullptr;
    bool operator==(const Wake&) const = default;
  };
  // Starts connected (Connect() handshakes before the I/O thread runs), nobody reading.
  ReadSide() = default;

  Owner owner() const { return owner_; }
  bool Owns(const Caller* c) const { return owner_ == Owner::kCaller && caller_ == c; }
  bool connected() const { return connected_; }
  bool closing() const { return closing_; }
  bool hangup() const { return hangup_; }
  // The owning caller must give the side up (Yield) instead of reading on.
  bool MustYield() const { return closing_ || hangup_; }
  size_t queued() const { return queue_.size(); }

  // Caller `c` waits for its outcome: it owns the side afterwards if it was free, else queues.
  void CallerWaits(Caller* c);
  // Caller `c`'s outcome is in (any thread may report it): a queued `c` leaves the queue.
  [[nodiscard]] Wake Finished(Caller* c);
  // Caller `c`, back on its own thread with its outcome, leaves; an owner releases the side.
  [[nodiscard]] Wake Leave(Caller* c);
  // The owning caller gives the side up without its outcome (MustYield); it queues again.
  [[nodiscard]] Wake Yield(Caller* c);
  // The I/O thread finished a batch it read; it keeps the side or passes it on.
  [[nodiscard]] Wake IoRelease();
  // Whether the I/O thread has asynchronous work (responses or pushes to read).
  [[nodiscard]] Wake SetIoWork(bool has_work);
  // The connection broke (a read error, or the I/O thread saw the peer hang up).
  [[nodiscard]] Wake Hangup();
  // The I/O thread (owner) closed the broken connection / connected a new one.
  void Disconnected();
  void Connected();
  // Close(): no caller takes the side again; it goes to the I/O thread.
  [[nodiscard]] Wake Close();

 private:
  Wake Release();  // the side is free: picks the next owner
  Wake ToIo();     // the side is free and the I/O thread takes it
  void Dequeue(Caller* c);

  Owner owner_ = Owner::kNone;
  Caller* caller_ = nullptr;  // the owner when owner_ == kCaller
  std::deque<Caller*> queue_;
  bool connected_ = true;
  bool closing_ = false;
  bool hangup_ = false;
  bool io_work_ = false;
};

}  // namespace tldb
