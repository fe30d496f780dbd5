// Determinism of a whole Siamese training run: the same seed gives bit-identical weights and
// BatchNorm statistics with 1 and with 2 threads, and across two runs (robustness issue,
// item 6). Every layer kind with a batch reduction or randomness is in the tower.
#include <doctest/doctest.h>

#include <twin/siamese/contrastive_loss.hpp>
#include <twin/siamese/siamese_module.hpp>
#include <twin/twin.hpp>

#include <vector>

namespace test_determinism {  // file-local: the test files are compiled as unity batches

using namespace twin;

namespace {
struct Result {
  std::vector<float> params, buffers;
};

Result train(int threads, std::uint64_t seed) {
  Context ctx(threads);
  Sequential<float> tower;
  tower.add(Conv2D{.in = 1, .out = 6, .kernel = 5, .stride = 2, .pad = 2})
      .add(BatchNorm2d{.features = 6})
      .add(ReLU{})
      .add(MaxPool2D{.kernel = 3, .stride = 2, .pad = 1})
      .add(Conv2D{.in = 6, .out = 8, .kernel = 3, .pad = 1})
      .add(LeakyReLU{})
      .add(AvgPool2D{.kernel = 2})
      .add(Flatten{})
      .add(Dropout{.p = 0.2})
      .add(Dense{.in = 8 * 2 * 4, .out = 12})
      .add(L2Normalize{});
  SiameseModule<float> model(std::move(tower));
  model.init(seed);
  SGD<float> opt({.lr = 0.05, .momentum = 0.9});
  SiameseWorkspace<float> ws(seed);
  ws.set_context(&ctx);
  ContrastiveLoss loss{.neg_margin = 1.0};
  Rng rng(seed + 1);
  const Index n = 20;  // 20 pairs: batch chunks of uneven size
  Tensor<float> a(Shape{n, 1, 16, 32}), b(Shape{n, 1, 16, 32});
  std::vector<PairLabel> y(static_cast<std::size_t>(n));
  for (int step = 0; step < 12; ++step) {
    for (float& v : a) v = static_cast<float>(rng.uniform());
    for (float& v : b) v = static_cast<float>(rng.uniform());
    for (auto& l : y) l = rng.bernoulli(0.5) ? PairLabel::same : PairLabel::different;
    model.zero_grad();
    auto e = model.forward({a.view(), b.view()}, ws, Mode::train);
    auto g = ws.d_embeddings();
    loss(PairBatch<float>{.first = e.branch(0), .second = e.branch(1), .labels = y},
         {.first = g.slice(0, n), .second = g.slice(n, n)});
    model.backward(g, ws);
    opt.step(model.params(), model.grads(), &ctx);
  }
  const auto bufs = model.tower().buffers();
  return {{model.params().begin(), model.params().end()}, {bufs.begin(), bufs.end()}};
}
}  // namespace

TEST_CASE("Siamese training: bit-identical weights for 1 and 2 threads and across runs") {
  const Result one = train(1, 7), two = train(2, 7), again = train(2, 7), other = train(2, 8);
  REQUIRE(one.params.size() == two.params.size());
  CHECK(one.params == two.params);
  CHECK(one.buffers == two.buffers);
  CHECK(two.params == again.params);
  CHECK(two.buffers == again.buffers);
  CHECK(two.params != other.params);  // the seed matters: the test can fail
}

}  // namespace test_determinism
