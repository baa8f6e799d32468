# The etcd tests start real etcd processes (server/cluster/testing/etcd_cluster.h).
target_link_libraries(etcd_lease_keeper_test PRIVATE tldb_cluster_testing)
