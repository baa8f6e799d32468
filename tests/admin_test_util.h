// The fixture shared by the admin tests (admin_*_test.cc): stores generated with Db::Open
// (POSIX backend, 64 KiB segments), plain and after maintenance and compaction, the helpers that
// read and damage their files, and the real `tldb` binary (TLDB_CLI_BINARY) for exit codes.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "admin/base64.h"
#include "admin/data_dir.h"
#include "admin/dump.h"
#include "admin/export.h"
#include "admin/export_line.h"
#include "admin/import.h"
#include "admin/inspect.h"
#include "admin/json_text.h"
#include "admin/repair.h"
#include "admin/verify.h"
#include "common/temp_dir.h"
#include "index/index_file.h"
#include "index/index_model.h"
#include "index/segment_index.h"
#include "log/segment_file.h"
#include "tldb/clock.h"
#include "tldb/db.h"
#include "tldb/file_system.h"
#include "tldb/server.h"
#include "util/checksum.h"
#include "util/coding.h"

namespace tldb::admin {

namespace fsys = std::filesystem;

// Runs `fn` on a thread of its own. The engine keeps the block a thread read last in a
// thread_local (`last_block`, engine/src/store/namespace_read.cc) keyed by namespace id,
// generation, segment id and block start only: a thread that read a compacted segment of one
// store gets that block back when it reads another store's segment with the same key (every
// store here has namespace id 1 and a first output 1-1). Reported as an engine bug; until it is
// fixed, tests that go through the engine on compacted segments use fresh threads so that they
// do not depend on test order.
inline void OnFreshThread(const std::function<void()>& fn) {
  std::thread t(fn);
  t.join();
}

class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path() + "/db";
    fs_ = NewPosixFileSystem();
    MakeStore(dir_);
  }

  // No background maintenance: the fixture's segments stay plain (generation 0) unless a test
  // compacts them on purpose (MakeMaintainedStore).
  Options DbOptions() {
    Options o;
    o.io_backend = "posix";
    o.clock = clock_;
    o.background_maintenance = false;
    return o;
  }

  // Three conversations, fan-outs to three inboxes, client_msg_ids, a binary payload, and a
  // second namespace: enough 700-byte messages to seal several 64 KiB segments.
  void MakeStore(const std::string& dir) {
    auto db = Db::Open(dir, DbOptions());
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    NamespaceOptions small;
    small.segment_bytes_max = 64 << 10;
    ASSERT_TRUE((*db)->CreateNamespace("store", small).ok());
    ASSERT_TRUE((*db)->CreateNamespace("sync", small).ok());
    const std::string filler(700, 'x');
    for (int i = 1; i <= 300; ++i) {
      clock_->Advance(1000);
      AppendOptions ao;
      const std::string cmid = "m" + std::to_string(i);
      if (i % 3 == 0) ao.client_msg_id = cmid;
      const std::string conv = "conv:" + std::to_string(i % 3);
      std::string payload = "hello " + std::to_string(i) + " " + filler;
      if (i == 7) payload = std::string("\x00\x01\xff binary", 10);
      ASSERT_TRUE((*db)->Append("store", conv, payload, ao).ok());
      ++messages_;
      if (i % 10 == 0) {
        std::vector<std::string_view> inboxes = {"inbox:a", "inbox:b", "inbox:c"};
        AppendOptions fo;
        const std::string fan_cmid = "f" + std::to_string(i);  // client_msg_id is a view
        fo.client_msg_id = fan_cmid;
        ASSERT_TRUE((*db)->AppendFanout("store", inboxes, "fan " + std::to_string(i), fo).ok());
        messages_ += 3;
      }
    }
    ASSERT_TRUE((*db)->Append("sync", "device:1", "sync one").ok());
    ++messages_;
    ASSERT_TRUE((*db)->Close().ok());
  }

  std::string Seg(uint64_t id) const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "/%016llx.seg", static_cast<unsigned long long>(id));
    return dir_ + "/ns/store" + buf;
  }
  std::string Idx(uint64_t id) const { return Seg(id).substr(0, Seg(id).size() - 3) + "idx"; }

  std::string Read(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
  }
  void Write(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << bytes;
  }

  // Offset of the n-th record of a segment.
  uint64_t RecordOffset(uint64_t seg, int n) {
    auto f = LoadSegmentFile(*fs_, Seg(seg), seg, true);
    EXPECT_TRUE(f.ok());
    uint64_t found = 0;
    int i = 0;
    f->ForEachRecord([&](uint64_t off, const RecordView&) {
      if (i++ == n) found = off;
    });
    return found;
  }

  std::string ActivePath() {
    StoreLayout layout = *ReadStoreLayout(*fs_, dir_);
    for (const auto& s : layout.Find("store")->segments) {
      if (s.active) return s.path;
    }
    return "";
  }

  VerifyReport MustVerify(const std::string& dir) {
    auto r = Verify(*fs_, dir, {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : VerifyReport{};
  }

  std::string ExportOf(const std::string& dir) {
    std::ostringstream out;
    uint64_t n = 0;
    Status s = ExportDir(*fs_, dir, {}, out, &n);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out.str();
  }

  bool HasProblem(const VerifyReport& r, const std::string& file, uint64_t offset,
                  const std::string& text) {
    for (const auto& p : r.problems) {
      if (p.file == file && p.offset == offset && p.what.find(text) != std::string::npos) {
        return true;
      }
    }
    return false;
  }

  std::string Problems(const VerifyReport& r) {
    std::ostringstream out;
    PrintVerifyReport(r, false, out);
    return out.str();
  }

  // A store that went through maintenance (namespace "chat", 64 KiB segments): conversations,
  // fan-outs, recall/edit/trim/delete-timeline, a full compaction into compressed segments, then
  // more appends with a recall and an edit of messages that now live in the compressed output.
  void MakeMaintainedStore(const std::string& dir) {
    OnFreshThread([&] { MakeMaintainedStoreHere(dir); });
  }
  void MakeMaintainedStoreHere(const std::string& dir) {
    Options o = DbOptions();
    o.background_maintenance = false;
    o.compaction_bytes_per_s = 0;
    auto db = Db::Open(dir, o);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    NamespaceOptions small;
    small.segment_bytes_max = 64 << 10;
    small.durability = Durability::kBuffered;  // fast to build; Close() syncs
    ASSERT_TRUE((*db)->CreateNamespace("chat", small).ok());
    const std::string filler(600, 'y');
    auto append = [&](int from, int to) {
      for (int i = from; i <= to; ++i) {
        clock_->Advance(1000);
        const std::string conv = std::string("conv:") + static_cast<char>('a' + i % 3);
        ASSERT_TRUE((*db)->Append("chat", conv, "msg " + std::to_string(i) + " " + filler).ok());
        if (i <= 5) {
          ASSERT_TRUE((*db)->Append("chat", "gone", "bye " + std::to_string(i)).ok());
        }
        if (i % 25 == 0) {
          std::vector<std::string_view> inboxes = {"inbox:y", "inbox:x"};
          ASSERT_TRUE((*db)->AppendFanout("chat", inboxes, "fan " + std::to_string(i)).ok());
        }
      }
    };
    append(1, 300);
    ASSERT_TRUE((*db)->Recall("chat", "conv:a", 5).ok());
    ASSERT_TRUE((*db)->Edit("chat", "conv:a", 7, "edited seven").ok());
    ASSERT_TRUE((*db)->Trim("chat", "conv:b", 10).ok());
    ASSERT_TRUE((*db)->DeleteTimeline("chat", "gone").ok());
    append(301, 450);  // seals the segment holding the maintenance records
    auto c = (*db)->Compact("chat", {.full = true});
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ASSERT_GT(c->records_dropped, 0u);
    ASSERT_TRUE((*db)->Recall("chat", "conv:a", 20).ok());
    ASSERT_TRUE((*db)->Edit("chat", "conv:a", 30, "edited thirty").ok());
    append(451, 650);  // seals that recall and edit too
    ASSERT_TRUE((*db)->Close().ok());
  }

  std::string ChatDir() const { return tmp_.path() + "/chat"; }

  // The compaction output (generation > 0) of namespace chat.
  SegmentRef Compressed(const std::string& dir) {
    StoreLayout layout = *ReadStoreLayout(*fs_, dir);
    for (const auto& s : layout.Find("chat")->segments) {
      if (s.gen > 0) return s;
    }
    ADD_FAILURE() << "no compaction output in " << dir;
    return {};
  }

  // What the engine serves for every timeline of namespace chat, in export format.
  std::map<std::string, std::string> ServedByEngine(const std::string& dir) {
    std::map<std::string, std::string> out;
    OnFreshThread([&] { ServedByEngineHere(dir, &out); });
    return out;
  }
  void ServedByEngineHere(const std::string& dir, std::map<std::string, std::string>* served) {
    std::map<std::string, std::string>& out = *served;
    auto db = Db::Open(dir, DbOptions());
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    if (!db.ok()) return;
    for (const char* t : {"conv:a", "conv:b", "conv:c", "inbox:x", "inbox:y", "gone"}) {
      ScanOptions so;
      so.limit = 1000;
      auto page = (*db)->Scan("chat", t, so);
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) continue;
      for (const Message& m : *page) {
        out[t] +=
            FormatExportLine("chat", t, m.seq, m.timestamp_ms, m.client_msg_id, m.payload) + "\n";
      }
    }
  }

  std::map<std::string, std::string> ExportedByTimeline(const std::string& dir) {
    std::map<std::string, std::string> out;
    std::istringstream in(ExportOf(dir));
    for (std::string line; std::getline(in, line);) {
      auto l = ParseExportLine(line);
      EXPECT_TRUE(l.ok()) << line;
      if (l.ok()) out[l->timeline] += line + "\n";
    }
    return out;
  }

  common::TempDir tmp_;
  std::string dir_;
  std::shared_ptr<FileSystem> fs_;
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>(1'700'000'000'000);
  uint64_t messages_ = 0;
};

// Runs the `tldb` binary with `args`, output discarded; its exit code.
inline int RunCli(const std::string& args) {
  const std::string cmd = std::string(TLDB_CLI_BINARY) + " " + args + " >/dev/null 2>&1";
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace tldb::admin
