# ReadSide is private to the client library: the test includes client/src directly.
target_include_directories(client_read_side_test PRIVATE ${PROJECT_SOURCE_DIR}/client/src)
target_link_libraries(client_read_side_test PRIVATE tldb_client)
