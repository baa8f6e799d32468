# The etcd tests start real etcd processes (server/cluster/testing/etcd_cluster.h).
target_link_libraries(etcd_client_test PRIVATE tldb_cluster_testing)
