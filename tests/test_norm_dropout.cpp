// Dropout, L2Normalize and LocalResponseNorm: gradients by finite differences, PyTorch
// values, dropout's mask statistics and seeding, float32 vs double, 1 vs 2 threads, errors.
#include "layer_helpers.hpp"

namespace test_norm_dropout {  // file-local: the test files are compiled as unity batches

using namespace twin;
using namespace layer_test;
using twin::testing::check_layer;

TEST_CASE("Dropout: gradients in train mode (the checker reseeds, so the mask is fixed)") {
  CHECK_GRAD(check_layer(Dropout{}, Shape{2, 3, 4, 4}));
  CHECK_GRAD(check_layer(Dropout{.p = 0.2}, Shape{3, 5}));
  CHECK_GRAD(check_layer(Dropout{.p = 0.9}, Shape{1, 1, 3, 7}));
  CHECK_GRAD(check_layer(Dropout{.p = 0.0}, Shape{2, 3}));
  CHECK_GRAD(check_layer(Dropout{.p = 0.5}, Shape{2, 3}, {.mode = Mode::eval}));
}

TEST_CASE("Dropout: mask statistics, scaling, seeding, eval identity") {
  Sequential<double> net;
  net.add(Dropout{.p = 0.3});
  net.init(0);
  Tensor<double> x(Shape{100, 100}, 2.0);
  Workspace<double> ws(11);
  auto y = net.forward(x.view(), ws, Mode::train);
  Index zeros = 0;
  for (double v : y) {
    if (v == 0) ++zeros;
    else CHECK(v == doctest::Approx(2.0 / 0.7).epsilon(1e-15));
  }
  CHECK(double(zeros) / 1e4 == doctest::Approx(0.3).epsilon(0.1));  // within 10 %
  const std::vector<double> first(y.begin(), y.end());
  Workspace<double> same(11), other(12);
  auto y2 = net.forward(x.view(), same, Mode::train);
  CHECK(std::vector<double>(y2.begin(), y2.end()) == first);
  auto y3 = net.forward(x.view(), other, Mode::train);
  CHECK(std::vector<double>(y3.begin(), y3.end()) != first);
  // The next step of the same workspace draws a new mask.
  auto y4 = net.forward(x.view(), same, Mode::train);
  CHECK(std::vector<double>(y4.begin(), y4.end()) != first);
  auto ye = net.forward(x.view(), ws, Mode::eval);
  for (double v : ye) CHECK(v == 2.0);

  Sequential<double> all;
  all.add(Dropout{.p = 1.0});
  all.init(0);
  for (double v : all.forward(x.view(), Mode::train)) CHECK(v == 0.0);
  CHECK_THROWS_WITH_AS(DropoutLayer<float>(Dropout{.p = 1.5}), doctest::Contains("Dropout: p must be in [0, 1]"), error);
}

TEST_CASE("L2Normalize: gradients, unclamped and clamped") {
  CHECK_GRAD(check_layer(L2Normalize{}, Shape{3, 5}));
  CHECK_GRAD(check_layer(L2Normalize{}, Shape{2, 3, 4, 4}));
  CHECK_GRAD(check_layer(L2Normalize{}, Shape{1, 1}, {.input_scale = 0.5}));  // y = sign(x): dx = 0
  CHECK_GRAD(check_layer(L2Normalize{.eps = 10.0}, Shape{3, 4}));              // every norm < eps: y = x / eps
  // eps = 0.6 on 2-d samples of U(-1, 1): some norms fall below eps, some above.
  Rng rng(1);
  Index below = 0;
  for (int i = 0; i < 8; ++i) {
    const double a = rng.uniform(-1, 1), b = rng.uniform(-1, 1);
    below += std::sqrt(a * a + b * b) < 0.6;
  }
  CHECK(below > 0);
  CHECK(below < 8);
  CHECK_GRAD(check_layer(L2Normalize{.eps = 0.6}, Shape{8, 2}, {.seed = 1}));
}

TEST_CASE("L2Normalize: forward matches PyTorch; a zero vector stays zero") {
  // /usr/bin/python3: F.normalize(torch.tensor([[-1.5, -1, -0.5], [0, 0.5, 1]], dtype=torch.float64), dim=1)
  const double want[] = {-0.8017837257372732, -0.5345224838248488, -0.2672612419124244,
                         0.0,                 0.4472135954999579,  0.8944271909999159};
  Sequential<double> net;
  net.add(L2Normalize{});
  net.init(0);
  auto x = seq(Shape{2, 3}, 7, 3, 0.5);
  auto y = net.forward(x.view());
  for (Index i = 0; i < 6; ++i) CHECK(y[i] == doctest::Approx(want[i]).epsilon(1e-14));
  Tensor<double> z(Shape{1, 4}, 0.0);
  auto yz = net.forward(z.view(), Mode::train);
  for (double v : yz) CHECK(v == 0.0);
  Tensor<double> dy(Shape{1, 4}, 1.0);
  auto dz = net.backward(dy.view(), true);
  for (double v : dz) CHECK(v == doctest::Approx(1e12));
}

TEST_CASE("LocalResponseNorm: gradients") {
  CHECK_GRAD(check_layer(LocalResponseNorm{}, Shape{2, 7, 3, 3}));
  CHECK_GRAD(check_layer(LocalResponseNorm{.size = 3, .alpha = 0.5, .beta = 0.75, .k = 1.0}, Shape{2, 5, 2, 3}));
  CHECK_GRAD(check_layer(LocalResponseNorm{.size = 2, .alpha = 0.8, .beta = 0.6, .k = 2.0}, Shape{1, 4, 3, 1}));
  CHECK_GRAD(check_layer(LocalResponseNorm{.size = 4, .alpha = 1.0}, Shape{2, 3, 5}));  // rank 3, window > C
  CHECK_GRAD(check_layer(LocalResponseNorm{.size = 1, .alpha = 2.0}, Shape{1, 1, 2, 2}));
}

TEST_CASE("LocalResponseNorm: forward matches PyTorch") {
  // /usr/bin/python3:
  //   import torch, torch.nn.functional as F
  //   def seq(n, m, a, s): return torch.tensor([((i % m) - a) * s for i in range(n)], dtype=torch.float64)
  //   x = seq(16, 7, 3, 0.5).reshape(1,4,2,2)
  //   print(F.local_response_norm(x, 3, alpha=0.1, beta=0.75, k=2.0).flatten().tolist())
  //   print(F.local_response_norm(x * 10, 5).flatten().tolist())
  const double want[] = {-0.8650121090885116, -0.5801591871258902, -0.2883373696961705, 0.0,
                         0.2849250619720561,  0.5784108409808341,  0.8650121090885116,  -0.8650121090885116,
                         -0.5784108409808341, -0.2849250619720561, 0.0,                 0.2849250619720561,
                         0.5801591871258902,  0.8650121090885116,  -0.8676162614712511, -0.5854790658933888};
  const double want_default[] = {-14.921729268887963, -9.966382344753937, -4.981331657027496, 0.0,
                                 4.966513606898725,   9.93302721379745,   14.894005730254465, -14.921729268887963,
                                 -9.93302721379745,   -4.966513606898725, 0.0,                4.9739097562959875,
                                 9.966382344753937,   14.921729268887963, -14.899540820696174, -9.947819512591975};
  auto run = [](auto options, const Tensor<double>& x, const double* w) {
    Sequential<double> net;
    net.add(options);
    net.init(0);
    auto y = net.forward(x.view());
    for (Index i = 0; i < y.size(); ++i) CHECK(y[i] == doctest::Approx(w[i]).epsilon(1e-12).scale(1));
  };
  run(LocalResponseNorm{.size = 3, .alpha = 0.1, .beta = 0.75, .k = 2.0}, seq(Shape{1, 4, 2, 2}, 7, 3, 0.5), want);
  run(LocalResponseNorm{}, seq(Shape{1, 4, 2, 2}, 7, 3, 5.0), want_default);
}

TEST_CASE("Dropout, L2Normalize, LocalResponseNorm: float32 agrees with double; same bits for 1 and 2 threads") {
  float_smoke(Dropout{.p = 0.4}, Shape{3, 4, 5, 6});
  float_smoke(L2Normalize{}, Shape{5, 4, 3, 2});
  float_smoke(LocalResponseNorm{.size = 3, .alpha = 0.5}, Shape{3, 6, 4, 5});
  same_bits_1_vs_2_threads(Dropout{.p = 0.4}, Shape{9, 4, 50, 40});  // > 2^15 elements: the multiply runs in parallel
  same_bits_1_vs_2_threads(L2Normalize{}, Shape{40, 16});
  same_bits_1_vs_2_threads(LocalResponseNorm{}, Shape{6, 8, 3, 3});
}

TEST_CASE("L2Normalize and LocalResponseNorm: shape errors name the layer") {
  Sequential<float> l2, lrn;
  l2.add(L2Normalize{});
  lrn.add(LocalResponseNorm{});
  CHECK_THROWS_WITH_AS(l2.output_shape(Shape{5}), doctest::Contains("L2Normalize"), shape_error);
  CHECK_THROWS_WITH_AS(lrn.output_shape(Shape{2, 5}), doctest::Contains("LocalResponseNorm"), shape_error);
  CHECK_THROWS_AS(LocalResponseNormLayer<float>(LocalResponseNorm{.size = 0}), error);
  CHECK(lrn.output_shape(Shape{2, 5, 3}) == Shape{2, 5, 3});
}

}  // namespace test_norm_dropout
