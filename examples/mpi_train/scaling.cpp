// Measures data-parallel training of the D2 signature tower (bench/bench_models.cpp: three
// conv blocks and two dense layers on 1 x 96 x 192 images, 2.1 M parameters) on however many
// ranks it is started with: images/s and the step time split into compute (forward, loss,
// backward, optimiser) and gradient all-reduce, the latter timed after a barrier so that it
// holds communication only, not waiting for a slower rank. docs/distributed.md has the figures.
//
//   TWIN_NUM_THREADS=1 mpirun -np 2 mpi_scaling [--pairs 32] [--steps 5] [--bucket-mib 4] [--fixed]
//                                               [--blocking | --overlap]
//
// --pairs is the GLOBAL batch; every rank draws the same random images and keeps its shard.
// --blocking replaces DataParallel's polled non-blocking buckets by one blocking
// MPI_Allreduce of the whole buffer, to compare the two. --overlap sends each bucket from
// the backward pass as soon as its layers' gradients are final (Workspace::
// on_gradients_ready); its all-reduce figure is then the wait after backward.
#include <twin/models/signature_tower.hpp>
#include <twin/mpi/data_parallel.hpp>
#include <twin/mpi/shard.hpp>
#include <twin/siamese.hpp>
#include <twin/testing/random.hpp>
#include <twin/twin.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {
using namespace twin;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int run(const mpi::Communicator& comm, int argc, char** argv) {
  Index pairs = 32;
  int steps = 5;
  double bucket_mib = 4;
  bool fixed = false, blocking = false, overlap = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--pairs" && i + 1 < argc) pairs = std::stol(argv[++i]);
    else if (a == "--steps" && i + 1 < argc) steps = std::stoi(argv[++i]);
    else if (a == "--bucket-mib" && i + 1 < argc) bucket_mib = std::stod(argv[++i]);
    else if (a == "--fixed") fixed = true;
    else if (a == "--blocking") blocking = true;
    else if (a == "--overlap") overlap = true;
    else throw error("usage: mpi_scaling [--pairs 32] [--steps 5] [--bucket-mib 4] [--fixed] [--blocking | --overlap]");
  }
  if (blocking && overlap) throw error("mpi_scaling: --blocking and --overlap exclude each other");
  Sequential<float> tower = models::signature_tower<float>(96, 192);  // 1 x 96 x 192 inputs
  tower.init(1);
  SiameseModule<float> model(std::move(tower));
  mpi::DataParallel<float> dp(comm, model,
                              {.bucket_bytes = static_cast<std::size_t>(bucket_mib * (1 << 20)),
                               .order = fixed ? mpi::ReduceOrder::fixed : mpi::ReduceOrder::mpi});
  dp.broadcast_from_root();
  const mpi::ShardRange mine = mpi::shard_range(pairs, comm.rank(), comm.size());
  const double w = mpi::shard_weight(pairs, comm.rank(), comm.size());
  const auto a = testing::random_tensor(Shape{pairs, 1, 96, 192}, 1), b = testing::random_tensor(Shape{pairs, 1, 96, 192}, 2);
  const TensorView<const float> a_mine = a.view().slice(mine.begin, mine.count), b_mine = b.view().slice(mine.begin, mine.count);
  std::vector<PairLabel> y(static_cast<std::size_t>(mine.count));
  for (Index i = 0; i < mine.count; ++i)
    y[std::size_t(i)] = (mine.begin + i) % 2 == 0 ? PairLabel::same : PairLabel::different;
  const ContrastiveLoss loss{.pos_margin = 0, .neg_margin = 1, .power = 2, .reduction = Reduction::mean};
  SGD<float> opt({.lr = 0.01});
  SiameseWorkspace<float> ws;
  if (overlap) ws.on_gradients_ready([&](std::size_t offset, std::size_t count) { dp.gradients_ready(offset, count); });

  double compute = 0, wait = 0, reduce = 0, total = 0;
  for (int s = 0; s <= steps; ++s) {  // step 0 allocates and is not timed
    comm.barrier("step start");
    const auto t0 = std::chrono::steady_clock::now();
    model.zero_grad();
    if (overlap) dp.start_gradients(w);
    const auto e = model.forward({a_mine, b_mine}, ws, Mode::train);
    auto de = ws.d_embeddings();
    loss(PairBatch<float>{.first = e.branch(0), .second = e.branch(1), .labels = y},
         PairGrads<float>{.first = de.slice(0, mine.count), .second = de.slice(mine.count, mine.count)});
    model.backward(de, ws);
    const double c = seconds_since(t0);
    // The all-reduce alone: first wait for the slowest rank (imbalance, not communication).
    const auto tw = std::chrono::steady_clock::now();
    comm.barrier("backward done");
    const double wt = seconds_since(tw);
    const auto t1 = std::chrono::steady_clock::now();
    if (blocking) {
      for (float& g : model.grads()) g *= static_cast<float>(w);
      MPI_Allreduce(MPI_IN_PLACE, model.grads().data(), static_cast<int>(model.grads().size()), MPI_FLOAT, MPI_SUM,
                    comm.native());
    } else if (overlap) {
      dp.finish_gradients();
    } else {
      dp.all_reduce_gradients(w);
    }
    const double r = seconds_since(t1);
    const auto t2 = std::chrono::steady_clock::now();
    opt.step(model.params(), model.grads());
    const double c2 = seconds_since(t2), step = seconds_since(t0);
    if (s == 0) continue;
    compute += c + c2;
    wait += wt;
    reduce += r;
    total += step;
  }
  // The slowest rank's figures (the others wait for it in the all-reduce).
  const double max_compute = comm.all_reduce(compute, MPI_MAX, "timings") / steps;
  const double mean_reduce = comm.all_reduce(reduce, MPI_SUM, "timings") / steps / comm.size();
  const double max_total = comm.all_reduce(total, MPI_MAX, "timings") / steps;
  const double mean_wait = comm.all_reduce(wait, MPI_SUM, "timings") / steps / comm.size();
  dp.check_replicas();
  if (comm.is_root())
    std::printf("D2 tower, %d ranks x %d threads, global batch %td pairs, %td parameters (%.1f MiB of gradients, "
                "%td buckets, %s order%s): step %.3f s = compute %.3f s (slowest rank) + all-reduce %.4f s (mean; "
                "after a mean %.3f s wait for the slowest rank); %.1f images/s\n",
                comm.size(), default_threads(), pairs, model.num_params(),
                double(model.num_params()) * 4.0 / (1 << 20), dp.num_buckets(), fixed ? "fixed" : "mpi",
                blocking ? ", blocking MPI_Allreduce" : overlap ? ", overlapped with backward" : "", max_total,
                max_compute, mean_reduce, mean_wait, 2.0 * double(pairs) / max_total);
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  mpi::Environment env(argc, argv);
  const mpi::Communicator comm = env.world();
  return mpi::run_or_abort(comm, [&] { return run(comm, argc, argv); });
}
