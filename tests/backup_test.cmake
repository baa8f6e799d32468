target_link_libraries(backup_test PRIVATE tldb_admin tldb_server tldb_client)
add_dependencies(backup_test tldb)
target_compile_definitions(backup_test PRIVATE TLDB_CLI_PATH="$<TARGET_FILE:tldb>")
