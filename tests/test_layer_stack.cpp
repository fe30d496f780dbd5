// The layers together: a small convolutional embedding tower, gradient-checked end to end,
// float32 vs double, and bit-identical with 1 and 2 threads.
#include "layer_helpers.hpp"

namespace test_layer_stack {  // file-local: the test files are compiled as unity batches

using namespace twin;
using namespace layer_test;

namespace {
template <class T>
Sequential<T> tower() {
  Sequential<T> net;
  net.add(Conv2D{.in = 1, .out = 4, .kernel = 3, .stride = 2, .pad = 1})
      .add(BatchNorm2d{.features = 4})
      .add(ReLU{})
      .add(LocalResponseNorm{.size = 3, .alpha = 0.5, .k = 2.0})
      .add(MaxPool2D{.kernel = 2})
      .add(Conv2D{.in = 4, .out = 3, .kernel = 1})
      .add(AvgPool2D{.kernel = 2, .stride = 1})
      .add(GlobalAvgPool{})
      .add(Dropout{.p = 0.25})
      .add(Dense{.in = 3, .out = 5})
      .add(L2Normalize{});
  return net;
}
}  // namespace

TEST_CASE("Layer stack: a convolutional tower's gradients, train and eval") {
  auto net = tower<double>();
  net.init(4);
  CHECK(net.output_shape(Shape{3, 1, 9, 11}) == Shape{3, 5});
  // Random inputs U(-1, 1) leave no ReLU input or max-pool window within 1e-6 of a kink.
  auto r = testing::check_gradients(net, Shape{3, 1, 9, 11});
  INFO(r.report);
  CHECK(r.ok);
  auto e = testing::check_gradients(net, Shape{2, 1, 8, 8}, {.mode = Mode::eval});
  INFO(e.report);
  CHECK(e.ok);
}

TEST_CASE("Layer stack: float32 agrees with double; same bits for 1 and 2 threads") {
  auto fnet = tower<float>();
  auto dnet = tower<double>();
  dnet.init(8);
  std::vector<float> p(dnet.params().begin(), dnet.params().end()), b(dnet.buffers().begin(), dnet.buffers().end());
  fnet.assign(p, b);
  Rng rng(3);
  Tensor<double> xd(Shape{10, 1, 12, 12});
  Tensor<float> xf(xd.shape());
  for (Index i = 0; i < xd.size(); ++i) xf[i] = float(xd[i] = rng.uniform(-1, 1));
  Workspace<double> wd(5);
  Workspace<float> wf(5);
  auto yd = dnet.forward(xd.view(), wd, Mode::train);
  auto yf = fnet.forward(xf.view(), wf, Mode::train);
  for (Index i = 0; i < yd.size(); ++i) CHECK(yf[i] == doctest::Approx(yd[i]).epsilon(1e-3).scale(1e-4));

  auto run = [&](int threads) {
    Context ctx(threads);
    auto net = tower<float>();
    net.assign(p, b);
    Workspace<float> ws(5);
    ws.set_context(&ctx);
    auto y = net.forward(xf.view(), ws, Mode::train);
    std::vector<float> out(y.begin(), y.end());
    Tensor<float> dy(y.shape(), 1.0f);
    dy[0] = -2.0f;
    auto dx = net.backward(dy.view(), ws, true);
    out.insert(out.end(), dx.begin(), dx.end());
    out.insert(out.end(), net.grads().begin(), net.grads().end());
    out.insert(out.end(), net.buffers().begin(), net.buffers().end());
    return out;
  };
  const auto one = run(1), two = run(2);
  REQUIRE(one.size() == two.size());
  CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0);
}

}  // namespace test_layer_stack
