// Averages a one-layer model's gradients over the ranks it is started with.
#include <twin/mpi/data_parallel.hpp>
#include <twin/twin.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  twin::mpi::Environment env(argc, argv);
  const twin::mpi::Communicator comm = env.world({.timeout_seconds = 30});
  return twin::mpi::run_or_abort(comm, [&] {
    twin::Sequential<float> net;
    net.add(twin::Dense{.in = 3, .out = 2});
    net.init(1);
    for (float& g : net.grads()) g = static_cast<float>(comm.rank() + 1);
    twin::mpi::DataParallel<float> dp(comm, net);
    dp.all_reduce_gradients(1.0 / comm.size());
    const float expected = static_cast<float>(comm.size() + 1) / 2.0f;  // mean of 1..p
    if (net.grads()[0] != expected) throw twin::error("wrong average");
    std::printf("rank %d of %d: mean gradient %g\n", comm.rank(), comm.size(), static_cast<double>(net.grads()[0]));
    return 0;
  });
}
