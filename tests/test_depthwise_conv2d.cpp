// DepthwiseConv2D: gradients (strides, padding, no bias), one channel equals Conv2D with one
// input and output channel, channels are independent, float32 vs double, 1 vs 2 threads,
// shape errors.
#include <twin/layers/depthwise_conv2d.hpp>

#include "layer_helpers.hpp"

namespace test_depthwise_conv2d {  // file-local: the test files are compiled as unity batches

using namespace twin;
using namespace layer_test;
using twin::testing::check_layer;

TEST_CASE("DepthwiseConv2D: gradients") {
  CHECK_GRAD(check_layer(DepthwiseConv2D{.channels = 3, .kernel = 3, .pad = 1}, Shape{2, 3, 5, 4}));
  CHECK_GRAD(check_layer(DepthwiseConv2D{.channels = 2, .kernel = 3, .stride = 2}, Shape{2, 2, 7, 6}));
  CHECK_GRAD(check_layer(DepthwiseConv2D{.channels = 2, .kernel = 2, .stride = 2, .pad = 1, .bias = false}, Shape{1, 2, 5, 5}));
  CHECK_GRAD(check_layer(DepthwiseConv2D{.channels = 1, .kernel = 1}, Shape{3, 1, 2, 3}));
}

TEST_CASE("DepthwiseConv2D: one channel is Conv2D(1 -> 1); channels do not mix") {
  for (Index stride : {1, 2})
    for (Index pad : {0, 1}) {
      Sequential<double> dw, conv;
      dw.add(DepthwiseConv2D{.channels = 1, .kernel = 3, .stride = stride, .pad = pad});
      conv.add(Conv2D{.in = 1, .out = 1, .kernel = 3, .stride = stride, .pad = pad});
      dw.init(3);
      conv.assign(std::vector<double>(dw.params().begin(), dw.params().end()), {});
      const Tensor<double> x = seq(Shape{2, 1, 7, 6}, 11, 5, 0.3);
      const auto a = dw.forward(x.view());
      const auto b = conv.forward(x.view());
      REQUIRE(a.shape() == b.shape());
      for (Index i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-12));
    }
  Sequential<double> net;
  net.add(DepthwiseConv2D{.channels = 2, .kernel = 3, .pad = 1, .bias = false});
  net.init(1);
  Tensor<double> x(Shape{1, 2, 4, 4}, 0.0);
  for (Index i = 0; i < 16; ++i) x[i] = 1.0;  // channel 0 only
  const auto y = net.forward(x.view());
  for (Index i = 16; i < 32; ++i) CHECK(y[i] == 0.0);
}

TEST_CASE("DepthwiseConv2D: float32 agrees with double; 1 and 2 threads give the same bits") {
  float_smoke(DepthwiseConv2D{.channels = 4, .kernel = 3, .stride = 2, .pad = 1}, Shape{3, 4, 9, 8});
  same_bits_1_vs_2_threads(DepthwiseConv2D{.channels = 4, .kernel = 3, .stride = 2, .pad = 1}, Shape{3, 4, 9, 8});
}

TEST_CASE("DepthwiseConv2D: parameters and shape errors") {
  Sequential<float> net;
  net.add(DepthwiseConv2D{.channels = 3, .kernel = 3});
  CHECK(net.num_params() == 3 * 9 + 3);
  CHECK(net.output_shape(Shape{1, 3, 5, 5}) == Shape{1, 3, 3, 3});
  CHECK_THROWS_AS(net.output_shape(Shape{1, 2, 5, 5}), shape_error);
  CHECK_THROWS_AS(net.output_shape(Shape{1, 3, 2, 5}), shape_error);
  CHECK_THROWS_AS(DepthwiseConv2DLayer<float>(DepthwiseConv2D{.channels = 3, .kernel = 0}), shape_error);
}

}  // namespace test_depthwise_conv2d
