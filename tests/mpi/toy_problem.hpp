#pragma once
// The small Siamese problem the data-parallel tests train: a conv tower on 8 x 8 generated
// images, contrastive loss on pairs, SGD with momentum. Every function here is plain
// one-process twin; the tests run it on shards over MPI and compare with one process.
#include <twin/siamese.hpp>
#include <twin/testing/random.hpp>
#include <twin/twin.hpp>

#include <span>
#include <vector>

namespace twin_mpi_test {
using twin::Index;

// `batchnorm`: a BatchNorm2d after the first conv, whose running statistics are buffers().
inline twin::Sequential<float> tower(bool batchnorm, std::uint64_t seed) {
  twin::Sequential<float> t;
  t.add(twin::Conv2D{.in = 1, .out = 4, .kernel = 3, .pad = 1});
  if (batchnorm) t.add(twin::BatchNorm2d{.features = 4});
  t.add(twin::ReLU{})
      .add(twin::MaxPool2D{.kernel = 2})
      .add(twin::Conv2D{.in = 4, .out = 8, .kernel = 3, .pad = 1})
      .add(twin::ReLU{})
      .add(twin::MaxPool2D{.kernel = 2})
      .add(twin::Flatten{})
      .add(twin::Dense{.in = 8 * 2 * 2, .out = 6});
  t.init(seed);
  return t;
}

// M generated pairs: images (M, 1, 8, 8) for each side; "same" pairs are a noisy copy.
struct PairData {
  twin::Tensor<float> first, second;
  std::vector<twin::PairLabel> labels;
};
inline PairData make_pairs(Index m, std::uint64_t seed) {
  PairData d{twin::testing::random_tensor(twin::Shape{m, 1, 8, 8}, seed),
             twin::testing::random_tensor(twin::Shape{m, 1, 8, 8}, seed + 1), {}};
  for (Index i = 0; i < m; ++i) {
    const bool same = i % 2 == 0;
    d.labels.push_back(same ? twin::PairLabel::same : twin::PairLabel::different);
    if (same)
      for (Index k = 0; k < 64; ++k) d.second.data()[i * 64 + k] = d.first.data()[i * 64 + k] + 0.1f * d.second.data()[i * 64 + k];
  }
  return d;
}

// One global batch: `n` indices drawn from `rng` (the sampler every rank runs identically).
inline std::vector<Index> global_batch(twin::Rng& rng, Index n, Index m) {
  std::vector<Index> b(static_cast<std::size_t>(n));
  for (auto& i : b) i = static_cast<Index>(rng.below(static_cast<std::uint64_t>(m)));
  return b;
}

// Workspace and gather buffers, allocated once.
struct StepBuffers {
  twin::SiameseWorkspace<float> ws;
  twin::Tensor<float> x1, x2;
  std::vector<twin::PairLabel> y;
};

// grads() += the gradient of the MEAN contrastive loss over the pairs `idx`; returns the
// loss. The one place the tests call a loss.
inline double accumulate_gradients(twin::SiameseModule<float>& model, const PairData& d, std::span<const Index> idx,
                                   StepBuffers& b) {
  const auto n = static_cast<Index>(idx.size());
  b.x1.resize(twin::Shape{n, 1, 8, 8});
  b.x2.resize(twin::Shape{n, 1, 8, 8});
  b.y.resize(idx.size());
  for (Index i = 0; i < n; ++i) {
    const Index j = idx[static_cast<std::size_t>(i)];
    std::copy_n(d.first.data() + j * 64, 64, b.x1.data() + i * 64);
    std::copy_n(d.second.data() + j * 64, 64, b.x2.data() + i * 64);
    b.y[static_cast<std::size_t>(i)] = d.labels[static_cast<std::size_t>(j)];
  }
  const auto e = model.forward({b.x1.view(), b.x2.view()}, b.ws, twin::Mode::train);
  auto de = b.ws.d_embeddings();
  const twin::ContrastiveLoss loss{.neg_margin = 2.0, .power = 2.0, .reduction = twin::Reduction::mean};
  const auto r = loss(twin::PairBatch<float>{.first = e.branch(0), .second = e.branch(1), .labels = b.y},
                      twin::PairGrads<float>{.first = de.slice(0, n), .second = de.slice(n, n)});
  model.backward(de, b.ws);
  return r.value;
}

inline twin::SGD<float> optimizer() { return twin::SGD<float>({.lr = 0.05, .momentum = 0.9}); }

}  // namespace twin_mpi_test
