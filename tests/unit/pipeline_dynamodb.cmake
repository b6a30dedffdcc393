# The tracker against dynalite killed and restarted mid-stream (label
# "dynamodb"): 20,000 visits, all stored exactly once.  The server is
# started, killed, restarted and stopped by the test on a free loopback
# port (tests/pipeline/dynamodb_restart.sh).
add_executable(pipeline_dynamodb_restart
               ${PROJECT_SOURCE_DIR}/tests/pipeline/dynamodb_restart.c)
target_link_libraries(pipeline_dynamodb_restart PRIVATE privtrack_static)
add_test(NAME pipeline_dynamodb_restart
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/pipeline/dynamodb_restart.sh
                 ${CMAKE_CURRENT_BINARY_DIR}/dynalite-restart
                 $<TARGET_FILE:pipeline_dynamodb_restart>)
set_tests_properties(pipeline_dynamodb_restart PROPERTIES LABELS dynamodb
                     TIMEOUT 900)
