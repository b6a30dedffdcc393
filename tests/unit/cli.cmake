# cli/: the command's own parsers (dates, visit lines; times through the
# library's pt_time_parse) and its
# bounded line reader.  The rest of
# the command is tested end to end (tests/e2e).
pt_add_unit_test(test_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cli.c
                 ${PROJECT_SOURCE_DIR}/cli/time.c ${PROJECT_SOURCE_DIR}/cli/visit.c
                 ${PROJECT_SOURCE_DIR}/cli/visit_fast.c
                 ${PROJECT_SOURCE_DIR}/cli/lines.c
                 LIBS privtrack_static PkgConfig::CJSON LABELS unit)
target_include_directories(test_cli PRIVATE ${PROJECT_SOURCE_DIR})
# The fast visit-line reader against the cJSON one (same visit, or declined).
pt_add_unit_test(test_cli_visit_fast
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cli_visit_fast.c
                 ${PROJECT_SOURCE_DIR}/cli/visit.c
                 ${PROJECT_SOURCE_DIR}/cli/visit_fast.c
                 LIBS privtrack_static PkgConfig::CJSON LABELS unit)
target_include_directories(test_cli_visit_fast PRIVATE ${PROJECT_SOURCE_DIR})
