# The README's example is tests/test_readme_example.cpp: this test fails when the two differ.
add_test(NAME readme_example_in_sync
         COMMAND ${CMAKE_COMMAND} -DREADME=${PROJECT_SOURCE_DIR}/README.md
                 -DSOURCE=${CMAKE_CURRENT_LIST_DIR}/test_readme_example.cpp -P ${CMAKE_CURRENT_LIST_DIR}/readme/check_sync.cmake)
