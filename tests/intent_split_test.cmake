# A fan-out intent pending across a split: ShardHosts, ShardedDb and PartitionSplit in process, against a real etcd.
target_link_libraries(intent_split_test PRIVATE tldb_cluster_testing)
