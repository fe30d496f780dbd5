# twin's model files read by numpy, and a file in PyTorch's safetensors convention read by
# twin (tests/python/safetensors_interop.py drives twin_tests' "safetensors interop with
# python" case, which the main suite reports as skipped). SKIPPED without Debian's
# python3 + numpy.
if(TARGET twin_tests)
  # A missing python3 fails execute_process too: the test is then registered as skipped.
  execute_process(COMMAND /usr/bin/python3 -c "import numpy" RESULT_VARIABLE _twin_numpy_missing OUTPUT_QUIET ERROR_QUIET)
  if(NOT _twin_numpy_missing)
    add_test(NAME safetensors_python
             COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/python/safetensors_interop.py $<TARGET_FILE:twin_tests>
                     ${CMAKE_CURRENT_BINARY_DIR}/safetensors-interop)
    set_tests_properties(safetensors_python PROPERTIES TIMEOUT 120)
  else()
    # Registered anyway, so that ctest reports it as skipped rather than leaving it out.
    message(STATUS "twin: numpy missing for /usr/bin/python3; the safetensors_python test will report SKIPPED")
    add_test(NAME safetensors_python COMMAND sh -c "echo 'SKIPPED: numpy missing for /usr/bin/python3'; exit 77")
    set_tests_properties(safetensors_python PROPERTIES SKIP_RETURN_CODE 77)
  endif()
endif()
