# The Python binding's tests (label "python"): pytest under Debian's
# /usr/bin/python3 (python3-pytest, python3-flask, gunicorn), against this
# build's libprivtrack and privtrack command.  Not registered in sanitizer
# builds: an ASan/TSan-instrumented libprivtrack cannot be loaded into a
# Python that was not started with the sanitizer runtime preloaded.
set(PT_PYTHON /usr/bin/python3 CACHE FILEPATH
    "Python with pytest, Flask and gunicorn (Debian's) for the binding tests")

if(NOT PT_SANITIZE)
  # The structures' layout as the compiler sees the header (test_abi.py).
  add_executable(pt_abi_layout ${CMAKE_CURRENT_LIST_DIR}/abi_layout.c)
  target_include_directories(pt_abi_layout PRIVATE ${PROJECT_SOURCE_DIR}/include)

  # pt_add_python_test(NAME FILE [LABELS ...] [TIMEOUT n] [WRAPPER cmd...])
  function(pt_add_python_test name file)
    cmake_parse_arguments(T "" "TIMEOUT" "LABELS;WRAPPER" ${ARGN})
    if(NOT T_TIMEOUT)
      set(T_TIMEOUT 300)
    endif()
    set(_basetemp ${CMAKE_CURRENT_BINARY_DIR}/python-tmp-${name})
    add_test(NAME python_${name}
             COMMAND ${T_WRAPPER} ${PT_PYTHON} -m pytest -q -p no:cacheprovider
                     --basetemp=${_basetemp} ${CMAKE_CURRENT_LIST_DIR}/${file})
    set_tests_properties(python_${name} PROPERTIES
      LABELS "python;${T_LABELS}" TIMEOUT ${T_TIMEOUT}
      ENVIRONMENT "PT_ABI_LAYOUT=$<TARGET_FILE:pt_abi_layout>;PRIVTRACK_LIBRARY=$<TARGET_FILE:privtrack>;PRIVTRACK_CLI=$<TARGET_FILE:privtrack_cli>;PYTHONPATH=${PROJECT_SOURCE_DIR}/bindings/python;PYTHONDONTWRITEBYTECODE=1;PT_BUILD_DIR=${PROJECT_BINARY_DIR}")
  endfunction()

  pt_add_python_test(abi test_abi.py)
  pt_add_python_test(tracker test_tracker.py)
  # Seconds normally, ~25 s on a loaded machine; each test has its own
  # limit (time_limit in conftest.py) and a forked child 30 s, so a hang
  # fails with tracebacks well before this.
  pt_add_python_test(concurrency test_concurrency.py TIMEOUT 180)
  pt_add_python_test(wsgi test_wsgi.py)
  pt_add_python_test(flask test_flask.py TIMEOUT 600)
  pt_add_python_test(gunicorn test_gunicorn.py TIMEOUT 600)
  pt_add_python_test(install test_install.py TIMEOUT 600)
  # The compat module against its own dynalite on a free loopback port.
  pt_add_python_test(compat_dynamodb test_compat_dynamodb.py LABELS dynamodb
    TIMEOUT 600
    WRAPPER bash ${PROJECT_SOURCE_DIR}/tests/dynamodb/with-dynalite.sh
            ${CMAKE_CURRENT_BINARY_DIR}/dynalite-python)
endif()
