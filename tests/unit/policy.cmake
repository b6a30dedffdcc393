# lib/policy: loading and checking policy.ini, addresses and keys, field
# minimisation, and pt__policy_apply end to end.
set(PT_POLICY_TEST_LIBS pt_policy pt_record pt_common)
pt_add_unit_test(test_policy_ini
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_policy_ini.c
                 LIBS ${PT_POLICY_TEST_LIBS} LABELS unit)
pt_add_unit_test(test_policy_ip
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_policy_ip.c
                 LIBS ${PT_POLICY_TEST_LIBS} PkgConfig::OPENSSL LABELS unit)
pt_add_unit_test(test_policy_fields
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_policy_fields.c
                 LIBS ${PT_POLICY_TEST_LIBS} LABELS unit)
pt_add_unit_test(test_policy_apply
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_policy_apply.c
                 LIBS ${PT_POLICY_TEST_LIBS} PkgConfig::CJSON
                      PkgConfig::OPENSSL Threads::Threads
                 LABELS unit)
pt_add_unit_test(test_policy_notice
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_policy_notice.c
                 LIBS ${PT_POLICY_TEST_LIBS} PkgConfig::CJSON LABELS unit)
pt_add_unit_test(test_retention
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_retention.c
                 LIBS ${PT_POLICY_TEST_LIBS} LABELS unit)
pt_add_unit_test(test_pseudonym_cache
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pseudonym_cache.c
                 LIBS ${PT_POLICY_TEST_LIBS} Threads::Threads LABELS unit)
# The packed visit reader (pt_track_packed): pure, hostile buffers.
pt_add_unit_test(test_packed_visit
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_packed_visit.c
                 LIBS ${PT_POLICY_TEST_LIBS} LABELS unit)
