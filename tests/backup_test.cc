// Online backup (BACKUP_OPEN / BACKUP_READ / BACKUP_CLOSE, `tldb backup`): a backup taken from a
// running server while a client appends (sync, with client_msg_ids), recalls and trims, with a
// full compaction and a TTL drop run in the middle of it, opens as a data directory (engine and a
// second server) holding every message acknowledged before it began, and `tldb verify` finds it
// SOUND. Wrong grants, a non-empty DIR, other connections' ids and abandoned backups get clear
// errors or are cleaned up.
#include "admin/backup.h"

#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "admin/verify.h"
#include "protocol/backup_messages.h"
#include "server_test_util.h"
#include "tldb/clock.h"

namespace tldb::testing {
namespace {

namespace fsys = std::filesystem;
using namespace std::chrono_literals;

constexpr TimestampMs kT0 = 1'700'000'000'000;
constexpr uint64_t kDayMs = 24ull * 3600 * 1000;
constexpr char kAdmin[] = "rootsecret";  // admin on '*'
constexpr char kApp[] = "appsecret";     // read and write on '*', no admin
constexpr char kNsAdmin[] = "nssecret";  // admin on namespace s only

std::string PayloadOf(const std::string& tl, Seq seq) {
  return tl + "#" + std::to_string(seq) + ":" + std::string(100 + seq % 400, 'b');
}

std::string RunCli(const std::string& args, int* rc) {
  return RunShell(std::string(TLDB_CLI_PATH) + " " + args + " 2>&1", rc);
}

// A server over a Db in DIR (data_dir set: backups are served), with three tokens.
class BackupServer {
 public:
  explicit BackupServer(std::shared_ptr<Clock> clock) {
    Options o;
    o.io_backend = "posix";
    o.clock = std::move(clock);
    o.background_maintenance = false;  // the test runs compaction and TTL at chosen moments
    o.compaction_bytes_per_s = 0;
    auto db = Db::Open(dir(), o);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    NamespaceOptions s;
    s.segment_bytes_max = 64 << 10;
    EXPECT_TRUE(db_->CreateNamespace("s", s).ok());
    NamespaceOptions t = s;
    t.ttl_ms = kDayMs;
    EXPECT_TRUE(db_->CreateNamespace("t", t).ok());
    ServerConfig cfg;
    cfg.listen = "127.0.0.1:0";
    cfg.threads = 2;
    cfg.data_dir = dir();
    cfg.log = [](std::string_view) {};
    for (const char* spec :
         {"root:rootsecret:admin=*", "app:appsecret:rw=*", "nsadm:nssecret:admin=s"}) {
      auto tok = ParseServerToken(spec);
      EXPECT_TRUE(tok.ok());
      cfg.tokens.push_back(*tok);
    }
    auto srv = Server::Start(db_.get(), cfg);
    EXPECT_TRUE(srv.ok()) << srv.status().ToString();
    server_ = std::move(srv).value();
  }
  ~BackupServer() {
    server_.reset();
    if (db_) (void)db_->Close();
  }
  std::string dir() const { return tmp_.path() + "/db"; }
  std::string address() const { return "127.0.0.1:" + std::to_string(server_->port()); }
  Db& db() { return *db_; }
  std::unique_ptr<Client> Connect(const std::string& token) {
    ClientOptions o;
    o.server = address();
    o.token = token;
    o.request_timeout_ms = 60'000;
    auto c = Client::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  // Snapshots the server holds for open backups.
  size_t Snapshots() const {
    std::error_code ec;
    size_t n = 0;
    for (auto it = fsys::directory_iterator(dir() + "/snapshots", ec);
         !ec && it != fsys::directory_iterator(); ++it)
      ++n;
    return n;
  }
  // Waits (10 s at most) until no snapshot is left.
  bool WaitNoSnapshots() const {
    for (int i = 0; i < 1000 && Snapshots() != 0; ++i) std::this_thread::sleep_for(10ms);
    return Snapshots() == 0;
  }

 private:
  TempDir tmp_{"tldb-backup"};
  std::unique_ptr<Db> db_;
  std::unique_ptr<Server> server_;
};

void ExpectSoundNoWarnings(const std::string& dir) {
  auto fs = NewPosixFileSystem();
  auto report = admin::Verify(*fs, dir, {});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->sound()) << dir;
  for (const auto& p : report->problems) {
    if (p.severity != admin::Problem::Severity::kInfo) ADD_FAILURE() << p.file << ": " << p.what;
  }
}

TEST(BackupTest, TakenDuringWritesCompactionAndTtlOpensWithEverythingAcknowledged) {
  auto clock = std::make_shared<ManualClock>(kT0);
  BackupServer srv(clock);
  // Namespace t: messages that a TTL drop removes in the middle of the backup.
  {
    auto c = srv.Connect(kApp);
    ASSERT_NE(c, nullptr);
    for (int i = 1; i <= 300; ++i) {
      auto r = c->Append("t", "ttl:1", PayloadOf("ttl:1", i));
      ASSERT_TRUE(r.ok()) << r.status().ToString();
    }
  }
  struct Acked {
    Seq before = 0, last = 0;
    std::set<Seq> deleted_before;
  };
  std::map<std::string, Acked> acked;
  std::mutex mu;
  std::atomic<bool> started{false}, stop{false};
  auto writer = [&](int w) {
    auto c = srv.Connect(kApp);
    ASSERT_NE(c, nullptr);
    for (uint64_t i = 0; !stop; ++i) {
      const std::string tl = "w" + std::to_string(w) + ":" + std::to_string(i % 3);
      Seq next;
      {
        std::lock_guard l(mu);
        next = acked[tl].last + 1;
      }
      AppendOptions o;
      o.durability = Durability::kSync;
      const std::string cmid = tl + "/" + std::to_string(next);
      o.client_msg_id = cmid;
      auto r = c->Append("s", tl, PayloadOf(tl, next), o);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_EQ(r->seq, next);
      const bool before = !started;
      std::lock_guard l(mu);
      acked[tl].last = next;
      if (before) acked[tl].before = next;
      if (w == 0 && next % 13 == 0) {
        ASSERT_TRUE(c->Recall("s", tl, next - 4).ok());
        if (!started) acked[tl].deleted_before.insert(next - 4);
      }
      if (w == 1 && next % 50 == 0) {
        ASSERT_TRUE(c->Trim("s", tl, next - 20).ok());
        if (!started) {
          for (Seq s = 1; s < next - 20; ++s) acked[tl].deleted_before.insert(s);
        }
      }
    }
  };
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) writers.emplace_back(writer, w);
  while (srv.db().DescribeNamespace("s")->segments < 5) std::this_thread::sleep_for(5ms);

