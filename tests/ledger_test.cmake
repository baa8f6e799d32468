# The fault suites' checker (tools/faults/ledger.h).
target_link_libraries(ledger_test PRIVATE tldb_faults)
