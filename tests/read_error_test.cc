// A disk read error under a sealed segment is a Status, not a crash (engine/src/io/
// map_fault_registry.h): the requests that touch the bad data answer IOError, everything else
// keeps being served. Three ways to fail a read: a mapping cut short under the process (a real
// SIGBUS, on every machine), the simulated backend's FailReads, and a device-mapper `error`
// target under the segment's blocks (root with loop devices and dmsetup; skipped, saying why,
// elsewhere).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/temp_dir.h"
#include "io/map_fault_registry.h"
#include "io/sim_file_system.h"
#include "tldb/db.h"
#include "tldb/file_system.h"

namespace tldb {
namespace {

namespace fs = std::filesystem;

constexpr size_t kPage = 4096;

void WriteFile(const std::string& path, size_t bytes, char fill) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << std::string(bytes, fill);
}

TEST(MapFaultRegistryTest, AFaultUnderARegisteredMappingReadsZerosAndIsCounted) {
  common::TempDir tmp;
  const std::string path = tmp.path() + "/f";
  WriteFile(path, 3 * kPage, 'x');
  auto fsys = NewFileSystem("posix").value();
  auto m = fsys->Map(path).value();
  ASSERT_EQ(m->data().size(), 3 * kPage);
  EXPECT_FALSE(m->failed());
  EXPECT_EQ(m->data()[2 * kPage], 'x');
  ASSERT_EQ(::truncate(path.c_str(), kPage), 0);  // pages 1 and 2 now fault (SIGBUS)
  MapFaultScope scope;
  volatile const char* p = m->data().data();
  EXPECT_EQ(p[0], 'x');  // still backed by the file
  EXPECT_FALSE(scope.Faulted());
  EXPECT_EQ(p[2 * kPage + 7], 0);  // the fault: a page of zeros instead of a crash
  EXPECT_TRUE(scope.Faulted());
  EXPECT_TRUE(m->failed());
  EXPECT_EQ(MapFaultRegistry::ThreadFaults() > 0, true);
}

TEST(MapFaultRegistryDeathTest, AFaultElsewhereStillKillsTheProcess) {
  common::TempDir tmp;
  const std::string path = tmp.path() + "/g";
  WriteFile(path, 2 * kPage, 'y');
  auto fsys = NewFileSystem("posix").value();
  auto registered = fsys->Map(path).value();  // installs the handler
  EXPECT_DEATH(
      {
        const int fd = ::open(path.c_str(), O_RDONLY);
        void* raw = ::mmap(nullptr, 2 * kPage, PROT_READ, MAP_SHARED, fd, 0);
        if (::truncate(path.c_str(), 0) != 0) std::abort();
        volatile const char* q = static_cast<const char*>(raw);
        std::printf("%d\n", q[kPage]);  // not registered: SIGBUS keeps its default action
      },
      "");
}

// A store on `fsys` at `dir` with small segments: timeline "old" sealed early, "new" active.
std::unique_ptr<Db> OpenStore(std::shared_ptr<FileSystem> fsys, const std::string& dir) {
  Options o;
  o.file_system = std::move(fsys);
  o.background_maintenance = false;
  auto db = std::move(Db::Open(dir, o).value());
  NamespaceOptions ns;
  ns.segment_bytes_max = kSegmentBytesMin;
  EXPECT_TRUE(db->CreateNamespace("store", ns).ok());
  return db;
}

void Fill(Db* db) {
  const std::string payload(200, 'p');
  for (int i = 0; i < 400; ++i) ASSERT_TRUE(db->Append("store", "old", payload).ok());
  for (int i = 0; i < 400; ++i) ASSERT_TRUE(db->Append("store", "mid", payload).ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(db->Append("store", "new", payload).ok());
}

// The sealed segment files holding the first messages of "old": the lowest-numbered one.
std::string FirstSegment(const std::string& dir) {
  std::vector<std::string> segs;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.path().extension() == ".seg") segs.push_back(e.path().string());
  }
  std::sort(segs.begin(), segs.end());
  return segs.empty() ? "" : segs.front();
}

