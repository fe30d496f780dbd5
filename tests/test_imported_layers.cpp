// The layers ONNX import adds (BroadcastAffine, Scale, Softmax, Conv2DRect): finite-difference
// gradients in double, and forward values against a direct formula or the square Conv2D.
#include <doctest/doctest.h>

#include <cmath>

#include <twin/layers/broadcast_affine.hpp>
#include <twin/layers/conv2d_rect.hpp>
#include <twin/layers/scale.hpp>
#include <twin/layers/softmax.hpp>

#include "layer_helpers.hpp"

namespace test_imported_layers {
using namespace twin;
using twin::testing::check_layer;

TEST_CASE("BroadcastAffine: gradients for scalar, per-channel and full constants") {
  CHECK_GRAD(check_layer(BroadcastAffine{.shape = Shape{1}, .scale = {0.7}, .shift = {-0.2}}, Shape{2, 3, 4, 4}));
  CHECK_GRAD(check_layer(BroadcastAffine{.shape = Shape{3, 1, 1}, .scale = {0.5, -1, 2}, .shift = {0.1, 0.2, 0.3}}, Shape{2, 3, 2, 5}));
  CHECK_GRAD(check_layer(BroadcastAffine{.shape = Shape{1, 4}, .scale = {1, 2, 3, 4}, .shift = {}}, Shape{2, 3, 2, 4}));
  CHECK_GRAD(check_layer(BroadcastAffine{.shape = Shape{5}, .scale = {}, .shift = {1, 2, 3, 4, 5}}, Shape{3, 5}));
}

TEST_CASE("BroadcastAffine: values, and shapes that do not broadcast") {
  Sequential<float> net;
  net.add(BroadcastAffine{.shape = Shape{2, 1}, .scale = {2, -1}, .shift = {0.5, 1}});
  net.init(0);
  Tensor<float> x(Shape{2, 2, 3});
  for (Index i = 0; i < x.size(); ++i) x[i] = float(i);
  auto y = net.forward(x.view());
  for (Index n = 0; n < 2; ++n)
    for (Index c = 0; c < 2; ++c)
      for (Index w = 0; w < 3; ++w) {
        const Index i = (n * 2 + c) * 3 + w;
        CHECK(y[i] == doctest::Approx(c == 0 ? 2 * x[i] + 0.5 : -x[i] + 1));
      }
  CHECK_THROWS_AS(net.output_shape(Shape{1, 3, 3}), shape_error);
  CHECK_THROWS_AS(BroadcastAffine::layer<float>(BroadcastAffine{.shape = Shape{3}, .scale = {1, 2}, .shift = {}}), shape_error);
}

TEST_CASE("Softmax: gradients and values") {
  CHECK_GRAD(check_layer(Softmax{}, Shape{3, 5}));
  CHECK_GRAD(check_layer(Softmax{}, Shape{1, 1}));
  Sequential<double> net;
  net.add(Softmax{});
  net.init(0);
  Tensor<double> x(Shape{1, 3});
  x[0] = 1000, x[1] = 1001, x[2] = 999;  // stable for large logits
  auto y = net.forward(x.view());
  const double z = 1 + std::exp(1.0) + std::exp(-1.0);
  CHECK(y[0] == doctest::Approx(1 / z));
  CHECK(y[1] == doctest::Approx(std::exp(1.0) / z));
  CHECK_THROWS_AS(net.output_shape(Shape{2, 3, 4}), shape_error);
}

TEST_CASE("Scale: gradients") {
  CHECK_GRAD(check_layer(Scale{.factor = 0.17}, Shape{2, 3, 4, 4}));
  CHECK_GRAD(check_layer(Scale{.factor = -2}, Shape{3, 5}));
}

TEST_CASE("Conv2DRect: gradients, and the square case equals Conv2D") {
  CHECK_GRAD(check_layer(Conv2DRect{.in = 2, .out = 3, .kh = 1, .kw = 3, .pad_h = 0, .pad_w = 1}, Shape{2, 2, 4, 5}));
  CHECK_GRAD(check_layer(Conv2DRect{.in = 2, .out = 2, .kh = 3, .kw = 1, .stride = 2, .pad_h = 1, .pad_w = 0}, Shape{2, 2, 5, 4}));
  CHECK_GRAD(check_layer(Conv2DRect{.in = 1, .out = 2, .kh = 2, .kw = 3, .bias = false}, Shape{1, 1, 4, 4}));
  Sequential<float> a, b;
  a.add(Conv2D{.in = 3, .out = 4, .kernel = 3, .stride = 2, .pad = 1});
  b.add(Conv2DRect{.in = 3, .out = 4, .kh = 3, .kw = 3, .stride = 2, .pad_h = 1, .pad_w = 1});
  a.init(4);
  b.assign(a.params(), a.buffers());
  Tensor<float> x(Shape{2, 3, 7, 6});
  Rng r(2);
  for (float& v : x) v = static_cast<float>(r.uniform(-1, 1));
  Workspace<float> wa, wb;
  auto ya = a.forward(x.view(), wa, Mode::eval);
  auto yb = b.forward(x.view(), wb, Mode::eval);
  REQUIRE(ya.shape() == yb.shape());
  for (Index i = 0; i < ya.size(); ++i) CHECK(yb[i] == doctest::Approx(ya[i]).epsilon(1e-5));
}

}  // namespace test_imported_layers
