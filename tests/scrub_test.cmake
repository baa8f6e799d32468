# The scrub's findings are compared with tldb verify's (tools/admin), which share one rule.
target_link_libraries(scrub_test PRIVATE tldb_admin)
