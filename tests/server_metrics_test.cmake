# A real tldb-server scraped with libcurl; the unit tests read the server's internal headers.
pkg_check_modules(TLDB_METRICS_TEST_CURL REQUIRED IMPORTED_TARGET libcurl)
target_link_libraries(server_metrics_test PRIVATE tldb_server tldb_client tldb_common
                                                  PkgConfig::TLDB_METRICS_TEST_CURL)
target_include_directories(server_metrics_test PRIVATE ${PROJECT_SOURCE_DIR}/server/src)
add_dependencies(server_metrics_test tldb-server)
target_compile_definitions(server_metrics_test PRIVATE
                           TLDB_SERVER_PATH="$<TARGET_FILE:tldb-server>")
# The test checks that the metrics docs/operations.md and docs/grafana-tldb.json name exist.
target_compile_definitions(server_metrics_test PRIVATE TLDB_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
