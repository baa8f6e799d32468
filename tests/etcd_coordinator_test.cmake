# EtcdCoordinator against a real etcd (server/cluster/testing/etcd_cluster.h).
target_link_libraries(etcd_coordinator_test PRIVATE tldb_cluster_testing)
