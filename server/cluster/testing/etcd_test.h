// EtcdTest: the GoogleTest fixture of the etcd tests — a one-member EtcdCluster started in
// SetUp() with an EtcdClient (client_) on it; a start failure (etcd not installed, ...) fails
// the test. MustConnect() makes further clients, failing the test when it cannot.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "cluster/etcd_client.h"
#include "cluster/testing/etcd_cluster.h"

namespace tldb::cluster::testing {

inline std::unique_ptr<EtcdClient> MustConnect(const EtcdClientOptions& options) {
  auto c = EtcdClient::Create(options);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : nullptr;
}

class EtcdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const Status s = etcd_.Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    client_ = MustConnect(etcd_.ClientOptions());
    ASSERT_NE(client_, nullptr);
  }

  EtcdCluster etcd_{1};
  std::unique_ptr<EtcdClient> client_;
};

}  // namespace tldb::cluster::testing
