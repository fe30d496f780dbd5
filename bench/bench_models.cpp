// Whole-model benchmarks (D1-D4, D2 and D4 inference), at 1 and 2 threads. Each
// benchmark builds its model and workspaces once and times complete steps; the first step
// (which allocates every buffer) runs before the timing, as in a real training loop.
// Counters: img/s (images through the tower per second) and peak_rss_MiB (the process's
// peak resident memory; meaningful when one benchmark runs per process, as
// compare_pytorch.py does).
#include <fstream>
#include <string>

#include <twin/models/signature_tower.hpp>
#include <twin/siamese.hpp>

#include "bench_common.hpp"

using namespace twin;
using namespace twin::bench;

namespace {

// Peak resident memory of this process image, from /proc/self/status (VmHWM). Not
// getrusage's ru_maxrss: that survives fork + exec, so a benchmark started by a large
// parent (compare_pytorch.py with PyTorch loaded) would report the parent's peak.
double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // "VmHWM:  12345 kB"
  return 0.0;
}

// The D2 signature tower (twin/models/signature_tower.hpp), initialised from seed 1.
Sequential<float> signature_tower(Index h, Index w) {
  Sequential<float> t = models::signature_tower<float>(h, w);
  t.init(1);
  return t;
}

// The Keras MNIST Siamese tutorial's tower (28 x 28 inputs, 10-d embeddings).
Sequential<float> mnist_tower() {
  Sequential<float> t;
  t.add(BatchNorm2d{.features = 1})
      .add(Conv2D{.in = 1, .out = 4, .kernel = 5})
      .add(Tanh{})
      .add(AvgPool2D{.kernel = 2})
      .add(Conv2D{.in = 4, .out = 16, .kernel = 5})
      .add(Tanh{})
      .add(AvgPool2D{.kernel = 2})
      .add(Flatten{})
      .add(BatchNorm1d{.features = 256})
      .add(Dense{.in = 256, .out = 10})
      .add(Tanh{});
  t.init(1);
  return t;
}

std::vector<PairLabel> alternating_labels(Index n) {
  std::vector<PairLabel> y(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) y[std::size_t(i)] = i % 2 == 0 ? PairLabel::same : PairLabel::different;
  return y;
}

// One contrastive training step on pairs: forward both branches, loss, backward, update.
template <class Opt>
void pair_step(SiameseModule<float>& model, SiameseWorkspace<float>& ws, const Tensor<float>& a,
               const Tensor<float>& b, const std::vector<PairLabel>& y, const ContrastiveLoss& loss, Opt& opt,
               Context& exec) {
  const Index n = a.dim(0);
  model.zero_grad();
  const auto e = model.forward({a.view(), b.view()}, ws, Mode::train);
  auto de = ws.d_embeddings();
  loss(PairBatch<float>{.first = e.branch(0), .second = e.branch(1), .labels = y},
       PairGrads<float>{.first = de.slice(0, n), .second = de.slice(n, n)});
  model.backward(de, ws);
  opt.step(model.params(), model.grads(), &exec);
}

// D1: the MNIST tutorial network, contrastive loss (squared, margin 1) on the Euclidean
// distance of the embeddings, RMSprop.
void d1(benchmark::State& state, Index pairs) {
  Context exec = bench_context(state);
  SiameseModule<float> model(mnist_tower());
  SiameseWorkspace<float> ws;
  ws.set_context(&exec);
  const auto a = random_tensor(Shape{pairs, 1, 28, 28}, 1), b = random_tensor(Shape{pairs, 1, 28, 28}, 2);
  const auto y = alternating_labels(pairs);
  const ContrastiveLoss loss{.pos_margin = 0, .neg_margin = 1, .power = 2, .reduction = Reduction::mean};
  RMSprop<float> opt({.lr = 0.001});
  pair_step(model, ws, a, b, y, loss, opt, exec);
  for (auto _ : state) pair_step(model, ws, a, b, y, loss, opt, exec);
  images(state, 2.0 * double(pairs));
}

// D2: the signature tower on 1 x 96 x 192, 32 pairs, contrastive loss margin 1, SGD.
void d2(benchmark::State& state) {
  Context exec = bench_context(state);
  const Index pairs = 32;
  SiameseModule<float> model(signature_tower(96, 192));
  SiameseWorkspace<float> ws;
  ws.set_context(&exec);
  const auto a = random_tensor(Shape{pairs, 1, 96, 192}, 1), b = random_tensor(Shape{pairs, 1, 96, 192}, 2);
  const auto y = alternating_labels(pairs);
  const ContrastiveLoss loss{.pos_margin = 0, .neg_margin = 1, .power = 2, .reduction = Reduction::mean};
  SGD<float> opt({.lr = 0.01});
  pair_step(model, ws, a, b, y, loss, opt, exec);
  for (auto _ : state) pair_step(model, ws, a, b, y, loss, opt, exec);
  images(state, 2.0 * double(pairs));
  state.counters["peak_rss_MiB"] = peak_rss_mib();
}

