// Finite-difference gradient checks (double) of Dense, the activations and Flatten, plus the
// negative controls that prove the checker can fail.
#include <doctest/doctest.h>

#include "layer_helpers.hpp"

#include <twin/testing/random.hpp>

#include <cstring>
#include <limits>
#include <vector>

namespace test_gradcheck_dense_activation {  // file-local: the test files are compiled as unity batches

using namespace twin;
using twin::testing::check_layer;

TEST_CASE("Dense: gradients for input, weight and bias") {
  CHECK_GRAD(check_layer(Dense{.in = 5, .out = 3}, Shape{4, 5}));
  CHECK_GRAD(check_layer(Dense{.in = 5, .out = 3}, Shape{1, 5}));  // batch 1
  CHECK_GRAD(check_layer(Dense{.in = 1, .out = 1}, Shape{3, 1}));
  CHECK_GRAD(check_layer(Dense{.in = 7, .out = 2, .bias = false}, Shape{2, 7}));
  CHECK_GRAD(check_layer(Dense{.in = 12, .out = 4}, Shape{3, 3, 2, 2}));  // implicit flatten
}

TEST_CASE("Activations: gradients") {
  CHECK_GRAD(check_layer(ReLU{}, Shape{3, 7}));
  CHECK_GRAD(check_layer(LeakyReLU{.slope = 0.1}, Shape{2, 3, 4, 5}));
  CHECK_GRAD(check_layer(Tanh{}, Shape{1, 9}));
  CHECK_GRAD(check_layer(Sigmoid{}, Shape{4, 2, 3}, {.input_scale = 4.0}));
  CHECK_GRAD(check_layer(Flatten{}, Shape{2, 3, 4, 5}));
}

TEST_CASE("ReLU and LeakyReLU: the vector loops give the scalar formula's bits") {
  // 8 values per mask byte in the vector loop, the scalar loop for the tail (n % 8 != 0),
  // with zeros of both signs among the inputs; infinities and NaN in eval mode (training
  // rejects non-finite inputs).
  const Index n = 8 * 600 + 5;
  Tensor<float> x = twin::testing::random_tensor<float>(Shape{1, n}, 4);
  x[3] = 0.0f, x[4] = -0.0f, x[n - 1] = 0.0f, x[n - 2] = -0.0f;
  Tensor<float> special = x;
  special[10] = std::numeric_limits<float>::infinity(), special[11] = -std::numeric_limits<float>::infinity(),
  special[12] = std::numeric_limits<float>::quiet_NaN();
  const Tensor<float> dy = twin::testing::random_tensor<float>(Shape{1, n}, 5);
  auto check = [&](auto op, float below) {
    Sequential<float> net;
    net.add(op);
    net.init(1);
    std::vector<float> want_y(static_cast<std::size_t>(n)), want_dx(static_cast<std::size_t>(n));
    const auto y_special = net.forward(special.view(), Mode::eval);
    for (Index i = 0; i < n; ++i) want_y[std::size_t(i)] = op.f(special[i]);
    CHECK(std::memcmp(y_special.data(), want_y.data(), sizeof(float) * std::size_t(n)) == 0);
    const auto y = net.forward(x.view(), Mode::train);
    const auto dx = net.backward(dy.view(), true);
    for (Index i = 0; i < n; ++i) {
      want_y[std::size_t(i)] = op.f(x[i]);
      want_dx[std::size_t(i)] = x[i] > 0.0f ? dy[i] : dy[i] * below;
    }
    CHECK(std::memcmp(y.data(), want_y.data(), sizeof(float) * std::size_t(n)) == 0);
    CHECK(std::memcmp(dx.data(), want_dx.data(), sizeof(float) * std::size_t(n)) == 0);
  };
  check(ReLU{}, 0.0f);
  check(LeakyReLU{.slope = 0.1}, 0.1f);
}

TEST_CASE("A small stack: Dense -> Tanh -> Dense -> Sigmoid") {
  Sequential<double> net;
  net.add(Dense{.in = 6, .out = 5}).add(Tanh{}).add(Dense{.in = 5, .out = 2}).add(Sigmoid{});
  net.init(3);
  CHECK_GRAD(testing::check_gradients(net, Shape{3, 6}));
}

// --- Negative controls: deliberately wrong layers the checker must reject. ---------------
template <class T>
class WrongScaleLayer;
struct WrongScale {  // y = 2x, but backward claims dx = dy
  template <class T>
  using layer = WrongScaleLayer<T>;
};
template <class T>
class WrongScaleLayer final : public Layer<T> {
 public:
  explicit WrongScaleLayer(const WrongScale&) {}
  std::string name() const override { return "WrongScale"; }
  Shape output_shape(const Shape& in) const override { return in; }
  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext&) const override {
    for (Index i = 0; i < x.size(); ++i) y[i] = 2 * x[i];
  }
  void backward(TensorView<const T>, TensorView<const T>, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext&) const override {
    if (dx.data())
      for (Index i = 0; i < dy.size(); ++i) dx[i] = dy[i];
  }
};

template <class T>
class AssigningDenseLayer;
struct AssigningDense {  // correct gradients, but ASSIGNS the weight gradient instead of +=
  Dense d;
  template <class T>
  using layer = AssigningDenseLayer<T>;
};
template <class T>
class AssigningDenseLayer final : public Layer<T> {
 public:
  explicit AssigningDenseLayer(const AssigningDense& o) : inner_(o.d) {}
  std::string name() const override { return "AssigningDense"; }
  Shape output_shape(const Shape& in) const override { return inner_.output_shape(in); }
  std::vector<ParamSpec> params() const override { return inner_.params(); }
  void bind(std::span<T> p, std::span<T> g, std::span<T> b) override {
    grads_ = g;
    inner_.bind(p, g, b);
  }
  void init(Rng& r) override { inner_.init(r); }
  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext& c) const override { inner_.forward(x, y, c); }
  void backward(TensorView<const T> x, TensorView<const T> y, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext& c) const override {
    std::fill(grads_.begin(), grads_.end(), T(0));  // the bug: forgets what was accumulated
    inner_.backward(x, y, dy, dx, c);
  }

 private:
  DenseLayer<T> inner_;
  std::span<T> grads_;
};

