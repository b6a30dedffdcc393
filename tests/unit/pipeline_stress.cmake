# lib/pipeline under load and under crashes (sources in tests/pipeline/):
# 8 threads x 50,000 pt_track() → exactly 400,000 stored; SIGKILL
# mid-stream and a full disk (RLIMIT_FSIZE) → nothing acknowledged lost.
set(_pt_pipe_tests ${PROJECT_SOURCE_DIR}/tests/pipeline)
pt_add_unit_test(test_tracker_stress
                 SOURCES ${_pt_pipe_tests}/stress_tracker.c
                 LIBS privtrack_static LABELS unit stress TIMEOUT 900)
if(PT_SANITIZE MATCHES "thread|address")
  # Sanitizers slow the writer down ~10x: same test, fewer records.
  set_tests_properties(test_tracker_stress PROPERTIES
                       ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;PT_STRESS_PER_THREAD=10000")
endif()
pt_add_unit_test(test_tracker_crash
                 SOURCES ${_pt_pipe_tests}/crash_tracker.c
                 LIBS privtrack_static LABELS unit TIMEOUT 300)
