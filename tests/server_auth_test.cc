// tldb-server end to end, access control: tokens and namespace rights, protected mode, and the
// rights maintenance operations need.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

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

TEST(ServerTest, TokensAndNamespaceRights) {
  ServerConfig cfg;
  cfg.tokens = {*ParseServerToken("writer:secret-w-123:rw=store"),
                *ParseServerToken("reader:secret-r-123:r=store,sync"),
                *ParseServerToken("admin:secret-a-123:rw=*")};
  TestServer ts(cfg);
  ClientOptions o;
  o.server = ts.address();
  o.token = "wrong-secret";
  auto bad = Client::Connect(o);
  EXPECT_EQ(bad.status().code(), Status::Code::kPermissionDenied) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("AUTH_FAILED"), std::string::npos);
  o.token = "";
  EXPECT_EQ(Client::Connect(o).status().code(), Status::Code::kPermissionDenied);

  auto writer = ts.Connect("secret-w-123");
  auto reader = ts.Connect("secret-r-123");
  auto admin = ts.Connect("secret-a-123");
  ASSERT_TRUE(writer && reader && admin);
  EXPECT_TRUE(writer->Append("store", "a:1", "x").ok());
  EXPECT_EQ(writer->Append("sync", "a:1", "x").status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(reader->Append("store", "a:1", "x").status().code(), Status::Code::kPermissionDenied);
  EXPECT_TRUE(reader->Get("store", "a:1", 1).ok());
  EXPECT_EQ(writer->Scan("__cursors", "x", {}).status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(admin->Append("__cursors", "x", "forged").status().code(),
            Status::Code::kPermissionDenied);
  EXPECT_EQ(reader->CreateNamespace("newns", {}).code(), Status::Code::kPermissionDenied);
  EXPECT_TRUE(admin->CreateNamespace("newns", {}).ok());
  auto visible = reader->ListNamespaces();
  ASSERT_TRUE(visible.ok());
  EXPECT_EQ(visible->size(), 2u);  // store, sync
  // Handshake grants are announced.
  EXPECT_EQ(reader->server_info().grants.size(), 2u);
  // Nothing was written by the denied requests.
  std::string_view k[] = {"a:1"};
  EXPECT_EQ((*admin->LastSeq("store", k))[0], 1u);
}

TEST(ServerTest, ProtectedModeRefusesNonLoopbackWithoutToken) {
  ServerConfig cfg;
  cfg.listen = "0.0.0.0:0";
  Status s = ValidateServerConfig(cfg);
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied);
  EXPECT_NE(s.message().find("protected mode"), std::string::npos);
  cfg.tokens = {*ParseServerToken("t:longenoughsecret:rw=*")};
  EXPECT_TRUE(ValidateServerConfig(cfg).ok());
  EXPECT_TRUE(IsLoopbackListen("127.0.0.1:7070"));
  EXPECT_TRUE(IsLoopbackListen("[::1]:7070"));
  EXPECT_TRUE(IsLoopbackListen("localhost:7070"));
  EXPECT_FALSE(IsLoopbackListen("0.0.0.0:7070"));
  EXPECT_FALSE(ParseServerToken("nosecret").ok());
  EXPECT_FALSE(ParseServerToken("n:short").ok());
  EXPECT_FALSE(ParseServerToken("n:longenoughsecret:x=ns").ok());
}

TEST(ServerTest, MaintenanceNeedsTheRightRights) {
  ServerConfig cfg;
  cfg.tokens = {*ParseServerToken("writer:secret-w-123:rw=store"),
                *ParseServerToken("reader:secret-r-123:r=store"),
                *ParseServerToken("nsadmin:secret-n-123:admin=store"),
                *ParseServerToken("root:secret-a-123:admin=*")};
  TestServer ts(cfg);
  auto writer = ts.Connect("secret-w-123");
  auto reader = ts.Connect("secret-r-123");
  auto nsadmin = ts.Connect("secret-n-123");
  auto root = ts.Connect("secret-a-123");
  ASSERT_TRUE(writer && reader && nsadmin && root);
  ASSERT_TRUE(writer->Append("store", "t", "a").ok());
  ASSERT_TRUE(writer->Append("store", "t", "b").ok());
  const auto denied = Status::Code::kPermissionDenied;

  // Mutations need write.
  EXPECT_EQ(reader->Recall("store", "t", 1).status().code(), denied);
  EXPECT_EQ(reader->Edit("store", "t", 1, "x").status().code(), denied);
  EXPECT_EQ(reader->Trim("store", "t", 2).status().code(), denied);
  EXPECT_EQ(reader->DeleteTimeline("store", "t", 2).status().code(), denied);
  EXPECT_EQ(writer->Recall("sync", "t", 1).status().code(), denied);
  EXPECT_EQ(root->Recall("__cursors", "t", 1).status().code(), denied);
  auto m1 = reader->Get("store", "t", 1);  // nothing was changed by the refused requests
  ASSERT_TRUE(m1.ok());
  EXPECT_EQ(m1->payload, "a");
  EXPECT_TRUE(writer->Edit("store", "t", 1, "a2").ok());

  // Options and compaction need admin: on the namespace, or on "*" for every namespace.
  NamespaceOptionsUpdate u;
  u.ttl_ms = 3'600'000;
  EXPECT_EQ(writer->SetNamespaceOptions("store", u).status().code(), denied);
  EXPECT_EQ(nsadmin->SetNamespaceOptions("sync", u).status().code(), denied);
  EXPECT_EQ(root->SetNamespaceOptions("__cursors", u).status().code(), denied);
  EXPECT_EQ(writer->StartCompaction("store", false).status().code(), denied);
  EXPECT_EQ(nsadmin->StartCompaction("", false).status().code(), denied);
  EXPECT_EQ(reader->DescribeNamespace("store")->options.ttl_ms, 0u);  // unchanged
  auto set = nsadmin->SetNamespaceOptions("store", u);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->options.ttl_ms, 3'600'000u);
  auto job = nsadmin->StartCompaction("store", false);
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  auto all = root->StartCompaction("", false);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_TRUE(nsadmin->GetCompaction(*job).ok());
  EXPECT_EQ(nsadmin->GetCompaction(*all).status().code(), denied);
  EXPECT_EQ(writer->GetCompaction(*job).status().code(), denied);
  EXPECT_TRUE(root->GetCompaction(*job).ok());
  // HELLO announces the admin bit (4), which includes read and write (1|2).
  ASSERT_EQ(nsadmin->server_info().grants.size(), 1u);
  EXPECT_EQ(nsadmin->server_info().grants[0].second, 7);
}

}  // namespace
}  // namespace tldb::testing
