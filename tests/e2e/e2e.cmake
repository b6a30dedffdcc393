# End-to-end tests: bash scripts driving the built privtrack command (see
# tests/e2e/lib.sh).  Each runs in its own directory under the build tree.
foreach(_pt_e2e roundtrip malformed dryrun policy usage optout purge spool)
  pt_add_script_test(e2e_${_pt_e2e} ${CMAKE_CURRENT_LIST_DIR}/cli_${_pt_e2e}.sh
                     LABELS e2e TIMEOUT 300)
endforeach()
pt_add_script_test(e2e_taint ${CMAKE_CURRENT_LIST_DIR}/taint.sh
                   LABELS e2e TIMEOUT 600)
