# IntentFanout through ShardHost and ShardedDb in process, against a real etcd.
target_link_libraries(intent_fanout_test PRIVATE tldb_cluster_testing)
