# The fuzz targets' replay drivers are part of every test build (label
# fuzz-replay), whatever the compiler; fuzz/CMakeLists.txt registers them.
# With PT_BUILD_FUZZ the top-level CMakeLists.txt adds fuzz/ itself.
if(NOT PT_BUILD_FUZZ)
  add_subdirectory(${PROJECT_SOURCE_DIR}/fuzz ${PROJECT_BINARY_DIR}/fuzz)
endif()
