// Sequential's memory plan (sequential.hpp, layer.hpp "MEMORY PLANNING"): in-place
// activations, reshapes without copies, activations and gradients in shared buffers. The
// planned path must give the same bits as running every layer alone on its own buffers, a
// second step must reuse the first step's buffers and agree with a fresh model, and the
// views a layer declares it does not read must reach it empty.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include <twin/siamese.hpp>
#include <twin/testing/random.hpp>
#include <twin/twin.hpp>

namespace test_memory_plan {
using namespace twin;

struct Result {
  std::vector<double> y, dx, grads;
};

using testing::random_tensor;

template <class T>
std::vector<double> to_double(std::span<const T> s) {
  return {s.begin(), s.end()};
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

// The reference: each layer on its own output, scratch and gradient buffers, given every
// view, with the random streams Sequential uses (Workspace(seed): step seed, fork(i)).
template <class T>
Result run_unplanned(Sequential<T>& net, const Tensor<T>& x, const Tensor<T>& dy, Mode mode, std::uint64_t seed) {
  const auto L = static_cast<std::size_t>(net.size());
  std::vector<Tensor<T>> act(L), grad(L);
  std::vector<std::unique_ptr<std::byte[], detail::AlignedDelete<std::byte>>> scratch(L);
  std::vector<std::size_t> scratch_size(L);
  Rng stream(seed);
  const std::uint64_t step_seed = stream.next();
  Context exec;
  net.zero_grad();
  TensorView<const T> in = x.view();
  for (std::size_t i = 0; i < L; ++i) {
    const auto& layer = net[Index(i)];
    act[i].resize(layer.output_shape(in.shape()));
    scratch_size[i] = layer.scratch_bytes(in.shape(), mode);
    scratch[i] = detail::aligned_alloc_array<std::byte>(Index(scratch_size[i]));
    Rng r = Rng(step_seed).fork(i);
    layer.forward(in, act[i].view(), {mode, {scratch[i].get(), scratch_size[i]}, &r, &exec});
    in = act[i].view();
  }
  TensorView<const T> g = dy.view();
  for (std::size_t i = L; i-- > 0;) {
    const TensorView<const T> xi = i == 0 ? x.view() : act[i - 1].view();
    grad[i].resize(xi.shape());
    Rng r = Rng(step_seed).fork(i);
    net[Index(i)].backward(xi, act[i].view(), g, grad[i].view(),
                           {mode, {scratch[i].get(), scratch_size[i]}, &r, &exec});
    g = grad[i].view();
  }
  return {to_double<T>(act.back().span()), to_double<T>(grad[0].span()), to_double<T>(net.grads())};
}

template <class T>
Result run_planned(Sequential<T>& net, Workspace<T>& ws, const Tensor<T>& x, const Tensor<T>& dy, Mode mode) {
  net.zero_grad();
  const auto y = net.forward(x.view(), ws, mode);
  Result r;
  r.y = to_double<T>(y.span());
  const auto dx = net.backward(dy.view(), ws, true);
  r.dx = to_double<T>(dx.span());
  r.grads = to_double<T>(net.grads());
  return r;
}

// Every kind of layer around the plan's decisions: ReLU in place after a convolution (which
// does not read its output), Flatten as a view, Dropout in place, Tanh (reads its output)
// followed by a ReLU that therefore may not overwrite it, Sigmoid and L2Normalize reading
// their outputs.
template <class T>
Sequential<T> mixed_net() {
  Sequential<T> net;
  net.add(Conv2D{.in = 2, .out = 3, .kernel = 3, .pad = 1})
      .add(ReLU{})
      .add(MaxPool2D{.kernel = 2})
      .add(Conv2D{.in = 3, .out = 4, .kernel = 3})
      .add(LeakyReLU{.slope = 0.1})
      .add(Flatten{})
      .add(Dropout{.p = 0.3})
      .add(Dense{.in = 4 * 2 * 2, .out = 6})
      .add(Tanh{})
      .add(ReLU{})
      .add(Dense{.in = 6, .out = 5})
      .add(Sigmoid{})
      .add(L2Normalize{});
  net.init(3);
  return net;
}

// In-place layers first (layer 0 never writes over the caller's input) and back to back.
template <class T>
Sequential<T> in_place_first_net() {
  Sequential<T> net;
  net.add(ReLU{}).add(ReLU{}).add(Flatten{}).add(Dense{.in = 12, .out = 4}).add(Tanh{});
  net.init(5);
  return net;
}

template <class T>
void check_planned_equals_unplanned(Sequential<T> net, const Shape& in, Mode mode) {
  const auto x = random_tensor<T>(in, 11), dy = random_tensor<T>(net.output_shape(in), 12);
  const Result ref = run_unplanned(net, x, dy, mode, 7);
  Workspace<T> ws(7);
  const Result got = run_planned(net, ws, x, dy, mode);
  CHECK(same_bits(got.y, ref.y));
  CHECK(same_bits(got.dx, ref.dx));
  CHECK(same_bits(got.grads, ref.grads));
}

TEST_CASE("memory plan: the planned path gives the bits of every layer run alone") {
  check_planned_equals_unplanned(mixed_net<double>(), Shape{3, 2, 8, 8}, Mode::train);
  check_planned_equals_unplanned(mixed_net<double>(), Shape{3, 2, 8, 8}, Mode::eval);
  check_planned_equals_unplanned(mixed_net<float>(), Shape{5, 2, 8, 8}, Mode::train);
  check_planned_equals_unplanned(in_place_first_net<double>(), Shape{4, 3, 2, 2}, Mode::train);
  check_planned_equals_unplanned(in_place_first_net<float>(), Shape{4, 3, 2, 2}, Mode::train);
}

TEST_CASE("memory plan: a second step reuses the buffers and matches a fresh model") {
  const Shape in{4, 2, 8, 8};
  const auto x1 = random_tensor<float>(in, 21), x2 = random_tensor<float>(in, 22);
  auto net = mixed_net<float>();
  const auto dy = random_tensor<float>(net.output_shape(in), 23);
  Workspace<float> ws(9);
  const Result r1 = run_planned(net, ws, x1, dy, Mode::train);
  const float* out1 = net.forward(x1.view(), ws, Mode::train).data();
  const float* dx1 = net.backward(dy.view(), ws, true).data();
  const std::size_t bytes1 = ws.bytes();
  ws.seed(9);  // the same dropout streams as the first step
  const Result again = run_planned(net, ws, x1, dy, Mode::train);
  CHECK(same_bits(again.y, r1.y));
  CHECK(same_bits(again.dx, r1.dx));
  CHECK(same_bits(again.grads, r1.grads));
  // A different input through the used workspace equals a fresh model and workspace.
  ws.seed(9);
  const Result used = run_planned(net, ws, x2, dy, Mode::train);
  CHECK(net.forward(x2.view(), ws, Mode::train).data() == out1);
  CHECK(net.backward(dy.view(), ws, true).data() == dx1);
  CHECK(ws.bytes() == bytes1);
  auto fresh_net = mixed_net<float>();
  Workspace<float> fresh_ws(9);
  const Result fresh = run_planned(fresh_net, fresh_ws, x2, dy, Mode::train);
  CHECK(same_bits(used.y, fresh.y));
  CHECK(same_bits(used.dx, fresh.dx));
  CHECK(same_bits(used.grads, fresh.grads));
}

TEST_CASE("memory plan: the output survives backward; two backwards add up") {
  auto net = mixed_net<double>();
  const Shape in{2, 2, 8, 8};
  const auto x = random_tensor<double>(in, 31), dy = random_tensor<double>(net.output_shape(in), 32);
  Workspace<double> ws(1);
  net.zero_grad();
  const auto y = net.forward(x.view(), ws, Mode::train);
  const std::vector<double> y_before(y.begin(), y.end());
  net.backward(dy.view(), ws, true);
  CHECK(same_bits(std::vector<double>(y.begin(), y.end()), y_before));
  const std::vector<double> once(net.grads().begin(), net.grads().end());
  net.backward(dy.view(), ws, true);
  // (Approx: the GEMMs add their K blocks into the accumulated gradient one at a time.)
  for (std::size_t i = 0; i < once.size(); ++i) CHECK(net.grads()[i] == doctest::Approx(2 * once[i]).epsilon(1e-12));
}

TEST_CASE("memory plan: a ReLU after a layer costs a bit per element, not a second activation") {
  // Dense(8 -> 1024) keeps its output for the second Dense; the ReLU writes over it.
  Sequential<float> net;
  net.add(Dense{.in = 8, .out = 1024}).add(ReLU{}).add(Dense{.in = 1024, .out = 4});
  net.init(1);
  Workspace<float> ws;
  const auto x = random_tensor<float>(Shape{32, 8}, 1);
  net.forward(x.view(), ws, Mode::train);
  const auto dy = random_tensor<float>(Shape{32, 4}, 2);
  net.backward(dy.view(), ws);
  const double act = 32.0 * 1024 * sizeof(float);
  // One kept activation, one gradient buffer of its size, small change (input, output, mask).
  CHECK(double(ws.bytes()) < 2.2 * act);
}

// Declares that backward reads neither x nor y and checks that they arrive empty.
class Probe final : public Layer<double> {
 public:
  std::string name() const override { return "Probe"; }
  Shape output_shape(const Shape& in) const override { return in; }
  BackwardReads backward_reads() const override { return {.input = false, .output = false}; }
  void forward(TensorView<const double> x, TensorView<double> y, const LayerContext&) const override {
    std::copy(x.begin(), x.end(), y.begin());
  }
  void backward(TensorView<const double> x, TensorView<const double> y, TensorView<const double> dy,
                TensorView<double> dx, const LayerContext&) const override {
    CHECK(x.data() == nullptr);
    CHECK(y.data() == nullptr);
    CHECK(x.shape() == dy.shape());
    CHECK(y.shape() == dy.shape());
    if (dx.data()) std::copy(dy.begin(), dy.end(), dx.begin());
    ++*calls;
  }
  int* calls = nullptr;
};

TEST_CASE("memory plan: views a layer does not read reach backward empty, with their shapes") {
  Sequential<double> net;
  auto probe = std::make_unique<Probe>();
  int calls = 0;
  probe->calls = &calls;
  net.add(Dense{.in = 3, .out = 5}).add(std::move(probe)).add(Dense{.in = 5, .out = 2});
  net.init(1);
  const auto x = random_tensor<double>(Shape{4, 3}, 1), dy = random_tensor<double>(Shape{4, 2}, 2);
  net.forward(x.view());
  net.backward(dy.view(), true);
  CHECK(calls == 1);
}

TEST_CASE("memory plan: forward_borrowing_input equals forward") {
  auto a = mixed_net<double>(), b = mixed_net<double>();
  const Shape in{3, 2, 8, 8};
  const auto x = random_tensor<double>(in, 41), dy = random_tensor<double>(a.output_shape(in), 42);
  Workspace<double> wa(3), wb(3);
  a.zero_grad();
  b.zero_grad();
  const auto ya = a.forward(x.view(), wa, Mode::train);
  const auto yb = b.forward_borrowing_input(x.view(), wb, Mode::train);
  CHECK(same_bits(to_double<double>(ya.span()), to_double<double>(yb.span())));
  const auto da = a.backward(dy.view(), wa, true);
  const auto db = b.backward(dy.view(), wb, true);
  CHECK(same_bits(to_double<double>(da.span()), to_double<double>(db.span())));
  CHECK(same_bits(to_double<double>(a.grads()), to_double<double>(b.grads())));
}

TEST_CASE("memory plan: Siamese training with one reused workspace equals a fresh workspace per step") {
  auto tower = [] {
    Sequential<float> t;
    t.add(Conv2D{.in = 1, .out = 4, .kernel = 3, .pad = 1})
        .add(ReLU{})
        .add(MaxPool2D{.kernel = 2})
        .add(Flatten{})
        .add(Dense{.in = 4 * 4 * 4, .out = 8})
        .add(L2Normalize{});
    t.init(2);
    return t;
  };
  SiameseModule<float> reused(tower()), fresh(tower());
  SGD<float> opt_reused({.lr = 0.1}), opt_fresh({.lr = 0.1});
  SiameseWorkspace<float> ws;
  const ContrastiveLoss loss{.power = 2, .reduction = Reduction::mean};
  const std::vector<PairLabel> labels{PairLabel::same, PairLabel::different, PairLabel::different};
  auto step = [&](SiameseModule<float>& m, SiameseWorkspace<float>& w, SGD<float>& opt, std::uint64_t seed) {
    const auto a = random_tensor<float>(Shape{3, 1, 8, 8}, seed), b = random_tensor<float>(Shape{3, 1, 8, 8}, seed + 100);
    m.zero_grad();
    const auto e = m.forward({a.view(), b.view()}, w, Mode::train);
    auto de = w.d_embeddings();
    loss(PairBatch<float>{.first = e.branch(0), .second = e.branch(1), .labels = labels},
         PairGrads<float>{.first = de.slice(0, 3), .second = de.slice(3, 3)});
    m.backward(de, w);
    opt.step(m.params(), m.grads());
  };
  for (std::uint64_t s = 1; s <= 3; ++s) {
    step(reused, ws, opt_reused, s);
    SiameseWorkspace<float> once;
    step(fresh, once, opt_fresh, s);
  }
  CHECK(same_bits(to_double<float>(reused.params()), to_double<float>(fresh.params())));
}

}  // namespace test_memory_plan