  const std::string out =
      fsys::temp_directory_path().string() + "/tldb-backup-out-" + std::to_string(::getpid());
  fsys::remove_all(out);
  auto admin = srv.Connect(kAdmin);
  ASSERT_NE(admin, nullptr);
  admin::BackupOptions bo;
  bo.chunk_bytes = 16 << 10;  // many reads: maintenance runs between them
  std::atomic<int> chunks{0};
  uint64_t segments_before = 0;
  bo.progress = [&](uint64_t, uint64_t, const std::string&) {
    if (chunks++ != 0) return;
    // The backup is open and its first chunk written: a full compaction rewrites (and removes)
    // every sealed segment of s, and a TTL drop removes t's segments, while it goes on.
    EXPECT_EQ(srv.Snapshots(), 1u);
    segments_before = srv.db().DescribeNamespace("t")->segments;
    CompactOptions full;
    full.full = true;
    auto p = srv.db().Compact("s", full);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_GT(p->segments_done, 0u);
    clock->Advance(2 * kDayMs);
    auto t = srv.db().Compact("t", {});
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_GT(t->segments_expired, 0u);
  };
  started = true;
  auto report = admin::RunBackup(*admin, out, bo);
  std::this_thread::sleep_for(50ms);  // appends after the backup must not leak into it
  stop = true;
  for (auto& t : writers) t.join();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_GT(chunks.load(), 10);
  EXPECT_GT(segments_before, 1u);
  EXPECT_TRUE(srv.WaitNoSnapshots());  // BACKUP_CLOSE deleted the server's snapshot
  ExpectSoundNoWarnings(out);

