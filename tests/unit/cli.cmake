# cli/: the command's own parsers (times, dates, visit lines) and its
# bounded line reader.  The rest of
# the command is tested end to end (tests/e2e).
pt_add_unit_test(test_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cli.c
                 ${PROJECT_SOURCE_DIR}/cli/time.c ${PROJECT_SOURCE_DIR}/cli/visit.c
                 ${PROJECT_SOURCE_DIR}/cli/lines.c
                 LIBS PkgConfig::CJSON LABELS unit)
target_include_directories(test_cli PRIVATE ${PROJECT_SOURCE_DIR})
