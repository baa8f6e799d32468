// Kill points (issue 7, suite 3): a child process runs a workload of appends, fan-outs, recalls,
// trims, segment rolls, a TTL drop and a full compaction on a real disk, logging every
// acknowledgement to a ledger file, and is SIGKILLed at a named kill point. The parent reopens
// the store and checks it against the ledger: every acknowledged message is there with its
// payload, recalled and trimmed ones stay deleted, nothing appears that was not sent, SeqIds
// are never reused. Every point the workload reaches is tried (first and a later hit).
// A second phase covers shutdown and recovery: buffered appends left unsynced, a graceful Close
// (which flushes them), then the store is left with recovery work (index files removed, a torn
// tail after the active segment's last record) and reopened, so kills land while the process is
// closing the store and while it is rebuilding indexes and cutting/syncing the active segment.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/temp_dir.h"
#include "log/file_names.h"
#include "log/segment_scan.h"
#include "tldb/clock.h"
#include "tldb/db.h"
#include "util/kill_point.h"

namespace tldb {
namespace {

constexpr TimestampMs kT0 = 1'700'000'000'000;
constexpr uint64_t kDayMs = 24ull * 3600 * 1000;
constexpr int kBufferedTail = 300;  // phase 2: buffered appends to "b:0" (rolls a segment)
constexpr int kAfterReopen = 5;     // phase 2: synced appends to "b:0" after recovery

Options KillOptions(std::shared_ptr<ManualClock> clock) {
  Options o;
  o.clock = std::move(clock);
  o.io_backend = "posix";
  o.background_maintenance = false;
  o.compaction_bytes_per_s = 0;
  o.prezero = Options::Prezero::kInline;
  return o;
}

std::string PayloadOf(const std::string& tl, int i) {
  return tl + "#" + std::to_string(i) + std::string(200 + i % 300, 'k');
}

// Gives the next open of a closed namespace work to do: every index file is removed (rebuilt
// from its segment) and garbage follows the active segment's last record (a torn tail to cut).
void LeaveRecoveryWork(const std::string& ns_dir) {
  namespace fs = std::filesystem;
  std::string active;
  for (const auto& e : fs::directory_iterator(ns_dir)) {
    const std::string p = e.path().string();
    if (e.path().extension() == ".seg" && !fs::exists(fs::path(p).replace_extension(".idx")) &&
        p > active) {
      active = p;
    }
  }
  for (const auto& e : fs::directory_iterator(ns_dir)) {
    if (e.path().extension() == ".idx") fs::remove(e.path());
  }
  std::string image;
  {
    std::ifstream in(active, std::ios::binary);
    image.assign(std::istreambuf_iterator<char>(in), {});
  }
  const uint64_t id = std::stoull(fs::path(active).stem().string(), nullptr, 16);
  const uint64_t end = ScanSegment(image, id).valid_end;
  std::fstream out(active, std::ios::binary | std::ios::in | std::ios::out);
  out.seekp(static_cast<std::streamoff>(end));
  out << std::string(100, '\xA5');
  if (!out.good()) std::_Exit(11);
}

// The child: every acknowledged operation becomes one ledger line (write(2) survives SIGKILL).
void Workload(const std::string& dir, const std::string& ledger_path) {
  FILE* ledger = std::fopen(ledger_path.c_str(), "a");
  auto log = [&](const std::string& line) {
    std::fputs((line + "\n").c_str(), ledger);
    std::fflush(ledger);
  };
  auto clock = std::make_shared<ManualClock>(kT0);
  auto db = std::move(Db::Open(dir, KillOptions(clock)).value());
  NamespaceOptions n;
  n.segment_bytes_max = 64 << 10;
  if (!db->CreateNamespace("s", n).ok()) std::_Exit(3);
  n.ttl_ms = kDayMs;
  if (!db->CreateNamespace("sync", n).ok()) std::_Exit(3);
  for (int i = 0; i < 400; ++i) {
    const std::string tl = "c:" + std::to_string(i % 4);
    const std::string payload = PayloadOf(tl, i);
    auto r = db->Append("s", tl, payload);
    if (!r.ok()) std::_Exit(4);
    log("A " + tl + " " + std::to_string(r->seq) + " " + std::to_string(i));
    if (i % 50 == 25) {
      log("r " + tl + " " + std::to_string(r->seq - 3));  // intent: may take effect unacknowledged
      auto rc = db->Recall("s", tl, r->seq - 3);
      if (rc.ok()) log("R " + tl + " " + std::to_string(r->seq - 3));
    }
    if (i % 40 == 7) {
      std::vector<std::string_view> t = {"g:1", "g:2"};
      auto f = db->AppendFanout("s", t, PayloadOf("fan", i));
      if (f.ok()) {
        log("F g:1 " + std::to_string((*f)[0].seq) + " " + std::to_string(i));
        log("F g:2 " + std::to_string((*f)[1].seq) + " " + std::to_string(i));
      }
    }
    AppendOptions buffered;  // acknowledged once written, before any fdatasync
    buffered.durability = Durability::kBuffered;
    auto s = db->Append("sync", "inbox", PayloadOf("inbox", i), buffered);
    if (s.ok()) log("S inbox " + std::to_string(s->seq));
  }
  log("t c:0 10");
  if (db->Trim("s", "c:0", 10).ok()) log("T c:0 10");
  clock->Advance(2 * kDayMs);  // "sync" expires entirely
  if (!db->Compact("sync", {}).ok()) std::_Exit(5);
  CompactOptions full;
  full.full = true;
  if (!db->Compact("s", full).ok()) std::_Exit(6);
  // Phase 2: acknowledged but unsynced appends (a SIGKILL keeps the page cache, so they must
  // survive it), flushed by a graceful close.
  AppendOptions buffered;
  buffered.durability = Durability::kBuffered;
  for (int i = 0; i < kBufferedTail; ++i) {
    auto r = db->Append("s", "b:0", PayloadOf("b:0", i), buffered);
    if (!r.ok()) std::_Exit(7);
    log("A b:0 " + std::to_string(r->seq) + " " + std::to_string(i));
  }
  if (!db->Close().ok()) std::_Exit(8);
  db.reset();
  LeaveRecoveryWork(dir + "/ns/s");
  db = std::move(Db::Open(dir, KillOptions(clock)).value());
  for (int i = kBufferedTail; i < kBufferedTail + kAfterReopen; ++i) {
    auto r = db->Append("s", "b:0", PayloadOf("b:0", i));
    if (!r.ok()) std::_Exit(9);
    log("A b:0 " + std::to_string(r->seq) + " " + std::to_string(i));
  }
  if (!db->Close().ok()) std::_Exit(10);
  log("DONE");
  std::fclose(ledger);
}

// Returns the first violation of the ledger by the reopened store, or "".
std::string Check(const std::string& dir, const std::string& ledger_path) {
  auto clock = std::make_shared<ManualClock>(kT0 + 2 * kDayMs);
  auto opened = Db::Open(dir, KillOptions(clock));
  if (!opened.ok()) return "reopen failed: " + opened.status().ToString();
  Db* db = opened->get();
  std::map<std::string, std::map<Seq, std::string>> acked;  // tl -> seq -> payload
  std::map<std::string, std::set<Seq>> deleted;
  std::map<std::string, Seq> trimmed;
  std::map<std::string, std::set<Seq>> maybe_deleted;  // recalled or trimmed, not acknowledged
  std::map<std::string, Seq> maybe_trimmed;
  Seq inbox_last = 0;
  std::ifstream in(ledger_path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string op, tl;
    Seq seq = 0;
    int i = 0;
    ls >> op >> tl >> seq >> i;
    if (op == "A") acked[tl][seq] = PayloadOf(tl, i);
    if (op == "F") acked[tl][seq] = PayloadOf("fan", i);
    if (op == "R") deleted[tl].insert(seq);
    if (op == "T") trimmed[tl] = seq;
    if (op == "r") maybe_deleted[tl].insert(seq);
    if (op == "t") maybe_trimmed[tl] = seq;
    if (op == "S") inbox_last = seq;
  }
  std::set<std::string> sent_payloads;
  for (int i = 0; i < 400; ++i) {
    sent_payloads.insert(PayloadOf("c:" + std::to_string(i % 4), i));
    sent_payloads.insert(PayloadOf("fan", i));
  }
  for (int i = 0; i < kBufferedTail + kAfterReopen; ++i) sent_payloads.insert(PayloadOf("b:0", i));
  for (const auto& [tl, msgs] : acked) {
    for (const auto& [seq, payload] : msgs) {
      const bool gone = deleted[tl].contains(seq) || (trimmed.contains(tl) && seq < trimmed[tl]);
      auto g = db->Get("s", tl, seq);
      const bool maybe = maybe_deleted[tl].contains(seq) ||
                         (maybe_trimmed.contains(tl) && seq < maybe_trimmed[tl]);
      if (!gone && maybe && g.status().code() == Status::Code::kDeleted) continue;
      if (gone) {
        if (g.status().code() != Status::Code::kDeleted)
          return tl + "/" + std::to_string(seq) + " came back";
      } else if (!g.ok() || g->payload != payload) {
        return tl + "/" + std::to_string(seq) + " lost: " + g.status().ToString();
      }
    }
    ScanOptions all;
    all.limit = 100000;
    auto s = db->Scan("s", tl, all);
    if (!s.ok()) return tl + ": " + s.status().ToString();
    for (size_t k = 0; k < s->size(); ++k) {
      if (k > 0 && (*s)[k].seq <= (*s)[k - 1].seq) return tl + ": SeqIds not increasing";
      if (!sent_payloads.contains((*s)[k].payload)) return tl + ": a message never sent";
    }
  }
  if (inbox_last == 0) return "";  // killed before the first "sync" append was acknowledged
  auto next = db->Append("sync", "inbox", "after");
  if (!next.ok()) return "append after restart failed: " + next.status().ToString();
  if (next->seq <= inbox_last) return "inbox SeqId reused after the TTL drop";
  return "";
}

TEST(KillPointTest, EveryReachedPointRecovers) {
  // Dry run: which points does the workload reach, and how often?
  std::map<std::string, uint64_t> hits;
  {
    common::TempDir tmp;
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      TraceKillPoints();
      Workload(tmp.path() + "/db", tmp.path() + "/ledger");
      FILE* f = std::fopen((tmp.path() + "/hits").c_str(), "w");
      for (const auto& [name, n] : KillPointHits())
        std::fprintf(f, "%s %llu\n", name.c_str(), static_cast<unsigned long long>(n));
      std::fclose(f);
      std::_Exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "dry run failed: " << status;
    std::ifstream in(tmp.path() + "/hits");
    std::string name;
    uint64_t n;
    while (in >> name >> n) hits[name] = n;
    EXPECT_EQ(Check(tmp.path() + "/db", tmp.path() + "/ledger"), "");
  }
  // The test suite kills at the middle hit of each point (the last of a recovery point);
  // TLDB_KILL_SWEEP=full at the first, middle and last.
  const char* sweep = std::getenv("TLDB_KILL_SWEEP");
  const bool full = sweep != nullptr && std::string(sweep) == "full";
  uint64_t kills = 0;
  for (const auto& [name, n] : hits) {
    // Recovery points are also hit when the namespaces are created (an empty directory is
    // "recovered"); their last hit is in the reopen that has work to do.
    const uint64_t ci_nth = name.starts_with("recover.") ? n : (n + 1) / 2;
    const std::set<uint64_t> which =
        full ? std::set<uint64_t>{1, (n + 1) / 2, n} : std::set<uint64_t>{ci_nth};
    for (uint64_t nth : which) {
      common::TempDir tmp;
      const pid_t pid = fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        ArmKillPoint(name, nth);
        Workload(tmp.path() + "/db", tmp.path() + "/ledger");
        std::_Exit(0);
      }
      int status = 0;
      waitpid(pid, &status, 0);
      ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
          << name << " hit " << nth << " did not kill the child: " << status;
      ++kills;
      ASSERT_EQ(Check(tmp.path() + "/db", tmp.path() + "/ledger"), "")
          << "killed at " << name << " hit " << nth;
    }
  }
  size_t reached = hits.size();
  std::printf("kill points: %zu of %zu reached, %llu kills, 0 violations\n", reached,
              KillPointNames().size(), static_cast<unsigned long long>(kills));
  for (std::string_view name : KillPointNames()) {
    auto it = hits.find(std::string(name));
    std::printf("  %.*s: %llu hits in the dry run\n", static_cast<int>(name.size()), name.data(),
                static_cast<unsigned long long>(it == hits.end() ? 0 : it->second));
  }
  EXPECT_EQ(reached, KillPointNames().size());
}

}  // namespace
}  // namespace tldb
