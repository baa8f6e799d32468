# Real processes: one etcd (server/cluster/testing) and five tldb-servers of a sharded cluster,
# with the ledger workload (tools/faults: ClusterWorkload, Ledger, ServedLog).
target_link_libraries(shard_chaos_test PRIVATE tldb_cluster_testing tldb_client tldb_common
                      tldb_faults)
add_dependencies(shard_chaos_test tldb-server tldb)
target_compile_definitions(shard_chaos_test PRIVATE TLDB_SERVER_PATH="$<TARGET_FILE:tldb-server>")
target_compile_definitions(shard_chaos_test PRIVATE TLDB_CLI_PATH="$<TARGET_FILE:tldb>")
