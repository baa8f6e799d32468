// Pipelined groups (Options::groups_in_flight_max > 1, engine/src/store/group_commit.h): several
// groups written with their fdatasyncs in flight at once. Each segment fdatasync is parked at a
// gate with a ticket (its order of arrival) and released, or failed, one by one, so the tests
// choose the order in which the fdatasyncs return:
// - groups are acknowledged and made visible strictly in log order, whatever order their
//   fdatasyncs return in;
// - a failed fdatasync fails its group and every later group in flight (none acknowledged or
//   visible, even those whose own fdatasync returned OK), not the earlier ones, and the log
//   refuses writes with that error from then on;
// - a crash with groups in flight recovers a prefix of the log, also when a later group's bytes
//   reached the disk and an earlier group's did not (the records' synced_through promises only
//   what was fdatasync'ed when they were encoded);
// - concurrent writers across many rolls, retries answered from the dedupe window and Db::Sync
//   (the groups that first drain the pipeline) lose nothing acknowledged, before and after a
//   reopen.
#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "io/sim_file_system.h"
#include "tldb/db.h"
#include "tldb/file_system.h"
#include "util/sync_gated_file_system.h"

namespace tldb {
namespace {

// Parks every fdatasync of a path containing `match` while armed, giving each a ticket 0, 1, ...
// in order of arrival; Release(k) lets ticket k's fdatasync run, Fail(k) makes it fail without
// running.
class TicketGate : public testing::SyncGate {
 public:
  void Arm(std::string match) {
    std::lock_guard l(mu_);
    armed_ = true;
    match_ = std::move(match);
  }
  void Disarm() {
    std::lock_guard l(mu_);
    armed_ = false;
    cv_.notify_all();
  }
  void AwaitParked(int n) {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return next_ >= n; });
  }
  void Release(int k) { Decide(k, Status::Ok()); }
  void Fail(int k, Status s) { Decide(k, std::move(s)); }
  void AwaitReturned(int k) {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return returned_.count(k) != 0; });
  }
  Status Sync(const std::string& path, WritableFile& inner) override {
    std::unique_lock l(mu_);
    if (!armed_ || path.find(match_) == std::string::npos) {
      l.unlock();
      return inner.Sync();
    }
    const int k = next_++;
    cv_.notify_all();
    cv_.wait(l, [&] { return decided_.count(k) != 0 || !armed_; });
    Status s = decided_.count(k) != 0 ? decided_[k] : Status::Ok();
    l.unlock();
    if (s.ok()) s = inner.Sync();
    l.lock();
    returned_.insert(k);
    cv_.notify_all();
    return s;
  }

 private:
  void Decide(int k, Status s) {
    std::lock_guard l(mu_);
    decided_[k] = std::move(s);
    cv_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false;
  std::string match_;
  int next_ = 0;
  std::map<int, Status> decided_;
  std::set<int> returned_;
};

// Completions of async appends, in the order they ran.
class Completions {
 public:
  AppendCallback For(std::string name) {
    return [this, name](Result<AppendResult> r) {
      std::lock_guard l(mu_);
      order_.push_back(name);
      status_[name] = r.status();
      cv_.notify_all();
    };
  }
  void AwaitCount(size_t n) {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return order_.size() >= n; });
  }
  std::vector<std::string> order() {
    std::lock_guard l(mu_);
    return order_;
  }
  Status status(const std::string& name) {
    std::lock_guard l(mu_);
    return status_.at(name);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> order_;
  std::map<std::string, Status> status_;
};

