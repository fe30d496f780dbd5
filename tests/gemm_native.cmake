# The kernel tests once more, built for this machine (-march=native) as one more unity-built
# executable, twin_tests_native, so that the SIMD kernels, not only the portable ones, are
# checked against their naive references. No precompiled header: it would carry the portable
# build's flags. Under the sanitizers only the kernel-level tests are repeated (the
# layer-level ones add no SIMD code path that these do not already reach).
set(_twin_native_tests test_gemm test_conv_blocks test_pool_kernels)
if(NOT TWIN_SANITIZE)
  list(APPEND _twin_native_tests test_conv2d test_pooling test_gradcheck_dense_activation test_inference_fusion)
endif()
# Listed plainly: a deleted or renamed file is a configure error, not a silently smaller target.
list(TRANSFORM _twin_native_tests PREPEND ${CMAKE_CURRENT_SOURCE_DIR}/ OUTPUT_VARIABLE _twin_native_sources)
list(TRANSFORM _twin_native_sources APPEND .cpp)
add_executable(twin_tests_native ${_twin_native_sources})
# twin_test_main brings doctest's main (its own flags do not matter) and the test definitions.
target_link_libraries(twin_tests_native PRIVATE twin_test_main twin_project_native)
target_include_directories(twin_tests_native PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
set_target_properties(twin_tests_native PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE ${TWIN_TEST_UNITY_BATCH})
twin_add_file_tests(twin_tests_native _native ${_twin_native_sources})
