// Distances, pair heads and losses of twin/siamese: finite-difference gradient checks in
// double at edge cases, and every loss against a naive loop.
#include <doctest/doctest.h>

#include <twin/siamese.hpp>
#include <twin/testing/gradcheck.hpp>

#include "layer_helpers.hpp"  // CHECK_GRAD

#include <cmath>
#include <vector>

namespace test_siamese_losses {  // file-local: the test files are compiled as unity batches

using namespace twin;
using twin::testing::compare_gradients;
using twin::testing::numeric_gradient;

namespace {
Tensor<double> rand_t(Shape s, Rng& r, double scale = 1.0) {
  Tensor<double> t(s);
  for (double& v : t) v = r.uniform(-scale, scale);
  return t;
}
std::vector<PairLabel> alternating(Index n) {
  std::vector<PairLabel> y;
  for (Index i = 0; i < n; ++i) y.push_back(pair_label(i % 2 == 0));
  return y;
}
// Weighted sum of a distance over rows, sum_i w_i d_i, and its analytic gradient.
template <class Dist>
void check_distance(const Dist& dist, Tensor<double>& a, Tensor<double>& b, double h = 1e-6) {
  const Index N = a.dim(0);
  Rng r(9);
  std::vector<double> w(static_cast<std::size_t>(N));
  for (double& v : w) v = r.uniform(0.5, 1.5);
  Tensor<double> d(Shape{N}), dd(Shape{N});
  for (Index i = 0; i < N; ++i) dd[i] = w[static_cast<std::size_t>(i)];
  auto f = [&] {
    distance_forward<Dist, double>(dist, a.view(), b.view(), d.view());
    double s = 0;
    for (Index i = 0; i < N; ++i) s += w[static_cast<std::size_t>(i)] * d[i];
    return s;
  };
  f();
  Tensor<double> ga(a.shape(), std::nan("")), gb(b.shape(), std::nan(""));
  distance_backward<Dist, double>(dist, a.view(), b.view(), d.view(), dd.view(), ga.view(), gb.view());
  CHECK_GRAD(compare_gradients(ga.span(), numeric_gradient(f, a.span(), h), std::string(Dist::name) + " da"));
  CHECK_GRAD(compare_gradients(gb.span(), numeric_gradient(f, b.span(), h), std::string(Dist::name) + " db"));
}
}  // namespace

TEST_CASE("distances: gradients at random points") {
  Rng r(1);
  auto a = rand_t(Shape{4, 5}, r), b = rand_t(Shape{4, 5}, r);
  check_distance(Euclidean{}, a, b);
  check_distance(SquaredEuclidean{}, a, b);
  check_distance(Cosine{}, a, b);
}

TEST_CASE("distances: identical embeddings (zero distance) have finite gradients") {
  Rng r(2);
  auto a = rand_t(Shape{3, 4}, r);
  auto b = a;
  Tensor<double> d(Shape{3}), dd(Shape{3}, 1.0), ga(a.shape()), gb(a.shape());
  distance_forward<Euclidean, double>(Euclidean{}, a.view(), b.view(), d.view());
  for (double v : d) CHECK(v == doctest::Approx(std::sqrt(1e-7)));
  distance_backward<Euclidean, double>(Euclidean{}, a.view(), b.view(), d.view(), dd.view(), ga.view(), gb.view());
  for (double v : ga) CHECK(v == 0.0);
  check_distance(Euclidean{}, a, b);  // numeric gradient inside the guard is 0 as well
  check_distance(SquaredEuclidean{}, a, b);
  check_distance(Cosine{}, a, b);
}

TEST_CASE("cosine: zero vectors give distance 1 and finite gradients") {
  Tensor<double> z(Shape{2, 3}, 0.0);
  Rng r(3);
  auto b = rand_t(Shape{2, 3}, r);
  Tensor<double> d(Shape{2});
  distance_forward<Cosine, double>(Cosine{}, z.view(), b.view(), d.view());
  CHECK(d[0] == 1.0);
  distance_forward<Cosine, double>(Cosine{}, z.view(), z.view(), d.view());
  CHECK(d[0] == 1.0);
  // Below the clamp the cosine is linear in the zero vector: check with h well below eps.
  check_distance(Cosine{}, z, b, 1e-11);
  Tensor<double> z2(Shape{2, 3}, 0.0);
  check_distance(Cosine{}, z, z2, 1e-11);
}

TEST_CASE("AbsDiff: values and gradients, including equal entries") {
  Rng r(4);
  auto a = rand_t(Shape{3, 4}, r), b = rand_t(Shape{3, 4}, r);
  b(1, 2) = a(1, 2);
  Tensor<double> y(a.shape()), R = rand_t(a.shape(), r);
  auto f = [&] {
    AbsDiff{}.forward<double>(a.view(), b.view(), y.view());
    double s = 0;
    for (Index i = 0; i < y.size(); ++i) s += y[i] * R[i];
    return s;
  };
  f();
  CHECK(y(1, 2) == 0.0);
  Tensor<double> ga(a.shape()), gb(a.shape());
  AbsDiff{}.backward<double>(a.view(), b.view(), R.view(), ga.view(), gb.view());
  CHECK_GRAD(compare_gradients(ga.span(), numeric_gradient(f, a.span()), "AbsDiff da"));
  CHECK_GRAD(compare_gradients(gb.span(), numeric_gradient(f, b.span()), "AbsDiff db"));
}

TEST_CASE("PairHead: every combine, with a Dense net, gradients to both embeddings and the parameters") {
  for (Combine c : {Combine::abs_diff, Combine::euclidean, Combine::squared_euclidean, Combine::cosine}) {
    CAPTURE(static_cast<int>(c));
    const Index N = 3, D = 4;
    Sequential<double> net;
    const Index in = c == Combine::abs_diff ? D : 1;
    net.add(Dense{.in = in, .out = 2}).add(Tanh{});
    net.init(5);
    PairHead<double> head(c, std::move(net));
    PairHeadWorkspace<double> ws;
    Rng r(6);
    auto a = rand_t(Shape{N, D}, r), b = rand_t(Shape{N, D}, r);
    for (Index k = 0; k < D; ++k) b(2, k) = a(2, k) + 0.5;  // no |a - b| kink at the check point
    auto R = rand_t(Shape{N, 2}, r);
    auto f = [&] {
      auto y = head.forward(a.view(), b.view(), ws, Mode::train);
      double s = 0;
      for (Index i = 0; i < y.size(); ++i) s += y[i] * R[i];
      return s;
    };
    f();
    auto grads = head.net().grads();
    std::fill(grads.begin(), grads.end(), 0.25);  // accumulate contract: sentinel stays
    Tensor<double> ga(a.shape(), std::nan("")), gb(b.shape(), std::nan(""));
    head.backward(R.view(), ws, ga.view(), gb.view());
    std::vector<double> gp(grads.begin(), grads.end());
    for (double& v : gp) v -= 0.25;
    CHECK_GRAD(compare_gradients(ga.span(), numeric_gradient(f, a.span()), "head da"));
    CHECK_GRAD(compare_gradients(gb.span(), numeric_gradient(f, b.span()), "head db"));
    CHECK_GRAD(compare_gradients(gp, numeric_gradient(f, head.net().params()), "head params"));
  }
  auto h = make_similarity_head<float>(10, 1);
  CHECK(h.net().num_params() == 11);
}

TEST_CASE("ContrastiveLoss: against a naive loop, every reduction, both distances, powers 1 and 2") {
  Rng r(7);
  const Index N = 8, D = 3;
  auto a = rand_t(Shape{N, D}, r, 0.5), b = rand_t(Shape{N, D}, r, 0.5);
  const auto y = alternating(N);
  for (PairDistance pd : {PairDistance::euclidean, PairDistance::cosine})
    for (double power : {1.0, 2.0, 1.5})
      for (Reduction red : {Reduction::none, Reduction::mean, Reduction::sum, Reduction::mean_nonzero}) {
        const ContrastiveLoss loss{.pos_margin = 0.1, .neg_margin = 0.9, .distance = pd, .power = power, .reduction = red};
        const auto res = loss(PairBatch<double>{.first = a.view(), .second = b.view(), .labels = y});
        double sum = 0;
        Index nonzero = 0;
        for (Index i = 0; i < N; ++i) {
          double d;
          if (pd == PairDistance::euclidean) {
            double s = 0;
            for (Index k = 0; k < D; ++k) s += (a(i, k) - b(i, k)) * (a(i, k) - b(i, k));
            d = std::sqrt(s);
          } else {
            double ab = 0, aa = 0, bb = 0;
            for (Index k = 0; k < D; ++k) ab += a(i, k) * b(i, k), aa += a(i, k) * a(i, k), bb += b(i, k) * b(i, k);
            d = 1 - ab / std::sqrt(aa * bb);
          }
          const double h = is_same(y[static_cast<std::size_t>(i)]) ? d - 0.1 : 0.9 - d;
          const double l = h > 0 ? std::pow(h, power) : 0.0;
          CHECK(res.per_sample[static_cast<std::size_t>(i)] == doctest::Approx(l));
          sum += l;
          nonzero += l > 0;
        }
        const double want = red == Reduction::mean           ? sum / N
                            : red == Reduction::mean_nonzero ? (nonzero ? sum / double(nonzero) : 0.0)
                                                             : sum;
        CHECK(res.value == doctest::Approx(want));
        CHECK(res.active == nonzero);
        CHECK(res.count == N);

        Tensor<double> ga(a.shape(), std::nan("")), gb(b.shape(), std::nan(""));
        loss(PairBatch<double>{.first = a.view(), .second = b.view(), .labels = y}, {.first = ga.view(), .second = gb.view()});
        auto f = [&] { return loss(PairBatch<double>{.first = a.view(), .second = b.view(), .labels = y}).value; };
        CHECK_GRAD(compare_gradients(ga.span(), numeric_gradient(f, a.span()), "contrastive da"));
        CHECK_GRAD(compare_gradients(gb.span(), numeric_gradient(f, b.span()), "contrastive db"));
      }
}

TEST_CASE("ContrastiveLoss: identical embeddings and hinge exactly at the margin") {
  Rng r(8);
  auto a = rand_t(Shape{2, 3}, r);
  auto b = a;
  const std::vector<PairLabel> y{PairLabel::same, PairLabel::different};
  const ContrastiveLoss loss{.power = 2.0, .reduction = Reduction::mean};
  Tensor<double> ga(a.shape()), gb(a.shape());
  const auto res = loss(PairBatch<double>{.first = a.view(), .second = b.view(), .labels = y}, {.first = ga.view(), .second = gb.view()});
  CHECK(std::isfinite(res.value));
  for (double v : ga) CHECK(std::isfinite(v));
  auto f = [&] { return loss(PairBatch<double>{.first = a.view(), .second = b.view(), .labels = y}).value; };
  CHECK_GRAD(compare_gradients(ga.span(), numeric_gradient(f, a.span()), "contrastive at d = 0"));

  // On distances: a hinge exactly at its margin contributes neither loss nor gradient.
  Tensor<double> d(Shape{2}), dd(Shape{2});
  d[0] = 0.0;  // same, pos_margin 0
  d[1] = 1.0;  // different, neg_margin 1
  const auto at = ContrastiveLoss{.reduction = Reduction::sum}.on_distances<double>(d.view(), y, dd.view());
  CHECK(at.value == 0.0);
  CHECK(dd[0] == 0.0);
  CHECK(dd[1] == 0.0);
  CHECK_THROWS_AS(loss.on_distances<double>(d.view(), std::span<const PairLabel>(y.data(), 1)), shape_error);
}

namespace {
double naive_pdist(const double* x, const double* y, Index D, double p, double eps) {
  double s = 0;
  for (Index k = 0; k < D; ++k) s += std::pow(std::abs(x[k] - y[k] + eps), p);
  return std::pow(s, 1.0 / p);
}
}  // namespace

TEST_CASE("TripletMarginLoss: against a naive loop and finite differences, all options") {
  Rng r(10);
  const Index N = 5, D = 4;
  auto A = rand_t(Shape{N, D}, r), P = rand_t(Shape{N, D}, r), Ng = rand_t(Shape{N, D}, r);
  for (double p : {2.0, 1.0, 3.0})
    for (bool swap : {false, true})
      for (bool squared : {false, true})
        for (bool soft : {false, true})
          for (Reduction red : {Reduction::mean, Reduction::sum, Reduction::mean_nonzero}) {
            CAPTURE(p);
            CAPTURE(swap);
            CAPTURE(squared);
            CAPTURE(soft);
            const TripletMarginLoss loss{.margin = 0.7, .p = p, .swap = swap, .squared = squared, .soft_margin = soft,
                                         .reduction = red};
            auto batch = TripletBatch<double>{.anchor = A.view(), .positive = P.view(), .negative = Ng.view()};
            const auto res = loss(batch);
            double sum = 0;
            Index nz = 0;
            for (Index i = 0; i < N; ++i) {
              auto dist = [&](const Tensor<double>& x, const Tensor<double>& y) {
                const double d = naive_pdist(x.data() + i * D, y.data() + i * D, D, p, 1e-6);
                return squared ? d * d : d;
              };
              const double dap = dist(A, P);
              double dan = dist(A, Ng);
              if (swap) dan = std::min(dan, dist(P, Ng));
              const double l = soft ? std::log1p(std::exp(dap - dan)) : std::max(0.0, dap - dan + 0.7);
              CHECK(res.per_sample[static_cast<std::size_t>(i)] == doctest::Approx(l));
              sum += l;
              nz += l > 0;
            }
            const double want = red == Reduction::mean ? sum / N : red == Reduction::sum ? sum : (nz ? sum / double(nz) : 0.0);
            CHECK(res.value == doctest::Approx(want));
            if (p == 1.0) continue;  // |x|: the naive check above suffices; kinks make FD flaky
            Tensor<double> ga(A.shape(), std::nan("")), gp(A.shape(), std::nan("")), gn(A.shape(), std::nan(""));
            loss(batch, {.anchor = ga.view(), .positive = gp.view(), .negative = gn.view()});
            auto f = [&] { return loss(batch).value; };
            CHECK_GRAD(compare_gradients(ga.span(), numeric_gradient(f, A.span()), "triplet d anchor"));
            CHECK_GRAD(compare_gradients(gp.span(), numeric_gradient(f, P.span()), "triplet d positive"));
            CHECK_GRAD(compare_gradients(gn.span(), numeric_gradient(f, Ng.span()), "triplet d negative"));
          }
}

TEST_CASE("TripletMarginLoss: anchor == positive (zero distance) stays finite") {
  Rng r(13);
  auto A = rand_t(Shape{3, 4}, r), Ng = rand_t(Shape{3, 4}, r);
  auto P = A;
  for (bool soft : {false, true}) {
    // d^2 is smooth at 0, so finite differences are valid there; d itself has a cone at
    // x = -eps, so only finiteness is checked for it.
    const TripletMarginLoss sq{.squared = true, .soft_margin = soft};
    auto batch = TripletBatch<double>{.anchor = A.view(), .positive = P.view(), .negative = Ng.view()};
    Tensor<double> ga(A.shape()), gp(A.shape()), gn(A.shape());
    sq(batch, {.anchor = ga.view(), .positive = gp.view(), .negative = gn.view()});
    auto f = [&] { return sq(batch).value; };
    CHECK_GRAD(compare_gradients(ga.span(), numeric_gradient(f, A.span()), "squared, a == p: d anchor"));
    CHECK_GRAD(compare_gradients(gn.span(), numeric_gradient(f, Ng.span()), "squared, a == p: d negative"));
    const TripletMarginLoss plain{.soft_margin = soft};
    const auto res = plain(batch, {.anchor = ga.view(), .positive = gp.view(), .negative = gn.view()});
    CHECK(std::isfinite(res.value));
    for (Index i = 0; i < ga.size(); ++i) {
      CHECK(std::isfinite(ga[i]));
      CHECK(std::isfinite(gp[i]));
    }
  }
}

TEST_CASE("TripletMarginLoss: mined indices scatter gradients; no triplet gives 0, 0, 0") {
  Rng r(11);
  const Index N = 6, D = 3;
  auto E = rand_t(Shape{N, D}, r);
  const std::vector<int> labels{0, 0, 1, 1, 2, 2};
  const auto triplets = AllTripletsMiner{}(labels);
  REQUIRE(triplets.size() == 6 * 1 * 4);
  const TripletMarginLoss loss{.margin = 2.0};
  Tensor<double> g(E.shape(), std::nan(""));
  const auto res = loss(E.view(), std::span<const Triplet>(triplets), g.view());
  CHECK(res.count == 24);
  auto f = [&] { return loss(E.view(), std::span<const Triplet>(triplets)).value; };
  CHECK_GRAD(compare_gradients(g.span(), numeric_gradient(f, E.span()), "mined triplet dE"));

  // Equal to the explicit form on gathered rows.
  Tensor<double> A(Shape{24, D}), P(Shape{24, D}), Ng(Shape{24, D});
  for (std::size_t t = 0; t < triplets.size(); ++t)
    for (Index k = 0; k < D; ++k) {
      A(Index(t), k) = E(triplets[t].anchor, k);
      P(Index(t), k) = E(triplets[t].positive, k);
      Ng(Index(t), k) = E(triplets[t].negative, k);
    }
  CHECK(loss(TripletBatch<double>{.anchor = A.view(), .positive = P.view(), .negative = Ng.view()}).value ==
        doctest::Approx(res.value));

  const std::vector<int> one_class{3, 3, 3, 3, 3, 3};
  const auto none = AllTripletsMiner{}(one_class);
  CHECK(none.empty());
  for (Reduction red : {Reduction::mean, Reduction::sum, Reduction::mean_nonzero, Reduction::none}) {
    Tensor<double> g0(E.shape(), std::nan(""));
    const auto z = TripletMarginLoss{.reduction = red}(E.view(), std::span<const Triplet>(none), g0.view());
    CHECK(z.value == 0.0);
    CHECK(z.count == 0);
    for (double v : g0) CHECK(v == 0.0);
  }
  CHECK(BatchHardMiner{}(E.view(), one_class).empty());
  CHECK(SemiHardMiner{}(E.view(), one_class).empty());
  const std::vector<int> singletons{0, 1, 2, 3, 4, 5};
  CHECK(BatchHardMiner{}(E.view(), singletons).empty());
  CHECK(SemiHardMiner{}(E.view(), singletons).empty());
}

TEST_CASE("BCEWithLogitsLoss: naive formula, pos_weight, gradients, and logits +-100 in float") {
  Rng r(12);
  const Index N = 6;
  auto x = rand_t(Shape{N, 1}, r, 3.0);
  std::vector<double> y{1, 0, 1, 0, 0.3, 1};
  for (double pw : {1.0, 2.5})
    for (Reduction red : {Reduction::mean, Reduction::sum}) {
      const BCEWithLogitsLoss loss{.pos_weight = pw, .reduction = red};
      const auto res = loss(x.view(), std::span<const double>(y));
      double sum = 0;
      for (Index i = 0; i < N; ++i) {
        const double s = 1 / (1 + std::exp(-x[i]));
        const double yi = y[static_cast<std::size_t>(i)];
        sum += -(pw * yi * std::log(s) + (1 - yi) * std::log(1 - s));
      }
      CHECK(res.value == doctest::Approx(red == Reduction::mean ? sum / N : sum));
      Tensor<double> g(x.shape(), std::nan(""));
      loss(x.view(), std::span<const double>(y), g.view());
      auto f = [&] { return loss(x.view(), std::span<const double>(y)).value; };
      CHECK_GRAD(compare_gradients(g.span(), numeric_gradient(f, x.span()), "bce dx"));
    }

  Tensor<float> big(Shape{4, 1});
  big[0] = 100.0f;
  big[1] = -100.0f;
  big[2] = 100.0f;
  big[3] = -100.0f;
  const std::vector<PairLabel> lab{PairLabel::same, PairLabel::same, PairLabel::different, PairLabel::different};
  Tensor<float> g(big.shape());
  const auto res = BCEWithLogitsLoss{.reduction = Reduction::none}(big.view(), std::span<const PairLabel>(lab), g.view());
  for (float v : res.per_sample) CHECK(std::isfinite(v));
  CHECK(res.per_sample[0] == doctest::Approx(0.0).epsilon(1e-30));
  CHECK(res.per_sample[1] == doctest::Approx(100.0));
  CHECK(res.per_sample[2] == doctest::Approx(100.0));
  CHECK(res.per_sample[3] == doctest::Approx(0.0).epsilon(1e-30));
  for (Index i = 0; i < 4; ++i) {
    const float s = big[i] > 0 ? 1.0f : 0.0f;  // sigmoid(+-100) in float
    CHECK(std::isfinite(g[i]));
    CHECK(g[i] == doctest::Approx(s - to_target<float>(lab[static_cast<std::size_t>(i)])));
  }
}

}  // namespace test_siamese_losses