  // The backup as a data directory (a clock at the start: t's messages are not expired there).
  Options o;
  o.io_backend = "posix";
  o.clock = std::make_shared<ManualClock>(kT0);
  o.background_maintenance = false;
  auto copy = Db::Open(out, o);
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  for (const auto& n : report->namespaces) {
    EXPECT_EQ((*copy)->LogEnd(n.name)->written, n.end) << n.name;
  }
  ScanOptions all;
  all.limit = 100000;
  auto ttl = (*copy)->Scan("t", "ttl:1", all);
  ASSERT_TRUE(ttl.ok());
  EXPECT_EQ(ttl->size(), 300u);  // dropped by TTL on the server after the backup began
  uint64_t checked = 0;
  for (const auto& [tl, a] : acked) {
    ASSERT_GT(a.before, 0u) << tl;
    const Seq last = (*copy)->LastSeq("s", std::vector<std::string_view>{tl})->at(0);
    EXPECT_GE(last, a.before) << tl << ": acknowledged messages missing";
    EXPECT_LE(last, a.last) << tl;
    for (Seq s = 1; s <= last; ++s) {
      auto m = (*copy)->Get("s", tl, s);
      if (a.deleted_before.contains(s)) {
        EXPECT_EQ(m.status().code(), Status::Code::kDeleted) << tl << " seq " << s;
      } else if (m.ok()) {
        EXPECT_EQ(m->payload, PayloadOf(tl, s)) << tl << " seq " << s;
        ++checked;
      } else {
        EXPECT_EQ(m.status().code(), Status::Code::kDeleted) << tl << " seq " << s;
      }
    }
  }
  EXPECT_GT(checked, 100u);
  ASSERT_TRUE((*copy)->Close().ok());
  copy->reset();

