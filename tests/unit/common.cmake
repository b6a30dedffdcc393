pt_add_unit_test(test_common SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_common.c
                 LIBS pt_common)
pt_add_unit_test(test_fs SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fs.c
                 LIBS pt_common)
# lib/common/period.c: key periods (rotation, grace, prefetch).
pt_add_unit_test(test_period SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_period.c
                 LIBS pt_common)
# lib/common/json_cursor.h: the JSON cursor of the fast visit and record
# readers (escapes, surrogates, truncated input, nesting, numbers).
pt_add_unit_test(test_json_cursor
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_json_cursor.c)
