# End-to-end tests: bash scripts driving the built privtrack command (see
# tests/e2e/lib.sh).  Each runs in its own directory under the build tree.
foreach(_pt_e2e roundtrip malformed dryrun policy usage optout purge spool bulk key fields subject
                times notice filesize read)
  pt_add_script_test(e2e_${_pt_e2e} ${CMAKE_CURRENT_LIST_DIR}/cli_${_pt_e2e}.sh
                     LABELS e2e TIMEOUT 300)
endforeach()
# Rotating keys on the file store (its own line: the list above is busy).
pt_add_script_test(e2e_keys ${CMAKE_CURRENT_LIST_DIR}/cli_keys.sh
                   LABELS e2e TIMEOUT 300)
# ... and over time: a running tracker across a key's due instant, its
# clock moved by libfaketime.
pt_add_script_test(e2e_keys_clock ${CMAKE_CURRENT_LIST_DIR}/cli_keys_clock.sh
                   LABELS e2e TIMEOUT 300)
# Hostile files: a 5,000-record spool replay and many refusals; sanitizer
# builds on a loaded machine need the room.
pt_add_script_test(e2e_files ${CMAKE_CURRENT_LIST_DIR}/cli_files.sh
                   LABELS e2e TIMEOUT 600)
pt_add_script_test(e2e_taint ${CMAKE_CURRENT_LIST_DIR}/taint.sh
                   LABELS e2e TIMEOUT 600)

# The command on the DynamoDB backend, against its own dynalite on a free
# loopback port (label dynamodb: needs node and the pinned dynalite).
add_test(NAME e2e_dynamodb
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/dynamodb/with-dynalite.sh
                 ${CMAKE_CURRENT_BINARY_DIR}/dynalite-e2e
                 bash ${CMAKE_CURRENT_LIST_DIR}/cli_dynamodb.sh
                 $<TARGET_FILE:privtrack_cli> ${PROJECT_SOURCE_DIR}
                 ${PROJECT_BINARY_DIR})
set_tests_properties(e2e_dynamodb PROPERTIES LABELS dynamodb TIMEOUT 300)

# The HTML report in a real browser (chromium, headless): label browser.
pt_add_script_test(e2e_report ${CMAKE_CURRENT_LIST_DIR}/cli_report.sh
                   LABELS browser TIMEOUT 300)
