# Packaging: build, `cmake --install` into a temporary prefix, and build
# programs against the installed package (CMake and pkg-config).  Label
# "install": run by scripts/test.sh's full pass, not under sanitizers.
pt_add_script_test(install_package ${CMAKE_CURRENT_LIST_DIR}/install.sh
                   LABELS install TIMEOUT 900)
