target_link_libraries(server_damaged_test PRIVATE tldb_server tldb_client tldb_common)
add_dependencies(server_damaged_test tldb tldb-server)
target_compile_definitions(server_damaged_test PRIVATE TLDB_CLI_PATH="$<TARGET_FILE:tldb>"
                                                       TLDB_SERVER_PATH="$<TARGET_FILE:tldb-server>")
