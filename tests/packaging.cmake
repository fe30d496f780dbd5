# Builds small consumer projects against twin: installed (find_package), add_subdirectory,
# FetchContent. Slow-ish (three CMake configures), so it runs in parallel with the rest.
# Registered in the plain build only: the consumers are separate projects built without
# the sanitizers, so a second run under TWIN_SANITIZE would repeat the same work.
if(NOT TWIN_SANITIZE)
  add_test(NAME packaging COMMAND ${CMAKE_CURRENT_LIST_DIR}/packaging/run.sh ${CMAKE_CURRENT_BINARY_DIR}/packaging-work)
  set_tests_properties(packaging PROPERTIES TIMEOUT 600)
endif()
