# tldb-bench's report (bench/tldb_bench/report.cc), compiled in: the bench is a program, not a
# library, and may not be built.
find_package(nlohmann_json 3 CONFIG REQUIRED)
target_sources(bench_report_test PRIVATE ${PROJECT_SOURCE_DIR}/bench/tldb_bench/report.cc)
target_include_directories(bench_report_test PRIVATE ${PROJECT_SOURCE_DIR}/bench/tldb_bench)
target_link_libraries(bench_report_test PRIVATE nlohmann_json::nlohmann_json)
