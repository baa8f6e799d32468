# The fuzz targets' entry logic, replayed over tests/fuzz/<target>_corpus/ (any compiler).
target_sources(fuzz_replay_test PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/record_target.cc
                                        ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/segment_target.cc
                                        ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/session_target.cc
                                        ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/session_builder.cc)
target_link_libraries(fuzz_replay_test PRIVATE tldb_server)
target_compile_definitions(fuzz_replay_test PRIVATE
  TLDB_FUZZ_DIR="${CMAKE_CURRENT_SOURCE_DIR}/fuzz")
