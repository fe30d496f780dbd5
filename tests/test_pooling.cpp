// MaxPool2D, AvgPool2D and GlobalAvgPool: gradients by finite differences, hand-computed and
// PyTorch values, float32 vs double, shape errors.
#include "layer_helpers.hpp"

namespace test_pooling {  // file-local: the test files are compiled as unity batches

using namespace twin;
using namespace layer_test;
using twin::testing::check_layer;

// Random inputs U(-1, 1) have no ties (and no gaps near the 1e-6 step) in any window, so
// the max is differentiable at the checked point.
TEST_CASE("MaxPool2D: gradients") {
  CHECK_GRAD(check_layer(MaxPool2D{.kernel = 2}, Shape{2, 3, 4, 4}));
  CHECK_GRAD(check_layer(MaxPool2D{.kernel = 3, .stride = 2, .pad = 1}, Shape{2, 2, 5, 6}));
  CHECK_GRAD(check_layer(MaxPool2D{.kernel = 3, .stride = 1, .pad = 1}, Shape{1, 1, 4, 7}));  // overlapping
  CHECK_GRAD(check_layer(MaxPool2D{.kernel = 2, .stride = 1}, Shape{3, 1, 3, 3}));
  CHECK_GRAD(check_layer(MaxPool2D{.kernel = 1}, Shape{2, 2, 3, 3}));
  CHECK_GRAD(check_layer(MaxPool2D{.kernel = 2}, Shape{1, 2, 5, 5}));  // odd size: last row/col dropped
  CHECK_GRAD(check_layer(MaxPool2D{.kernel = 4, .stride = 3, .pad = 2}, Shape{2, 1, 3, 8}));
  // pad_end: TensorFlow's 'same' (odd sides get a clipped last window, even sides none)
  CHECK_GRAD(check_layer(MaxPool2D{.kernel = 2, .stride = 2, .pad_end = 1}, Shape{2, 2, 5, 7}));
  CHECK_GRAD(check_layer(MaxPool2D{.kernel = 2, .stride = 2, .pad_end = 1}, Shape{1, 1, 4, 6}));
  CHECK_GRAD(check_layer(MaxPool2D{.kernel = 2, .stride = 1, .pad_end = 1}, Shape{1, 2, 4, 5}));
  CHECK_GRAD(check_layer(MaxPool2D{.kernel = 3, .stride = 2, .pad = 1, .pad_end = 1}, Shape{1, 1, 5, 6}));
}

TEST_CASE("MaxPool2D pad_end: TensorFlow's 'same' shapes and values, padding never wins") {
  const MaxPool2DLayer<double> s2(MaxPool2D{.kernel = 2, .stride = 2, .pad_end = 1});
  const MaxPool2DLayer<double> s1(MaxPool2D{.kernel = 2, .stride = 1, .pad_end = 1});
  CHECK(s2.output_shape(Shape{1, 16, 207, 207}) == Shape{1, 16, 104, 104});  // ceil(207 / 2)
  CHECK(s2.output_shape(Shape{1, 16, 414, 414}) == Shape{1, 16, 207, 207});
  CHECK(s1.output_shape(Shape{1, 512, 13, 13}) == Shape{1, 512, 13, 13});
  CHECK(s1.describe() == "MaxPool2D(kernel 2, stride 1, pad 0, pad_end 1)");
  CHECK_THROWS_AS(MaxPool2DLayer<double>(MaxPool2D{.kernel = 2, .pad_end = 2}), twin::shape_error);
  CHECK_THROWS_AS(MaxPool2DLayer<double>(MaxPool2D{.kernel = 3, .pad = 1, .pad_end = 2}), twin::shape_error);
  CHECK_THROWS_AS(MaxPool2DLayer<double>(MaxPool2D{.kernel = 2, .pad_end = -1}), twin::shape_error);
  // 3 x 3, all negative: the clipped last windows take the largest real value, not a 0 pad.
  Tensor<double> x(Shape{1, 1, 3, 3});
  for (Index i = 0; i < 9; ++i) x[i] = -double(i + 1);
  Sequential<double> net;
  net.add(MaxPool2D{.kernel = 2, .stride = 1, .pad_end = 1});
  net.init(0);
  const auto y = net.forward(x.view());
  REQUIRE(y.shape() == Shape{1, 1, 3, 3});
  const double want[9] = {-1, -2, -3, -4, -5, -6, -7, -8, -9};
  for (Index i = 0; i < 9; ++i) CHECK(y[i] == want[i]);
  for (Index i = 0; i < 9; ++i) x[i] = double(i + 1);
  const auto z = net.forward(x.view());
  const double want_pos[9] = {5, 6, 6, 8, 9, 9, 8, 9, 9};
  for (Index i = 0; i < 9; ++i) CHECK(z[i] == want_pos[i]);
}

TEST_CASE("AvgPool2D: gradients") {
  CHECK_GRAD(check_layer(AvgPool2D{.kernel = 2}, Shape{2, 3, 4, 4}));
  CHECK_GRAD(check_layer(AvgPool2D{.kernel = 3, .stride = 2, .pad = 1}, Shape{2, 2, 5, 6}));
  CHECK_GRAD(check_layer(AvgPool2D{.kernel = 3, .stride = 2, .pad = 1, .count_include_pad = false}, Shape{2, 2, 5, 6}));
  CHECK_GRAD(check_layer(AvgPool2D{.kernel = 3, .stride = 1, .pad = 1}, Shape{1, 1, 4, 7}));
  CHECK_GRAD(check_layer(AvgPool2D{.kernel = 1}, Shape{1, 1, 3, 2}));
  CHECK_GRAD(check_layer(AvgPool2D{.kernel = 2, .stride = 3, .pad = 1, .count_include_pad = false}, Shape{3, 1, 5, 7}));
}

TEST_CASE("GlobalAvgPool: gradients") {
  CHECK_GRAD(check_layer(GlobalAvgPool{}, Shape{2, 3, 4, 5}));
  CHECK_GRAD(check_layer(GlobalAvgPool{}, Shape{1, 1, 1, 1}));
  CHECK_GRAD(check_layer(GlobalAvgPool{}, Shape{2, 3, 7}));
}

TEST_CASE("Pooling: forward and backward of hand-computed cases") {
  Tensor<double> x(Shape{1, 1, 4, 4});
  for (Index i = 0; i < 16; ++i) x[i] = double(i + 1);
  {
    Sequential<double> net;
    net.add(MaxPool2D{.kernel = 2});
    net.init(0);
    auto y = net.forward(x.view());
    REQUIRE(y.shape() == Shape{1, 1, 2, 2});
    CHECK(std::vector<double>(y.begin(), y.end()) == std::vector<double>{6, 8, 14, 16});
    Tensor<double> dy(y.shape());
    for (Index i = 0; i < 4; ++i) dy[i] = double(10 * (i + 1));
    auto dx = net.backward(dy.view(), true);
    std::vector<double> want(16, 0.0);
    want[5] = 10, want[7] = 20, want[13] = 30, want[15] = 40;
    CHECK(std::vector<double>(dx.begin(), dx.end()) == want);
  }
  // Padding never wins a max (it is -inf), but counts as zeros in an average by default.
  Tensor<double> neg(Shape{1, 1, 3, 3});
  for (Index i = 0; i < 9; ++i) neg[i] = -double(i + 1);
  {
    Sequential<double> net;
    net.add(MaxPool2D{.kernel = 3, .stride = 2, .pad = 1});
    net.init(0);
    auto y = net.forward(neg.view());
    CHECK(std::vector<double>(y.begin(), y.end()) == std::vector<double>{-1, -2, -4, -5});
  }
  {
    Sequential<double> incl, excl;
    incl.add(AvgPool2D{.kernel = 3, .stride = 2, .pad = 1});
    excl.add(AvgPool2D{.kernel = 3, .stride = 2, .pad = 1, .count_include_pad = false});
    incl.init(0);
    excl.init(0);
    auto yi = incl.forward(neg.view());
    auto ye = excl.forward(neg.view());
    CHECK(yi[0] == doctest::Approx(-12.0 / 9));
    CHECK(ye[0] == doctest::Approx(-3.0));
    CHECK(ye[3] == doctest::Approx(-28.0 / 4));  // window rows 1..2, cols 1..2: 5 6 8 9
    Tensor<double> dy(yi.shape(), 9.0);
    auto dx = incl.backward(dy.view(), true);
    CHECK(dx[0] == doctest::Approx(1.0));  // x(0,0) is only in window (0,0)
    CHECK(dx[4] == doctest::Approx(4.0));  // x(1,1) is in all four windows
  }
  {
    Sequential<double> net;
    net.add(GlobalAvgPool{});
    net.init(0);
    auto y = net.forward(x.view());
    REQUIRE(y.shape() == Shape{1, 1});
    CHECK(y[0] == doctest::Approx(8.5));
  }
}

TEST_CASE("Pooling: forward matches PyTorch") {
  // /usr/bin/python3:
  //   import torch, torch.nn.functional as F
  //   x = torch.tensor([((i * 37) % 61) / 10.0 - 3.0 for i in range(60)], dtype=torch.float64).reshape(1,2,5,6)
  //   print(F.max_pool2d(x, 3, 2, 1).flatten().tolist())
  //   print(F.avg_pool2d(x, 3, 2, 1, count_include_pad=True).flatten().tolist())
  //   print(F.avg_pool2d(x, 3, 2, 1, count_include_pad=False).flatten().tolist())
  const double max_want[] = {0.9, 2.2, 2.0, 2.6, 2.4, 2.8, 2.6, 1.7, 3.0, 2.1, 1.9, 2.3, 2.1, 2.7, 2.7, 1.6, 2.9, 2.7};
  const double incl_want[] = {-0.3222222222222222, 0.16666666666666669, -0.32222222222222224, 0.36666666666666664,
                              4.9343245538895844e-17, -0.05555555555555566, 0.1333333333333333, -0.16666666666666666,
                              0.6999999999999998, 0.21111111111111114, -0.3888888888888889, -0.19999999999999998,
                              -0.18888888888888886, -0.1555555555555555, 0.46666666666666656, -0.011111111111111072,
                              0.6333333333333334, 0.14444444444444443};
  const double excl_want[] = {-0.725, 0.25000000000000006, -0.4833333333333334, 0.5499999999999999,
                              4.9343245538895844e-17, -0.05555555555555566, 0.29999999999999993, -0.25,
                              1.0499999999999998, 0.4750000000000001, -0.5833333333333334, -0.3,
                              -0.28333333333333327, -0.1555555555555555, 0.46666666666666656, -0.02499999999999991,
                              0.9500000000000002, 0.21666666666666665};
  Tensor<double> x(Shape{1, 2, 5, 6});
  for (Index i = 0; i < 60; ++i) x[i] = double((i * 37) % 61) / 10.0 - 3.0;
  auto check = [&](auto options, const double* want) {
    Sequential<double> net;
    net.add(options);
    net.init(0);
    auto y = net.forward(x.view());
    REQUIRE(y.shape() == Shape{1, 2, 3, 3});
    for (Index i = 0; i < y.size(); ++i) CHECK(y[i] == doctest::Approx(want[i]).epsilon(1e-12).scale(1));
  };
  check(MaxPool2D{.kernel = 3, .stride = 2, .pad = 1}, max_want);
  check(AvgPool2D{.kernel = 3, .stride = 2, .pad = 1}, incl_want);
  check(AvgPool2D{.kernel = 3, .stride = 2, .pad = 1, .count_include_pad = false}, excl_want);
}

TEST_CASE("Pooling: float32 agrees with double; 1 and 2 threads give the same bits") {
  float_smoke(MaxPool2D{.kernel = 3, .stride = 2, .pad = 1}, Shape{3, 4, 7, 6});
  float_smoke(AvgPool2D{.kernel = 3, .stride = 2, .pad = 1, .count_include_pad = false}, Shape{3, 4, 7, 6});
  float_smoke(GlobalAvgPool{}, Shape{3, 4, 7, 6});
  same_bits_1_vs_2_threads(MaxPool2D{.kernel = 2}, Shape{5, 4, 8, 6});
  same_bits_1_vs_2_threads(AvgPool2D{.kernel = 3, .stride = 2, .pad = 1}, Shape{5, 4, 8, 6});
}

TEST_CASE("Pooling: option and shape errors name the layer") {
  CHECK_THROWS_WITH_AS(MaxPool2DLayer<float>(MaxPool2D{.kernel = 2, .pad = 2}), doctest::Contains("MaxPool2D"), shape_error);
  CHECK_THROWS_WITH_AS(AvgPool2DLayer<float>(AvgPool2D{.kernel = 0}), doctest::Contains("AvgPool2D"), shape_error);
  Sequential<float> net;
  net.add(MaxPool2D{.kernel = 3});
  CHECK_THROWS_WITH_AS(net.output_shape(Shape{2, 8}), doctest::Contains("MaxPool2D: expected (N, C, H, W)"), shape_error);
  CHECK_THROWS_WITH_AS(net.output_shape(Shape{2, 1, 2, 8}), doctest::Contains("smaller than the kernel"), shape_error);
  CHECK(net.output_shape(Shape{2, 1, 7, 8}) == Shape{2, 1, 2, 2});
  Sequential<float> g;
  g.add(GlobalAvgPool{});
  CHECK_THROWS_WITH_AS(g.output_shape(Shape{2, 8}), doctest::Contains("GlobalAvgPool"), shape_error);
}

}  // namespace test_pooling