class PipelineTest : public ::testing::Test {
 public:
  void SetUp() override { Open(); }
  void TearDown() override {
    gate_.Disarm();
    if (db_) (void)db_->Close();
  }
  Options MakeOptions(bool gated) {
    Options o;
    o.file_system = gated ? std::shared_ptr<FileSystem>(
                                std::make_shared<testing::SyncGatedFileSystem>(sim_, &gate_))
                          : sim_;
    o.prezero = Options::Prezero::kOff;
    o.background_maintenance = false;
    o.groups_in_flight_max = 4;
    o.group_commit_wait_us = 0;
    return o;
  }
  void Open() {
    auto r = Db::Open("/db", MakeOptions(true));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    db_ = std::move(r.value());
    if (!db_->CreateNamespace("a", {}).ok()) {
      // Reopened: the namespace exists.
    }
  }
  // Appends `payload` to timeline "t" asynchronously and waits until its group's fdatasync is
  // parked as ticket `ticket`.
  void AppendParked(const std::string& payload, int ticket) {
    db_->AppendAsync("a", "t", payload, AppendOptions{}, done_.For(payload));
    gate_.AwaitParked(ticket + 1);
  }
  // Simulates a power cut with the groups in flight still parked: every operation fails from
  // now on, the parked fdatasyncs are let go (and fail), the Db is dropped, and the disk is
  // left as `mode` says; then the Db is reopened without the gate.
  void CrashAndReopen(UnsyncedMode mode, uint64_t seed, bool expect_open = true) {
    sim_->CrashAfterOps(0);  // every operation from now on fails
    gate_.Disarm();
    (void)db_->Close();
    db_.reset();
    sim_->PowerLoss(mode, seed);
    auto r = Db::Open("/db", MakeOptions(false));
    ASSERT_EQ(r.ok(), expect_open) << r.status().ToString();
    if (r.ok()) db_ = std::move(r.value());
  }
  std::string Payload(Seq seq) {
    auto got = db_->Get("a", "t", seq);
    return got.ok() ? got->payload : "<" + got.status().ToString() + ">";
  }
  Seq Last() {
    const std::string_view keys[] = {"t"};
    return db_->LastSeq("a", keys).value().at(0);
  }
  // The segment of namespace "a" (directory /db/ns/a) holding `needle`, and its path.
  std::string SegmentWith(const std::string& needle, std::string* data) {
    const std::string dir = "/db/ns/a";
    auto names = sim_->ListDir(dir);
    if (!names.ok()) return "";
    for (const std::string& n : *names) {
      if (!n.ends_with(".seg")) continue;
      auto bytes = sim_->GetFileData(dir + "/" + n);
      if (bytes.ok() && bytes->find(needle) != std::string::npos) {
        *data = *bytes;
        return dir + "/" + n;
      }
    }
    return "";
  }

  std::shared_ptr<SimFileSystem> sim_ = std::make_shared<SimFileSystem>();
  TicketGate gate_;
  Completions done_;
  std::unique_ptr<Db> db_;
};

TEST_F(PipelineTest, GroupsAreAcknowledgedInLogOrderWhateverOrderTheirSyncsReturn) {
  ASSERT_TRUE(db_->Append("a", "t", "zero").ok());
  gate_.Arm(".seg");
  AppendParked("A", 0);  // three groups written, their fdatasyncs in flight at once
  AppendParked("B", 1);
  AppendParked("C", 2);
  EXPECT_EQ(Payload(2).substr(0, 1), "<");  // written, not visible
  gate_.Release(2);                         // C's fdatasync returns first, then B's
  gate_.AwaitReturned(2);
  gate_.Release(1);
  gate_.AwaitReturned(1);
  // A's fdatasync is still parked: neither B nor C may be acknowledged or visible.
  EXPECT_TRUE(done_.order().empty());
  EXPECT_EQ(Last(), 1u);
  EXPECT_EQ(Payload(3).substr(0, 1), "<");
  gate_.Release(0);
  done_.AwaitCount(3);
  EXPECT_EQ(done_.order(), (std::vector<std::string>{"A", "B", "C"}));
  for (const char* n : {"A", "B", "C"}) EXPECT_TRUE(done_.status(n).ok()) << n;
  EXPECT_EQ(Payload(2), "A");
  EXPECT_EQ(Payload(3), "B");
  EXPECT_EQ(Payload(4), "C");
}

