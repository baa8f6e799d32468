target_link_libraries(soak_test PRIVATE tldb_faults tldb_client)
add_dependencies(soak_test tldb-server)
target_compile_definitions(soak_test PRIVATE TLDB_SERVER_PATH="$<TARGET_FILE:tldb-server>")
