#pragma once
// The ranks of an example's data-parallel training (docs/distributed.md): under
// `mpirun -np N <example> train` every rank draws the same pairs or episodes (same seed),
// trains on its shard of them (twin/mpi/shard.hpp) and the gradients are averaged over ranks
// before each optimiser step (twin::mpi::DataParallel), so N ranks train one model. One
// process is the case N = 1: built without MPI (TWIN_EXAMPLES_MPI unset), or started without
// mpirun, Ranks does nothing. Part of the examples, not of the installed library.
#include <memory>
#include <vector>

#include <twin/twin.hpp>
#if TWIN_EXAMPLES_MPI
#include <twin/mpi/data_parallel.hpp>
#endif

namespace twin_examples {

class Ranks {
 public:
  Ranks() = default;  // one process
#if TWIN_EXAMPLES_MPI
  explicit Ranks(const twin::mpi::Communicator& comm) : comm_(&comm) {}
#endif
  int rank() const {
#if TWIN_EXAMPLES_MPI
    if (comm_) return comm_->rank();
#endif
    return 0;
  }
  int size() const {
#if TWIN_EXAMPLES_MPI
    if (comm_) return comm_->size();
#endif
    return 1;
  }
  bool root() const { return rank() == 0; }
  // Started by mpirun (even with one rank).
  bool distributed() const {
#if TWIN_EXAMPLES_MPI
    return comm_ != nullptr;
#else
    return false;
#endif
  }

  // Every rank's copy of `model` (a Sequential, Graph or SiameseModule) becomes rank 0's;
  // reduce() then covers it. `model` must outlive this object.
  template <class Model>
  void join(Model& model) {
#if TWIN_EXAMPLES_MPI
    if (!comm_) return;
    dp_.push_back(std::make_unique<twin::mpi::DataParallel<float>>(*comm_, model));
    dp_.back()->broadcast_from_root();
#else
    (void)model;
#endif
  }
  // Gradients and BatchNorm running statistics := sum over ranks of weight x this rank's
  // (weight: the rank's share of the step's samples, twin::mpi::shard_weight).
  void reduce(double weight) {
#if TWIN_EXAMPLES_MPI
    for (auto& dp : dp_) {
      dp->all_reduce_gradients(weight);
      dp->all_reduce_buffers(weight);
    }
#else
    (void)weight;
#endif
  }
  // The largest v over ranks: the training progress every rank then uses (a time budget
  // runs out at slightly different moments on different ranks).
  double max(double v) const {
#if TWIN_EXAMPLES_MPI
    if (comm_) return comm_->all_reduce(v, MPI_MAX, "the training progress");
#endif
    return v;
  }
  // Throws unless every rank holds bit-identical weights (the end of a run).
  void check_replicas() const {
#if TWIN_EXAMPLES_MPI
    for (const auto& dp : dp_) dp->check_replicas();
#endif
  }

 private:
#if TWIN_EXAMPLES_MPI
  const twin::mpi::Communicator* comm_ = nullptr;
  std::vector<std::unique_ptr<twin::mpi::DataParallel<float>>> dp_;
#endif
};

// Runs body(ranks): under mpirun (with twin::mpi) on every rank, after initialising MPI, a
// rank's exception aborting all of them (twin::mpi::run_or_abort); otherwise once, as the
// only rank. Returns body's exit code.
template <class F>
int run_on_ranks(F&& body) {
#if TWIN_EXAMPLES_MPI
  if (twin::mpi::launched_by_mpirun()) {
    int argc = 0;
    char** argv = nullptr;
    twin::mpi::Environment env(argc, argv);
    const twin::mpi::Communicator comm = env.world();
    Ranks ranks(comm);
    return twin::mpi::run_or_abort(comm, [&] { return body(ranks); });
  }
#endif
  Ranks one;
  return body(one);
}

}  // namespace twin_examples
