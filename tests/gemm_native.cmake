# test_gemm.cpp once more, built for this machine (-march=native) so that the SIMD GEMM
# kernel, not only the portable one, is checked against the reference. No precompiled
# header: it would carry the portable build's flags.
add_executable(test_gemm_native ${CMAKE_CURRENT_SOURCE_DIR}/test_gemm.cpp ${CMAKE_CURRENT_SOURCE_DIR}/main.cpp)
target_link_libraries(test_gemm_native PRIVATE twin::twin doctest::doctest twin_project_warnings twin_project_sanitize
                                               twin_project_native)
target_compile_definitions(test_gemm_native PRIVATE TWIN_TEST_DATA_DIR="${CMAKE_CURRENT_SOURCE_DIR}/data"
                                                    TWIN_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
add_test(NAME test_gemm_native COMMAND test_gemm_native)
set_tests_properties(test_gemm_native PROPERTIES TIMEOUT 600)
