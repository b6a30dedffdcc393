# lib/pipeline/pool.c (record slots recycled between pt_track and the
# writer), with the queue it works beside; sources compiled in, as for
# test_queue.
set(_pt_pool_pipe ${PROJECT_SOURCE_DIR}/lib/pipeline)
pt_add_unit_test(test_queue_pool
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_queue_pool.c
                         ${_pt_pool_pipe}/pool.c ${_pt_pool_pipe}/queue.c
                 LIBS pt_record pt_common Threads::Threads)
