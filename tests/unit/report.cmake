# lib/report: statistics and k-anonymity over a stream of records (pure).
pt_add_unit_test(test_stats SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_stats.c
                 LIBS pt_report pt_policy pt_record pt_common PkgConfig::CJSON
                 LABELS unit)
