// Data-parallel Siamese training on MNIST pairs with MPI: the same model as one process, on
// N ranks (docs/distributed.md).
//
//   mpirun -np 2 mpi_train [--data DIR] [--epochs 2] [--batch 64] [--seed 1] [--threads 1]
//                          [--train-limit N] [--checkpoint FILE] [--resume FILE] [--timeout 300]
//
// --batch is the GLOBAL batch (pairs per step over all ranks); each rank trains on its
// slice. The pair order, drawn from --seed, is the same on every rank and for every rank
// count, so `mpirun -np 1` and `-np 4` see the same global batches, and a --checkpoint
// written on 4 ranks --resumes on 2. Exit code 77: the data are absent.
//
// Network: Conv 5x5 8, BatchNorm, ReLU, MaxPool 2, Conv 5x5 16, ReLU, MaxPool 2, Dense 32;
// contrastive loss (margin 1, squared) on the Euclidean distance; Adam. BatchNorm uses each
// rank's own batch statistics; running statistics are averaged over ranks every step.
#include <twin/data/pairs.hpp>
#include <data_dir.hpp>
#include <twin/io/idx.hpp>
#include <twin/metrics.hpp>
#include <twin/mpi/checkpoint.hpp>
#include <twin/mpi/data_parallel.hpp>
#include <twin/mpi/shard.hpp>
#include <twin/siamese.hpp>
#include <twin/twin.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {
using twin::Index;
constexpr Index px = 28 * 28;

struct Options {
  std::string data, checkpoint, resume;
  int epochs = 2, threads = 1;
  Index batch = 64, train_limit = 0;
  std::uint64_t seed = 1;
  double timeout = 300;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) throw twin::error("missing value after " + a);
      return std::string(argv[++i]);
    };
    if (a == "--data") o.data = next();
    else if (a == "--epochs") o.epochs = std::stoi(next());
    else if (a == "--batch") o.batch = std::stol(next());
    else if (a == "--seed") o.seed = std::stoull(next());
    else if (a == "--threads") o.threads = std::stoi(next());
    else if (a == "--train-limit") o.train_limit = std::stol(next());
    else if (a == "--checkpoint") o.checkpoint = next();
    else if (a == "--resume") o.resume = next();
    else if (a == "--timeout") o.timeout = std::stod(next());
    else
      throw twin::error("unknown option " + a +
                        "; usage: mpi_train [--data DIR] [--epochs 2] [--batch 64] [--seed 1] [--threads 1] "
                        "[--train-limit N] [--checkpoint FILE] [--resume FILE] [--timeout 300]");
  }
  if (o.batch < 2) throw twin::error("--batch must be at least 2");
  return o;
}

twin::Sequential<float> tower(std::uint64_t seed) {
  using namespace twin;
  Sequential<float> t;
  t.add(Conv2D{.in = 1, .out = 8, .kernel = 5})  // (N, 8, 24, 24)
      .add(BatchNorm2d{.features = 8})
      .add(ReLU{})
      .add(MaxPool2D{.kernel = 2})                // (N, 8, 12, 12)
      .add(Conv2D{.in = 8, .out = 16, .kernel = 5})  // (N, 16, 8, 8)
      .add(ReLU{})
      .add(MaxPool2D{.kernel = 2})                // (N, 16, 4, 4)
      .add(Flatten{})
      .add(Dense{.in = 256, .out = 32});          // (N, 32)
  t.init(seed);
  return t;
}

// Copies the images of pairs[order[i]] for i in `which` into x1, x2 (n, 1, 28, 28).
void gather(const twin::Tensor<float>& images, const std::vector<twin::data::IndexPair>& pairs,
            std::span<const std::size_t> which, twin::Tensor<float>& x1, twin::Tensor<float>& x2,
            std::vector<twin::PairLabel>& y) {
  const auto n = static_cast<Index>(which.size());
  x1.resize(twin::Shape{n, 1, 28, 28});
  x2.resize(twin::Shape{n, 1, 28, 28});
  y.resize(which.size());
  for (Index i = 0; i < n; ++i) {
    const auto& p = pairs[which[static_cast<std::size_t>(i)]];
    std::copy_n(images.data() + p.first * px, px, x1.data() + i * px);
    std::copy_n(images.data() + p.second * px, px, x2.data() + i * px);
    y[static_cast<std::size_t>(i)] = p.label;
  }
}

// AUC of the negative embedding distance on test pairs (rank 0 only).
double test_auc(const twin::SiameseModule<float>& m, const twin::Tensor<float>& images,
                const std::vector<twin::data::IndexPair>& pairs) {
  twin::SiameseWorkspace<float> ws;
  twin::Tensor<float> x1, x2, d;
  std::vector<twin::PairLabel> y, labels;
  std::vector<double> scores;
  std::vector<std::size_t> which;
  for (std::size_t b = 0; b < pairs.size(); b += 500) {
    which.clear();
    for (std::size_t i = b; i < std::min(pairs.size(), b + 500); ++i) which.push_back(i);
    gather(images, pairs, which, x1, x2, y);
    const auto e = m.forward({x1.view(), x2.view()}, ws, twin::Mode::eval);
    d.resize(twin::Shape{static_cast<Index>(which.size())});
    twin::distance_forward(twin::LpDistance{}, e.branch(0), e.branch(1), d.view());
    for (Index i = 0; i < d.size(); ++i) scores.push_back(-double(d[i]));
    labels.insert(labels.end(), y.begin(), y.end());
  }
  return twin::metrics::auc(scores, labels);
}

