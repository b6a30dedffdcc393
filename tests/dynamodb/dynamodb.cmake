# DynamoDB backend tests against a real dynalite (label "dynamodb").  Each
# test starts and stops its own dynalite on a free loopback port through
# with-dynalite.sh; a missing node/npm/dynalite fails the test (no skip).
# test_dynamodb: the backend (writes, reads, leases, purge);
# test_dynamodb_replay: what a replay reads and remembers (dynamodb_seen.c).
foreach(t test_dynamodb test_dynamodb_replay)
  add_executable(${t} ${CMAKE_CURRENT_LIST_DIR}/${t}.c
                 ${CMAKE_CURRENT_LIST_DIR}/ddb_fixture.c)
  target_link_libraries(${t} PRIVATE pt_pipeline pt_report pt_keys pt_storage
                        pt_policy pt_record pt_aws pt_common PkgConfig::CMOCKA)
  target_include_directories(${t} PRIVATE ${PROJECT_SOURCE_DIR}/include
                             ${PROJECT_SOURCE_DIR}/lib ${PROJECT_SOURCE_DIR}/tests)
endforeach()
add_test(NAME dynamodb_backend
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/with-dynalite.sh
                 ${CMAKE_CURRENT_BINARY_DIR}/dynalite-backend
                 $<TARGET_FILE:test_dynamodb>)
add_test(NAME dynamodb_replay
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/with-dynalite.sh
                 ${CMAKE_CURRENT_BINARY_DIR}/dynalite-replay
                 $<TARGET_FILE:test_dynamodb_replay>)
set_tests_properties(dynamodb_backend dynamodb_replay PROPERTIES LABELS dynamodb
                     TIMEOUT 600 ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")

# Compatibility with the seed's tools (awscli, python3-boto3).
add_executable(ddb_tool ${CMAKE_CURRENT_LIST_DIR}/ddb_tool.c)
target_link_libraries(ddb_tool PRIVATE pt_pipeline pt_report pt_keys pt_storage pt_policy
                      pt_record pt_aws pt_common)
target_include_directories(ddb_tool PRIVATE
  ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/lib)
add_test(NAME dynamodb_compat
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/with-dynalite.sh
                 ${CMAKE_CURRENT_BINARY_DIR}/dynalite-compat
                 bash ${CMAKE_CURRENT_LIST_DIR}/compat.sh
                 $<TARGET_FILE:ddb_tool> $<TARGET_FILE:privtrack_cli>)
set_tests_properties(dynamodb_compat PROPERTIES LABELS dynamodb TIMEOUT 300)

# Data-subject find and erase on DynamoDB through the public API.
add_executable(test_dynamodb_subject
               ${CMAKE_CURRENT_LIST_DIR}/test_dynamodb_subject.c)
target_link_libraries(test_dynamodb_subject PRIVATE privtrack_static
                      PkgConfig::CMOCKA)
target_include_directories(test_dynamodb_subject PRIVATE
                           ${PROJECT_SOURCE_DIR}/include)
add_test(NAME dynamodb_subject
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/with-dynalite.sh
                 ${CMAKE_CURRENT_BINARY_DIR}/dynalite-subject
                 $<TARGET_FILE:test_dynamodb_subject>)
set_tests_properties(dynamodb_subject PROPERTIES LABELS dynamodb TIMEOUT 600
                     ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
