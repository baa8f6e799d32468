# PartitionSplit against a real etcd (server/cluster/testing/etcd_cluster.h).
target_link_libraries(partition_split_test PRIVATE tldb_cluster_testing)
