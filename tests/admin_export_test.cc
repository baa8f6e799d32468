// tldb export and import (the admin library, online beside a running server and offline), and
// the real `tldb` binary's exit codes for the admin subcommands.
#include "admin_test_util.h"

namespace tldb::admin {
namespace {

TEST_F(AdminTest, ExportImportRoundTripIsByteIdenticalAndIdempotent) {
  const std::string exported = ExportOf(dir_);
  EXPECT_EQ(static_cast<uint64_t>(std::count(exported.begin(), exported.end(), '\n')), messages_);
  const std::string copy = tmp_.path() + "/copy";
  std::istringstream in(exported);
  auto first = ImportIntoDir(copy, in);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->imported, messages_);
  EXPECT_EQ(first->namespaces_created, 2u);
  EXPECT_EQ(ExportOf(copy), exported);

  std::istringstream again(exported);
  auto second = ImportIntoDir(copy, again);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->imported, 0u);
  EXPECT_EQ(second->already_present, messages_);
  EXPECT_EQ(ExportOf(copy), exported);
  EXPECT_TRUE(MustVerify(copy).sound());

  DumpOptions o;
  o.timeline = "conv:2";
  std::ostringstream a, b;
  ASSERT_TRUE(Dump(*fs_, dir_, o, a).ok());
  ASSERT_TRUE(Dump(*fs_, copy, o, b).ok());
  auto strip = [](std::string s) {  // segment@offset differs between the stores
    std::string out;
    std::istringstream in(s);
    for (std::string l; std::getline(in, l);) out += l.substr(l.find('\t')) + "\n";
    return out;
  };
  EXPECT_EQ(strip(a.str()), strip(b.str()));
}

TEST_F(AdminTest, ImportReportsTheBadLine) {
  std::istringstream in(
      "{\"ns\":\"store\",\"timeline\":\"t\",\"seq\":1,\"timestamp_ms\":1,\"payload\":\"aGk=\"}\n"
      "{\"ns\":\"store\",\"timeline\":\"t\",\"seq\":1,\"timestamp_ms\":1,\"payload\":\"aG8=\"}\n");
  auto r = ImportIntoDir(tmp_.path() + "/other", in);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("line 2:"), std::string::npos) << r.status().ToString();
}

TEST_F(AdminTest, OnlineExportOfATimelineMatchesOfflineExportBesideTheRunningServer) {
  auto db = Db::Open(dir_, DbOptions());
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  ServerConfig cfg;
  cfg.listen = "127.0.0.1:0";
  cfg.threads = 1;
  cfg.log = [](std::string_view) {};
  auto server = Server::Start(db->get(), cfg);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  ClientOptions co;
  co.server = (*server)->listen_address();
  auto client = Client::Connect(co);
  ASSERT_TRUE(client.ok()) << client.status().ToString();

  ExportOptions o{"store", {"conv:1", "inbox:c"}};
  std::ostringstream online, offline;
  uint64_t n_online = 0, n_offline = 0;
  ASSERT_TRUE(ExportServer(**client, o, online, &n_online).ok());
  ASSERT_TRUE(ExportDir(*fs_, dir_, {"store", {"conv:1"}}, offline, &n_offline).ok());
  ASSERT_TRUE(ExportDir(*fs_, dir_, {"store", {"inbox:c"}}, offline, &n_offline).ok());
  EXPECT_EQ(n_online, 100u + 30u);
  EXPECT_EQ(online.str(), offline.str());
  EXPECT_EQ(CheckServerExport({"store", {}}).code(), Status::Code::kNotSupported);
  EXPECT_EQ(RunCli("export --server " + co.server + " --ns store --timeline conv:2"), 0);
  (*server)->Stop();
}

TEST_F(AdminTest, BinaryExportThenImportRoundTrips) {
  const std::string file = tmp_.path() + "/backup.jsonl", copy = tmp_.path() + "/copy";
  const std::string bin = TLDB_CLI_BINARY;
  ASSERT_EQ(std::system((bin + " export " + dir_ + " > " + file + " 2>/dev/null").c_str()), 0);
  EXPECT_EQ(Read(file), ExportOf(dir_));
  EXPECT_EQ(RunCli("import " + copy + " " + file), 0);
  EXPECT_EQ(RunCli("import " + copy + " " + file), 0) << "idempotent";
  EXPECT_EQ(ExportOf(copy), Read(file));
  EXPECT_NE(RunCli("import " + copy + " " + tmp_.path() + "/missing.jsonl"), 0);
}

TEST_F(AdminTest, BinaryExitCodes) {
  EXPECT_EQ(RunCli("verify " + dir_), 0);
  EXPECT_EQ(RunCli("inspect --json " + dir_), 0);
  EXPECT_EQ(RunCli("dump --ns store --timeline conv:1 --limit 3 " + dir_), 0);
  EXPECT_NE(RunCli("inspect " + tmp_.path() + "/missing"), 0);
  EXPECT_NE(RunCli("export --server 127.0.0.1:1"), 0);  // no --timeline: cannot list timelines
  std::string image = Read(Seg(2));
  image[RecordOffset(2, 1) + 40] ^= 0x10;
  Write(Seg(2), image);
  EXPECT_EQ(RunCli("verify " + dir_), 1);
  EXPECT_EQ(RunCli("repair " + dir_), 0) << "a quarantined middle segment leaves SeqId gaps, "
                                            "which the engine accepts";
}

// ---- stores that went through recall/edit/trim and compaction ----

TEST_F(AdminTest, ExportOfAMaintainedStoreIsExactlyWhatTheEngineServes) {
  MakeMaintainedStore(ChatDir());
  const auto exported = ExportedByTimeline(ChatDir());
  const auto served = ServedByEngine(ChatDir());
  EXPECT_EQ(exported, served);
  const std::string a = exported.at("conv:a");
  EXPECT_EQ(a.find("\"seq\":5,"), std::string::npos) << "recalled";
  EXPECT_EQ(a.find("\"seq\":20,"), std::string::npos) << "recalled after compaction";
  EXPECT_NE(a.find(Base64Encode("edited seven")), std::string::npos);
  EXPECT_NE(a.find(Base64Encode("edited thirty")), std::string::npos);
  EXPECT_EQ(exported.count("gone"), 0u) << "deleted timeline";
  EXPECT_EQ(exported.at("conv:b").find("\"seq\":9,"), std::string::npos) << "trimmed";
  EXPECT_NE(exported.at("conv:b").find("\"seq\":10,"), std::string::npos);
}

TEST_F(AdminTest, ImportOfAMaintainedExportKeepsGapsAndIsIdempotent) {
  MakeMaintainedStore(ChatDir());
  const std::string exported = ExportOf(ChatDir());
  const std::string copy = tmp_.path() + "/copy";
  std::istringstream in(exported);
  auto first = ImportIntoDir(copy, in);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->gaps_kept, 2u) << "conv:a seq 5 and 20";
  EXPECT_EQ(ExportOf(copy), exported);
  std::istringstream again(exported);
  auto second = ImportIntoDir(copy, again);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->imported, 0u);
  EXPECT_EQ(second->gaps_kept, 0u);
  OnFreshThread([&] {
    auto db = Db::Open(copy, DbOptions());
    ASSERT_TRUE(db.ok());
    EXPECT_EQ((*db)->Get("chat", "conv:a", 5).status().code(), Status::Code::kDeleted);
    auto seven = (*db)->Get("chat", "conv:a", 7);
    ASSERT_TRUE(seven.ok());
    EXPECT_EQ(seven->payload, "edited seven");
  });
}

}  // namespace
}  // namespace tldb::admin
