# Controller against a real etcd (server/cluster/testing/etcd_cluster.h).
target_link_libraries(controller_test PRIVATE tldb_cluster_testing)
