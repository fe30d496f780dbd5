# Flags for twin's own targets (tests, examples, benchmarks) only; never for consumers.
add_library(twin_project_warnings INTERFACE)
target_compile_options(twin_project_warnings INTERFACE -Wall -Wextra -Wpedantic -Werror)
# GCC 12 reports false -Wrestrict and -Wstringop-overflow errors inside libstdc++'s
# std::string operator+ once it is inlined deep enough at -O2/-O3 (GCC bugs 105329, 105651):
# "specified bound between 9223372036854775810 and 18446744073709551615" for a short
# literal + string. Which call trips it moves with the unity batches of the tests, so the
# two warnings are off for GCC 12; they are about the standard library, not twin.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(twin_project_warnings INTERFACE -Wno-restrict -Wno-stringop-overflow)
endif()

# Examples and benchmarks are built for this machine. Under the sanitizers the native kernel
# tests keep the build's own optimisation level (-O0: see CMakePresets.json and docs/design.md).
add_library(twin_project_native INTERFACE)
if(TWIN_SANITIZE)
  target_compile_options(twin_project_native INTERFACE -march=native)
else()
  target_compile_options(twin_project_native INTERFACE -O3 -march=native)
endif()
# On an AVX-512 machine, Debian 12's GCC 12.2 reports -Wmaybe-uninitialized inside its own
# avx512fintrin.h (the self-initialised `__Y = __Y` of _mm512_undefined_*) wherever Eigen's
# AVX-512 packets are inlined: Eigen's float tanh (mnist_contrastive, face_verification) and
# its double GEMM (twin_tests_native). The warning is about the compiler's header, not twin,
# so -march=native builds with GCC < 13 leave that one warning out.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(twin_project_native INTERFACE -Wno-maybe-uninitialized)
endif()

add_library(twin_project_sanitize INTERFACE)
if(TWIN_SANITIZE)
  target_compile_options(twin_project_sanitize INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
                                                         -fno-sanitize-recover=undefined)
  target_link_options(twin_project_sanitize INTERFACE -fsanitize=address,undefined)
endif()

# The data sets the data-dependent tests run on (each reports SKIPPED where its set is
# missing): $TWIN_DATA at configure time, else ../shared/data beside the source tree.
if(DEFINED ENV{TWIN_DATA})
  set(_twin_test_data "$ENV{TWIN_DATA}")
else()
  set(_twin_test_data "${PROJECT_SOURCE_DIR}/../shared/data")
endif()
set(TWIN_TEST_DATA "${_twin_test_data}" CACHE PATH "data sets for the tests ($TWIN_DATA, else ../shared/data beside the source tree)")
