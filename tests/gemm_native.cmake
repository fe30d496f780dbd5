# The kernel tests once more, built for this machine (-march=native), so that the SIMD
# kernels, not only the portable ones, are checked against their naive references.
# No precompiled header: it would carry the portable build's flags.
# Under the sanitizers only the kernel-level tests are repeated (the layer-level ones compile
# slowly with ASan and add no SIMD code path that these do not already reach).
set(_twin_native_tests test_gemm test_conv_blocks test_pool_kernels)
if(NOT TWIN_SANITIZE)
  list(APPEND _twin_native_tests test_conv2d test_pooling test_gradcheck_dense_activation)
endif()
foreach(name IN LISTS _twin_native_tests)
  if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${name}.cpp)
    continue()
  endif()
  add_executable(${name}_native ${CMAKE_CURRENT_SOURCE_DIR}/${name}.cpp ${CMAKE_CURRENT_SOURCE_DIR}/main.cpp)
  target_link_libraries(${name}_native PRIVATE twin::twin doctest::doctest twin_project_warnings twin_project_sanitize
                                                twin_project_native)
  target_include_directories(${name}_native PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_definitions(${name}_native PRIVATE TWIN_TEST_DATA_DIR="${CMAKE_CURRENT_SOURCE_DIR}/data"
                                                    TWIN_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  add_test(NAME ${name}_native COMMAND ${name}_native)
  set_tests_properties(${name}_native PROPERTIES TIMEOUT 600)
endforeach()
