# Smoke test of the libmicrohttpd example server (examples/), only when the
# examples are built.  The server's path is passed in the environment: the
# target is defined later (examples/ is added after tests/), which a
# generator expression resolves.
if(PT_BUILD_EXAMPLES)
  pt_add_script_test(example_server
                     ${CMAKE_CURRENT_LIST_DIR}/example_server.sh
                     LABELS e2e TIMEOUT 120)
  set_tests_properties(example_server PROPERTIES ENVIRONMENT
                       "PT_EXAMPLE_SERVER=$<TARGET_FILE:privtrack_httpd>")
endif()
