# Rotating keys in DynamoDB (<table>-keys) against a dynalite the test
# kills and restarts (label "dynamodb"), and the command on it.
add_executable(test_dynamodb_keys
               ${CMAKE_CURRENT_LIST_DIR}/test_dynamodb_keys.c)
target_link_libraries(test_dynamodb_keys PRIVATE privtrack_static
                      PkgConfig::CMOCKA PkgConfig::SODIUM PkgConfig::CJSON)
target_include_directories(test_dynamodb_keys PRIVATE
  ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/lib
  ${PROJECT_SOURCE_DIR}/tests)
add_test(NAME dynamodb_keys
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/pipeline/dynamodb_restart.sh
                 ${CMAKE_CURRENT_BINARY_DIR}/dynalite-keys
                 $<TARGET_FILE:test_dynamodb_keys>)
set_tests_properties(dynamodb_keys PROPERTIES LABELS dynamodb TIMEOUT 600
                     ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
add_test(NAME e2e_dynamodb_keys
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/dynamodb/with-dynalite.sh
                 ${CMAKE_CURRENT_BINARY_DIR}/dynalite-e2e-keys
                 bash ${PROJECT_SOURCE_DIR}/tests/e2e/cli_dynamodb_keys.sh
                 $<TARGET_FILE:privtrack_cli> ${PROJECT_SOURCE_DIR}
                 ${PROJECT_BINARY_DIR})
set_tests_properties(e2e_dynamodb_keys PROPERTIES LABELS dynamodb TIMEOUT 300)
# The taint test with every policy on DynamoDB (rotating keys in
# <table>-keys included).
add_test(NAME e2e_taint_dynamodb
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/dynamodb/with-dynalite.sh
                 ${CMAKE_CURRENT_BINARY_DIR}/dynalite-taint
                 env PT_TAINT_BACKEND=dynamodb
                 bash ${PROJECT_SOURCE_DIR}/tests/e2e/taint.sh
                 $<TARGET_FILE:privtrack_cli> ${PROJECT_SOURCE_DIR}
                 ${PROJECT_BINARY_DIR})
set_tests_properties(e2e_taint_dynamodb PROPERTIES LABELS dynamodb
                     TIMEOUT 900)
