target_link_libraries(hostile_test PRIVATE tldb_faults tldb_server tldb_client)
add_dependencies(hostile_test tldb-server)
target_compile_definitions(hostile_test PRIVATE TLDB_SERVER_PATH="$<TARGET_FILE:tldb-server>")
