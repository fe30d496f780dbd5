// BatchNorm1d / BatchNorm2d: gradients in train and eval mode, hand-computed and PyTorch
// values, running statistics, the one-value-per-channel error, float32, threads, shapes.
#include "layer_helpers.hpp"

namespace test_batchnorm {  // file-local: the test files are compiled as unity batches

using namespace twin;
using namespace layer_test;
using twin::testing::check_gradients;
using twin::testing::check_layer;

TEST_CASE("BatchNorm: gradients in train mode") {
  CHECK_GRAD(check_layer(BatchNorm2d{.features = 3}, Shape{2, 3, 4, 5}));
  CHECK_GRAD(check_layer(BatchNorm2d{.features = 2}, Shape{1, 2, 3, 3}));  // batch 1
  CHECK_GRAD(check_layer(BatchNorm2d{.features = 1}, Shape{3, 1, 2, 2}));  // 1 channel
  CHECK_GRAD(check_layer(BatchNorm2d{.features = 2}, Shape{2, 2, 1, 3}));  // non-square
  CHECK_GRAD(check_layer(BatchNorm2d{.features = 3, .affine = false}, Shape{2, 3, 2, 3}));
  CHECK_GRAD(check_layer(BatchNorm1d{.features = 3}, Shape{4, 3}));
  CHECK_GRAD(check_layer(BatchNorm1d{.features = 2}, Shape{2, 1 + 1}));  // M = 2, the smallest legal batch
  CHECK_GRAD(check_layer(BatchNorm1d{.features = 3, .eps = 1e-3}, Shape{2, 3, 5}));
}

TEST_CASE("BatchNorm: gradients in eval mode (running statistics)") {
  auto check_eval = [](auto options, const Shape& in) {
    Sequential<double> net;
    net.add(options);
    net.init(5);
    Rng rng(9);
    for (double& p : net.params()) p = rng.uniform(-1.5, 1.5);
    const Index c = in[1];
    for (Index i = 0; i < c; ++i) {
      net.buffers()[std::size_t(i)] = rng.uniform(-0.5, 0.5);     // running_mean
      net.buffers()[std::size_t(c + i)] = rng.uniform(0.5, 2.0);  // running_var
    }
    CHECK_GRAD(check_gradients(net, in, {.mode = Mode::eval}));
  };
  check_eval(BatchNorm2d{.features = 3}, Shape{2, 3, 4, 5});
  check_eval(BatchNorm2d{.features = 2}, Shape{1, 2, 1, 1});  // one value per channel is fine in eval
  check_eval(BatchNorm1d{.features = 4}, Shape{3, 4});
}

TEST_CASE("BatchNorm: forward and running statistics of a hand-computed case") {
  Sequential<double> net;
  net.add(BatchNorm1d{.features = 1});
  net.init(0);
  Tensor<double> x(Shape{4, 1});
  for (Index i = 0; i < 4; ++i) x[i] = double(i + 1);  // mean 2.5, biased var 1.25, unbiased 5/3
  auto y = net.forward(x.view(), Mode::train);
  for (Index i = 0; i < 4; ++i) CHECK(y[i] == doctest::Approx((double(i + 1) - 2.5) / std::sqrt(1.25 + 1e-5)).epsilon(1e-12));
  CHECK(net.buffers()[0] == doctest::Approx(0.25).epsilon(1e-12));                   // 0.9 * 0 + 0.1 * 2.5
  CHECK(net.buffers()[1] == doctest::Approx(0.9 + 0.1 * 5.0 / 3.0).epsilon(1e-12));  // unbiased variance

  const double x2[] = {0, 0, 2, 2};  // mean 1, unbiased var 4/3
  std::copy(x2, x2 + 4, x.begin());
  net.forward(x.view(), Mode::train);
  CHECK(net.buffers()[0] == doctest::Approx(0.9 * 0.25 + 0.1).epsilon(1e-12));
  CHECK(net.buffers()[1] == doctest::Approx(0.9 * (0.9 + 0.5 / 3.0) + 0.1 * 4.0 / 3.0).epsilon(1e-12));

  // Eval mode uses the running statistics and leaves them alone.
  const double rm = net.buffers()[0], rv = net.buffers()[1];
  auto ye = net.forward(x.view(), Mode::eval);
  CHECK(ye[2] == doctest::Approx((2.0 - rm) / std::sqrt(rv + 1e-5)).epsilon(1e-12));
  CHECK(net.buffers()[0] == rm);
  CHECK(net.buffers()[1] == rv);
}

TEST_CASE("BatchNorm2d: forward and running statistics match PyTorch") {
  // /usr/bin/python3:
  //   import torch
  //   def seq(n, m, a, s): return torch.tensor([((i % m) - a) * s for i in range(n)], dtype=torch.float64)
  //   x = seq(2*2*5*4, 7, 3, 0.25).reshape(2,2,5,4)
  //   bn = torch.nn.BatchNorm2d(2).double()
  //   with torch.no_grad():
  //       bn.weight.copy_(torch.tensor([1.5, -0.5], dtype=torch.float64))
  //       bn.bias.copy_(torch.tensor([0.2, 0.1], dtype=torch.float64))
  //   bn.train(); print(bn(x).flatten()[:6].tolist(), bn.running_mean.tolist(), bn.running_var.tolist())
  //   bn.eval(); print(bn(x).flatten()[:6].tolist())
  const double y_want[] = {-1.9914538440174516, -1.235780104701089, -0.48010636538472634,
                           0.2755673739316363,  1.0312411132479988, 1.7869148525643614};
  const double rm_want[] = {-0.0025000000000000005, -0.0012500000000000002};
  const double rv_want[] = {0.9252564102564103, 0.9262660256410257};
  const double eval_want[] = {-0.9656523883891196, -0.5758020912690127, -0.1859517941489058,
                              0.20389850297120107, 0.5937488000913079,  0.9835990972114148};
  Sequential<double> net;
  net.add(BatchNorm2d{.features = 2});
  const double p[] = {1.5, -0.5, 0.2, 0.1}, b[] = {0, 0, 1, 1};
  net.assign(p, b);
  auto x = seq(Shape{2, 2, 5, 4}, 7, 3, 0.25);
  auto y = net.forward(x.view(), Mode::train);
  for (Index i = 0; i < 6; ++i) CHECK(y[i] == doctest::Approx(y_want[i]).epsilon(1e-12));
  for (int c = 0; c < 2; ++c) {
    CHECK(net.buffers()[std::size_t(c)] == doctest::Approx(rm_want[c]).epsilon(1e-12));
    CHECK(net.buffers()[std::size_t(2 + c)] == doctest::Approx(rv_want[c]).epsilon(1e-12));
  }
  auto ye = net.forward(x.view(), Mode::eval);
  for (Index i = 0; i < 6; ++i) CHECK(ye[i] == doctest::Approx(eval_want[i]).epsilon(1e-12));
}

TEST_CASE("BatchNorm: one value per channel cannot be trained on") {
  Sequential<double> net2, net1;
  net2.add(BatchNorm2d{.features = 3});
  net1.add(BatchNorm1d{.features = 4});
  net2.init(0);
  net1.init(0);
  Tensor<double> x2(Shape{1, 3, 1, 1}, 1.0), x1(Shape{1, 4}, 1.0);
  CHECK_THROWS_WITH_AS(net2.forward(x2.view(), Mode::train),
                       "BatchNorm2d: expected more than 1 value per channel when training, got input (1, 3, 1, 1)",
                       numeric_error);
  CHECK_THROWS_WITH_AS(net1.forward(x1.view(), Mode::train), doctest::Contains("BatchNorm1d: expected more than 1 value"),
                       numeric_error);
  CHECK_NOTHROW(net2.forward(x2.view(), Mode::eval));
  Tensor<double> ok(Shape{1, 3, 1, 2}, 1.0);  // N = 1 is fine when H W > 1
  CHECK_NOTHROW(net2.forward(ok.view(), Mode::train));
}

TEST_CASE("BatchNorm: float32 agrees with double; 1 and 2 threads give the same bits") {
  float_smoke(BatchNorm2d{.features = 4}, Shape{3, 4, 5, 6}, Mode::train);
  float_smoke(BatchNorm2d{.features = 4}, Shape{3, 4, 5, 6}, Mode::eval);
  float_smoke(BatchNorm1d{.features = 5}, Shape{6, 5}, Mode::train);
  same_bits_1_vs_2_threads(BatchNorm2d{.features = 6}, Shape{4, 6, 5, 7}, Mode::train);
  same_bits_1_vs_2_threads(BatchNorm1d{.features = 9}, Shape{8, 9}, Mode::train);
  same_bits_1_vs_2_threads(BatchNorm2d{.features = 6}, Shape{4, 6, 5, 7}, Mode::eval);
}

TEST_CASE("BatchNorm: parameters, buffers, names and shape errors") {
  Sequential<float> net;
  net.add(BatchNorm2d{.features = 3});
  net.init(0);
  CHECK(net.num_params() == 6);
  CHECK(net.buffers().size() == 6);
  const auto names = net.named_tensors();
  REQUIRE(names.size() == 4);
  CHECK(names[0].name == "0.weight");
  CHECK(names[1].name == "0.bias");
  CHECK(names[2].name == "0.running_mean");
  CHECK_FALSE(names[2].trainable);
  CHECK(names[3].name == "0.running_var");
  CHECK(std::vector<float>(net.params().begin(), net.params().end()) == std::vector<float>{1, 1, 1, 0, 0, 0});
  CHECK(std::vector<float>(net.buffers().begin(), net.buffers().end()) == std::vector<float>{0, 0, 0, 1, 1, 1});
  CHECK_THROWS_WITH_AS(net.output_shape(Shape{2, 4, 5, 5}), doctest::Contains("BatchNorm2d: expected (N, 3, H, W)"),
                       shape_error);
  CHECK_THROWS_WITH_AS(net.output_shape(Shape{2, 3}), doctest::Contains("BatchNorm2d"), shape_error);
  Sequential<float> one;
  one.add(BatchNorm1d{.features = 3, .affine = false});
  CHECK(one.num_params() == 0);
  CHECK_THROWS_WITH_AS(one.output_shape(Shape{2, 3, 4, 4}), doctest::Contains("BatchNorm1d"), shape_error);
  CHECK_THROWS_AS(BatchNormLayer<float>(BatchNorm2d{.features = 0}), shape_error);
  CHECK_THROWS_AS(BatchNormLayer<float>(BatchNorm2d{.features = 2, .momentum = 1.5}), shape_error);
}

}  // namespace test_batchnorm
