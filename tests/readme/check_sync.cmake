# cmake -DREADME=README.md -DSOURCE=tests/test_readme_example.cpp -P check_sync.cmake
# Fails when the README's "A Siamese network" code block and the lines between the
# "--- README begin/end ---" markers of the test (less its two-space indent) differ.
file(READ "${README}" readme)
file(READ "${SOURCE}" source)
string(REGEX MATCH "## A Siamese network in [0-9]+ lines\n+```cpp\n#include <twin/twin.hpp>\n\n([^`]*)```" _ "${readme}")
set(block "${CMAKE_MATCH_1}")
string(REGEX MATCH "// --- README begin ---\n(.*)\n  // --- README end ---" _ "${source}")
set(test "\n${CMAKE_MATCH_1}\n")
string(REPLACE "\n  " "\n" test "${test}")  # a literal replace: CMake's regex ^ matches at every step
string(SUBSTRING "${test}" 1 -1 test)
if(block STREQUAL "" OR test STREQUAL "\n")
  message(FATAL_ERROR "readme sync: the README block or the test's README markers were not found")
endif()
if(NOT block STREQUAL test)
  file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/readme_block.txt" "${block}")
  file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/readme_test.txt" "${test}")
  message(FATAL_ERROR "readme sync: README.md's example differs from ${SOURCE}; "
                      "compare readme_block.txt and readme_test.txt in ${CMAKE_CURRENT_BINARY_DIR}")
endif()
string(REGEX MATCHALL "\n" lines "#include <twin/twin.hpp>\n\n${block}")
list(LENGTH lines n)
if(NOT readme MATCHES "## A Siamese network in ${n} lines")
  message(FATAL_ERROR "readme sync: the README's heading should say ${n} lines")
endif()
