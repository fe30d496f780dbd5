# twin::onnx, the optional ONNX import/export component (include/twin/onnx/, docs/onnx.md):
# the header-only core plus the ONNX project's protobuf classes (Debian libonnx-dev, which
# brings libprotobuf-dev). Defined when ONNX is found (TWIN_ONNX=OFF never looks);
# consumers ask for it with find_package(twin COMPONENTS onnx). The core twin::twin needs
# nothing of this.
option(TWIN_ONNX "Provide the twin::onnx component (ONNX import and export) when ONNX is found" ON)
if(TWIN_ONNX)
  find_package(Protobuf QUIET)
  find_package(ONNX QUIET CONFIG)
endif()
if(TWIN_ONNX AND ONNX_FOUND AND TARGET onnx_proto AND Protobuf_FOUND)
  add_library(twin_onnx INTERFACE)
  add_library(twin::onnx ALIAS twin_onnx)
  set_target_properties(twin_onnx PROPERTIES EXPORT_NAME onnx)
  target_link_libraries(twin_onnx INTERFACE twin::twin onnx_proto protobuf::libprotobuf)
  if(TWIN_INSTALL)
    install(TARGETS twin_onnx EXPORT twinOnnxTargets)
    install(EXPORT twinOnnxTargets NAMESPACE twin:: DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/twin)
  endif()
  message(STATUS "twin: twin::onnx enabled (ONNX ${ONNX_VERSION}, protobuf ${Protobuf_VERSION})")
elseif(TWIN_ONNX)
  message(STATUS "twin: ONNX (libonnx-dev) or protobuf not found; twin::onnx is not built and its tests will report SKIPPED")
endif()
