find_package(nlohmann_json 3 CONFIG REQUIRED)
target_link_libraries(admin_repair_test PRIVATE tldb_admin tldb_server nlohmann_json::nlohmann_json)
add_dependencies(admin_repair_test tldb)
target_compile_definitions(admin_repair_test PRIVATE TLDB_CLI_BINARY="$<TARGET_FILE:tldb>")
