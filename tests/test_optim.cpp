// Optimiser steps against values computed by hand from PyTorch's formulas.
#include <doctest/doctest.h>

#include <twin/twin.hpp>

#include <cmath>
#include <vector>

namespace test_optim {  // file-local: the test files are compiled as unity batches

using namespace twin;
using doctest::Approx;

namespace {
template <class Opt>
std::vector<double> run(Opt& opt, std::vector<double> p, const std::vector<std::vector<double>>& grads) {
  for (const auto& g : grads) opt.step(std::span<double>(p), std::span<const double>(g));
  return p;
}
}  // namespace

TEST_CASE("SGD: plain, weight decay, momentum, Nesterov") {
  SGD<double> plain({.lr = 0.1});
  auto p = run(plain, {1.0, -2.0}, {{0.5, 1.0}});
  CHECK(p[0] == Approx(0.95));
  CHECK(p[1] == Approx(-2.1));

  SGD<double> wd({.lr = 0.1, .weight_decay = 0.5});
  p = run(wd, {1.0}, {{0.5}});  // g = 0.5 + 0.5 * 1 = 1
  CHECK(p[0] == Approx(0.9));

  // momentum 0.9: b1 = g1 = 1 -> p = 1 - 0.1 = 0.9; b2 = 0.9 * 1 + 2 = 2.9 -> p = 0.9 - 0.29 = 0.61
  SGD<double> mom({.lr = 0.1, .momentum = 0.9});
  p = run(mom, {1.0}, {{1.0}, {2.0}});
  CHECK(p[0] == Approx(0.61));
  CHECK(mom.steps() == 2);

  // Nesterov: step 1: b = 1, d = 1 + 0.9 = 1.9 -> 0.81; step 2: b = 2.9, d = 2 + 2.61 = 4.61 -> 0.349
  SGD<double> nes({.lr = 0.1, .momentum = 0.9, .nesterov = true});
  p = run(nes, {1.0}, {{1.0}, {2.0}});
  CHECK(p[0] == Approx(0.349));
  CHECK_THROWS_AS(SGD<double>({.lr = 0.1, .nesterov = true}), error);
}

TEST_CASE("Adam and AdamW") {
  // First Adam step moves every parameter by lr * sign(g) (up to eps).
  Adam<double> adam({.lr = 0.01});
  auto p = run(adam, {1.0, 1.0}, {{0.3, -4.0}});
  CHECK(p[0] == Approx(0.99).epsilon(1e-9));
  CHECK(p[1] == Approx(1.01).epsilon(1e-9));
  // Second step by hand: g1 = 1, g2 = 3
  Adam<double> a2({.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8});
  p = run(a2, {0.0}, {{1.0}, {3.0}});
  const double m = 0.9 * 0.1 + 0.1 * 3.0, v = 0.999 * 0.001 + 0.001 * 9.0;
  const double step1 = 0.1 * 1.0 / (1.0 + 1e-8), step2 = 0.1 / (1 - 0.81) * m / (std::sqrt(v) / std::sqrt(1 - 0.999 * 0.999) + 1e-8);
  CHECK(p[0] == Approx(-step1 - step2).epsilon(1e-9));
  // AdamW decays the weight directly: p = 2 (1 - 0.1 * 0.5) - 0.1 = 1.8
  AdamW<double> aw({.lr = 0.1, .weight_decay = 0.5});
  p = run(aw, {2.0}, {{1.0}});
  CHECK(p[0] == Approx(1.8).epsilon(1e-9));
  CHECK(aw.name() == "AdamW");
  // Adam with L2 weight decay folds it into the gradient instead (sign unchanged here).
  Adam<double> al2({.lr = 0.1, .weight_decay = 0.5});
  p = run(al2, {2.0}, {{1.0}});
  CHECK(p[0] == Approx(1.9).epsilon(1e-9));
}

TEST_CASE("RMSprop: plain, centered, momentum") {
  // s = 0.01 g^2 -> step = lr g / (0.1 |g| + eps) = 10 lr sign(g)
  RMSprop<double> r({.lr = 0.01});
  auto p = run(r, {1.0}, {{2.0}});
  CHECK(p[0] == Approx(1.0 - 0.01 * 2.0 / (0.2 + 1e-8)).epsilon(1e-9));
  // centered: s = 0.01 * 4 = 0.04, a = 0.02, r = sqrt(0.04 - 0.0004) + eps
  RMSprop<double> c({.lr = 0.01, .centered = true});
  p = run(c, {1.0}, {{2.0}});
  CHECK(p[0] == Approx(1.0 - 0.01 * 2.0 / (std::sqrt(0.0396) + 1e-8)).epsilon(1e-9));
  // momentum 0.5, two steps of g = 1: b1 = 1/0.1 = 10; s2 = 0.0199, b2 = 5 + 1/sqrt(0.0199)
  RMSprop<double> m({.lr = 0.01, .momentum = 0.5});
  p = run(m, {0.0}, {{1.0}, {1.0}});
  CHECK(p[0] == Approx(-0.01 * 10 - 0.01 * (5 + 1 / (std::sqrt(0.0199) + 1e-8))).epsilon(1e-6));
}

TEST_CASE("Optimiser state is sized once and exposed for checkpoints") {
  Adam<float> adam({});
  std::vector<float> p(3, 1.f), g(3, 0.5f);
  adam.step(std::span<float>(p), std::span<const float>(g));
  REQUIRE(adam.state().size() == 2);
  CHECK(adam.state()[0].first == "exp_avg");
  CHECK(adam.state()[0].second.size() == 3);
  std::vector<float> wrong(2);
  CHECK_THROWS_AS(adam.step(std::span<float>(p), std::span<const float>(wrong)), shape_error);
}

TEST_CASE("Learning-rate schedules") {
  StepLR step{.step_size = 10, .gamma = 0.5};
  CHECK(step(1.0, 0) == Approx(1.0));
  CHECK(step(1.0, 9) == Approx(1.0));
  CHECK(step(1.0, 10) == Approx(0.5));
  CHECK(step(1.0, 25) == Approx(0.25));
  CosineAnnealingLR cos{.t_max = 10, .eta_min = 0.1};
  CHECK(cos(1.0, 0) == Approx(1.0));
  CHECK(cos(1.0, 5) == Approx(0.55));
  CHECK(cos(1.0, 10) == Approx(0.1));
}

TEST_CASE("WeightAverage: warm-up decay, parameters and buffers, swap and back") {
  Sequential<double> net;
  net.add(Dense{.in = 2, .out = 1}).add(BatchNorm1d{.features = 1});
  net.init(3);
  std::vector<double> p0(net.params().begin(), net.params().end()), b0(net.buffers().begin(), net.buffers().end());
  REQUIRE(!b0.empty());
  WeightAverage<double> avg;
  avg.decay = 0.2;
  avg.reset(net.params(), net.buffers());
  // Update t decays by min(0.2, (1 + t) / (10 + t)): 0.1, 2/11, then the cap 0.2 (not 3/12).
  std::vector<double> live = p0, expect = p0;
  const double decays[] = {0.1, 2.0 / 11.0, 0.2};
  for (int t = 0; t < 3; ++t) {
    for (std::size_t i = 0; i < live.size(); ++i) {
      live[i] += 1.0 + static_cast<double>(i);
      expect[i] = decays[t] * expect[i] + (1 - decays[t]) * live[i];
    }
    std::copy(live.begin(), live.end(), net.params().begin());
    net.buffers()[0] += 2.0;
    avg.update(net.params(), net.buffers());
  }
  CHECK(avg.updates == 3);
  for (std::size_t i = 0; i < live.size(); ++i) CHECK(avg.params[i] == Approx(expect[i]));
  const double b_live = b0[0] + 6.0;
  const double b_expect = 0.2 * (2.0 / 11.0 * (0.1 * b0[0] + 0.9 * (b0[0] + 2)) + 9.0 / 11.0 * (b0[0] + 4)) + 0.8 * b_live;
  CHECK(avg.buffers[0] == Approx(b_expect));
  avg.swap(net);  // the average in the model, the live weights in avg
  for (std::size_t i = 0; i < live.size(); ++i) CHECK(net.params()[i] == Approx(expect[i]));
  CHECK(net.buffers()[0] == Approx(b_expect));
  avg.swap(net);  // and back
  for (std::size_t i = 0; i < live.size(); ++i) CHECK(net.params()[i] == live[i]);
  CHECK(net.buffers()[0] == b_live);
  std::vector<double> wrong(live.size() + 1);
  CHECK_THROWS_AS(avg.update(std::span<const double>(wrong), net.buffers()), shape_error);
}

}  // namespace test_optim
