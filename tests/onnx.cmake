# ONNX import and export (twin::onnx, docs/onnx.md):
#   onnx_import       tests/onnx/test_onnx_import.cpp (doctest): ops, round trips, errors,
#                     the builders' parameter counts; needs only libonnx-dev
#   onnx_runtimes     tests/onnx/check_runtimes.py: the D2 tower, ResNet-18 and Inception-ResNet-v1 written in
#                     PyTorch with random weights, torch.onnx.export, imported by onnx_run;
#                     outputs against PyTorch and ONNX Runtime (max relative error 1e-4), and
#                     twin's own export of each run in ONNX Runtime
#   onnx_tools_smoke  onnx_export, then onnx_run on its file
# Without libonnx-dev each reports SKIPPED (exit code 77); onnx_runtimes also skips, saying
# why, without torch, node or the onnxruntime-node package (scripts/fetch-onnxruntime.sh).
set(_twin_onnx_tests onnx_import onnx_runtimes onnx_tools_smoke)
if(NOT TARGET twin::onnx)
  foreach(t IN LISTS _twin_onnx_tests)
    add_test(NAME ${t} COMMAND sh -c "echo 'ONNX (libonnx-dev, libprotobuf-dev) not found: ${t} skipped'; exit 77")
    set_tests_properties(${t} PROPERTIES SKIP_RETURN_CODE 77)
  endforeach()
  return()
endif()

add_executable(twin_onnx_tests onnx/test_onnx_import.cpp)
target_link_libraries(twin_onnx_tests PRIVATE twin_test_main twin::onnx)
add_test(NAME onnx_import COMMAND twin_onnx_tests)
set_tests_properties(onnx_import PROPERTIES TIMEOUT 300 FAIL_REGULAR_EXPRESSION "test cases: +0 \\|")

# The tools are built with the examples; the sanitizer build leaves the python checks out
# (torch under ASan is not twin's to test).
if(TWIN_BUILD_EXAMPLES AND NOT TWIN_SANITIZE)
  add_test(NAME onnx_runtimes
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/onnx/check_runtimes.py --onnx-run $<TARGET_FILE:onnx_run>
                   --onnx-export $<TARGET_FILE:onnx_export> --work ${CMAKE_CURRENT_BINARY_DIR}/onnx-runtimes
                   --ort-script ${PROJECT_SOURCE_DIR}/scripts/fetch-onnxruntime.sh)
  set_tests_properties(onnx_runtimes PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77 ENVIRONMENT "TWIN_NUM_THREADS=2")
  add_test(NAME onnx_tools_smoke
           COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/onnx/tools_smoke.sh $<TARGET_FILE:onnx_export> $<TARGET_FILE:onnx_run>
                   ${CMAKE_CURRENT_BINARY_DIR}/onnx-tools)
  set_tests_properties(onnx_tools_smoke PROPERTIES TIMEOUT 120)
else()
  foreach(t onnx_runtimes onnx_tools_smoke)
    add_test(NAME ${t} COMMAND sh -c "echo '${t} needs the tools (TWIN_BUILD_EXAMPLES) outside the sanitizer build: skipped'; exit 77")
    set_tests_properties(${t} PROPERTIES SKIP_RETURN_CODE 77)
  endforeach()
endif()
