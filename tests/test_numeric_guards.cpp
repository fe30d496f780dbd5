// Numeric guards: a NaN/Inf in a loss, an activation or a gradient stops training with a
// numeric_error that names the step and the layer.
#include <doctest/doctest.h>

#include <limits>
#include <string>

#include <twin/twin.hpp>
#include <twin/testing/error_message.hpp>

namespace test_numeric_guards {  // file-local: the test files are compiled as unity batches

using namespace twin;

namespace {
constexpr float nan_f = std::numeric_limits<float>::quiet_NaN();
constexpr float inf_f = std::numeric_limits<float>::infinity();

// Identity forward whose backward writes NaN into dx: a broken layer to be caught.
struct NanGrad {
  template <class T>
  struct layer final : Layer<T> {
    explicit layer(const NanGrad&) {}
    std::string name() const override { return "NanGrad"; }
    Shape output_shape(const Shape& in) const override { return in; }
    void forward(TensorView<const T> x, TensorView<T> y, const LayerContext&) const override {
      std::copy(x.begin(), x.end(), y.begin());
    }
    void backward(TensorView<const T>, TensorView<const T>, TensorView<const T> dy, TensorView<T> dx,
                  const LayerContext&) const override {
      if (dx.data()) {
        std::copy(dy.begin(), dy.end(), dx.begin());
        dx[0] = std::numeric_limits<T>::quiet_NaN();
      }
    }
  };
};

Sequential<float> net3() {
  Sequential<float> net;
  net.add(Dense{.in = 3, .out = 4}).add(ReLU{}).add(Dense{.in = 4, .out = 2});
  net.init(1);
  return net;
}

std::string error_of(auto&& f) {
  try {
    f();
  } catch (const numeric_error& e) {
    return e.what();
  }
  FAIL("no numeric_error thrown");
  return {};
}
using twin::testing::contains;
}  // namespace

TEST_CASE("check_finite names what, how many and where") {
  const float v[5] = {1, nan_f, 2, inf_f, 3};
  const std::string m = error_of([&] { check_finite(std::span<const float>(v), "gradients at step 7"); });
  CHECK(contains(m, "gradients at step 7"));
  CHECK(contains(m, "2 of 5 values"));
  CHECK(contains(m, "at index 1"));
  CHECK_NOTHROW(check_finite(std::span<const float>(v, 1), "ok"));
  CHECK(contains(error_of([] { check_finite(inf_f, "loss at step 3"); }), "loss at step 3 is inf"));
  CHECK_NOTHROW(check_finite(1.0, "loss"));
}

TEST_CASE("forward stops at the first layer whose output is not finite, naming step and layer") {
  auto net = net3();
  Workspace<float> ws;
  ws.set_check_finite(true);
  Tensor<float> x(Shape{2, 3}, 0.5f);
  for (int i = 0; i < 3; ++i) CHECK_NOTHROW(net.forward(x.view(), ws, Mode::train));
  CHECK(ws.step() == 3);
  net.params()[net.params().size() - 1] = inf_f;  // the last Dense's last bias
  const std::string m = error_of([&] { net.forward(x.view(), ws, Mode::train); });
  CHECK(contains(m, "step 4"));
  CHECK(contains(m, "layer 2 (Dense(4 -> 2))"));
  CHECK(contains(m, "forward output"));
  // Opt-in: without the flag nothing is checked.
  Workspace<float> plain;
  CHECK_NOTHROW(net.forward(x.view(), plain, Mode::train));
}

TEST_CASE("a NaN input is reported as the input") {
  auto net = net3();
  Workspace<float> ws;
  ws.set_check_finite(true);
  Tensor<float> x(Shape{1, 3}, 0.f);
  x[1] = nan_f;
  CHECK(contains(error_of([&] { net.forward(x.view(), ws, Mode::train); }), "step 1, model: input"));
}

TEST_CASE("backward names the loss gradient, a layer's input gradient or its parameter gradients") {
  Tensor<float> x(Shape{2, 3}, 0.5f), dy(Shape{2, 2}, 0.1f);
  {
    auto net = net3();
    Workspace<float> ws;
    ws.set_check_finite(true);
    ws.set_step(41);
    net.forward(x.view(), ws, Mode::train);
    dy[3] = nan_f;
    const std::string m = error_of([&] { net.backward(dy.view(), ws); });
    CHECK(contains(m, "step 41, model: output gradient"));
    dy[3] = 0.1f;
  }
  {
    Sequential<float> net;
    net.add(Dense{.in = 3, .out = 4}).add(NanGrad{}).add(Dense{.in = 4, .out = 2});
    net.init(1);
    Workspace<float> ws;
    ws.set_check_finite(true);
    net.forward(x.view(), ws, Mode::train);
    const std::string m = error_of([&] { net.backward(dy.view(), ws); });
    CHECK(contains(m, "step 1, layer 1 (NanGrad): input gradient"));
  }
  {
    // A huge weight makes layer 0's weight gradient overflow to Inf while every activation
    // stays finite.
    Sequential<float> net;
    net.add(Dense{.in = 3, .out = 2});
    net.init(1);
    Workspace<float> ws;
    ws.set_check_finite(true);
    Tensor<float> big(Shape{2, 3}, 3e38f);
    for (auto& p : net.params()) p = 0;
    net.forward(big.view(), ws, Mode::train);
    Tensor<float> g(Shape{2, 2}, 3e38f);
    const std::string m = error_of([&] { net.backward(g.view(), ws); });
    CHECK(contains(m, "layer 0 (Dense(3 -> 2)): parameter gradients"));
  }
}

TEST_CASE("a training loop stops at the step whose loss is NaN") {
  auto net = net3();
  Adam<float> opt({.lr = 0.01});
  Workspace<float> ws;
  ws.set_check_finite(true);
  Tensor<float> x(Shape{4, 3}, 0.25f), dy(Shape{4, 2});
  std::string msg;
  try {
    for (int step = 1; step <= 10; ++step) {
      net.zero_grad();
      const auto y = net.forward(x.view(), ws, Mode::train);
      double loss = 0;
      for (Index i = 0; i < y.size(); ++i) {
        loss += y[i] * y[i];
        dy[i] = 2 * y[i];
      }
      if (step == 6) loss = std::numeric_limits<double>::quiet_NaN();  // e.g. log(0) in a loss
      check_finite(loss, detail::concat("loss at step ", ws.step()));
      net.backward(dy.view(), ws);
      opt.step(net.params(), net.grads());
    }
  } catch (const numeric_error& e) {
    msg = e.what();
  }
  CHECK(msg == "loss at step 6 is nan");
}

}  // namespace test_numeric_guards
