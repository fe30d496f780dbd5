// A data-parallel run in which the last rank fails at a chosen step, for the failure tests
// (tests/mpi/run_failure.sh). Rank 0 writes a checkpoint after step 2.
//
//   mpirun -np 2 twin_mpi_failing_rank --mode throw|kill|hang|none --checkpoint FILE
//                                      [--fail-step 4] [--timeout 5]
//   twin_mpi_failing_rank --verify FILE     (one process, no MPI: loads the checkpoint)
//
// throw: the rank throws (run_or_abort aborts the job with its message); kill: it sends
// itself SIGKILL (mpirun ends the others); hang: it sleeps for ever (the others' next
// collective times out after --timeout seconds and aborts the job).
#include <twin/mpi/checkpoint.hpp>
#include <twin/mpi/data_parallel.hpp>
#include <twin/mpi/shard.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>

#include "toy_problem.hpp"

using namespace twin_mpi_test;

int main(int argc, char** argv) {
  std::string mode = "none", checkpoint, verify;
  int fail_step = 4;
  double timeout = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--mode") mode = v;
    else if (a == "--checkpoint") checkpoint = v;
    else if (a == "--verify") verify = v;
    else if (a == "--fail-step") fail_step = std::stoi(v);
    else if (a == "--timeout") timeout = std::stod(v);
    else {
      std::fprintf(stderr, "twin_mpi_failing_rank: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (!verify.empty()) {
    try {
      twin::SiameseModule<float> m(tower(false, 0));
      auto opt = optimizer();
      twin::Rng rng;
      const auto info = twin::io::load_checkpoint(verify, m.tower(), opt, rng);
      std::printf("checkpoint loads: step %lld, optimizer steps %lld, saved by %s ranks\n", info.epoch, opt.steps(),
                  info.user.at("mpi.ranks").c_str());
      return 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "twin_mpi_failing_rank: %s\n", e.what());
      return 1;
    }
  }

  twin::mpi::Environment env(argc, argv);
  const twin::mpi::Communicator comm = env.world({.timeout_seconds = timeout});
  return twin::mpi::run_or_abort(comm, [&] {
    const PairData d = make_pairs(40, 3);
    twin::SiameseModule<float> m(tower(false, 1));
    auto opt = optimizer();
    twin::Rng sampler(4);
    twin::mpi::DataParallel<float> dp(comm, m);
    dp.broadcast_from_root();
    StepBuffers b;
    const bool failing = comm.rank() == comm.size() - 1;
    for (int step = 1; step <= 6; ++step) {
      if (failing && step == fail_step) {
        if (mode == "throw") throw twin::error("injected failure at step " + std::to_string(step));
        if (mode == "kill") std::raise(SIGKILL);
        if (mode == "hang")
          for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
      }
      const auto global = global_batch(sampler, 8, 40);
      m.zero_grad();
      accumulate_gradients(m, d, twin::mpi::shard(global, comm.rank(), comm.size()), b);
      dp.all_reduce_gradients(twin::mpi::shard_weight(8, comm.rank(), comm.size()));
      opt.step(m.params(), m.grads());
      if (step == 2 && !checkpoint.empty()) twin::mpi::save_checkpoint(comm, checkpoint, m.tower(), opt, sampler, step);
      if (comm.is_root()) std::printf("step %d done\n", step), std::fflush(stdout);
    }
    return 0;
  });
}
