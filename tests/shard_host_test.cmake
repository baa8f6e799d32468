# ShardHost and ShardedDb in process, against a real etcd (server/cluster/testing/etcd_cluster.h).
target_link_libraries(shard_host_test PRIVATE tldb_cluster_testing)
