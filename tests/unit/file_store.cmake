# lib/storage/file*.c, the `file` backend.  Its sources are compiled into
# the tests directly (with the record and common layers) so that the tests
# do not depend on the policy engine or the DynamoDB backend, which the
# pt_storage layer's registry pulls in; file_store_fixture.c stands in for
# pt_policy_get().
file(GLOB PT_FILE_STORE_SOURCES CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/lib/storage/file*.c)
pt_add_unit_test(test_file_store
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_file_store.c
                         ${CMAKE_CURRENT_LIST_DIR}/file_store_fixture.c
                         ${PT_FILE_STORE_SOURCES}
                 LIBS pt_record pt_common PkgConfig::SODIUM LABELS unit)
# Multi-process appends, a full disk, purge racing appenders.
pt_add_unit_test(test_file_store_stress
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/file_store_stress.c
                         ${CMAKE_CURRENT_LIST_DIR}/file_store_fixture.c
                         ${PT_FILE_STORE_SOURCES}
                 LIBS pt_record pt_common PkgConfig::SODIUM LABELS unit TIMEOUT 300)

# A throughput probe (not a test: timings depend on the machine).
add_executable(file_store_bench ${CMAKE_CURRENT_LIST_DIR}/file_store_bench.c
                                ${PT_FILE_STORE_SOURCES})
target_include_directories(file_store_bench PRIVATE
                           ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/lib)
target_link_libraries(file_store_bench PRIVATE pt_record pt_common PkgConfig::SODIUM)

# scan(): ranges of dates, forwards and backwards, hostile day files.
pt_add_unit_test(test_file_scan
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_file_scan.c
                         ${CMAKE_CURRENT_LIST_DIR}/file_store_fixture.c
                         ${PT_FILE_STORE_SOURCES}
                 LIBS pt_record pt_common PkgConfig::SODIUM LABELS unit)
