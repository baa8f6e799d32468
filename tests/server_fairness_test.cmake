target_link_libraries(server_fairness_test PRIVATE tldb_server tldb_client)
# The unit test of TurnBudget reads the server's internal header.
target_include_directories(server_fairness_test PRIVATE ${PROJECT_SOURCE_DIR}/server/src)
