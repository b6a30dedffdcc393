# lib/keys and the file key store: wrapping, the live table and its
# lock-free readers, the manager across period boundaries, destruction,
# dry runs, sixteen processes racing, an outage, and the tracker.
pt_add_unit_test(test_keys SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_keys.c
                 LIBS privtrack_static PkgConfig::SODIUM Threads::Threads
                 TIMEOUT 300)
