// chat_sync: what an IM frontend does with tldb, end to end.
//
//   tldb_client_example [HOST:PORT]
//
// 1. send: append a message with a client_msg_id (safe to retry: the server deduplicates);
// 2. history page: the latest 20 messages, then the page before them;
// 3. device sync from a checkpoint: read this device's cursor, fetch what it missed, advance
//    the cursor, and show unread counts for several conversations at once;
// 4. follow: subscribe to the conversation and print messages as they are acknowledged, and
//    long-poll (WAIT) as the alternative for stateless frontends.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "tldb/client.h"

namespace {

constexpr char kNs[] = "store";
constexpr char kConv[] = "conv:example";
constexpr char kDevice[] = "alice-phone";

void Print(const tldb::Message& m) {
  std::printf("  #%llu %s\n", static_cast<unsigned long long>(m.seq), m.payload.c_str());
}

int Die(const tldb::Status& s) {
  std::fprintf(stderr, "error: %s\n", tldb::StatusText(s).c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  tldb::ClientOptions opts;
  if (argc > 1) opts.server = argv[1];
  auto client = tldb::Client::Connect(opts);
  if (!client.ok()) return Die(client.status());
  tldb::Client& c = **client;

  // 1. Send. A UUID per message in real life; the retry after a lost connection is automatic.
  for (int i = 0; i < 30; ++i) {
    tldb::AppendOptions ao;
    std::string id = "example-" +
                     std::to_string(std::chrono::system_clock::now().time_since_epoch().count()) +
                     "-" + std::to_string(i);
    ao.client_msg_id = id;
    auto r = c.Append(kNs, kConv, "hello " + std::to_string(i), ao);
    if (!r.ok()) return Die(r.status());
  }

  // 2. History: latest 20, then the page before the oldest one shown.
  auto page = c.Latest(kNs, kConv, 20);
  if (!page.ok()) return Die(page.status());
  std::printf("latest %zu messages:\n", page->size());
  for (const auto& m : *page) Print(m);
  if (!page->empty() && page->front().seq > 1) {
    tldb::ScanOptions older;
    older.direction = tldb::Direction::kBackward;
    older.to_seq = page->front().seq - 1;
    older.limit = 20;
    auto prev = c.Scan(kNs, kConv, older);
    if (!prev.ok()) return Die(prev.status());
    std::printf("previous page: %zu messages (newest first)\n", prev->size());
  }

  // 3. Device sync from its checkpoint (the cursor survives reinstalling the app).
  std::string_view convs[] = {kConv, "conv:other"};
  auto cursors = c.GetCursors(kDevice, kNs, convs);
  if (!cursors.ok()) return Die(cursors.status());
  tldb::Seq checkpoint = (*cursors)[0].cursor;
  std::printf("device %s: checkpoint %llu, unread %llu\n", kDevice,
              static_cast<unsigned long long>(checkpoint),
              static_cast<unsigned long long>((*cursors)[0].unread));
  tldb::ScanOptions missed;
  missed.from_seq = checkpoint + 1;
  missed.limit = 500;
  auto sync = c.Scan(kNs, kConv, missed);
  if (!sync.ok()) return Die(sync.status());
  if (!sync->empty()) {
    auto moved = c.SetCursor(kDevice, kNs, kConv, sync->back().seq);
    if (!moved.ok()) return Die(moved.status());
    std::printf("synced %zu messages, cursor now %llu\n", sync->size(),
                static_cast<unsigned long long>(moved->cursor));
  }

  // 4. Follow: pushes arrive on the client's I/O thread (post them to your event loop).
  auto sub = c.Subscribe(kNs, kConv, 0, /*from_latest=*/true, [](const tldb::SubscriptionEvent& e) {
    if (!e.status.ok()) return;
    std::printf("pushed:");
    Print(e.message);
  });
  if (!sub.ok()) return Die(sub.status());
  auto last = c.LastSeq(kNs, std::span<const std::string_view>(convs, 1));
  if (!last.ok()) return Die(last.status());
  // Long-poll alternative: returns as soon as a message after last_seq exists.
  c.WaitAsync(kNs, kConv, (*last)[0], 5'000, [](const tldb::Result<tldb::WaitResult>& r) {
    if (r.ok()) std::printf("WAIT woke: last seq %llu\n", (unsigned long long)r->last_seq);
  });
  auto r = c.Append(kNs, kConv, "a message while following");
  if (!r.ok()) return Die(r.status());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  (void)c.Unsubscribe(*sub);
  return 0;
}
