# The Omniglot one-shot example (docs/omniglot.md).
#  * omniglot_oneshot_unit: make-runs, train (both designs) and eval on a tiny synthetic
#    background set, and the runs reader's errors on bad input; needs no data.
#  * omniglot_make_runs / omniglot_train_eval: the program on the real background set (a
#    few characters per alphabet, 20 steps, 3 runs), reporting SKIPPED (exit 77) when
#    omniglot is absent from TWIN_TEST_DATA ($TWIN_DATA, else ../shared/data).
# Not in the sanitizer build (examples are off there; the loss has its unit test).
if(TWIN_BUILD_EXAMPLES AND NOT TWIN_SANITIZE)
  add_test(NAME omniglot_oneshot_unit COMMAND test_omniglot_oneshot)
  set_tests_properties(omniglot_oneshot_unit PROPERTIES TIMEOUT 300)
  if(NOT EXISTS ${TWIN_TEST_DATA}/omniglot/images_background)
    message(STATUS "twin: ${TWIN_TEST_DATA}/omniglot not found; the omniglot_oneshot data tests will report SKIPPED")
  endif()
  set(_omni_dir ${CMAKE_CURRENT_BINARY_DIR}/omniglot_test)
  add_test(NAME omniglot_make_runs
           COMMAND omniglot_oneshot --skip-without-data make-runs --data ${TWIN_TEST_DATA}
                   --out ${_omni_dir}/runs --runs 3)
  # Both designs on one thread: after the first step a training step allocates nothing (the
  # program counts operator new; with 2 threads the pool's timing may add one allocation).
  add_test(NAME omniglot_train_eval
           COMMAND omniglot_oneshot --skip-without-data --threads 1 train --quick --quiet --max-characters 4
                   --data ${TWIN_TEST_DATA} --model ${_omni_dir}/model.safetensors
                   --val-runs ${_omni_dir}/runs)
  add_test(NAME omniglot_train_koch
           COMMAND omniglot_oneshot --skip-without-data --threads 1 train --design koch --quick --quiet
                   --max-characters 4 --data ${TWIN_TEST_DATA}
                   --model ${_omni_dir}/koch.safetensors)
  set_tests_properties(omniglot_make_runs PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77 FIXTURES_SETUP omniglot_runs)
  set_tests_properties(omniglot_train_eval PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77 FIXTURES_REQUIRED omniglot_runs
                       PASS_REGULAR_EXPRESSION " 0 heap allocations after the first step.*proto: [0-9.]+% over 3 runs")
  set_tests_properties(omniglot_train_koch PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77
                       PASS_REGULAR_EXPRESSION " 0 heap allocations after the first step")
  # The same smoke run as 2 data-parallel ranks under mpirun (docs/distributed.md): every
  # rank must end with the same weights (train checks), rank 0 saves and scores the runs.
  if(TARGET twin::mpi AND MPIEXEC_EXECUTABLE)
    set(_omni_mpirun ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 ${MPIEXEC_PREFLAGS})
    execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE _omni_mpi_version ERROR_QUIET)
    if(_omni_mpi_version MATCHES "Open MPI|OpenRTE")
      list(APPEND _omni_mpirun --oversubscribe)
    endif()
    add_test(NAME omniglot_train_mpi
             COMMAND ${_omni_mpirun} $<TARGET_FILE:omniglot_oneshot> --skip-without-data --threads 1 train --quick
                     --quiet --max-characters 4 --data ${TWIN_TEST_DATA}
                     --model ${_omni_dir}/model_mpi.safetensors --val-runs ${_omni_dir}/runs)
    set_tests_properties(omniglot_train_mpi PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77 FIXTURES_REQUIRED omniglot_runs
                         ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
                         PASS_REGULAR_EXPRESSION "data-parallel: 2 ranks.*proto: [0-9.]+% over 3 runs")
  endif()
endif()
