# lib/storage/dynamodb_answer.c reads DynamoDB's answers without I/O: its
# test links it with the common layer and cJSON only.
pt_add_unit_test(test_dynamodb_answer
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_dynamodb_answer.c
                         ${PROJECT_SOURCE_DIR}/lib/storage/dynamodb_answer.c
                 LIBS pt_common PkgConfig::CJSON LABELS unit)
