# lib/storage/dynamodb_slots.c, the DynamoDB backend's slot allocator, is
# pure: its test links it alone, with no other layer (no network, no clock,
# no libsodium), and checks its invariants.
pt_add_unit_test(test_dynamodb_slots
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_dynamodb_slots.c
                         ${PROJECT_SOURCE_DIR}/lib/storage/dynamodb_slots.c
                 LABELS unit)
