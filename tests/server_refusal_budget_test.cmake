target_link_libraries(server_refusal_budget_test PRIVATE tldb_server tldb_client)
# The unit tests of FailureBudgets read the server's internal header.
target_include_directories(server_refusal_budget_test PRIVATE ${PROJECT_SOURCE_DIR}/server/src)
