# twin::mpi, the optional data-parallel component (include/twin/mpi/, docs/distributed.md):
# the header-only core plus MPI. Defined when MPI is found (TWIN_MPI=OFF never looks);
# consumers ask for it with find_package(twin COMPONENTS mpi), which finds MPI again
# (twinConfig.cmake). The core twin::twin needs nothing of this.
option(TWIN_MPI "Provide the twin::mpi component (data-parallel training) when MPI is found" ON)
if(TWIN_MPI)
  find_package(MPI COMPONENTS CXX QUIET)
endif()
if(TWIN_MPI AND MPI_CXX_FOUND)
  add_library(twin_mpi INTERFACE)
  add_library(twin::mpi ALIAS twin_mpi)
  set_target_properties(twin_mpi PROPERTIES EXPORT_NAME mpi)
  # twin uses MPI's C API only; the deprecated C++ bindings stay out of every translation unit.
  target_compile_definitions(twin_mpi INTERFACE OMPI_SKIP_MPICXX=1 MPICH_SKIP_MPICXX=1)
  target_link_libraries(twin_mpi INTERFACE twin::twin MPI::MPI_CXX)
  if(TWIN_INSTALL)
    install(TARGETS twin_mpi EXPORT twinMpiTargets)
    install(EXPORT twinMpiTargets NAMESPACE twin:: DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/twin)
  endif()
  message(STATUS "twin: twin::mpi enabled (MPI ${MPI_CXX_VERSION}, ${MPIEXEC_EXECUTABLE})")
elseif(TWIN_MPI)
  message(STATUS "twin: MPI not found; twin::mpi is not built and its tests will report SKIPPED")
endif()
