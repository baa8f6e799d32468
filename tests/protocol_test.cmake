target_link_libraries(protocol_test PRIVATE tldb_protocol)
target_compile_definitions(protocol_test PRIVATE
  TLDB_FUZZ_CORPUS_DIR="${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus")