TEST_F(PipelineTest, AFailedSyncFailsItsGroupAndEveryLaterOneNeverTheEarlierOnes) {
  ASSERT_TRUE(db_->Append("a", "t", "zero").ok());
  gate_.Arm(".seg");
  AppendParked("A", 0);
  AppendParked("B", 1);
  AppendParked("C", 2);
  AppendParked("D", 3);
  // C and D are synced on disk; B's fdatasync fails after them; A's succeeds last.
  gate_.Release(2);
  gate_.Release(3);
  gate_.AwaitReturned(2);
  gate_.AwaitReturned(3);
  gate_.Fail(1, Status::IOError("injected fdatasync failure"));
  gate_.AwaitReturned(1);
  EXPECT_TRUE(done_.order().empty());  // A's fdatasync still runs: nothing is answered
  gate_.Release(0);
  done_.AwaitCount(4);
  EXPECT_EQ(done_.order(), (std::vector<std::string>{"A", "B", "C", "D"}));
  EXPECT_TRUE(done_.status("A").ok());
  for (const char* n : {"B", "C", "D"}) {
    EXPECT_EQ(done_.status(n).code(), Status::Code::kIOError) << n;
    EXPECT_NE(done_.status(n).ToString().find("injected"), std::string::npos) << n;
  }
  EXPECT_EQ(Last(), 2u);
  EXPECT_EQ(Payload(2), "A");
  EXPECT_EQ(Payload(3).substr(0, 1), "<");
  EXPECT_EQ(Payload(5).substr(0, 1), "<");
  // Sticky: the log refuses writes with the same error, and never retries that fdatasync.
  gate_.Disarm();
  auto later = db_->Append("a", "t", "E");
  ASSERT_FALSE(later.ok());
  EXPECT_NE(later.status().ToString().find("injected"), std::string::npos);
  EXPECT_EQ(Last(), 2u);
}

// One crash per way the unsynced bytes may look after it: what recovery finds is a prefix of the
// groups in log order, and the log takes appends again.
TEST(PipelineCrashTest, ACrashWithGroupsInFlightRecoversAPrefix) {
  for (UnsyncedMode mode : {UnsyncedMode::kKeep, UnsyncedMode::kDrop, UnsyncedMode::kTear512,
                            UnsyncedMode::kZeroFill, UnsyncedMode::kGarbageFill}) {
    SCOPED_TRACE(static_cast<int>(mode));
    struct Fixture : PipelineTest {
      void TestBody() override {}
    } f;
    f.SetUp();
    ASSERT_TRUE(f.db_->Append("a", "t", "zero").ok());
    f.gate_.Arm(".seg");
    f.AppendParked("A", 0);
    f.AppendParked("B", 1);
    f.AppendParked("C", 2);
    f.CrashAndReopen(mode, 7);
    ASSERT_TRUE(f.db_);
    EXPECT_EQ(f.Payload(1), "zero");  // acknowledged before the crash
    const Seq last = f.Last();
    ASSERT_GE(last, 1u);
    ASSERT_LE(last, 4u);
    const char* names[] = {"A", "B", "C"};
    for (Seq s = 2; s <= last; ++s) EXPECT_EQ(f.Payload(s), names[s - 2]);
    if (mode == UnsyncedMode::kKeep) {
      EXPECT_EQ(last, 4u);
    }
    if (mode == UnsyncedMode::kDrop) {
      EXPECT_EQ(last, 1u);
    }
    auto next = f.db_->Append("a", "t", "after");
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    EXPECT_EQ(next->seq, last + 1);
    f.TearDown();
  }
}

