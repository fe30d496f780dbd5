# Data-parallel training over MPI (twin::mpi, docs/distributed.md). ctest starts mpirun
# itself with 2 ranks on this machine:
#   mpi_data_parallel          tests/mpi/test_data_parallel.cpp (doctest, every rank)
#   mpi_failure_{throw,kill,hang}  a rank fails; the job must end with a message in bounded
#                              time and the checkpoint written before must load
#   mpi_packaging              find_package(twin COMPONENTS mpi) from an installed twin
#   mpi_train_mnist, mpi_train_resume  examples/mpi_train on MNIST: 2 ranks, then resumed on
#                              1 rank from the 2-rank checkpoint (SKIPPED without the data)
# Without MPI (or mpirun) each reports SKIPPED (exit code 77) instead of vanishing.
set(_twin_mpi_tests mpi_data_parallel mpi_failure_throw mpi_failure_kill mpi_failure_hang mpi_packaging)
if(TWIN_BUILD_EXAMPLES)
  list(APPEND _twin_mpi_tests mpi_train_mnist mpi_train_resume)
endif()
if(NOT TARGET twin::mpi OR NOT MPIEXEC_EXECUTABLE)
  foreach(t IN LISTS _twin_mpi_tests)
    add_test(NAME ${t} COMMAND sh -c "echo 'MPI (libopenmpi-dev, openmpi-bin) not found: ${t} skipped'; exit 77")
    set_tests_properties(${t} PROPERTIES SKIP_RETURN_CODE 77)
  endforeach()
  return()
endif()

add_executable(twin_mpi_tests mpi/main.cpp mpi/test_data_parallel.cpp)
add_executable(twin_mpi_failing_rank mpi/failing_rank.cpp)
foreach(t twin_mpi_tests twin_mpi_failing_rank)
  target_link_libraries(${t} PRIVATE twin::mpi doctest::doctest twin_project_warnings twin_project_sanitize)
endforeach()

# Open MPI refuses root without these and, by default, more ranks than cores.
execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE _twin_mpiexec_version ERROR_QUIET)
set(_twin_mpirun ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 ${MPIEXEC_PREFLAGS})
if(_twin_mpiexec_version MATCHES "Open MPI|OpenRTE")
  list(APPEND _twin_mpirun --oversubscribe)
endif()
# One compute thread per rank: two ranks already fill two cores. Open MPI's own allocations
# are not twin's: no leak report for them under the sanitizers.
set(_twin_mpi_env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 TWIN_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=0)

add_test(NAME mpi_data_parallel COMMAND ${_twin_mpirun} $<TARGET_FILE:twin_mpi_tests> ${MPIEXEC_POSTFLAGS})
set_tests_properties(mpi_data_parallel PROPERTIES TIMEOUT 300 ENVIRONMENT "${_twin_mpi_env}"
                                                  FAIL_REGULAR_EXPRESSION "test cases: +0 \\|")
# What each failure must print: the failed rank's own message (throw), mpirun's report of
# the killed process (kill), the waiting rank's deadline (hang).
set(_twin_expect_throw "twin::mpi: rank 1 of 2 failed: injected failure at step 4")
set(_twin_expect_kill "exited on signal 9")
set(_twin_expect_hang "twin::mpi: rank 0 of 2: all-reduce of the gradients")
foreach(mode throw kill hang)
  add_test(NAME mpi_failure_${mode}
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/mpi/run_failure.sh ${mode} ${CMAKE_CURRENT_BINARY_DIR}/mpi-failure-${mode}
                   "${_twin_expect_${mode}}" $<TARGET_FILE:twin_mpi_failing_rank> ${_twin_mpirun})
  set_tests_properties(mpi_failure_${mode} PROPERTIES TIMEOUT 150 ENVIRONMENT "${_twin_mpi_env}")
endforeach()

# Consumers are built without the sanitizers: one run in the plain build is enough.
if(NOT TWIN_SANITIZE)
  add_test(NAME mpi_packaging COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/mpi/packaging.sh ${CMAKE_CURRENT_BINARY_DIR}/mpi-packaging
                                      ${_twin_mpirun})
  set_tests_properties(mpi_packaging PROPERTIES TIMEOUT 600 ENVIRONMENT "${_twin_mpi_env}")
endif()

# The examples are added after the tests, so the target is named by generator expression.
if(TWIN_BUILD_EXAMPLES AND NOT TWIN_SANITIZE)
  set(_twin_mpi_ckpt ${CMAKE_CURRENT_BINARY_DIR}/mpi_train_test.safetensors)
  set(_twin_mpi_train $<TARGET_FILE:mpi_train> --data ${TWIN_TEST_DATA} --train-limit 1000
                      --batch 32 --checkpoint ${_twin_mpi_ckpt} --timeout 120)
  add_test(NAME mpi_train_mnist COMMAND ${_twin_mpirun} ${_twin_mpi_train} --epochs 1)
  add_test(NAME mpi_train_resume COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 1 ${MPIEXEC_PREFLAGS}
                                         ${_twin_mpi_train} --epochs 2 --resume ${_twin_mpi_ckpt})
  set_tests_properties(mpi_train_mnist PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77 ENVIRONMENT "${_twin_mpi_env}"
                                                  FIXTURES_SETUP mpi_train_checkpoint)
  set_tests_properties(mpi_train_resume PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77 ENVIRONMENT "${_twin_mpi_env}"
                                                   FIXTURES_REQUIRED mpi_train_checkpoint)
endif()
