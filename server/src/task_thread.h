// TaskThread: one thread that runs posted tasks in order, for server work that may block
// (catalog fsyncs, compaction) and so must never run on an event-loop thread.
//
// Contract: Post() is thread-safe and returns false once Stop() began (the task is dropped).
// Stop() lets the tasks already queued run (each task decides how fast it finishes, see
// CompactionJobs), then joins; it is idempotent and the destructor calls it.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace tldb::server {

class TaskThread {
 public:
  TaskThread();
  ~TaskThread();
  TaskThread(const TaskThread&) = delete;
  TaskThread& operator=(const TaskThread&) = delete;

  bool Post(std::function<void()> task);
  void Stop();

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

}  // namespace tldb::server