// The disk may write back a later group's pages before an earlier group's. C's records promise
// (synced_through) only what was durable when they were encoded, before A and B were synced, so
// losing B while C survives is a torn tail — cut, not reported as corruption.
TEST_F(PipelineTest, ALaterGroupOnDiskWithoutAnEarlierOneIsATornTail) {
  ASSERT_TRUE(db_->Append("a", "t", "zero").ok());
  gate_.Arm(".seg");
  AppendParked("payload-A", 0);
  AppendParked("payload-B", 1);
  AppendParked("payload-C", 2);
  sim_->CrashAfterOps(0);  // every operation from now on fails
  gate_.Disarm();
  (void)db_->Close();
  db_.reset();
  sim_->PowerLoss(UnsyncedMode::kKeep, 1);
  std::string data;
  const std::string path = SegmentWith("payload-B", &data);
  ASSERT_FALSE(path.empty());
  ASSERT_NE(data.find("payload-C"), std::string::npos);
  const size_t b = data.find("payload-B");
  for (size_t i = b; i < b + 9; ++i) data[i] = '\0';  // B's payload never reached the disk
  ASSERT_TRUE(sim_->SetFileData(path, data).ok());
  auto r = Db::Open("/db", MakeOptions(false));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  db_ = std::move(r.value());
  EXPECT_EQ(Payload(1), "zero");
  EXPECT_EQ(Payload(2), "payload-A");
  EXPECT_EQ(Last(), 2u);  // B and C cut
  auto next = db_->Append("a", "t", "after");
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->seq, 3u);
}

TEST_F(PipelineTest, WritersAcrossRollsRetriesAndSyncsKeepEveryAcknowledgedAppend) {
  NamespaceOptions small;
  small.segment_bytes_max = kSegmentBytesMin;  // a roll every few dozen appends
  ASSERT_TRUE(db_->CreateNamespace("r", small).ok());
  constexpr int kThreads = 6, kPerThread = 150;
  const std::string filler(400, 'x');
  struct Acked {
    std::string key, payload;
    Seq seq;
  };
  std::mutex mu;
  std::vector<Acked> acked;
  std::vector<std::string> errors;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string key = "t" + std::to_string((t + i) % 4);
        const std::string payload = std::to_string(t) + "/" + std::to_string(i) + filler;
        const std::string cmid = "c" + std::to_string(t) + "-" + std::to_string(i);
        AppendOptions o;
        o.client_msg_id = cmid;
        auto r = db_->Append("r", key, payload, o);
        std::lock_guard l(mu);
        if (!r.ok()) {
          errors.push_back(r.status().ToString());
          continue;
        }
        acked.push_back({key, payload, r->seq});
        if (i % 10 == 0) {  // a retry: the original SeqId, nothing written
          auto again = db_->Append("r", key, payload, o);
          if (!again.ok() || !again->deduplicated || again->seq != r->seq) {
            errors.push_back("retry of " + cmid + " not answered with seq " +
                             std::to_string(r->seq));
          }
        }
        if (t == 0 && i % 25 == 0 && !db_->Sync().ok()) errors.push_back("sync failed");
      }
    });
  }
  for (auto& w : writers) w.join();
  ASSERT_TRUE(errors.empty()) << errors.front();
  ASSERT_EQ(acked.size(), static_cast<size_t>(kThreads * kPerThread));
  auto check = [&] {
    std::map<std::string, std::set<Seq>> seqs;
    for (const Acked& a : acked) {
      auto got = db_->Get("r", a.key, a.seq);
      ASSERT_TRUE(got.ok()) << a.key << "/" << a.seq << ": " << got.status().ToString();
      EXPECT_EQ(got->payload, a.payload);
      EXPECT_TRUE(seqs[a.key].insert(a.seq).second) << "seq given twice";
    }
    for (const auto& [key, set] : seqs) {  // SeqIds 1..n, none skipped
      EXPECT_EQ(*set.begin(), 1u);
      EXPECT_EQ(*set.rbegin(), set.size());
    }
  };
  check();
  ASSERT_TRUE(db_->Close().ok());
  db_.reset();
  auto r = Db::Open("/db", MakeOptions(false));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  db_ = std::move(r.value());
  check();
}

}  // namespace
}  // namespace tldb
