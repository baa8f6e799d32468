# ReplicaMove against a real etcd (server/cluster/testing/etcd_cluster.h).
target_link_libraries(replica_move_test PRIVATE tldb_cluster_testing)
