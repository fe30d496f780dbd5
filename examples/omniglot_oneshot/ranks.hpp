#pragma once
// Data-parallel training (docs/distributed.md): under `mpirun -np N omniglot_oneshot train`
// every rank draws the same episodes and pairs (same seed), trains on its shard of them
// (twin/mpi/shard.hpp) and the gradients are averaged over ranks before each optimiser
// step (twin::mpi::DataParallel), so N ranks train one model. One process is the case N = 1:
// built without MPI, or started without mpirun, Ranks does nothing.
#include <memory>
#include <vector>

#include <twin/twin.hpp>
#if TWIN_OMNIGLOT_MPI
#include <twin/mpi/data_parallel.hpp>
#endif

namespace omniglot {

class Ranks {
 public:
  Ranks() = default;  // one process
#if TWIN_OMNIGLOT_MPI
  explicit Ranks(const twin::mpi::Communicator& comm) : comm_(&comm) {}
#endif
  int rank() const {
#if TWIN_OMNIGLOT_MPI
    if (comm_) return comm_->rank();
#endif
    return 0;
  }
  int size() const {
#if TWIN_OMNIGLOT_MPI
    if (comm_) return comm_->size();
#endif
    return 1;
  }
  bool root() const { return rank() == 0; }

  // Every rank's copy of `model` becomes rank 0's; reduce() then covers it. `model` must
  // outlive this object.
  void join(twin::Sequential<float>& model) {
#if TWIN_OMNIGLOT_MPI
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
#if TWIN_OMNIGLOT_MPI
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
#if TWIN_OMNIGLOT_MPI
    if (comm_) return comm_->all_reduce(v, MPI_MAX, "the training progress");
#endif
    return v;
  }
  // Throws unless every rank holds bit-identical weights (the end of a run).
  void check_replicas() const {
#if TWIN_OMNIGLOT_MPI
    for (const auto& dp : dp_) dp->check_replicas();
#endif
  }

 private:
#if TWIN_OMNIGLOT_MPI
  const twin::mpi::Communicator* comm_ = nullptr;
  std::vector<std::unique_ptr<twin::mpi::DataParallel<float>>> dp_;
#endif
};

}  // namespace omniglot