template <class T>
class PartialDxLayer;
struct PartialDx {  // y = x, backward writes only the first half of dx
  template <class T>
  using layer = PartialDxLayer<T>;
};
template <class T>
class PartialDxLayer final : public Layer<T> {
 public:
  explicit PartialDxLayer(const PartialDx&) {}
  std::string name() const override { return "PartialDx"; }
  Shape output_shape(const Shape& in) const override { return in; }
  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext&) const override {
    std::copy(x.begin(), x.end(), y.begin());
  }
  void backward(TensorView<const T>, TensorView<const T>, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext&) const override {
    if (dx.data())
      for (Index i = 0; i < dy.size() / 2; ++i) dx[i] = dy[i];
  }
};

TEST_CASE("Negative controls: the checker rejects wrong backward passes") {
  CHECK_FALSE(check_layer(WrongScale{}, Shape{2, 3}).ok);
  CHECK_FALSE(check_layer(AssigningDense{.d = {.in = 3, .out = 2}}, Shape{2, 3}).ok);
  CHECK_FALSE(check_layer(PartialDx{}, Shape{2, 4}).ok);
}

TEST_CASE("float32 smoke: Dense and activations agree with the double path") {
  Sequential<float> f;
  Sequential<double> d;
  f.add(Dense{.in = 8, .out = 6}).add(LeakyReLU{}).add(Dense{.in = 6, .out = 3}).add(Tanh{});
  d.add(Dense{.in = 8, .out = 6}).add(LeakyReLU{}).add(Dense{.in = 6, .out = 3}).add(Tanh{});
  f.init(11);
  d.init(11);
  for (std::size_t i = 0; i < f.params().size(); ++i) CHECK(f.params()[i] == doctest::Approx(d.params()[i]).epsilon(1e-6));
  Rng r(1);
  Tensor<float> xf(Shape{5, 8});
  Tensor<double> xd(Shape{5, 8});
  for (Index i = 0; i < xf.size(); ++i) xd[i] = xf[i] = static_cast<float>(r.uniform(-1, 1));
  auto yf = f.forward(xf.view(), Mode::train);
  auto yd = d.forward(xd.view(), Mode::train);
  for (Index i = 0; i < yf.size(); ++i) CHECK(yf[i] == doctest::Approx(yd[i]).epsilon(1e-4));
  Tensor<float> gf(yf.shape(), 1.0f);
  Tensor<double> gd(yd.shape(), 1.0);
  auto dxf = f.backward(gf.view(), true);
  auto dxd = d.backward(gd.view(), true);
  for (Index i = 0; i < dxf.size(); ++i) CHECK(dxf[i] == doctest::Approx(dxd[i]).epsilon(1e-3).scale(1e-4));
  for (std::size_t i = 0; i < f.grads().size(); ++i)
    CHECK(f.grads()[i] == doctest::Approx(d.grads()[i]).epsilon(1e-3).scale(1e-4));
}

TEST_CASE("Sequential: shape inference, parameter count, summary, errors") {
  Sequential<float> net;
  net.add(Flatten{}).add(Dense{.in = 12, .out = 4}).add(ReLU{}).add(Dense{.in = 4, .out = 2, .bias = false});
  CHECK(net.num_params() == 12 * 4 + 4 + 4 * 2);
  CHECK(net.output_shape(Shape{7, 3, 2, 2}) == Shape{7, 2});
  const std::string s = net.summary(Shape{7, 3, 2, 2});
  CHECK(s.find("Dense(12 -> 4)") != std::string::npos);
  CHECK(s.find("total 60 params") != std::string::npos);
  CHECK_THROWS_WITH_AS(net.output_shape(Shape{7, 5}), doctest::Contains("layer 1 (Dense(12 -> 4))"), shape_error);
  Tensor<float> x(Shape{1, 12}, 0.f);
  CHECK_THROWS_AS(net.forward(x.view()), error);  // not initialised
  net.init(1);
  CHECK_NOTHROW(net.forward(x.view()));
  Tensor<float> bad(Shape{1, 3});
  CHECK_THROWS_AS(net.backward(bad.view()), shape_error);
  const auto names = net.named_tensors();
  REQUIRE(names.size() == 3);
  CHECK(names[0].name == "1.weight");
  CHECK(names[2].name == "3.weight");
  CHECK(names[2].offset == 52);
}

TEST_CASE("Sequential: initialisation is seeded and per-layer") {
  auto make = [] {
    Sequential<float> n;
    n.add(Dense{.in = 4, .out = 4, .init = Init::he_normal});
    return n;
  };
  auto a = make(), b = make(), c = make();
  a.init(5);
  b.init(5);
  c.init(6);
  CHECK(std::equal(a.params().begin(), a.params().end(), b.params().begin()));
  CHECK_FALSE(std::equal(a.params().begin(), a.params().end(), c.params().begin()));
  // Adding a layer keeps the first layer's draw.
  a.add(Dense{.in = 4, .out = 2});
  a.init(5);
  CHECK(std::equal(b.params().begin(), b.params().end(), a.params().begin()));
}

}  // namespace test_gradcheck_dense_activation
