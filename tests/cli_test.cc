// The `tldb` and `tldb-server` binaries end to end: CLI subcommands against a running server,
// and the server binary's start, SIGTERM stop and protected mode.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "server_test_util.h"

namespace tldb::testing {
namespace {

using namespace std::chrono_literals;
using proto::ErrorCode;
using proto::Op;

std::string RunCli(const std::string& args, int* rc = nullptr) {
  return RunShell(std::string(TLDB_CLI_PATH) + " " + args + " 2>&1", rc);
}

TEST(CliTest, SubcommandsAgainstARunningServer) {
  TestServer ts;
  std::string s = "--server " + ts.address() + " --ns store --timeline conv:cli";
  int rc = 0;
  EXPECT_EQ(RunCli("append " + s + " 'hello'", &rc), "conv:cli seq 1\n");
  EXPECT_EQ(rc, 0);
  EXPECT_NE(RunCli("append " + s + " --json --id abc 'world'").find("\"seq\":2"),
            std::string::npos);
  EXPECT_NE(RunCli("append " + s + " --id abc 'world'").find("deduplicated"), std::string::npos);
  // The id reused for another payload: refused, with the code's name and the holder's seq.
  std::string reused = RunCli("append " + s + " --id abc 'changed'", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(reused.find("ClientMsgIdReused"), std::string::npos) << reused;
  EXPECT_NE(reused.find("at seq 2"), std::string::npos) << reused;
  EXPECT_NE(RunCli("get " + s + " 1").find("hello"), std::string::npos);
  std::string scan = RunCli("scan " + s + " --latest 20 --json");
  EXPECT_NE(scan.find("{\"seq\":1,"), std::string::npos);
  EXPECT_NE(scan.find("\"client_msg_id\":\"abc\",\"payload\":\"world\""), std::string::npos);
  EXPECT_EQ(RunCli("last " + s), "conv:cli\t2\n");
  EXPECT_NE(RunCli("ping " + s).find("PONG"), std::string::npos);
  EXPECT_NE(RunCli("stats " + s).find("ops_append"), std::string::npos);
  EXPECT_NE(RunCli("ns create clins " + s + " --ttl-ms 5000").find("created"), std::string::npos);
  EXPECT_NE(RunCli("ns list " + s).find("clins"), std::string::npos);
  EXPECT_NE(RunCli("ns describe clins " + s + " --json").find("\"ttl_ms\":5000"),
            std::string::npos);
  // --compact-live-pct 0 asks for the default.
  EXPECT_NE(RunCli("ns create clins0 " + s + " --compact-live-pct 0").find("created"),
            std::string::npos);
  EXPECT_NE(RunCli("ns describe clins0 " + s + " --json").find("\"compact_live_pct\":50"),
            std::string::npos);
  EXPECT_EQ(RunCli("cursor set --device d1 " + s + " 1"), "cursor 1\n");
  EXPECT_NE(RunCli("cursor get --device d1 " + s + " --json").find("\"unread\":1"),
            std::string::npos);
  // tail -f: follows a message appended after it started. The append waits until tail has
  // printed the newest message (it follows from that message on, so an append after that line
  // cannot be missed), however long a loaded machine takes to start it; tail exits after the
  // one new message (--duration-ms only bounds a broken run).
  FILE* tail = ::popen((std::string(TLDB_CLI_PATH) + " tail -f -n 1 --exit-after 1 " +
                        "--duration-ms 60000 " + s + " 2>&1")
                           .c_str(),
                       "r");
  ASSERT_NE(tail, nullptr);
  std::string followed;
  char line[4096];
  while (followed.find("world") == std::string::npos && std::fgets(line, sizeof line, tail)) {
    followed += line;
  }
  EXPECT_NE(followed.find("world"), std::string::npos) << followed;
  RunCli("append " + s + " 'live'");
  while (std::fgets(line, sizeof line, tail)) followed += line;
  const int tail_status = ::pclose(tail);
  EXPECT_TRUE(WIFEXITED(tail_status) && WEXITSTATUS(tail_status) == 0) << followed;
  EXPECT_NE(followed.find("live"), std::string::npos) << followed;
  // Errors: non-zero exit and a message.
  std::string err = RunCli("get " + s + " 99", &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(err.find("NotFound"), std::string::npos);
}

TEST(CliTest, PullReadsSeveralTimelinesInOneRequestAndWaits) {
  TestServer ts;
  std::string s = "--server " + ts.address() + " --ns store";
  for (const char* p : {"a1", "a2", "a3"}) RunCli("append " + s + " --timeline p:a " + p);
  RunCli("append " + s + " --timeline p:b b1");
  int rc = 0;
  std::string json = RunCli("pull " + s + " p:a=1 p:b p:none --json", &rc);
  EXPECT_EQ(rc, 0) << json;
  EXPECT_NE(json.find("{\"timeline\":\"p:a\",\"last_seq\":3,\"more\":false,\"messages\":[{"
                      "\"seq\":2,"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"payload\":\"a3\""), std::string::npos) << json;
  EXPECT_EQ(json.find("\"payload\":\"a1\""), std::string::npos) << json;  // after_seq 1
  EXPECT_NE(json.find("\"timeline\":\"p:b\",\"last_seq\":1,\"more\":false,\"messages\":[{"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("{\"timeline\":\"p:none\",\"last_seq\":0,\"more\":false,\"messages\":[]}"),
            std::string::npos)
      << json;
  std::string text = RunCli("pull " + s + " p:a p:b --limit 1", &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(text.find("p:a\tlast=3\tmessages=1\tmore"), std::string::npos) << text;
  EXPECT_NE(text.find("p:b\tlast=1\tmessages=1\n"), std::string::npos) << text;
  // --wait-ms: WAIT with messages on one timeline.
  std::string none = RunCli("pull " + s + " p:b=1 --wait-ms 50 --json", &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(none.find("\"ready\":false"), std::string::npos) << none;
  std::string got = RunCli("pull " + s + " p:b=0 --wait-ms 5000 --json", &rc);
  EXPECT_NE(got.find("\"ready\":true"), std::string::npos) << got;
  EXPECT_NE(got.find("\"payload\":\"b1\""), std::string::npos) << got;
  // Usage errors exit 2; server errors 1.
  RunCli("pull " + s + " p:a p:b --wait-ms 10", &rc);
  EXPECT_EQ(rc, 2);
  RunCli("pull " + s + " p:a=99999999999999999999999", &rc);
  EXPECT_EQ(rc, 2);
  std::string bad = RunCli("pull --server " + ts.address() + " --ns nosuchns p:a=", &rc);
  EXPECT_EQ(rc, 1) << bad;
}

TEST(CliTest, MaintenanceSubcommands) {
  TestServer ts;
  std::string s = "--server " + ts.address() + " --ns store --timeline conv:mc";
  for (int i = 1; i <= 4; ++i) RunCli("append " + s + " 'm" + std::to_string(i) + "'");
  int rc = 0;
  EXPECT_EQ(RunCli("recall " + s + " 1", &rc), "recall: seq 1\n");
  EXPECT_EQ(rc, 0);
  std::string err = RunCli("get " + s + " 1", &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(err.find("Deleted"), std::string::npos) << err;
  EXPECT_NE(RunCli("recall " + s + " 1").find("already in effect"), std::string::npos);
  EXPECT_EQ(RunCli("edit " + s + " 2 'm2 fixed' --json"),
            "{\"op\":\"edit\",\"seq\":2,\"noop\":false}\n");
  EXPECT_NE(RunCli("get " + s + " 2").find("m2 fixed"), std::string::npos);
  EXPECT_EQ(RunCli("trim " + s + " 3"), "trim: first kept seq 3\n");
  EXPECT_EQ(RunCli("delete-timeline " + s), "delete-timeline: deleted through seq 4\n");
  EXPECT_EQ(RunCli("scan " + s), "");
  std::string set = RunCli("ns set " + s + " --messages-per-timeline-max 10 --compress-level 3");
  EXPECT_NE(set.find("messages_per_timeline_max=10"), std::string::npos) << set;
  EXPECT_NE(set.find("compress_level=3"), std::string::npos) << set;
  EXPECT_NE(set.find("ttl_ms=0"), std::string::npos) << set;  // untouched
  // Not a terminal: progress comes as plain lines, then the summary on stdout.
  std::string compact = RunCli("compact " + s + " --full --poll-ms 5", &rc);
  EXPECT_EQ(rc, 0) << compact;
  EXPECT_NE(compact.find("compaction 1 (store) done"), std::string::npos) << compact;
  std::string all = RunCli("compact --server " + ts.address() + " --json", &rc);
  EXPECT_EQ(rc, 0) << all;
  EXPECT_NE(all.find("\"job_id\":2,\"ns\":\"\""), std::string::npos) << all;
  std::string stats = RunCli("stats " + s);
  EXPECT_NE(stats.find("compactions_done"), std::string::npos);
  EXPECT_NE(stats.find("recalls"), std::string::npos);
}

// Starts the tldb-server binary on port 0, reads "listening on", talks to it, stops it with
// SIGTERM and checks it exits cleanly and keeps the data.
TEST(CliTest, ServerBinaryStartsServesAndStopsOnSigterm) {
  TempDir dir;
  // `cache_mb`: the server's --block-cache-mb.
  auto start = [&](std::string* address, const char* cache_mb) -> pid_t {
    int out[2];
    if (pipe(out) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
      dup2(out[1], 1);
      close(out[0]);
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 2);
      // cache_mb null: the server's default block cache.
      execl(TLDB_SERVER_PATH, TLDB_SERVER_PATH, "--data-dir", dir.path().c_str(), "--listen",
            "127.0.0.1:0", "--threads", "1", cache_mb ? "--block-cache-mb" : nullptr, cache_mb,
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    FILE* f = fdopen(out[0], "r");
    char line[256] = {};
    if (fgets(line, sizeof(line), f)) {
      std::string l(line);
      size_t at = l.find("listening on ");
      if (at != std::string::npos) *address = l.substr(at + 13, l.size() - at - 14);
    }
    fclose(f);
    return pid;
  };
  auto stop = [](pid_t pid) {
    kill(pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 500; ++i) {
      if (waitpid(pid, &status, WNOHANG) == pid)
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      std::this_thread::sleep_for(10ms);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -2;
  };
  // STATS's db_block_cache_bytes value (or all of STATS when it has none).
  auto block_cache_bytes = [](const std::string& addr) {
    std::string stats = RunCli("stats --server " + addr);
    size_t at = stats.find("db_block_cache_bytes ");
    if (at == std::string::npos) return stats;
    std::string line = stats.substr(at, stats.find('\n', at) - at);
    return line.substr(line.find_last_of(' ') + 1);
  };
  std::string addr;
  pid_t pid = start(&addr, nullptr);
  ASSERT_GT(pid, 0);
  // Without --block-cache-mb: an eighth of physical memory, at least 64 MiB.
  const uint64_t phys_bytes = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) *
                              static_cast<uint64_t>(sysconf(_SC_PAGE_SIZE));
  const uint64_t default_mb = std::max<uint64_t>(64, (phys_bytes / 8) >> 20);
  EXPECT_EQ(block_cache_bytes(addr), std::to_string(default_mb << 20));
  EXPECT_EQ(stop(pid), 0);
  pid = start(&addr, "64");
  ASSERT_GT(pid, 0);
  ASSERT_FALSE(addr.empty());
  std::string s = "--server " + addr + " --timeline conv:bin";
  EXPECT_EQ(RunCli("append " + s + " 'persisted'"), "conv:bin seq 1\n");
  EXPECT_NE(RunCli("ns list " + s).find("sync\tttl_ms=604800000"), std::string::npos);
  EXPECT_EQ(stop(pid), 0);
  pid = start(&addr, "32");
  ASSERT_GT(pid, 0);
  s = "--server " + addr + " --timeline conv:bin";
  EXPECT_NE(RunCli("get " + s + " 1").find("persisted"), std::string::npos);
  // --block-cache-mb reaches the engine (STATS reports its budget).
  EXPECT_EQ(block_cache_bytes(addr), "33554432");
  EXPECT_EQ(stop(pid), 0);
  // Protected mode: the binary refuses a non-loopback address without a token.
  std::string cmd =
      std::string(TLDB_SERVER_PATH) + " --data-dir " + dir.path() + " --listen 0.0.0.0:0 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  char buf[1024] = {};
  size_t n = fread(buf, 1, sizeof(buf) - 1, p);
  int status = pclose(p);
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_NE(std::string(buf, n).find("protected mode"), std::string::npos);
}

}  // namespace
}  // namespace tldb::testing
