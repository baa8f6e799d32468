target_link_libraries(cli_test PRIVATE tldb_server tldb_client)
add_dependencies(cli_test tldb tldb-server)
target_compile_definitions(cli_test PRIVATE TLDB_CLI_PATH="$<TARGET_FILE:tldb>"
                                            TLDB_SERVER_PATH="$<TARGET_FILE:tldb-server>")
