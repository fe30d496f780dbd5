# The concurrency test under ThreadSanitizer (configure preset `tsan`, run by scripts/test.sh):
# its own small executable, tests/test_concurrency.cpp alone, since TSan cannot be combined
# with the ASan build and the rest of the suite has no threads of its own to race.
option(TWIN_TSAN "Build tests/test_concurrency.cpp under ThreadSanitizer as twin_tests_tsan" OFF)
if(TWIN_TSAN)
  add_executable(twin_tests_tsan main.cpp test_concurrency.cpp)
  target_link_libraries(twin_tests_tsan PRIVATE twin::twin doctest::doctest twin_project_warnings)
  target_compile_options(twin_tests_tsan PRIVATE -fsanitize=thread -fno-omit-frame-pointer)
  target_link_options(twin_tests_tsan PRIVATE -fsanitize=thread)
  add_test(NAME test_concurrency_tsan COMMAND twin_tests_tsan)
  # halt_on_error: the first race fails the test; the test's own deadlines bound a hang.
  set_tests_properties(test_concurrency_tsan PROPERTIES TIMEOUT 300
                       ENVIRONMENT "TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1"
                       FAIL_REGULAR_EXPRESSION "test cases: +0 \\|;ThreadSanitizer")
endif()
