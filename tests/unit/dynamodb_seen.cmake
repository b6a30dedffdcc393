# lib/storage/dynamodb_seen.c, what the DynamoDB backend remembers of the
# table during a replay, is pure: linked with the slot allocator (its sets)
# and nothing else, and checked against its invariants.
pt_add_unit_test(test_dynamodb_seen
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_dynamodb_seen.c
                         ${PROJECT_SOURCE_DIR}/lib/storage/dynamodb_seen.c
                         ${PROJECT_SOURCE_DIR}/lib/storage/dynamodb_slots.c
                 LABELS unit)