// `seq` and seq + 1 of "old" lie in the bad part of its first segment.
void ExpectOnlyTheBadSegmentFails(Db* db, Seq seq = 1) {
  auto bad = db->Get("store", "old", seq);
  ASSERT_EQ(bad.status().code(), Status::Code::kIOError) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("disk read error"), std::string::npos);
  ScanOptions forward;
  forward.from_seq = seq;
  forward.limit = 50;
  EXPECT_EQ(db->Scan("store", "old", forward).status().code(), Status::Code::kIOError);
  EXPECT_EQ(db->ScanVisit("store", "old", forward, [](const MessageView&) {}).status().code(),
            Status::Code::kIOError);
  // Again, now that the segment is known to be bad: still IOError, never stale or zero data.
  EXPECT_EQ(db->Get("store", "old", seq + 1).status().code(), Status::Code::kIOError);
  // Everything else is served.
  EXPECT_EQ(db->Get("store", "new", 5)->payload, std::string(200, 'p'));
  EXPECT_EQ(db->Get("store", "mid", 400)->payload, std::string(200, 'p'));
  auto r = db->Append("store", "new", "after");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->seq, 6u);
}

TEST(ReadErrorTest, ACutMappingAnswersIOErrorAndTheRestIsServed) {
  common::TempDir tmp;
  const std::string dir = tmp.path() + "/db";
  auto db = OpenStore(NewFileSystem("posix").value(), dir);
  Fill(db.get());
  const std::string seg = FirstSegment(dir);
  ASSERT_FALSE(seg.empty());
  ASSERT_EQ(db->Get("store", "old", 1)->payload, std::string(200, 'p'));
  ASSERT_EQ(::truncate(seg.c_str(), 0), 0);  // every page of its mapping now faults
  ExpectOnlyTheBadSegmentFails(db.get());
  ASSERT_TRUE(db->Close().ok());
}

TEST(ReadErrorTest, SimulatedReadFailureAnswersIOError) {
  auto sim = std::make_shared<SimFileSystem>();
  auto db = OpenStore(sim, "/db");
  Fill(db.get());
  // The namespace's first segment: found through the simulated listing.
  std::string first;
  std::function<void(const std::string&)> walk = [&](const std::string& d) {
    auto names = sim->ListDir(d);
    if (!names.ok()) return;
    for (const std::string& n : *names) {
      const std::string p = d + "/" + n;
      if (p.size() > 4 && p.substr(p.size() - 4) == ".seg" && (first.empty() || p < first)) {
        first = p;
      }
      walk(p);
    }
  };
  walk("/db");
  ASSERT_FALSE(first.empty());
  sim->FailReads(first);
  ExpectOnlyTheBadSegmentFails(db.get());
  ASSERT_TRUE(db->Close().ok());
}

// At open, the active segment is scanned through a mapping: a read error there reads as zeros,
// which look like prepared space (a torn tail, or a segment whose header never became
// durable). Open must answer IOError and leave the file as it was, never cut it.
TEST(ReadErrorTest, AnUnreadableActiveSegmentAtOpenIsAnIOErrorAndIsNotCut) {
  auto sim = std::make_shared<SimFileSystem>();
  auto db = OpenStore(sim, "/db");
  Fill(db.get());
  ASSERT_TRUE(db->Close().ok());
  db.reset();
  std::string last;  // the active segment: the highest-numbered one
  std::function<void(const std::string&)> walk = [&](const std::string& d) {
    auto names = sim->ListDir(d);
    if (!names.ok()) return;
    for (const std::string& n : *names) {
      const std::string p = d + "/" + n;
      if (p.size() > 4 && p.substr(p.size() - 4) == ".seg" && p > last) last = p;
      walk(p);
    }
  };
  walk("/db");
  ASSERT_FALSE(last.empty());
  const std::string before = sim->GetFileData(last).value();
  sim->FailReads(last);
  Options o;
  o.file_system = sim;
  o.background_maintenance = false;
  auto reopened = Db::Open("/db", o);
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), Status::Code::kIOError) << reopened.status().ToString();
  EXPECT_EQ(sim->GetFileData(last).value(), before) << "the unreadable segment was changed";
}

// A real failing device: a loop device under device-mapper, an ext4 on it, the store on that;
// then the table is switched so that the blocks of one sealed segment return EIO.
class DeviceMapperTest : public ::testing::Test {
 protected:
  static int Sh(const std::string& cmd) {
    return std::system(("{ " + cmd + "; } >/dev/null 2>&1").c_str());
  }
  void TearDown() override {
    if (!mnt_.empty()) Sh("umount -l " + mnt_);
    if (mapped_) Sh("dmsetup remove -f " + name_);
    if (!loop_.empty()) Sh("losetup -d " + loop_);
  }
  common::TempDir tmp_;
  std::string loop_, mnt_, name_ = "tldb-read-error-" + std::to_string(::getpid());
  bool mapped_ = false;
};

