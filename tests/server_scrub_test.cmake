target_link_libraries(server_scrub_test PRIVATE tldb_server tldb_client tldb_common)
add_dependencies(server_scrub_test tldb-server)
target_compile_definitions(server_scrub_test PRIVATE TLDB_SERVER_PATH="$<TARGET_FILE:tldb-server>")
