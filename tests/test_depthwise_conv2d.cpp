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

TEST_CASE("DepthwiseConv2D: the row-wise forward equals a naive loop over kernels, strides, paddings") {
  // Includes padding wider than the kernel reaches and inputs narrower than the kernel.
  for (Index k : {1, 2, 3, 5})
    for (Index stride : {1, 2, 3})
      for (Index pad : {0, 1, 2, 4})
        for (Index W : {1, 2, 6, 9}) {
          const Index H = 5, C = 2;
          if (H + 2 * pad < k || W + 2 * pad < k) continue;
          CAPTURE(k);
          CAPTURE(stride);
          CAPTURE(pad);
          CAPTURE(W);
          Sequential<double> net;
          net.add(DepthwiseConv2D{.channels = C, .kernel = k, .stride = stride, .pad = pad});
          net.init(7);
          const Tensor<double> x = seq(Shape{2, C, H, W}, 13, 6, 0.25);
          const auto y = net.forward(x.view());
          const double* w = net.params().data();
          const double* b = w + C * k * k;
          bool same = true;
          for (Index n = 0; n < 2; ++n)
            for (Index c = 0; c < C; ++c)
              for (Index i = 0; i < y.dim(2); ++i)
                for (Index j = 0; j < y.dim(3); ++j) {
                  double acc = b[c];
                  for (Index p = 0; p < k; ++p)
                    for (Index q = 0; q < k; ++q) {
                      const Index u = i * stride + p - pad, v = j * stride + q - pad;
                      if (u >= 0 && u < H && v >= 0 && v < W) acc += w[(c * k + p) * k + q] * x(n, c, u, v);
                    }
                  same = same && std::abs(y(n, c, i, j) - acc) <= 1e-12 * (1 + std::abs(acc));
                }
          CHECK(same);
        }
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
