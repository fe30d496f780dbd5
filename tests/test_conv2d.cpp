// Conv2D: gradients by finite differences, hand-computed and PyTorch values, the im2col +
// GEMM path against the naive reference, float32 vs double, 1 vs 2 threads, shape errors.
#include "layer_helpers.hpp"

#include <twin/kernels/conv_gemm.hpp>
#include <twin/kernels/conv_reference.hpp>
#include <twin/testing/random.hpp>

#include <cstring>
#include <string>
#include <type_traits>

namespace test_conv2d {  // file-local: the test files are compiled as unity batches

using namespace twin;
using namespace layer_test;
using twin::testing::check_layer;

TEST_CASE("Conv2D: gradients for input, weight and bias") {
  CHECK_GRAD(check_layer(Conv2D{.in = 2, .out = 3, .kernel = 3}, Shape{2, 2, 5, 4}));
  CHECK_GRAD(check_layer(Conv2D{.in = 2, .out = 3, .kernel = 3, .stride = 2, .pad = 1}, Shape{2, 2, 7, 6}));
  CHECK_GRAD(check_layer(Conv2D{.in = 4, .out = 2, .kernel = 1}, Shape{3, 4, 3, 5}));  // pointwise path
  CHECK_GRAD(check_layer(Conv2D{.in = 2, .out = 2, .kernel = 1, .stride = 2}, Shape{2, 2, 5, 5}));
  CHECK_GRAD(check_layer(Conv2D{.in = 1, .out = 2, .kernel = 2, .stride = 3, .pad = 2, .bias = false}, Shape{1, 1, 6, 7}));
  CHECK_GRAD(check_layer(Conv2D{.in = 1, .out = 1, .kernel = 3, .pad = 1}, Shape{1, 1, 4, 9}));  // batch 1, 1 channel
  CHECK_GRAD(check_layer(Conv2D{.in = 3, .out = 2, .kernel = 3}, Shape{2, 3, 3, 3}));  // kernel covers the image
  CHECK_GRAD(check_layer(Conv2D{.in = 1, .out = 2, .kernel = 3, .stride = 2, .pad = 2}, Shape{11, 1, 5, 4}));  // > 8 chunks
  CHECK_GRAD(check_layer(Conv2D{.in = 2, .out = 1, .kernel = 5, .pad = 2, .init = Init::he_normal}, Shape{2, 2, 3, 3}));
  CHECK_GRAD(check_layer(Conv2D{.in = 2, .out = 3, .kernel = 3, .stride = 2}, Shape{3, 2, 6, 5}, {.mode = Mode::eval}));
}

TEST_CASE("Conv2D: gradients of the grouped small-output paths and of the per-image path") {
  // Outputs of <= kernels::conv_batch_pixels pixels (forward) and <= conv_batch_pixels_backward
  // (backward) run a group of images per GEMM (conv_group_images: 16 images of 4x4 outputs,
  // 28 of 3x3): 18 and 30 images make a full and a partial group.
  REQUIRE(kernels::conv_group_images(kernels::ConvGeometry{18, 2, 4, 4, 3, 3, 1, 1}) == 16);
  REQUIRE(kernels::conv_group_images(kernels::ConvGeometry{30, 1, 3, 3, 2, 3, 1, 1}) == 28);
  REQUIRE(3 * 3 <= kernels::conv_batch_pixels);
  REQUIRE(4 * 4 > kernels::conv_batch_pixels);
  REQUIRE(4 * 4 <= kernels::conv_batch_pixels_backward);
  CHECK_GRAD(check_layer(Conv2D{.in = 2, .out = 3, .kernel = 3, .pad = 1}, Shape{18, 2, 4, 4}));  // backward grouped
  CHECK_GRAD(check_layer(Conv2D{.in = 1, .out = 2, .kernel = 3, .pad = 1}, Shape{30, 1, 3, 3}));  // both grouped
  CHECK_GRAD(check_layer(Conv2D{.in = 3, .out = 2, .kernel = 3, .stride = 2}, Shape{5, 3, 3, 3}));  // 1x1 outputs
  CHECK_GRAD(check_layer(Conv2D{.in = 3, .out = 2, .kernel = 1}, Shape{4, 3, 2, 3}));               // pointwise
  CHECK_GRAD(check_layer(Conv2D{.in = 2, .out = 2, .kernel = 3, .pad = 1, .bias = false}, Shape{3, 2, 3, 3}));
  CHECK_GRAD(check_layer(Conv2D{.in = 2, .out = 3, .kernel = 3, .pad = 1}, Shape{3, 2, 5, 6}));  // 30 pixels: backward grouped
  // 9x9 = 81 output pixels: one image at a time both ways.
  REQUIRE(9 * 9 > kernels::conv_batch_pixels_backward);  // and > conv_batch_pixels
  CHECK_GRAD(check_layer(Conv2D{.in = 2, .out = 3, .kernel = 3, .pad = 1}, Shape{2, 2, 9, 9}));
}

TEST_CASE("Conv2D: the grouped small-output forward gives the per-image kernel's bits") {
  // Bit for bit with the packed AVX2 kernel (twin_tests_native); to rounding with Eigen.
  struct Case {
    Index n, c, h, w, o, k, s, p;
  };
  // 3x3 outputs over two groups; 1x1 outputs of a K = 576 product (several K blocks of the
  // GEMM); 3x3 outputs with O not a multiple of the kernel's 6 rows; one image.
  // Padded ones skip the taps that are padding for all pixels of a 16-column tile: 1x1
  // outputs of a 3x3 (only the centre) and of a 5x5 kernel, 2x2 outputs of 7 images (tiles
  // that straddle pixels).
  const Case cases[] = {{30, 8, 3, 3, 7, 3, 1, 1}, {5, 64, 3, 3, 20, 3, 2, 0}, {3, 5, 7, 7, 13, 3, 2, 0},
                        {1, 16, 3, 3, 9, 3, 1, 1}, {16, 20, 1, 1, 18, 3, 1, 1}, {9, 3, 2, 2, 5, 5, 2, 2},
                        {7, 6, 2, 2, 17, 3, 1, 1}};
  for (const Case& cs : cases) {
    const kernels::ConvGeometry g{cs.n, cs.c, cs.h, cs.w, cs.o, cs.k, cs.s, cs.p};
    INFO("N=", cs.n, " C=", cs.c, " H=", cs.h, " O=", cs.o, " k=", cs.k, " s=", cs.s);
    REQUIRE(g.out_h() * g.out_w() <= kernels::conv_batch_pixels);
    Sequential<float> net;
    net.add(Conv2D{.in = cs.c, .out = cs.o, .kernel = cs.k, .stride = cs.s, .pad = cs.p});
    net.init(3);
    const Tensor<float> x = twin::testing::random_tensor<float>(Shape{cs.n, cs.c, cs.h, cs.w}, 9);
    const auto y = net.forward(x.view(), Mode::eval);
    WorkBuffers buf;
    const float* w = net.params().data();
    const float* wp = kernels::pack_conv_weights(buf, g, w);
    Tensor<float> want(y.shape());
    const Index x_size = cs.c * cs.h * cs.w, y_size = cs.o * g.out_h() * g.out_w();
    for (Index n = 0; n < cs.n; ++n)
      kernels::conv_forward_image(buf, g, x.data() + n * x_size, wp, w + cs.o * cs.c * cs.k * cs.k,
                                  want.data() + n * y_size);
    if (std::string(kernels::gemm_kernel_name()) != "eigen") {
      CHECK(std::memcmp(y.data(), want.data(), sizeof(float) * std::size_t(y.size())) == 0);
    } else {  // Eigen's GEMM blocks by the product's width: the same values to rounding
      for (Index i = 0; i < y.size(); ++i) REQUIRE(y[i] == doctest::Approx(want[i]).epsilon(1e-5).scale(1));
    }
  }
}

TEST_CASE("Conv2D: forward of a hand-computed case") {
  // x = [1 2 3; 4 5 6; 7 8 9], w = [1 0; 0 -1], b = 0.5: y[i,j] = x[i,j] - x[i+1,j+1] + 0.5
  Sequential<double> net;
  net.add(Conv2D{.in = 1, .out = 1, .kernel = 2});
  net.init(1);
  const double w[] = {1, 0, 0, -1, 0.5};
  net.assign(w, {});
  Tensor<double> x(Shape{1, 1, 3, 3});
  for (Index i = 0; i < 9; ++i) x[i] = double(i + 1);
  auto y = net.forward(x.view());
  REQUIRE(y.shape() == Shape{1, 1, 2, 2});
  for (Index i = 0; i < 4; ++i) CHECK(y[i] == doctest::Approx(-3.5));

  // stride 2, pad 1: outputs read (-1,-1)/(0,0), (-1,1)/(0,2), (1,-1)/(2,0), (1,1)/(2,2).
  Sequential<double> net2;
  net2.add(Conv2D{.in = 1, .out = 1, .kernel = 2, .stride = 2, .pad = 1});
  net2.assign(w, {});
  auto y2 = net2.forward(x.view());
  REQUIRE(y2.shape() == Shape{1, 1, 2, 2});
  CHECK(y2[0] == doctest::Approx(-0.5));
  CHECK(y2[1] == doctest::Approx(-2.5));
  CHECK(y2[2] == doctest::Approx(-6.5));
  CHECK(y2[3] == doctest::Approx(-3.5));
}

TEST_CASE("Conv2D: forward matches PyTorch") {
  // /usr/bin/python3:
  //   import torch, torch.nn.functional as F
  //   def seq(n, m, a, s): return torch.tensor([((i % m) - a) * s for i in range(n)], dtype=torch.float64)
  //   x = seq(2*2*5*4, 7, 3, 0.25).reshape(2,2,5,4); w = seq(3*2*3*3, 5, 2, 0.1).reshape(3,2,3,3)
  //   b = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64)
  //   print(F.conv2d(x, w, b, stride=2, padding=1).flatten().tolist())
  const double want[] = {0.025, -0.325, -0.125, -0.6,  -0.2, 0.05,  -0.475, 0.05,   -0.375, 1.225, -0.075, -0.15,
                         0.95,  0.1,    0.675,  -0.4,  0.35, -0.175, 0.225,  0.15,   0.8,    -0.275, 0.025, -0.3,
                         -0.15, -0.675, -0.55,  -0.4,  -0.4, 0.15,   0.025,  1.175,  0.275,  0.65,  0.85,  0.15};
  Sequential<double> net;
  net.add(Conv2D{.in = 2, .out = 3, .kernel = 3, .stride = 2, .pad = 1});
  auto w = seq(Shape{3 * 2 * 3 * 3 + 3}, 5, 2, 0.1);
  w[54] = 0.1, w[55] = -0.2, w[56] = 0.3;
  net.assign(w.span(), {});
  auto x = seq(Shape{2, 2, 5, 4}, 7, 3, 0.25);
  auto y = net.forward(x.view());
  REQUIRE(y.shape() == Shape{2, 3, 3, 2});
  for (Index i = 0; i < y.size(); ++i) CHECK(y[i] == doctest::Approx(want[i]).epsilon(1e-12));
}

TEST_CASE("Conv2D: im2col + GEMM equals the naive reference on random shapes") {
  Rng rng(2024);
  for (int trial = 0; trial < 40; ++trial) {
    const Index k = 1 + Index(rng.below(4)), stride = 1 + Index(rng.below(3)), pad = Index(rng.below(3));
    const Index c = 1 + Index(rng.below(3)), o = 1 + Index(rng.below(4)), n = 1 + Index(rng.below(10));
    const Index h = std::max<Index>(1, k - 2 * pad) + Index(rng.below(6)), w = std::max<Index>(1, k - 2 * pad) + Index(rng.below(6));
    const bool bias = rng.below(2) == 0;
    CAPTURE(trial);
    const Shape in_shape{n, c, h, w};
    CAPTURE(in_shape);
    CAPTURE(k);
    CAPTURE(stride);
    CAPTURE(pad);
    Sequential<double> net;
    net.add(Conv2D{.in = c, .out = o, .kernel = k, .stride = stride, .pad = pad, .bias = bias});
    net.init(trial);
    Tensor<double> x(Shape{n, c, h, w});
    for (double& v : x) v = rng.uniform(-1, 1);
    auto y = net.forward(x.view(), Mode::train);
    Tensor<double> dy(y.shape());
    for (double& v : dy) v = rng.uniform(-1, 1);
    auto dx = net.backward(dy.view(), true);

    const kernels::ConvGeometry g{n, c, h, w, o, k, stride, pad};
    REQUIRE(y.shape() == Shape{n, o, g.out_h(), g.out_w()});
    const double* wp = net.params().data();
    const double* bp = bias ? wp + o * c * k * k : nullptr;
    Tensor<double> y_ref(y.shape()), dx_ref(x.shape());
    std::vector<double> dp_ref(net.params().size(), 0.0);
    kernels::conv2d_reference_forward(g, x.data(), wp, bp, y_ref.data());
    kernels::conv2d_reference_backward(g, x.data(), wp, dy.data(), dx_ref.data(), dp_ref.data(),
                                       bias ? dp_ref.data() + o * c * k * k : nullptr);
    for (Index i = 0; i < y.size(); ++i) REQUIRE(y[i] == doctest::Approx(y_ref[i]).epsilon(1e-12).scale(1));
    for (Index i = 0; i < dx.size(); ++i) REQUIRE(dx[i] == doctest::Approx(dx_ref[i]).epsilon(1e-12).scale(1));
    for (std::size_t i = 0; i < dp_ref.size(); ++i) REQUIRE(net.grads()[i] == doctest::Approx(dp_ref[i]).epsilon(1e-12).scale(1));
  }
}

TEST_CASE("Conv2D: backward in pixel blocks equals the naive reference") {
  // Images with several blocks of kernels::conv_pixel_block output pixels, a partial last
  // block and blocks starting mid-row, in double and in float (the SIMD GEMM when native).
  struct Case {
    Index n, c, h, w, o, k, s, p;
  };
  const Case cases[] = {{3, 2, 20, 30, 3, 3, 1, 1}, {2, 1, 41, 37, 2, 5, 2, 2}, {2, 3, 23, 29, 2, 1, 1, 0}};
  Rng rng(77);
  for (const Case& cs : cases) {
    INFO("C=", cs.c, " H=", cs.h, " W=", cs.w, " O=", cs.o, " k=", cs.k, " s=", cs.s, " p=", cs.p);
    const kernels::ConvGeometry g{cs.n, cs.c, cs.h, cs.w, cs.o, cs.k, cs.s, cs.p};
    auto run = [&](auto zero) {
      using T = decltype(zero);
      Sequential<T> net;
      net.add(Conv2D{.in = cs.c, .out = cs.o, .kernel = cs.k, .stride = cs.s, .pad = cs.p});
      net.init(5);
      Tensor<T> x(Shape{cs.n, cs.c, cs.h, cs.w});
      for (T& v : x) v = T(rng.uniform(-1, 1));
      auto y = net.forward(x.view(), Mode::train);
      Tensor<T> dy(y.shape());
      for (T& v : dy) v = T(rng.uniform(-1, 1));
      auto dx = net.backward(dy.view(), true);
      std::vector<T> dx_ref(std::size_t(x.size())), dp_ref(net.params().size(), T(0));
      const T* wp = net.params().data();
      const Index nw = cs.o * cs.c * cs.k * cs.k;
      kernels::conv2d_reference_backward(g, x.data(), wp, dy.data(), dx_ref.data(), dp_ref.data(), dp_ref.data() + nw);
      const double tol = std::is_same_v<T, float> ? 1e-4 : 1e-12;
      for (Index i = 0; i < dx.size(); ++i)
        REQUIRE(double(dx[i]) == doctest::Approx(double(dx_ref[std::size_t(i)])).epsilon(tol).scale(1));
      for (std::size_t i = 0; i < dp_ref.size(); ++i)  // sums over many pixels: scale the tolerance
        REQUIRE(double(net.grads()[i]) == doctest::Approx(double(dp_ref[i])).epsilon(tol * 30).scale(1));
    };
    run(0.0);
    run(0.0f);
  }
}

TEST_CASE("Conv2D: float32 agrees with double") {
  float_smoke(Conv2D{.in = 3, .out = 4, .kernel = 3, .stride = 2, .pad = 1}, Shape{5, 3, 9, 8});
  float_smoke(Conv2D{.in = 4, .out = 3, .kernel = 1}, Shape{2, 4, 5, 5});
}

TEST_CASE("Conv2D: bit-identical with 1 and 2 threads") {
  same_bits_1_vs_2_threads(Conv2D{.in = 3, .out = 4, .kernel = 3, .stride = 2, .pad = 1}, Shape{13, 3, 9, 8});
  same_bits_1_vs_2_threads(Conv2D{.in = 4, .out = 3, .kernel = 1}, Shape{6, 4, 5, 5});
  // grouped small outputs (two groups of 3x3 both ways; 4x4: backward only) and the
  // per-image path (10x10)
  same_bits_1_vs_2_threads(Conv2D{.in = 3, .out = 7, .kernel = 3, .pad = 1}, Shape{30, 3, 3, 3});
  same_bits_1_vs_2_threads(Conv2D{.in = 3, .out = 7, .kernel = 3, .pad = 1}, Shape{20, 3, 4, 4});
  same_bits_1_vs_2_threads(Conv2D{.in = 3, .out = 7, .kernel = 3, .pad = 1}, Shape{5, 3, 10, 10});
}

TEST_CASE("Conv2D: shape errors name the layer") {
  Sequential<float> net;
  net.add(Conv2D{.in = 1, .out = 4, .kernel = 3});
  CHECK_THROWS_WITH_AS(net.output_shape(Shape{2, 3, 8, 8}), doctest::Contains("Conv2D: expected (N, 1, H, W)"), shape_error);
  CHECK_THROWS_WITH_AS(net.output_shape(Shape{2, 3, 8, 8}), doctest::Contains("got input (2, 3, 8, 8)"), shape_error);
  CHECK_THROWS_WITH_AS(net.output_shape(Shape{2, 1, 2, 8}), doctest::Contains("smaller than the kernel"), shape_error);
  CHECK_THROWS_WITH_AS(net.output_shape(Shape{2, 64}), doctest::Contains("Conv2D"), shape_error);
  CHECK_THROWS_AS(Conv2DLayer<float>(Conv2D{.in = 1, .out = 1, .kernel = 0}), shape_error);
  CHECK(net.output_shape(Shape{2, 1, 8, 7}) == Shape{2, 4, 6, 5});
  CHECK(net.num_params() == 4 * 9 + 4);
  CHECK(net.named_tensors()[0].shape == Shape{4, 1, 3, 3});
}

}  // namespace test_conv2d
