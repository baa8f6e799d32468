# Splitting a partition with real tldb-server processes and the tldb CLI.
target_link_libraries(shard_split_test PRIVATE tldb_cluster_testing tldb_client tldb_common)
add_dependencies(shard_split_test tldb-server tldb)
target_compile_definitions(shard_split_test PRIVATE TLDB_SERVER_PATH="$<TARGET_FILE:tldb-server>")
target_compile_definitions(shard_split_test PRIVATE TLDB_CLI_PATH="$<TARGET_FILE:tldb>")
