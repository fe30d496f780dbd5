# The getting-started program (docs/getting-started.md) on a slice of Fashion-MNIST: 150
# steps on the first 6,000 training images. It exits 1 unless the loss falls, the AUC on the
# held-out classes beats raw pixels and the reloaded model embeds identically, and 77
# (SKIPPED) without the data. numpy then reads the saved model (read_model.py). Not in the
# sanitizer build (the examples are not built there). The guide shows both files verbatim:
# getting_started_doc fails when they drift apart.
add_test(NAME getting_started_doc
         COMMAND ${CMAKE_COMMAND} -DDOC=${PROJECT_SOURCE_DIR}/docs/getting-started.md -DROOT=${PROJECT_SOURCE_DIR}
                 -P ${PROJECT_SOURCE_DIR}/cmake/check_doc_excerpts.cmake)
if(TWIN_BUILD_EXAMPLES AND NOT TWIN_SANITIZE)
  if(NOT EXISTS ${TWIN_TEST_DATA}/fashion-mnist)
    message(STATUS "twin: ${TWIN_TEST_DATA}/fashion-mnist not found; the getting_started tests will report SKIPPED")
  endif()
  set(_gs_model ${CMAKE_CURRENT_BINARY_DIR}/getting_started_test.safetensors)
  add_test(NAME getting_started
           COMMAND getting_started --data ${TWIN_TEST_DATA} --steps 150 --train 6000 --test 2000
                   --save ${_gs_model})
  set_tests_properties(getting_started PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77 FIXTURES_SETUP getting_started_model)
  execute_process(COMMAND /usr/bin/python3 -c "import numpy" RESULT_VARIABLE _gs_no_numpy OUTPUT_QUIET ERROR_QUIET)
  if(NOT _gs_no_numpy)
    # No model file (the training test was skipped): skipped too.
    add_test(NAME getting_started_numpy
             COMMAND sh -c "test -f \"$1\" || { echo \"SKIPPED: no model file $1\"; exit 77; }; exec /usr/bin/python3 \"$0\" \"$1\""
                     ${PROJECT_SOURCE_DIR}/examples/getting_started/read_model.py ${_gs_model})
    set_tests_properties(getting_started_numpy PROPERTIES TIMEOUT 60 SKIP_RETURN_CODE 77
                                                          FIXTURES_REQUIRED getting_started_model)
  endif()
endif()
