# The records of a cross-partition fan-out (server/protocol/intent_record.h).
target_link_libraries(intent_record_test PRIVATE tldb_protocol)