// D3: the same tower on 1 x 112 x 96, 32 triplets, triplet margin loss 0.2, SGD.
void d3(benchmark::State& state) {
  Context exec = bench_context(state);
  const Index n = 32;
  SiameseModule<float> model(signature_tower(112, 96));
  SiameseWorkspace<float> ws;
  ws.set_context(&exec);
  const auto a = random_tensor(Shape{n, 1, 112, 96}, 1), p = random_tensor(Shape{n, 1, 112, 96}, 2),
             q = random_tensor(Shape{n, 1, 112, 96}, 3);
  const TripletMarginLoss loss{.margin = 0.2};
  SGD<float> opt({.lr = 0.01});
  auto step = [&] {
    model.zero_grad();
    const auto e = model.forward({a.view(), p.view(), q.view()}, ws, Mode::train);
    auto de = ws.d_embeddings();
    loss(TripletBatch<float>{.anchor = e.branch(0), .positive = e.branch(1), .negative = e.branch(2)},
         TripletGrads<float>{.anchor = de.slice(0, n), .positive = de.slice(n, n), .negative = de.slice(2 * n, n)});
    model.backward(de, ws);
    opt.step(model.params(), model.grads(), &exec);
  };
  step();
  for (auto _ : state) step();
  images(state, 3.0 * double(n));
}

// D2 tower inference (embed, eval mode) at a given batch size.
void d2_infer(benchmark::State& state, Index batch) {
  Context exec = bench_context(state);
  SiameseModule<float> model(signature_tower(96, 192));
  Workspace<float> ws;
  ws.set_context(&exec);
  const auto x = random_tensor(Shape{batch, 1, 96, 192}, 1);
  model.embed(x.view(), ws);
  for (auto _ : state) benchmark::DoNotOptimize(model.embed(x.view(), ws).data());
  images(state, double(batch));
}

// D4: dlib's face-recognition ResNet (twin/models/dlib_resnet.hpp) on 3 x 150 x 150 faces,
// about 0.54 GFLOP per face forward. Training: one contrastive step on 8 pairs (16 faces
// through the tower), squared hinge margin 1 as in D2, SGD with dlib's momentum 0.9 and
// weight decay 1e-4.
SiameseModule<float> face_resnet() {
  SiameseModule<float> model(models::dlib_face_resnet<float>());
  model.init(1);
  return model;
}

void d4(benchmark::State& state) {
  Context exec = bench_context(state);
  const Index pairs = 8;
  SiameseModule<float> model = face_resnet();
  SiameseWorkspace<float> ws;
  ws.set_context(&exec);
  const auto a = random_tensor(Shape{pairs, 3, 150, 150}, 1), b = random_tensor(Shape{pairs, 3, 150, 150}, 2);
  const auto y = alternating_labels(pairs);
  const ContrastiveLoss loss{.pos_margin = 0, .neg_margin = 1, .power = 2, .reduction = Reduction::mean};
  SGD<float> opt({.lr = 0.01, .momentum = 0.9, .weight_decay = 1e-4});
  pair_step(model, ws, a, b, y, loss, opt, exec);
  for (auto _ : state) pair_step(model, ws, a, b, y, loss, opt, exec);
  images(state, 2.0 * double(pairs));
  state.counters["peak_rss_MiB"] = peak_rss_mib();
}

// D4 tower inference (embed, eval mode: BatchNorm with its running statistics), in a
// forward-only workspace: its plan folds every BatchNorm into the convolution before it and
// fuses the ReLUs and residual sums into the convolutions' stores (Workspace::set_fusion).
void d4_infer(benchmark::State& state, Index batch) {
  Context exec = bench_context(state);
  SiameseModule<float> model = face_resnet();
  Workspace<float> ws;
  ws.set_context(&exec);
  ws.set_forward_only(true);
  const auto x = random_tensor(Shape{batch, 3, 150, 150}, 1);
  model.embed(x.view(), ws);
  for (auto _ : state) benchmark::DoNotOptimize(model.embed(x.view(), ws).data());
  images(state, double(batch));
}

void register_all() {
  at_1_and_2_threads("D1_mnist_train_b16", [](benchmark::State& s) { d1(s, 16); })->Unit(benchmark::kMicrosecond);
  at_1_and_2_threads("D1_mnist_train_b128", [](benchmark::State& s) { d1(s, 128); });
  at_1_and_2_threads("D2_train_pairs32", d2);
  at_1_and_2_threads("D3_train_triplets32", d3);
  at_1_and_2_threads("D2_infer_b1", [](benchmark::State& s) { d2_infer(s, 1); });
  at_1_and_2_threads("D2_infer_b64", [](benchmark::State& s) { d2_infer(s, 64); });
  at_1_and_2_threads("D4_train_pairs8", d4);
  at_1_and_2_threads("D4_infer_b1", [](benchmark::State& s) { d4_infer(s, 1); });
  at_1_and_2_threads("D4_infer_b16", [](benchmark::State& s) { d4_infer(s, 16); });
}

}  // namespace

int main(int argc, char** argv) { return run_benchmarks(argc, argv, register_all); }
