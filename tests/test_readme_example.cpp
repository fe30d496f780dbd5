// The README's example, compiled and run. The ctest readme_example_in_sync checks that the
// lines between the README markers below are the README's code block (tests/readme/check_sync.cmake).
#include <doctest/doctest.h>

#include <twin/twin.hpp>
#include <twin/siamese/contrastive_loss.hpp>
#include <twin/siamese/siamese_module.hpp>

#include <vector>

namespace test_readme_example {  // file-local: the test files are compiled as unity batches

TEST_CASE("README example: a Siamese tower trained with the contrastive loss") {
  // --- README begin ---
  using namespace twin;
  Sequential<float> tower;  // one tower, shared by both branches
  tower.add(Conv2D{.in = 1, .out = 8, .kernel = 3, .pad = 1}).add(ReLU{}).add(MaxPool2D{.kernel = 2});
  tower.add(Flatten{}).add(Dense{.in = 8 * 8 * 8, .out = 16});
  SiameseModule<float> model(std::move(tower));
  model.init(/*seed=*/42);
  Adam<float> opt({.lr = 1e-3});
  SiameseWorkspace<float> ws;  // reused every step: no allocation after the first
  ContrastiveLoss loss{.neg_margin = 1.0};  // Euclidean by default: .distance = LpDistance{}
  LossWorkspace<float> lws;  // the loss's buffers, reused likewise

  Tensor<float> a(Shape{4, 1, 16, 16}), b(Shape{4, 1, 16, 16});  // 4 pairs of 16x16 images
  std::vector<PairLabel> y{PairLabel::same, PairLabel::different, PairLabel::same, PairLabel::different};
  Rng rng(7);  // stand-in images (noise); a same pair shows one image twice
  for (Index i = 0; i < a.size(); ++i) {
    a[i] = float(rng.uniform());
    b[i] = is_same(y[std::size_t(i / 256)]) ? a[i] : float(rng.uniform());
  }
  for (int step = 0; step < 100; ++step) {
    model.zero_grad();
    auto e = model.forward({a.view(), b.view()}, ws, Mode::train);  // (8, 16): both branches
    auto g = ws.d_embeddings();
    loss(PairBatch<float>{.first = e.branch(0), .second = e.branch(1), .labels = y},
         {.first = g.slice(0, 4), .second = g.slice(4, 4)}, lws);  // writes g, returns the loss
    model.backward(g, ws);  // gradients of both branches add into one buffer
    opt.step(model.params(), model.grads());
  }
  // --- README end ---
  CHECK(model.num_params() == (8 * 9 + 8) + (8 * 64 * 16 + 16));
  // The 100 steps separated the pairs: the loss is well below that of the same tower at its
  // initialisation, and the different pairs are now apart.
  Sequential<float> fresh;
  fresh.add(Conv2D{.in = 1, .out = 8, .kernel = 3, .pad = 1}).add(ReLU{}).add(MaxPool2D{.kernel = 2});
  fresh.add(Flatten{}).add(Dense{.in = 8 * 8 * 8, .out = 16});
  SiameseModule<float> untrained(std::move(fresh));
  untrained.init(42);
  auto loss_and_gap = [&](const SiameseModule<float>& m) {
    SiameseWorkspace<float> w;
    auto e = m.forward({a.view(), b.view()}, w, Mode::eval);
    Tensor<float> d(Shape{4});
    distance_forward(LpDistance{}, e.branch(0), e.branch(1), d.view());
    const auto l = loss(PairBatch<float>{.first = e.branch(0), .second = e.branch(1), .labels = y});
    return std::pair{double(l.value), std::min(d[1], d[3])};
  };
  const auto [before, gap_before] = loss_and_gap(untrained);
  const auto [after, gap_after] = loss_and_gap(model);
  MESSAGE("README example: loss " << before << " -> " << after << ", nearest different pair " << gap_before << " -> "
                                  << gap_after);
  CHECK(after < 0.25 * before);
  CHECK(gap_after > 0.8f);  // the margin is 1
}

TEST_CASE("README example learns: same pairs close, different pairs apart") {
  using namespace twin;
  // The README's model, built from its tower's layers.
  Sequential<float> tower;
  tower.add(Conv2D{.in = 1, .out = 8, .kernel = 3, .pad = 1}).add(ReLU{}).add(MaxPool2D{.kernel = 2});
  tower.add(Flatten{}).add(Dense{.in = 8 * 8 * 8, .out = 16});
  SiameseModule<float> model(std::move(tower));
  model.init(42);
  Adam<float> opt({.lr = 1e-3});
  SiameseWorkspace<float> ws;
  ContrastiveLoss loss{.neg_margin = 1.0};
  // Two "classes" of images: a bright square top-left or bottom-right, with noise.
  Rng rng(5);
  Tensor<float> a(Shape{8, 1, 16, 16}), b(Shape{8, 1, 16, 16});
  std::vector<PairLabel> y(8);
  auto draw = [&](TensorView<float> img, int cls) {
    for (Index r = 0; r < 16; ++r)
      for (Index c = 0; c < 16; ++c) {
        const bool on = cls == 0 ? (r < 8 && c < 8) : (r >= 8 && c >= 8);
        img(0, 0, r, c) = (on ? 1.f : 0.f) + 0.2f * static_cast<float>(rng.uniform(-1, 1));
      }
  };
  float first = 0, last = 0;
  for (int step = 0; step < 150; ++step) {
    for (Index i = 0; i < 8; ++i) {
      const int ca = static_cast<int>(rng.below(2)), cb = (i % 2 == 0) ? ca : 1 - ca;
      draw(a.view().slice(i, 1), ca);
      draw(b.view().slice(i, 1), cb);
      y[std::size_t(i)] = ca == cb ? PairLabel::same : PairLabel::different;
    }
    model.zero_grad();
    auto e = model.forward({a.view(), b.view()}, ws, Mode::train);
    auto g = ws.d_embeddings();
    auto l = loss(PairBatch<float>{.first = e.branch(0), .second = e.branch(1), .labels = y},
                  {.first = g.slice(0, 8), .second = g.slice(8, 8)});
    model.backward(g, ws);
    opt.step(model.params(), model.grads());
    if (step == 0) first = l.value;
    last = l.value;
  }
  MESSAGE("contrastive loss: first " << first << ", last " << last);
  CHECK(last < 0.5f * first);
}

}  // namespace test_readme_example