TEST_F(DeviceMapperTest, AnEIODeviceUnderASealedSegmentAnswersIOError) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (loop devices, device-mapper)";
  if (Sh("command -v dmsetup && command -v losetup && command -v mkfs.ext4 && "
         "command -v filefrag") != 0) {
    GTEST_SKIP() << "dmsetup, losetup, mkfs.ext4 or filefrag missing";
  }
  const std::string img = tmp_.path() + "/disk.img";
  WriteFile(img, 0, 0);
  ASSERT_EQ(Sh("truncate -s 64M " + img), 0);
  FILE* p = ::popen(("losetup -f --show " + img + " 2>/dev/null").c_str(), "r");
  char buf[256] = {};
  if (p == nullptr || std::fgets(buf, sizeof buf, p) == nullptr) {
    if (p) ::pclose(p);
    GTEST_SKIP() << "no loop device available here";
  }
  ::pclose(p);
  loop_ = std::string(buf);
  loop_.erase(loop_.find_last_not_of("\n ") + 1);
  const std::string sectors = "131072";  // 64 MiB / 512
  if (Sh("echo '0 " + sectors + " linear " + loop_ + " 0' | dmsetup create " + name_) != 0) {
    GTEST_SKIP() << "device-mapper is not available in this kernel (dmsetup create failed)";
  }
  mapped_ = true;
  const std::string dev = "/dev/mapper/" + name_;
  ASSERT_EQ(Sh("mkfs.ext4 -q -F " + dev), 0);
  mnt_ = tmp_.path() + "/mnt";
  fs::create_directories(mnt_);
  if (Sh("mount " + dev + " " + mnt_) != 0) {
    mnt_.clear();
    GTEST_SKIP() << "mount refused here";
  }
  const std::string dir = mnt_ + "/db";
  {
    auto db = OpenStore(NewFileSystem("posix").value(), dir);
    Fill(db.get());
    ASSERT_TRUE(db->Close().ok());
  }
  const std::string seg = FirstSegment(dir);
  ASSERT_FALSE(seg.empty());
  // The segment's physical extents (4 KiB blocks) from filefrag, as sector ranges.
  FILE* ff = ::popen(("filefrag -e -b4096 " + seg).c_str(), "r");
  ASSERT_NE(ff, nullptr);
  std::vector<std::pair<uint64_t, uint64_t>> bad;  // (first sector, sectors)
  char line[512];
  while (std::fgets(line, sizeof line, ff) != nullptr) {
    unsigned long long lstart, lend, pstart, pend, len;
    if (std::sscanf(line, " %*d: %llu.. %llu: %llu.. %llu: %llu", &lstart, &lend, &pstart, &pend,
                    &len) == 5) {
      bad.push_back({pstart * 8, len * 8});
    }
  }
  ::pclose(ff);
  ASSERT_FALSE(bad.empty()) << "filefrag listed no extent of " << seg;
  std::sort(bad.begin(), bad.end());
  // The segment's first block (its header, read when the store opens) stays readable.
  ASSERT_GT(bad.front().second, 8u);
  bad.front().first += 8;
  bad.front().second -= 8;
  std::string table;
  uint64_t at = 0;
  for (const auto& [start, n] : bad) {
    if (start > at) {
      table += std::to_string(at) + " " + std::to_string(start - at) + " linear " + loop_ + " " +
               std::to_string(at) + "\n";
    }
    table += std::to_string(start) + " " + std::to_string(n) + " error\n";
    at = start + n;
  }
  table += std::to_string(at) + " " + std::to_string(131072 - at) + " linear " + loop_ + " " +
           std::to_string(at) + "\n";
  std::ofstream(tmp_.path() + "/table") << table;
  ASSERT_EQ(Sh("sync; echo 3 > /proc/sys/vm/drop_caches"), 0);
  ASSERT_EQ(Sh("dmsetup load " + name_ + " " + tmp_.path() + "/table && dmsetup resume " + name_),
            0);
  ASSERT_EQ(Sh("echo 3 > /proc/sys/vm/drop_caches"), 0);
  Options o;
  o.file_system = NewFileSystem("posix").value();
  o.background_maintenance = false;
  auto db = Db::Open(dir, o);
  ASSERT_TRUE(db.ok()) << db.status().ToString();  // the index is readable: it opens
  ExpectOnlyTheBadSegmentFails(db->get(), 200);    // 200 x 230 bytes: well past the first block
  (void)(*db)->Close();
}

}  // namespace
}  // namespace tldb
