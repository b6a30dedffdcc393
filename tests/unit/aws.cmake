# The aws layer: SigV4 against AWS's test suite, credentials and config,
# the DynamoDB HTTP client against an in-test fault-injecting server.
pt_add_unit_test(test_sigv4 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sigv4.c
                 LIBS pt_aws pt_common LABELS unit)
pt_add_unit_test(test_aws_client
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_aws_client.c
                         ${CMAKE_CURRENT_LIST_DIR}/test_aws_fault_server.c
                 LIBS pt_aws pt_common LABELS unit TIMEOUT 120)
pt_add_unit_test(test_aws_config
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_aws_config.c
                 LIBS pt_aws pt_common LABELS unit)
pt_add_unit_test(test_aws_backend_faults
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_aws_backend_faults.c
                         ${CMAKE_CURRENT_LIST_DIR}/test_aws_fault_server.c
                 LIBS pt_pipeline pt_report pt_keys pt_storage pt_policy pt_record pt_aws
                      pt_common
                 LABELS unit TIMEOUT 120)
