# Real processes: one etcd (server/cluster/testing) and three tldb-servers in cluster mode.
target_link_libraries(cluster_process_test PRIVATE tldb_cluster_testing tldb_client)
add_dependencies(cluster_process_test tldb-server)
target_compile_definitions(cluster_process_test PRIVATE TLDB_SERVER_PATH="$<TARGET_FILE:tldb-server>")
target_compile_definitions(cluster_process_test PRIVATE TLDB_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
# The ledger workload and its checker (tools/faults: ClusterWorkload, Ledger).
target_link_libraries(cluster_process_test PRIVATE tldb_faults)