  // A second server serves it.
  {
    auto db2 = Db::Open(out, o);
    ASSERT_TRUE(db2.ok()) << db2.status().ToString();
    ServerConfig cfg;
    cfg.listen = "127.0.0.1:0";
    cfg.threads = 1;
    cfg.log = [](std::string_view) {};
    auto s2 = Server::Start(db2->get(), cfg);
    ASSERT_TRUE(s2.ok()) << s2.status().ToString();
    ClientOptions co;
    co.server = "127.0.0.1:" + std::to_string((*s2)->port());
    auto c2 = Client::Connect(co);
    ASSERT_TRUE(c2.ok()) << c2.status().ToString();
    const auto& [tl, a] = *acked.begin();
    auto m = (*c2)->Get("s", tl, a.before);
    ASSERT_TRUE(m.ok() || m.status().code() == Status::Code::kDeleted) << m.status().ToString();
    if (m.ok()) {
      EXPECT_EQ(m->payload, PayloadOf(tl, a.before));
    }
    c2->reset();
    s2->reset();
    ASSERT_TRUE((*db2)->Close().ok());
  }
  // The CLI finds it SOUND too.
  int rc = 0;
  const std::string verify = RunCli("verify " + out, &rc);
  EXPECT_EQ(rc, 0) << verify;
  EXPECT_NE(verify.find("SOUND"), std::string::npos) << verify;
  fsys::remove_all(out);
}

TEST(BackupTest, CliWritesABackupAndRefusesWrongGrantsAndANonEmptyDir) {
  auto clock = std::make_shared<ManualClock>(kT0);
  BackupServer srv(clock);
  auto c = srv.Connect(kApp);
  ASSERT_NE(c, nullptr);
  for (int i = 1; i <= 50; ++i) ASSERT_TRUE(c->Append("s", "cli", PayloadOf("cli", i)).ok());
  const std::string base =
      fsys::temp_directory_path().string() + "/tldb-backup-cli-" + std::to_string(::getpid());
  fsys::remove_all(base);
  fsys::create_directories(base);
  const std::string server = "--server " + srv.address();
  int rc = 0;

  // No admin right: refused by the server, nothing written.
  std::string out = RunCli("backup " + server + " --token " + kApp + " " + base + "/a", &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("PermissionDenied"), std::string::npos) << out;
  EXPECT_NE(out.find("no admin right on every namespace"), std::string::npos) << out;
  EXPECT_TRUE(!fsys::exists(base + "/a") || fsys::is_empty(base + "/a"));
  // Admin on one namespace is not enough: a backup holds them all.
  out = RunCli("backup " + server + " --token " + kNsAdmin + " " + base + "/a", &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("PermissionDenied"), std::string::npos) << out;
  // A non-empty DIR: refused before anything is asked, the file left alone.
  fsys::create_directories(base + "/full");
  std::ofstream(base + "/full/keep") << "mine";
  out = RunCli("backup " + server + " --token " + kAdmin + " " + base + "/full", &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("is not empty"), std::string::npos) << out;
  std::ifstream keep(base + "/full/keep");
  std::string kept;
  keep >> kept;
  EXPECT_EQ(kept, "mine");
  EXPECT_EQ(fsys::directory_iterator(base + "/full")->path().filename(), "keep");

  // The real thing.
  out = RunCli("backup " + server + " --token " + kAdmin + " " + base + "/ok", &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("backup written to"), std::string::npos) << out;
  EXPECT_TRUE(srv.WaitNoSnapshots());
  out = RunCli("verify " + base + "/ok", &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("SOUND"), std::string::npos) << out;
  {
    Options o;
    o.io_backend = "posix";
    auto copy = Db::Open(base + "/ok", o);
    ASSERT_TRUE(copy.ok()) << copy.status().ToString();
    EXPECT_EQ((*copy)->LastSeq("s", std::vector<std::string_view>{"cli"})->at(0), 50u);
    EXPECT_EQ((*copy)->Get("s", "cli", 50)->payload, PayloadOf("cli", 50));
  }
  fsys::remove_all(base);
}

TEST(BackupTest, BackupsBelongToTheirConnectionAreBoundedAndReleasedOnClose) {
  auto clock = std::make_shared<ManualClock>(kT0);
  BackupServer srv(clock);
  auto a = srv.Connect(kAdmin);
  auto b = srv.Connect(kAdmin);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto m = a->OpenBackup();
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_FALSE(m->files.empty());
  EXPECT_EQ(m->files[0].path, "CATALOG");
  EXPECT_EQ(srv.Snapshots(), 1u);
  // Another connection cannot read or close it.
  auto r = b->ReadBackup(m->backup_id, 0, 0, 1024);
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound) << r.status().ToString();
  EXPECT_EQ(b->CloseBackup(m->backup_id).code(), Status::Code::kNotFound);
  // Bad file index and offset: clear errors; reads are capped at chunk_bytes_max.
  EXPECT_EQ(
      a->ReadBackup(m->backup_id, static_cast<uint32_t>(m->files.size()), 0, 10).status().code(),
      Status::Code::kInvalidArgument);
  EXPECT_EQ(a->ReadBackup(m->backup_id, 0, m->files[0].bytes + 1, 10).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(a->ReadBackup(m->backup_id, 0, m->files[0].bytes, 10)->size(), 0u);
  EXPECT_LE(a->ReadBackup(m->backup_id, 0, 0, 64u << 20)->size(), m->chunk_bytes_max);
  // At most 4 open at once.
  std::vector<uint64_t> more;
  for (int i = 0; i < 3; ++i) {
    auto x = b->OpenBackup();
    ASSERT_TRUE(x.ok()) << x.status().ToString();
    more.push_back(x->backup_id);
  }
  auto fifth = a->OpenBackup();
  EXPECT_EQ(fifth.status().code(), Status::Code::kBusy) << fifth.status().ToString();
  EXPECT_EQ(srv.Snapshots(), 4u);
  // b goes away without closing its three: the server releases them.
  b.reset();
  for (int i = 0; i < 1000 && srv.Snapshots() != 1; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(srv.Snapshots(), 1u);
  EXPECT_TRUE(a->CloseBackup(m->backup_id).ok());
  EXPECT_TRUE(srv.WaitNoSnapshots());
  EXPECT_EQ(a->CloseBackup(m->backup_id).code(), Status::Code::kNotFound);
}

TEST(BackupTest, MessagesRoundTripAndRefuseMalformedBodies) {
  proto::BackupOpenResponse m;
  m.backup_id = 7;
  m.chunk_bytes_max = proto::kBackupChunkBytesMax;
  m.files = {{"CATALOG", 168, 0x1122334455667788ull}, {"ns/s/0000000000000001.seg", 4040, 9}};
  m.namespaces = {{"s", 1, 4040}};
  std::string b;
  proto::WireWriter w(&b);
  proto::Encode(m, w);
  proto::BackupOpenResponse d;
  ASSERT_TRUE(proto::Decode(b, &d));
  EXPECT_EQ(d.backup_id, 7u);
  ASSERT_EQ(d.files.size(), 2u);
  EXPECT_EQ(d.files[1].path, "ns/s/0000000000000001.seg");
  EXPECT_EQ(d.files[0].xxh3, 0x1122334455667788ull);
  ASSERT_EQ(d.namespaces.size(), 1u);
  EXPECT_EQ(d.namespaces[0].offset, 4040u);
  EXPECT_FALSE(proto::Decode(b + "x", &d));  // trailing byte
  EXPECT_FALSE(proto::Decode(b.substr(0, b.size() - 1), &d));
  std::string huge;
  proto::WireWriter hw(&huge);
  hw.U64(1);
  hw.U32(1 << 20);
  hw.U32(0xFFFFFFFF);  // claims 4 billion files, sends none
  EXPECT_FALSE(proto::Decode(huge, &d));

  std::string rb;
  proto::WireWriter rw(&rb);
  proto::Encode(proto::BackupReadRequest{7, 1, 4096, 1024}, rw);
  EXPECT_EQ(rb.size(), 24u);
  EXPECT_TRUE(proto::DecodeAnyRequest(0x71, rb));
  EXPECT_FALSE(proto::DecodeAnyRequest(0x71, rb + "x"));
  EXPECT_TRUE(proto::DecodeAnyRequest(0x70, ""));
  EXPECT_FALSE(proto::DecodeAnyRequest(0x70, "x"));  // BACKUP_OPEN has an empty body
  EXPECT_EQ(proto::OpName(0x70), "BACKUP_OPEN");
  EXPECT_EQ(proto::OpName(0x72), "BACKUP_CLOSE");
  EXPECT_FALSE(proto::IsKnownOp(0x74));
}

TEST(BackupTest, UnsafeManifestPathsAreRefused) {
  EXPECT_TRUE(IsSafeSnapshotPath("CATALOG"));
  EXPECT_TRUE(IsSafeSnapshotPath("ns/chat/0000000000000001.seg"));
  for (const char* bad :
       {"", "/etc/passwd", "../x", "ns/../../x", "ns//x", "ns/x/", "a\\b", "ns/./x"}) {
    EXPECT_FALSE(IsSafeSnapshotPath(bad)) << bad;
  }
}

}  // namespace
}  // namespace tldb::testing
