// SiameseModule: weight sharing (gradient = sum of per-branch gradients), identical outputs
// for identical inputs, parameter count, stacked vs separate branches, embed().
#include <doctest/doctest.h>

#include <twin/layers/batchnorm.hpp>
#include <twin/siamese.hpp>
#include <twin/testing/gradcheck.hpp>

#include <cmath>
#include <vector>

namespace test_siamese_module {  // file-local: the test files are compiled as unity batches

using namespace twin;

namespace {
Sequential<double> make_tower() {
  Sequential<double> t;
  t.add(Flatten{}).add(Dense{.in = 6, .out = 5}).add(Tanh{}).add(Dense{.in = 5, .out = 3});
  t.init(7);
  return t;
}
Tensor<double> rand_t(Shape s, Rng& r) {
  Tensor<double> t(s);
  for (double& v : t) v = r.uniform(-1, 1);
  return t;
}
}  // namespace

TEST_CASE("SiameseModule: parameter count equals the tower's; identical inputs give identical outputs") {
  auto tower = make_tower();
  const Index n_tower = tower.num_params();
  SiameseModule<double> m(std::move(tower));
  CHECK(m.num_params() == n_tower);
  CHECK(static_cast<Index>(m.params().size()) == n_tower);
  Rng r(1);
  auto x = rand_t(Shape{4, 2, 3}, r);
  SiameseWorkspace<double> ws;
  for (BranchMode how : {BranchMode::stacked, BranchMode::separate}) {
    auto e = m.forward({x.view(), x.view(), x.view()}, ws, Mode::train, how);
    CHECK(e.all.shape() == Shape{12, 3});
    for (Index i = 0; i < 4 * 3; ++i) {
      CHECK(e.branch(0)[i] == e.branch(1)[i]);
      CHECK(e.branch(0)[i] == e.branch(2)[i]);
    }
    Workspace<double> w1;
    auto one = m.embed(x.view(), w1);
    for (Index i = 0; i < one.size(); ++i) CHECK(one[i] == doctest::Approx(e.branch(0)[i]));
  }
  Tensor<double> bad(Shape{3, 2, 3});
  CHECK_THROWS_AS(m.forward({x.view(), bad.view()}, ws, Mode::train), shape_error);
  CHECK_THROWS_AS(m.forward({x.view()}, ws, Mode::train), shape_error);
}

TEST_CASE("SiameseModule: the shared-weight gradient equals the sum of per-branch gradients") {
  SiameseModule<double> m(make_tower());
  Rng r(2);
  const Index N = 3;
  auto x1 = rand_t(Shape{N, 6}, r), x2 = rand_t(Shape{N, 6}, r), x3 = rand_t(Shape{N, 6}, r);
  auto g = rand_t(Shape{3 * N, 3}, r);  // dL/dE for all three branches

  // Per branch, each through its own plain tower run.
  std::vector<double> sum(m.params().size(), 0.0);
  const Tensor<double>* xs[3] = {&x1, &x2, &x3};
  for (Index b = 0; b < 3; ++b) {
    m.zero_grad();
    Workspace<double> w;
    m.tower().forward(xs[b]->view(), w, Mode::train);
    m.tower().backward(g.view().slice(b * N, N), w);
    for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += m.grads()[i];
  }
  for (BranchMode how : {BranchMode::stacked, BranchMode::separate}) {
    m.zero_grad();
    SiameseWorkspace<double> ws;
    m.forward({x1.view(), x2.view(), x3.view()}, ws, Mode::train, how);
    m.backward(g.view(), ws);
    for (std::size_t i = 0; i < sum.size(); ++i) CHECK(m.grads()[i] == doctest::Approx(sum[i]).epsilon(1e-12));
  }
}

TEST_CASE("SiameseModule + ContrastiveLoss: end-to-end gradient against finite differences") {
  SiameseModule<double> m(make_tower());
  Rng r(3);
  const Index N = 4;
  auto x1 = rand_t(Shape{N, 6}, r), x2 = rand_t(Shape{N, 6}, r);
  const std::vector<PairLabel> y{PairLabel::same, PairLabel::different, PairLabel::same, PairLabel::different};
  const ContrastiveLoss loss{.neg_margin = 2.0, .power = 2.0, .reduction = Reduction::mean};
  SiameseWorkspace<double> ws;
  auto f = [&] {
    auto e = m.forward({x1.view(), x2.view()}, ws, Mode::train);
    return loss(PairBatch<double>{.first = e.branch(0), .second = e.branch(1), .labels = y}).value;
  };
  m.zero_grad();
  auto e = m.forward({x1.view(), x2.view()}, ws, Mode::train);
  auto dE = ws.d_embeddings();
  loss(PairBatch<double>{.first = e.branch(0), .second = e.branch(1), .labels = y},
       {.first = dE.slice(0, N), .second = dE.slice(N, N)});
  m.backward(dE, ws);
  std::vector<double> analytic(m.grads().begin(), m.grads().end());
  auto numeric = testing::numeric_gradient(f, m.params());
  auto res = testing::compare_gradients(analytic, numeric, "siamese params");
  INFO(res.report);
  CHECK(res.ok);
}

TEST_CASE("SiameseModule: BatchNorm statistics are joint when stacked, per branch when separate") {
  auto make = [] {
    Sequential<double> t;
    t.add(BatchNorm1d{.features = 2});
    t.init(1);
    return SiameseModule<double>(std::move(t));
  };
  auto ms = make(), mp = make();
  Rng r(4);
  auto a = rand_t(Shape{4, 2}, r), b = rand_t(Shape{4, 2}, r);
  for (double& v : b) v += 3.0;  // the second branch has another mean
  SiameseWorkspace<double> w1, w2;
  auto s = ms.forward({a.view(), b.view()}, w1, Mode::train, BranchMode::stacked);
  auto p = mp.forward({a.view(), b.view()}, w2, Mode::train, BranchMode::separate);
  // Separate: each branch is normalised on its own, so each branch has mean 0 per feature.
  // Stacked: only the joint batch has mean 0; the branches keep their offset.
  for (Index k = 0; k < 2; ++k) {
    double mp0 = 0, ms0 = 0, ms_all = 0;
    for (Index i = 0; i < 4; ++i) {
      mp0 += p.branch(0)(i, k);
      ms0 += s.branch(0)(i, k);
      ms_all += s.branch(0)(i, k) + s.branch(1)(i, k);
    }
    CHECK(mp0 == doctest::Approx(0.0).scale(1.0));
    CHECK(ms_all == doctest::Approx(0.0).scale(1.0));
    CHECK(std::abs(ms0) > 1.0);
  }
  // Running statistics: stacked updates once per step, separate once per branch.
  const auto bs = ms.tower().buffers(), bp = mp.tower().buffers();
  bool differ = false;
  for (std::size_t i = 0; i < bs.size(); ++i) differ = differ || std::abs(bs[i] - bp[i]) > 1e-9;
  CHECK(differ);
  // In eval mode both use the running statistics: no dependence on the batch's other branch.
  SiameseWorkspace<double> w3, w4;
  auto se = ms.forward({a.view(), b.view()}, w3, Mode::eval, BranchMode::stacked);
  auto pe = ms.forward({a.view(), b.view()}, w4, Mode::eval, BranchMode::separate);
  for (Index i = 0; i < se.all.size(); ++i) CHECK(se.all[i] == doctest::Approx(pe.all[i]));
}

}  // namespace test_siamese_module
