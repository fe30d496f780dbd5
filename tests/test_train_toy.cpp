// End-to-end: a small network learns a generated toy problem (two interleaved spirals would
// be harder; two Gaussian blobs plus XOR-like quadrants is enough to need a hidden layer).
#include <doctest/doctest.h>

#include <twin/twin.hpp>

namespace test_train_toy {  // file-local: the test files are compiled as unity batches

using namespace twin;

namespace {
// Label = 1 when x0 * x1 > 0 (XOR of the signs): not linearly separable.
void make_batch(Rng& rng, Tensor<float>& x, Tensor<float>& t, Index n) {
  x.resize(Shape{n, 2});
  t.resize(Shape{n, 1});
  for (Index i = 0; i < n; ++i) {
    const float a = static_cast<float>(rng.uniform(-1, 1)), b = static_cast<float>(rng.uniform(-1, 1));
    x(i, 0) = a;
    x(i, 1) = b;
    t(i, 0) = a * b > 0 ? 1.f : 0.f;
  }
}
// Mean squared error and its gradient (2/N)(y - t).
float mse(TensorView<const float> y, const Tensor<float>& t, Tensor<float>& dy) {
  dy.resize(y.shape());
  float s = 0;
  for (Index i = 0; i < y.size(); ++i) {
    const float d = y[i] - t[i];
    s += d * d;
    dy[i] = 2 * d / static_cast<float>(y.size());
  }
  return s / static_cast<float>(y.size());
}
}  // namespace

TEST_CASE("A two-layer network learns XOR-of-signs; loss falls below a bound") {
  Sequential<float> net;
  net.add(Dense{.in = 2, .out = 16, .init = Init::he_uniform}).add(Tanh{}).add(Dense{.in = 16, .out = 1}).add(Sigmoid{});
  net.init(7);
  Adam<float> opt({.lr = 0.02});
  Rng rng(3);
  Tensor<float> x, t, dy;
  float first = 0, last = 0;
  for (int step = 0; step < 600; ++step) {
    make_batch(rng, x, t, 64);
    net.zero_grad();
    const float l = mse(net.forward(x.view(), Mode::train), t, dy);
    net.backward(dy.view());
    opt.step(net.params(), net.grads());
    if (step == 0) first = l;
    last = l;
  }
  MESSAGE("toy loss: first " << first << ", last " << last);
  CHECK(first > 0.2f);
  CHECK(last < 0.05f);
  // Accuracy on fresh data.
  make_batch(rng, x, t, 1000);
  auto y = net.forward(x.view());
  int right = 0;
  for (Index i = 0; i < 1000; ++i) right += (y[i] > 0.5f) == (t[i] > 0.5f);
  CHECK(right > 930);
}

TEST_CASE("Training is deterministic: same seed, same weights, for 1 and 2 threads") {
  auto train = [](int threads) {
    Context ctx(threads);
    Sequential<float> net;
    net.add(Dense{.in = 2, .out = 64}).add(ReLU{}).add(Dense{.in = 64, .out = 1});
    net.init(1);
    net.workspace().set_context(&ctx);
    SGD<float> opt({.lr = 0.05, .momentum = 0.9});
    Rng rng(2);
    Tensor<float> x, t, dy;
    for (int step = 0; step < 50; ++step) {
      make_batch(rng, x, t, 256);
      net.zero_grad();
      mse(net.forward(x.view(), Mode::train), t, dy);
      net.backward(dy.view());
      opt.step(net.params(), net.grads(), &ctx);
    }
    return std::vector<float>(net.params().begin(), net.params().end());
  };
  const auto a = train(1), b = train(2), c = train(2);
  CHECK(a == b);
  CHECK(b == c);
}

}  // namespace test_train_toy
