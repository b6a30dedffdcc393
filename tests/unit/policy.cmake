# lib/policy: loading and checking policy.ini, addresses and keys, field
# minimisation, and pt__policy_apply end to end.
# test_packed_visit: the packed visit reader (pt_track_packed), pure,
# hostile buffers.
set(PT_POLICY_TEST_LIBS pt_policy pt_record pt_common)
foreach(t test_policy_ini test_policy_fields test_retention test_packed_visit)
  pt_add_unit_test(${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/${t}.c
                   LIBS ${PT_POLICY_TEST_LIBS} LABELS unit)
endforeach()
pt_add_unit_test(test_policy_ip
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_policy_ip.c
                 LIBS ${PT_POLICY_TEST_LIBS} PkgConfig::OPENSSL LABELS unit)
pt_add_unit_test(test_policy_apply
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_policy_apply.c
                 LIBS ${PT_POLICY_TEST_LIBS} PkgConfig::CJSON
                      PkgConfig::OPENSSL Threads::Threads
                 LABELS unit)
pt_add_unit_test(test_policy_notice
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_policy_notice.c
                 LIBS ${PT_POLICY_TEST_LIBS} PkgConfig::CJSON LABELS unit)
pt_add_unit_test(test_pseudonym_cache
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pseudonym_cache.c
                 LIBS ${PT_POLICY_TEST_LIBS} Threads::Threads LABELS unit)
