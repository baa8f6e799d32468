# The checker of which server answered (tools/faults: ServedLog) over in-process servers.
target_link_libraries(served_log_test PRIVATE tldb_server tldb_client tldb_faults)
