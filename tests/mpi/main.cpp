// doctest's main for tests that run under mpirun: MPI is started before the tests and
// stopped after them, and the job fails when any rank's tests failed. Every rank runs every
// test case in the same order (they are collective).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <twin/mpi/communicator.hpp>

int main(int argc, char** argv) {
  twin::mpi::Environment env(argc, argv);
  const twin::mpi::Communicator world = env.world({.timeout_seconds = 60});
  doctest::Context context(argc, argv);
  const int failed = context.run();
  return world.all_reduce(failed, MPI_MAX, "the test results");
}
