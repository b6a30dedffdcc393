# lib/pipeline: the queue and the spool alone (their sources compiled in,
# so these tests do not need the policy or storage layers), then the
# tracker end to end.
set(_pt_pipe ${PROJECT_SOURCE_DIR}/lib/pipeline)
pt_add_unit_test(test_queue SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_queue.c
                 ${_pt_pipe}/queue.c LIBS pt_common Threads::Threads)
pt_add_unit_test(test_spool SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_spool.c
                 ${_pt_pipe}/spool.c ${_pt_pipe}/spool_file.c
                 LIBS pt_record pt_common Threads::Threads)
# The tracker through the public API, with the file store and a test
# backend registered at run time (test_tracker_backend.c).
pt_add_unit_test(test_tracker
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tracker.c
                         ${CMAKE_CURRENT_LIST_DIR}/test_tracker_backend.c
                 LIBS privtrack_static TIMEOUT 300)
# pt_tracker_scan(): ranges of dates through the public API.
pt_add_unit_test(test_tracker_scan
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tracker_scan.c
                 LIBS privtrack_static)
# Per-field retention through the public API: reads and purge.
pt_add_unit_test(test_tracker_retention
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tracker_retention.c
                 LIBS privtrack_static)
# Data-subject requests: the matcher against the policy engine, find and
# erase through the public API on the file store.
pt_add_unit_test(test_subject
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_subject.c
                 LIBS privtrack_static)
# Erasure under a concurrent writer (20,000 appends) and under SIGKILL.
pt_add_unit_test(test_subject_stress
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_subject_stress.c
                 LIBS privtrack_static TIMEOUT 600)
