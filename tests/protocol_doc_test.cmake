target_link_libraries(protocol_doc_test PRIVATE tldb_protocol)
target_compile_definitions(protocol_doc_test PRIVATE
  TLDB_PROTOCOL_DOC="${PROJECT_SOURCE_DIR}/docs/protocol.md")
