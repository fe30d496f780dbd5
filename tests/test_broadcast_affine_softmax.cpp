// BroadcastAffine and Softmax, the two layers ONNX import adds: finite-difference gradients
// in double, and forward values against a direct formula.
#include <doctest/doctest.h>

#include <cmath>

#include <twin/layers/broadcast_affine.hpp>
#include <twin/layers/softmax.hpp>

#include "layer_helpers.hpp"

namespace test_broadcast_affine_softmax {
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
  CHECK_THROWS_AS(BroadcastAffine::layer<float>(BroadcastAffine{.shape = Shape{3}, .scale = {1, 2}}), shape_error);
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

}  // namespace test_broadcast_affine_softmax
