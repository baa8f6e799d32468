# Real processes: one etcd (server/cluster/testing) and four tldb-servers of a sharded cluster.
target_link_libraries(controller_process_test PRIVATE tldb_cluster_testing tldb_client tldb_common)
add_dependencies(controller_process_test tldb-server tldb)
target_compile_definitions(controller_process_test PRIVATE TLDB_SERVER_PATH="$<TARGET_FILE:tldb-server>")
target_compile_definitions(controller_process_test PRIVATE TLDB_CLI_PATH="$<TARGET_FILE:tldb>")
