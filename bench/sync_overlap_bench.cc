// Does the disk overlap an fdatasync in flight with the next group's write and fdatasync on the
// SAME file (one inode, as a segment is)? The group commit's pipelining (docs/design.md
// "Pipelined groups") only wins if it does.
//
// One writer appends groups of `bytes` sequentially to one file whose blocks are already written
// and synced (as a pre-zeroed segment). Each group is pwrite'd, then handed to one of `inflight`
// sync threads that fdatasyncs it; the writer writes the next group as soon as fewer than
// `inflight` groups are syncing. inflight = 1 is today's group commit (write, fdatasync, next).
// Prints groups per second (each group = one pwrite + one fdatasync that returned after it).
//
// Usage: sync_overlap_bench DIR [seconds=3] [bytes=4096] [inflight list, default "1,2,3,4"]
//        [repeats=3]. Alternates the inflight values, repeats them, prints each run.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr uint64_t kFileBytes = 256ull << 20;  // 256 MiB: never wraps within a few seconds

double Run(int fd, double seconds, size_t bytes, int inflight) {
  std::mutex mu;
  std::condition_variable cv;
  int syncing = 0;       // groups written and not yet synced
  uint64_t to_sync = 0;  // groups handed to the sync threads, not yet taken
  uint64_t synced = 0;   // fdatasyncs that returned OK
  bool stop = false;
  std::vector<std::thread> syncers;
  for (int i = 0; i < inflight; ++i) {
    syncers.emplace_back([&] {
      std::unique_lock l(mu);
      for (;;) {
        cv.wait(l, [&] { return to_sync > 0 || stop; });
        if (to_sync == 0) return;
        --to_sync;
        l.unlock();
        if (::fdatasync(fd) != 0) std::abort();
        l.lock();
        ++synced;
        --syncing;
        cv.notify_all();
      }
    });
  }
  std::string buf(bytes, 'x');
  uint64_t off = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const auto until = t0 + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    {
      std::unique_lock l(mu);
      cv.wait(l, [&] { return syncing < inflight; });
    }
    if (off + bytes > kFileBytes) off = 0;
    if (::pwrite(fd, buf.data(), bytes, static_cast<off_t>(off)) != static_cast<ssize_t>(bytes)) {
      std::abort();
    }
    off += bytes;
    std::lock_guard l(mu);
    ++syncing;
    ++to_sync;
    cv.notify_all();
  }
  {
    std::unique_lock l(mu);
    cv.wait(l, [&] { return syncing == 0; });
    stop = true;
    cv.notify_all();
  }
  for (auto& t : syncers) t.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<double>(synced) / secs;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [seconds] [bytes] [inflight,list] [repeats]\n", argv[0]);
    return 2;
  }
  const std::string path = std::string(argv[1]) + "/sync_overlap.dat";
  const double seconds = argc > 2 ? std::atof(argv[2]) : 3.0;
  const size_t bytes = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 4096;
  std::vector<int> inflight;
  std::stringstream list(argc > 4 ? argv[4] : "1,2,3,4");
  for (std::string item; std::getline(list, item, ',');) inflight.push_back(std::stoi(item));
  const int repeats = argc > 5 ? std::atoi(argv[5]) : 3;

  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    std::perror("open");
    return 1;
  }
  {  // pre-write the blocks so fdatasync does not journal a size or extent change
    std::string zeros(1 << 20, '\0');
    for (uint64_t o = 0; o < kFileBytes; o += zeros.size()) {
      if (::pwrite(fd, zeros.data(), zeros.size(), static_cast<off_t>(o)) < 0) return 1;
    }
    ::fsync(fd);
  }
  for (int r = 0; r < repeats; ++r) {
    for (int k : inflight) {
      std::printf("run %d inflight %d bytes %zu: %.0f groups/s\n", r, k, bytes,
                  Run(fd, seconds, bytes, k));
      std::fflush(stdout);
    }
  }
  ::close(fd);
  ::unlink(path.c_str());
  return 0;
}