int train(const twin::mpi::Communicator& comm, const Options& o) {
  const bool root = comm.is_root();
  std::filesystem::path dir;
  try {
    dir = twin_examples::find_data_dir(o.data, "mnist");
  } catch (const twin::io_error& e) {
    if (root) std::fprintf(stderr, "mpi_train: %s\n", e.what());
    return 77;  // every rank looks for the data alike, so all return 77 together
  }
  twin::set_default_threads(o.threads);  // per rank: ranks x threads should not exceed the cores

  // Every rank reads the data and draws the same pairs.
  const auto train_images = twin::io::read_idx_images((dir / "train-images-idx3-ubyte.gz").string(), o.train_limit);
  const auto train_labels = twin::io::read_idx_labels((dir / "train-labels-idx1-ubyte.gz").string(), o.train_limit);
  twin::Rng pair_rng(o.seed);
  const auto train_pairs = twin::data::anchor_pairs(train_labels, pair_rng);

  twin::SiameseModule<float> model(tower(o.seed));
  twin::Adam<float> opt({.lr = 1e-3});
  twin::Rng sampler(o.seed + 1);  // the pair order: saved in checkpoints
  int first_epoch = 1;
  if (!o.resume.empty()) {
    const auto info = twin::mpi::load_checkpoint(comm, o.resume, model.tower(), opt, sampler);
    first_epoch = static_cast<int>(info.epoch) + 1;
    if (root) std::printf("resumed %s after epoch %lld (saved by %s ranks)\n", o.resume.c_str(), info.epoch,
                          info.user.count("mpi.ranks") ? info.user.at("mpi.ranks").c_str() : "?");
  }
  twin::mpi::DataParallel<float> dp(comm, model);
  dp.broadcast_from_root();  // replicas start equal even if a rank's seed differed
  if (root)
    std::printf("%d ranks x %d threads, %zu training pairs, global batch %td (%td per rank), %td parameters\n",
                comm.size(), twin::default_threads(), train_pairs.size(), o.batch, o.batch / comm.size(),
                model.num_params());

  const twin::ContrastiveLoss loss{.neg_margin = 1.0, .power = 2.0, .reduction = twin::Reduction::mean};
  twin::SiameseWorkspace<float> ws;
  twin::Tensor<float> x1, x2;
  std::vector<twin::PairLabel> y;
  std::vector<std::size_t> order(train_pairs.size());
  for (int epoch = first_epoch; epoch <= o.epochs; ++epoch) {
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    sampler.shuffle(std::span<std::size_t>(order));  // the same permutation on every rank
    const auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0, reduce_s = 0;
    Index steps = 0;
    for (std::size_t b = 0; b + static_cast<std::size_t>(o.batch) <= order.size(); b += static_cast<std::size_t>(o.batch)) {
      const std::span<const std::size_t> global(order.data() + b, static_cast<std::size_t>(o.batch));
      const auto mine = twin::mpi::shard(global, comm.rank(), comm.size());
      const double w = twin::mpi::shard_weight(o.batch, comm.rank(), comm.size());
      gather(train_images, train_pairs, mine, x1, x2, y);
      const Index n = x1.dim(0);
      model.zero_grad();
      const auto e = model.forward({x1.view(), x2.view()}, ws, twin::Mode::train);
      auto de = ws.d_embeddings();
      const auto r = loss(twin::PairBatch<float>{.first = e.branch(0), .second = e.branch(1), .labels = y},
                          twin::PairGrads<float>{.first = de.slice(0, n), .second = de.slice(n, n)});
      model.backward(de, ws);
      dp.all_reduce_gradients(w);  // grads = gradient of the mean loss over the global batch
      dp.all_reduce_buffers(w);    // BatchNorm running statistics
      opt.step(model.params(), model.grads());
      loss_sum += comm.all_reduce(w * r.value, MPI_SUM, "the loss");
      reduce_s += dp.last_timing().reduce_seconds;
      ++steps;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (root)
      std::printf("epoch %d/%d  %.1f s  loss %.4f  %.0f images/s  (%.1f%% in the gradient all-reduce, waiting for "
                  "the slowest rank included)\n",
                  epoch,
                  o.epochs, secs, steps ? loss_sum / double(steps) : 0.0, 2.0 * double(steps * o.batch) / secs,
                  100.0 * reduce_s / secs);
    if (!o.checkpoint.empty()) twin::mpi::save_checkpoint(comm, o.checkpoint, model.tower(), opt, sampler, epoch);
    std::fflush(stdout);
  }

  if (root) {
    const auto test_images = twin::io::read_idx_images((dir / "t10k-images-idx3-ubyte.gz").string());
    const auto test_labels = twin::io::read_idx_labels((dir / "t10k-labels-idx1-ubyte.gz").string());
    twin::Rng test_rng(o.seed + 2);
    const auto test_pairs = twin::data::anchor_pairs(test_labels, test_rng);
    std::printf("test: AUC %.4f on %zu pairs (embedding distance)\n", test_auc(model, test_images, test_pairs),
                test_pairs.size());
  }
  dp.check_replicas();  // every rank ends with the same bits
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  twin::mpi::Environment env(argc, argv);
  Options o;
  try {
    o = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mpi_train: %s\n", e.what());
    return 2;
  }
  const twin::mpi::Communicator comm = env.world({.timeout_seconds = o.timeout});
  return twin::mpi::run_or_abort(comm, [&] { return train(comm, o); });
}
