target_link_libraries(server_conn_test PRIVATE tldb_server tldb_client)
# ConnectionTest reads the server's internal header (connection.h).
target_include_directories(server_conn_test PRIVATE ${PROJECT_SOURCE_DIR}/server/src)
