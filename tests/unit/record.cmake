# lib/record: one-allocation copies, JSON form and parser, record lists.
pt_add_unit_test(test_record SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_record.c
                 LIBS pt_record pt_common LABELS unit)
