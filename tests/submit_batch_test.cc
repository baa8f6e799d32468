// SubmitBatch (engine/include/tldb/submit_batch.h): the asynchronous appends a thread submits
// inside a batch are written as one group when it ends; a blocking append inside a batch does
// not wait for the batch; nested batches wake at the outermost end; a batch that outlives its
// Db wakes nothing.
#include "tldb/submit_batch.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "io/sim_file_system.h"
#include "store/db_impl.h"
#include "tldb/db.h"

namespace tldb {
namespace {

class SubmitBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Options o;
    o.file_system = std::make_shared<SimFileSystem>();
    o.prezero = Options::Prezero::kOff;
    o.background_maintenance = false;
    db_ = std::move(Db::Open("/db", o).value());
    ASSERT_TRUE(db_->CreateNamespace("a", {}).ok());
    // The committer thread must wait for work, or it would take what a batch holds back
    // without being woken (an event, not a time window: a loaded machine only makes it slower).
    auto& impl = static_cast<DbImpl&>(*db_);
    for (int i = 0; i < 60'000 && !impl.CommitterParked("a"); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_TRUE(impl.CommitterParked("a"));
  }
  void TearDown() override {
    if (db_) {
      ASSERT_TRUE(db_->Close().ok());
    }
  }
  // Queues one buffered append whose completion counts in done_.
  void Submit(int i) {
    AppendOptions o;
    o.durability = Durability::kBuffered;
    db_->AppendAsync("a", "t", "m" + std::to_string(i), o, [this](const Result<AppendResult>& r) {
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      std::lock_guard l(mu_);
      ++done_;
      cv_.notify_all();
    });
  }
  int Done() {
    std::lock_guard l(mu_);
    return done_;
  }
  void AwaitDone(int n) {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return done_ >= n; });
  }
  uint64_t Groups() { return db_->Stats().groups_committed; }

  std::unique_ptr<Db> db_;
  std::mutex mu_;
  std::condition_variable cv_;
  int done_ = 0;
};

TEST_F(SubmitBatchTest, AppendsOfABatchAreOneGroupWrittenWhenItEnds) {
  const uint64_t before = Groups();
  {
    SubmitBatch batch;
    Submit(0);
    // A committer woken now would write this one alone within this pause (how a broken batch
    // shows); held back, it writes nothing while the batch lasts.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (int i = 1; i < 20; ++i) Submit(i);
    EXPECT_EQ(Done(), 0);
    EXPECT_EQ(Groups(), before);
  }
  AwaitDone(20);
  EXPECT_EQ(Groups(), before + 1);
  auto m = db_->Get("a", "t", 20);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->payload, "m19");
}

TEST_F(SubmitBatchTest, BlockingAppendInsideABatchDoesNotWaitForIt) {
  SubmitBatch batch;
  Submit(0);  // hands the queue to the committer, whose wake-up the batch holds back
  // Queued behind it; without a wake-up from this call it would wait for the batch's end,
  // which comes only after it returns.
  auto r = db_->Append("a", "t", "blocking");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->seq, 2u);
  AwaitDone(1);
}

TEST_F(SubmitBatchTest, NestedBatchesWakeAtTheOutermostEnd) {
  const uint64_t before = Groups();
  {
    SubmitBatch outer;
    {
      SubmitBatch inner;
      for (int i = 0; i < 5; ++i) Submit(i);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // as above
    EXPECT_EQ(Done(), 0);
    for (int i = 5; i < 10; ++i) Submit(i);
    EXPECT_EQ(Done(), 0);
  }
  AwaitDone(10);
  EXPECT_EQ(Groups(), before + 1);
}

TEST_F(SubmitBatchTest, ABatchOutlivingItsDbWakesNothing) {
  {
    SubmitBatch batch;
    Submit(0);
    // Closing finishes the queue (the namespace's committer is stopped and takes it), then
    // destroys the namespace while the batch still holds its wake-up.
    ASSERT_TRUE(db_->Close().ok());
    EXPECT_EQ(Done(), 1);
    db_.reset();
  }  // the batch ends: the disarmed wake-up does nothing (ASan would see a use after free)
  EXPECT_EQ(Done(), 1);
}

}  // namespace
}  // namespace tldb
