// Inference fusion (Workspace::set_fusion, layer.hpp INFERENCE FUSION): a forward-only
// Mode::eval plan folds BatchNorm / ChannelAffine into the convolution before it and fuses
// ReLU and the residual Add into its store. Checked against the unfused forward (every node
// on its own), on the dlib face ResNet (both norm forms, batch 1 and several images, so the
// grouped small-output path runs with one and with several images per group), on small
// graphs (a residual that is a graph input, a convolution read twice, conv -> ReLU), after
// the parameters change (the folded copy is remade), and for training after inference
// (which must not see the folded weights).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include <twin/testing/random.hpp>
#include <twin/twin.hpp>

namespace test_inference_fusion {
using namespace twin;
using twin::testing::random_tensor;

// Largest |a - b| over the largest |b|: the relative error of a whole output.
template <class T>
double rel_diff(TensorView<const T> a, TensorView<const T> b) {
  REQUIRE(a.shape() == b.shape());
  double d = 0, m = 0;
  for (Index i = 0; i < a.size(); ++i) {
    d = std::max(d, std::abs(double(a[i]) - double(b[i])));
    m = std::max(m, std::abs(double(b[i])));
  }
  return d / std::max(m, 1e-30);
}

// Parameters and BatchNorm statistics away from their identity initial values, so that
// folding them changes the weights.
template <class T>
void perturb(Graph<T>& g, std::uint64_t seed) {
  Rng rng(seed);
  for (T& p : g.params()) p += T(rng.uniform(-0.2, 0.2));
  for (const auto& t : g.named_tensors()) {
    if (t.trainable) continue;
    const bool var = t.name.find("running_var") != std::string::npos;
    auto b = g.buffers().subspan(static_cast<std::size_t>(t.offset), static_cast<std::size_t>(t.shape.numel()));
    for (T& v : b) v = var ? T(rng.uniform(0.5, 2.0)) : T(rng.uniform(-0.3, 0.3));
  }
}

template <class T>
Tensor<T> copy_of(TensorView<const T> v) {
  Tensor<T> t(v.shape());
  std::copy(v.begin(), v.end(), t.begin());
  return t;
}

TEST_CASE("fusion: the fused dlib ResNet matches the unfused forward, both norm forms, batch 1 and 5") {
  for (const auto norm : {models::DlibNorm::batchnorm, models::DlibNorm::affine}) {
    auto net = models::dlib_face_resnet<float>({.embedding = 16, .width = 0.25, .norm = norm});
    net.init(3);
    perturb(net, 4);
    for (const Index n : {Index(1), Index(5)}) {
      CAPTURE(n);
      const auto x = random_tensor<float>(Shape{n, 3, 150, 150}, 7);
      Workspace<float> plain, unfused, fused;  // plain: keeps what backward reads; unfused: forward-only
      unfused.set_forward_only(true);
      unfused.set_fusion(false);
      fused.set_forward_only(true);
      const auto ref = copy_of(net.forward(x.view(), plain, Mode::eval));
      const auto a = copy_of(net.forward(x.view(), unfused, Mode::eval));
      CHECK(std::equal(a.begin(), a.end(), ref.begin()));  // forward-only alone changes no bits
      const auto y = net.forward(x.view(), fused, Mode::eval);
      CHECK(rel_diff<float>(y, ref.view()) <= 1e-5);
      CHECK(rel_diff<float>(net.forward(x.view(), fused, Mode::eval), ref.view()) <= 1e-5);  // reused plan
    }
  }
}

TEST_CASE("fusion: small graphs in double (residual from the graph input, a conv read twice, conv -> ReLU)") {
  Graph<double> g;
  auto x = g.input("x", Shape{4, 7, 6});
  auto h = g.add("c0", Conv2D{.in = 4, .out = 4, .kernel = 3, .pad = 1}, x);
  h = g.add("bn0", BatchNorm2d{.features = 4}, h);
  h = g.add("add0", Add{}, {h, x});  // the residual is the graph's input
  h = g.add("relu0", ReLU{}, h);
  auto c1 = g.add("c1", Conv2D{.in = 4, .out = 5, .kernel = 1, .bias = false}, h);  // read twice: nothing fused
  auto r = g.add("relu1", ReLU{}, c1);
  auto s = g.add("add1", Add{}, {r, c1});
  auto c2 = g.add("c2", Conv2D{.in = 5, .out = 3, .kernel = 3, .stride = 2}, s);
  auto a2 = g.add("aff2", ChannelAffine{.channels = 3}, c2);
  g.output(g.add("relu2", ReLU{}, a2));  // conv -> affine -> ReLU as the output
  g.init(5);
  perturb(g, 6);
  const auto in = random_tensor<double>(Shape{3, 4, 7, 6}, 8);
  Workspace<double> plain, fused;
  fused.set_forward_only(true);
  const auto ref = copy_of(g.forward(in.view(), plain, Mode::eval));
  CHECK(rel_diff<double>(g.forward(in.view(), fused, Mode::eval), ref.view()) <= 1e-13);
  // Borrowed input: the residual read from the caller's memory.
  CHECK(rel_diff<double>(g.forward_borrowing_input(in.view(), fused, Mode::eval), ref.view()) <= 1e-13);
  CHECK(fused.bytes() < plain.bytes() + 4096);
}

TEST_CASE("fusion: a sum of two convolution branches (a ResNet's projection shortcut), both orders") {
  for (const bool shortcut_first : {false, true}) {
    CAPTURE(shortcut_first);
    Graph<double> g;
    auto x = g.input("x", Shape{3, 8, 8});
    Value s, h;
    auto shortcut = [&] {
      s = g.add("ds", Conv2D{.in = 3, .out = 6, .kernel = 1, .stride = 2, .bias = false}, x);
      s = g.add("ds.bn", BatchNorm2d{.features = 6}, s);
    };
    if (shortcut_first) shortcut();
    h = g.add("c1", Conv2D{.in = 3, .out = 6, .kernel = 3, .stride = 2, .pad = 1}, x);
    h = g.add("bn1", BatchNorm2d{.features = 6}, h);
    h = g.add("relu1", ReLU{}, h);
    h = g.add("c2", Conv2D{.in = 6, .out = 6, .kernel = 3, .pad = 1}, h);
    h = g.add("bn2", BatchNorm2d{.features = 6}, h);
    if (!shortcut_first) shortcut();
    g.output(g.add("relu", ReLU{}, g.add("add", Add{}, {h, s})));
    g.init(7);
    perturb(g, 8);
    const auto in = random_tensor<double>(Shape{2, 3, 8, 8}, 9);
    Workspace<double> plain, fused;
    fused.set_forward_only(true);
    const auto ref = copy_of(g.forward(in.view(), plain, Mode::eval));
    CHECK(rel_diff<double>(g.forward(in.view(), fused, Mode::eval), ref.view()) <= 1e-13);
  }
}

TEST_CASE("fusion: the folded weights are remade when the parameters change") {
  auto net = models::dlib_face_resnet<float>({.embedding = 8, .width = 0.125});
  net.init(1);
  perturb(net, 2);
  const auto x = random_tensor<float>(Shape{2, 3, 150, 150}, 3);
  Workspace<float> plain, fused;
  fused.set_forward_only(true);
  net.forward(x.view(), fused, Mode::eval);
  // An optimiser step (through params()).
  SGD<float> opt({.lr = 0.1});
  auto grads = random_tensor<float>(Shape{net.num_params()}, 4);
  std::copy(grads.begin(), grads.end(), net.grads().begin());
  opt.step(net.params(), net.grads());
  auto ref = copy_of(net.forward(x.view(), plain, Mode::eval));
  CHECK(rel_diff<float>(net.forward(x.view(), fused, Mode::eval), ref.view()) <= 1e-5);
  // A training forward moves BatchNorm's running statistics.
  Workspace<float> train;
  net.forward(x.view(), train, Mode::train);
  ref = copy_of(net.forward(x.view(), plain, Mode::eval));
  CHECK(rel_diff<float>(net.forward(x.view(), fused, Mode::eval), ref.view()) <= 1e-5);
  // Loading (assign).
  std::vector<float> p(net.params().begin(), net.params().end()), b(net.buffers().begin(), net.buffers().end());
  for (float& v : p) v *= 0.9f;
  net.assign(p, b);
  ref = copy_of(net.forward(x.view(), plain, Mode::eval));
  CHECK(rel_diff<float>(net.forward(x.view(), fused, Mode::eval), ref.view()) <= 1e-5);
}

TEST_CASE("fusion: training after fused inference gives the same step as a model never run in eval") {
  auto make = [] {
    auto g = models::dlib_face_resnet<float>({.embedding = 8, .width = 0.125});
    g.init(9);
    return g;
  };
  auto used = make(), fresh = make();
  perturb(used, 10);
  perturb(fresh, 10);
  const auto x = random_tensor<float>(Shape{3, 3, 150, 150}, 11);
  Workspace<float> infer;
  infer.set_forward_only(true);
  used.forward(x.view(), infer, Mode::eval);  // builds the folded copy
  SGD<float> opt_a({.lr = 0.05, .momentum = 0.9}), opt_b({.lr = 0.05, .momentum = 0.9});
  Workspace<float> wa, wb;
  for (int step = 0; step < 2; ++step) {
    const auto ya = copy_of(used.forward(x.view(), wa, Mode::train));
    const auto yb = copy_of(fresh.forward(x.view(), wb, Mode::train));
    CHECK(std::equal(ya.begin(), ya.end(), yb.begin()));
    const auto dy = random_tensor<float>(ya.shape(), 12 + std::uint64_t(step));
    used.zero_grad();
    fresh.zero_grad();
    const auto da = copy_of(used.backward(dy.view(), wa, true));
    const auto db = copy_of(fresh.backward(dy.view(), wb, true));
    CHECK(std::equal(da.begin(), da.end(), db.begin()));
    CHECK(std::equal(used.grads().begin(), used.grads().end(), fresh.grads().begin()));
    opt_a.step(used.params(), used.grads());
    opt_b.step(fresh.params(), fresh.grads());
    used.forward(x.view(), infer, Mode::eval);  // inference between the steps
  }
  CHECK(std::equal(used.params().begin(), used.params().end(), fresh.params().begin()));
  CHECK(std::equal(used.buffers().begin(), used.buffers().end(), fresh.buffers().begin()));
  // And the fused inference follows the trained weights.
  Workspace<float> plain;
  const auto ref = copy_of(fresh.forward(x.view(), plain, Mode::eval));
  CHECK(rel_diff<float>(used.forward(x.view(), infer, Mode::eval), ref.view()) <= 1e-5);
}

}  // namespace test_inference_fusion
