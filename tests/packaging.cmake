# Builds small consumer projects against twin: installed (find_package), add_subdirectory,
# FetchContent. Slow-ish (three CMake configures), so it runs in parallel with the rest.
add_test(NAME packaging COMMAND ${CMAKE_CURRENT_LIST_DIR}/packaging/run.sh ${CMAKE_CURRENT_BINARY_DIR}/packaging-work)
set_tests_properties(packaging PROPERTIES TIMEOUT 600)
