// Pair heads and losses of twin/siamese, on every distance: finite-difference gradient checks
// in double (gradient buffers NaN-prefilled where they are assigned, sentinel-filled where
// they accumulate), every loss against a naive loop, NaN propagation, and the loss workspace
// (no allocation after the first call; one workspace per thread).
#include <doctest/doctest.h>

#include <twin/siamese.hpp>
#include <twin/testing/gradcheck.hpp>

#include "layer_helpers.hpp"  // CHECK_GRAD

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace test_siamese_losses {  // file-local: the test files are compiled as unity batches

using namespace twin;
using twin::testing::compare_gradients;
using twin::testing::numeric_gradient;

namespace {
const double nan = std::numeric_limits<double>::quiet_NaN();
const Reduction every_reduction[] = {Reduction::none, Reduction::mean, Reduction::sum, Reduction::mean_nonzero};

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
// The naive oracle: distances written out, no twin code.
double naive(const std::string& kind, const double* a, const double* b, Index D) {
  double s1 = 0, s2 = 0, s3 = 0, ab = 0, aa = 0, bb = 0;
  for (Index k = 0; k < D; ++k) {
    const double v = std::abs(a[k] - b[k]);
    s1 += v, s2 += v * v, s3 += v * v * v, ab += a[k] * b[k], aa += a[k] * a[k], bb += b[k] * b[k];
  }
  if (kind == "L2") return std::sqrt(s2);
  if (kind == "L2 squared") return s2;
  if (kind == "L1") return s1;
  if (kind == "L3") return std::cbrt(s3);
  if (kind == "cosine") return ab / std::sqrt(aa * bb);
  return ab;  // dot
}
Distance make(const std::string& kind) {
  if (kind == "L2") return LpDistance{};
  if (kind == "L2 squared") return LpDistance{.squared = true};
  if (kind == "L1") return LpDistance{.p = 1};
  if (kind == "L3") return LpDistance{.p = 3};
  if (kind == "cosine") return CosineSimilarity{};
  return DotProductSimilarity{};
}
const char* const kinds[] = {"L2", "L2 squared", "L1", "L3", "cosine", "dot"};
double reduced(Reduction red, double sum, Index n, Index nonzero) {
  return red == Reduction::mean ? sum / double(n) : red == Reduction::mean_nonzero ? (nonzero ? sum / double(nonzero) : 0.0) : sum;
}
}  // namespace

TEST_CASE("PairHead: every combination, gradients to both embeddings and the parameters") {
  const std::vector<std::pair<std::string, PairCombine>> combos{
      {"|a - b| (Koch)", PairCombine{}},
      {"(a - b)^2", PairCombine{.distance = LpDistance{.p = 2}}},
      {"a * b", PairCombine{.distance = DotProductSimilarity{}}},
      {"Euclidean", PairCombine{.distance = LpDistance{}, .elementwise = false}},
      {"squared Euclidean", PairCombine{.distance = LpDistance{.squared = true}, .elementwise = false}},
      {"L1", PairCombine{.distance = LpDistance{.p = 1}, .elementwise = false}},
      {"cosine", PairCombine{.distance = CosineSimilarity{}, .elementwise = false}},
      {"dot", PairCombine{.distance = DotProductSimilarity{}, .elementwise = false}}};
  for (const auto& [name, combine] : combos) {
    CAPTURE(name);
    const Index N = 3, D = 4;
    Sequential<double> net;
    net.add(Dense{.in = combine.features(D), .out = 2}).add(Tanh{});
    net.init(5);
    PairHead<double> head(combine, std::move(net));
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
    Tensor<double> ga(a.shape(), nan), gb(b.shape(), nan);  // assigned
    head.backward(R.view(), ws, ga.view(), gb.view());
    std::vector<double> gp(grads.begin(), grads.end());
    for (double& v : gp) v -= 0.25;
    CHECK_GRAD(compare_gradients(ga.span(), numeric_gradient(f, a.span()), name + " da"));
    CHECK_GRAD(compare_gradients(gb.span(), numeric_gradient(f, b.span()), name + " db"));
    CHECK_GRAD(compare_gradients(gp, numeric_gradient(f, head.net().params()), name + " params"));
  }
  auto h = make_similarity_head<float>(10, 1);
  CHECK(h.net().num_params() == 11);
  CHECK(h.combine().elementwise);
  CHECK(h.combine().distance.get_if<LpDistance>()->p == 1.0);
  Sequential<double> net;
  net.add(Dense{.in = 4, .out = 1});
  CHECK_THROWS_AS(PairHead<double>(PairCombine{.distance = CosineSimilarity{}}, std::move(net)), error);
}

TEST_CASE("ContrastiveLoss: against a naive loop, every distance, reduction and power") {
  Rng r(7);
  const Index N = 8, D = 3;
  auto a = rand_t(Shape{N, D}, r, 0.5), b = rand_t(Shape{N, D}, r, 0.5);
  const auto y = alternating(N);
  for (const std::string kind : kinds)
    for (double power : {1.0, 2.0, 1.5})
      for (Reduction red : every_reduction) {
        CAPTURE(kind);
        CAPTURE(power);
        CAPTURE(static_cast<int>(red));
        const Distance dist = make(kind);
        const bool inv = dist.is_inverted();
        // Margins in the distance's units: similarities pull same pairs above pos_margin.
        const double pm = inv ? 0.6 : 0.1, nm = inv ? 0.1 : 0.9;
        const ContrastiveLoss loss{.pos_margin = pm, .neg_margin = nm, .distance = dist, .power = power, .reduction = red};
        const auto res = loss(PairBatch<double>{.first = a.view(), .second = b.view(), .labels = y});
        double sum = 0;
        Index nonzero = 0;
        for (Index i = 0; i < N; ++i) {
          const double d = naive(kind, a.data() + i * D, b.data() + i * D, D);
          const bool same = is_same(y[static_cast<std::size_t>(i)]);
          const double h = inv ? (same ? pm - d : d - nm) : (same ? d - pm : nm - d);
          const double l = h > 0 ? std::pow(h, power) : 0.0;
          CHECK(res.per_sample[static_cast<std::size_t>(i)] == doctest::Approx(l));
          sum += l;
          nonzero += l > 0;
        }
        CHECK(res.value == doctest::Approx(reduced(red, sum, N, nonzero)));
        CHECK(res.active == nonzero);
        CHECK(res.count == N);

        Tensor<double> ga(a.shape(), nan), gb(b.shape(), nan);  // assigned
        loss(PairBatch<double>{.first = a.view(), .second = b.view(), .labels = y}, {.first = ga.view(), .second = gb.view()});
        if (kind == "L1") continue;  // |x| kinks make finite differences flaky; the values above suffice
        auto f = [&] { return loss(PairBatch<double>{.first = a.view(), .second = b.view(), .labels = y}).value; };
        CHECK_GRAD(compare_gradients(ga.span(), numeric_gradient(f, a.span()), "contrastive da"));
        CHECK_GRAD(compare_gradients(gb.span(), numeric_gradient(f, b.span()), "contrastive db"));
      }
}

TEST_CASE("ContrastiveLoss: identical embeddings, and a hinge exactly at its margin") {
  Rng r(8);
  auto a = rand_t(Shape{2, 3}, r);
  auto b = a;
  const std::vector<PairLabel> y{PairLabel::same, PairLabel::different};
  const ContrastiveLoss loss{.power = 2.0, .reduction = Reduction::mean};
  Tensor<double> ga(a.shape(), nan), gb(a.shape(), nan);
  const auto res = loss(PairBatch<double>{.first = a.view(), .second = b.view(), .labels = y}, {.first = ga.view(), .second = gb.view()});
  CHECK(std::isfinite(res.value));
  for (double v : ga) CHECK(std::isfinite(v));
  auto f = [&] { return loss(PairBatch<double>{.first = a.view(), .second = b.view(), .labels = y}).value; };
  CHECK_GRAD(compare_gradients(ga.span(), numeric_gradient(f, a.span()), "contrastive at d = 0"));

  // On distances: a hinge exactly at its margin contributes neither loss nor gradient, for a
  // distance and for a similarity.
  Tensor<double> d(Shape{2}), dd(Shape{2}, nan);
  d[0] = 0.0;  // same, pos_margin 0
  d[1] = 1.0;  // different, neg_margin 1
  const auto at = ContrastiveLoss{.reduction = Reduction::sum}.on_distances(d, y, dd.view());
  CHECK(at.value == 0.0);
  CHECK(dd[0] == 0.0);
  CHECK(dd[1] == 0.0);
  d[0] = 1.0;  // same, similarity at pos_margin 1
  d[1] = 0.0;  // different, similarity at neg_margin 0
  std::fill(dd.begin(), dd.end(), nan);
  const ContrastiveLoss cos{.pos_margin = 1.0, .neg_margin = 0.0, .distance = CosineSimilarity{}, .reduction = Reduction::sum};
  CHECK(cos.on_distances(d, y, dd.view()).value == 0.0);
  CHECK(dd[0] == 0.0);
  CHECK(dd[1] == 0.0);
  // Just inside: the similarity's slopes have the opposite sign of a distance's.
  d[0] = 0.9;
  d[1] = 0.2;
  cos.on_distances(d, y, dd.view());
  CHECK(dd[0] == doctest::Approx(-1.0));
  CHECK(dd[1] == doctest::Approx(1.0));
  CHECK_THROWS_AS(loss.on_distances(d, std::span<const PairLabel>(y.data(), 1)), shape_error);
}

TEST_CASE("TripletMarginLoss: against a naive loop and finite differences, every distance and option") {
  Rng r(10);
  const Index N = 5, D = 4;
  auto A = rand_t(Shape{N, D}, r), P = rand_t(Shape{N, D}, r), Ng = rand_t(Shape{N, D}, r);
  for (const std::string kind : kinds)
    for (bool swap : {false, true})
      for (bool soft : {false, true})
        for (Reduction red : every_reduction) {
          CAPTURE(kind);
          CAPTURE(swap);
          CAPTURE(soft);
          CAPTURE(static_cast<int>(red));
          const Distance dist = make(kind);
          const bool inv = dist.is_inverted();
          const TripletMarginLoss loss{.margin = 0.7, .distance = dist, .swap = swap, .soft_margin = soft, .reduction = red};
          auto batch = TripletBatch<double>{.anchor = A.view(), .positive = P.view(), .negative = Ng.view()};
          const auto res = loss(batch);
          double sum = 0;
          Index nz = 0;
          for (Index i = 0; i < N; ++i) {
            auto d = [&](const Tensor<double>& x, const Tensor<double>& y) { return naive(kind, x.data() + i * D, y.data() + i * D, D); };
            const double dap = d(A, P);
            double dan = d(A, Ng);
            if (swap) dan = inv ? std::max(dan, d(P, Ng)) : std::min(dan, d(P, Ng));
            const double z = inv ? dan - dap : dap - dan;
            const double l = soft ? std::log1p(std::exp(z)) : std::max(0.0, z + 0.7);
            CHECK(res.per_sample[static_cast<std::size_t>(i)] == doctest::Approx(l));
            sum += l;
            nz += l > 0;
          }
          CHECK(res.value == doctest::Approx(reduced(red, sum, N, nz)));
          if (kind == "L1") continue;  // kinks: the values above suffice
          Tensor<double> ga(A.shape(), nan), gp(A.shape(), nan), gn(A.shape(), nan);  // assigned
          loss(batch, {.anchor = ga.view(), .positive = gp.view(), .negative = gn.view()});
          auto f = [&] { return loss(batch).value; };
          CHECK_GRAD(compare_gradients(ga.span(), numeric_gradient(f, A.span()), "triplet d anchor"));
          CHECK_GRAD(compare_gradients(gp.span(), numeric_gradient(f, P.span()), "triplet d positive"));
          CHECK_GRAD(compare_gradients(gn.span(), numeric_gradient(f, Ng.span()), "triplet d negative"));
        }
}

TEST_CASE("TripletMarginLoss: PyTorch's defaults, and anchor == positive stays finite") {
  const TripletMarginLoss defaults;
  CHECK(defaults.margin == 1.0);
  CHECK_FALSE(defaults.swap);
  CHECK(defaults.reduction == Reduction::mean);
  CHECK(defaults.distance.get_if<LpDistance>()->p == 2.0);

  Rng r(13);
  auto A = rand_t(Shape{3, 4}, r), Ng = rand_t(Shape{3, 4}, r);
  auto P = A;
  for (bool soft : {false, true}) {
    auto batch = TripletBatch<double>{.anchor = A.view(), .positive = P.view(), .negative = Ng.view()};
    // Squared and guarded Euclidean are both smooth (or constant) at a == p, so finite
    // differences are valid there.
    for (const Distance& dist : {Distance(LpDistance{.squared = true}), Distance(LpDistance{})}) {
      const TripletMarginLoss loss{.distance = dist, .soft_margin = soft};
      Tensor<double> ga(A.shape(), nan), gp(A.shape(), nan), gn(A.shape(), nan);
      const auto res = loss(batch, {.anchor = ga.view(), .positive = gp.view(), .negative = gn.view()});
      CHECK(std::isfinite(res.value));
      for (Index i = 0; i < ga.size(); ++i) CHECK((std::isfinite(ga[i]) && std::isfinite(gp[i])));
      auto f = [&] { return loss(batch).value; };
      CHECK_GRAD(compare_gradients(ga.span(), numeric_gradient(f, A.span()), "a == p: d anchor"));
      CHECK_GRAD(compare_gradients(gn.span(), numeric_gradient(f, Ng.span()), "a == p: d negative"));
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
  for (const Distance& dist : {Distance(), Distance(CosineSimilarity{})}) {
    const TripletMarginLoss loss{.margin = 2.0, .distance = dist, .swap = true};
    Tensor<double> g(E.shape(), nan);
    const auto res = loss(E, triplets, g.view());
    CHECK(res.count == 24);
    auto f = [&] { return loss(E, triplets).value; };
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
  }
  const std::vector<int> one_class{3, 3, 3, 3, 3, 3};
  const auto none = AllTripletsMiner{}(one_class);
  CHECK(none.empty());
  for (Reduction red : every_reduction) {
    Tensor<double> g0(E.shape(), nan);
    const auto z = TripletMarginLoss{.reduction = red}(E, none, g0.view());
    CHECK(z.value == 0.0);
    CHECK(z.count == 0);
    for (double v : g0) CHECK(v == 0.0);
  }
  Tensor<double> bad(E.shape());
  const std::vector<Triplet> out_of_range{{0, 1, 6}};
  CHECK_THROWS_AS(TripletMarginLoss{}(E, out_of_range, bad.view()), shape_error);
}

TEST_CASE("BCEWithLogitsLoss: naive formula, pos_weight, every reduction, gradients, logits +-100 in float") {
  Rng r(12);
  const Index N = 6;
  auto x = rand_t(Shape{N, 1}, r, 3.0);
  std::vector<double> y{1, 0, 1, 0, 0.3, 1};
  for (double pw : {1.0, 2.5})
    for (Reduction red : every_reduction) {
      const BCEWithLogitsLoss loss{.pos_weight = pw, .reduction = red};
      const auto res = loss(x, y);
      double sum = 0;
      Index nz = 0;
      for (Index i = 0; i < N; ++i) {
        const double s = 1 / (1 + std::exp(-x[i]));
        const double yi = y[static_cast<std::size_t>(i)];
        const double l = -(pw * yi * std::log(s) + (1 - yi) * std::log(1 - s));
        CHECK(res.per_sample[static_cast<std::size_t>(i)] == doctest::Approx(l));
        sum += l;
        nz += l > 0;
      }
      CHECK(res.value == doctest::Approx(reduced(red, sum, N, nz)));
      Tensor<double> g(x.shape(), nan);
      loss(x, y, g.view());
      auto f = [&] { return loss(x, y).value; };
      CHECK_GRAD(compare_gradients(g.span(), numeric_gradient(f, x.span()), "bce dx"));
    }
  const BCEWithLogitsLoss defaults;
  CHECK(defaults.pos_weight == 1.0);
  CHECK(defaults.reduction == Reduction::mean);

  Tensor<float> big(Shape{4, 1});
  big[0] = 100.0f;
  big[1] = -100.0f;
  big[2] = 100.0f;
  big[3] = -100.0f;
  const std::vector<PairLabel> lab{PairLabel::same, PairLabel::same, PairLabel::different, PairLabel::different};
  Tensor<float> g(big.shape());
  const auto res = BCEWithLogitsLoss{.reduction = Reduction::none}(big, lab, g.view());
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

TEST_CASE("losses propagate NaN: a NaN embedding gives a NaN loss and NaN gradients, never 0") {
  // One NaN pixel upstream ends as a NaN in one embedding row. max(0, m - d) with d = NaN
  // reads 0, which made the triplet loss read its margin and the contrastive loss 0 with a
  // zero gradient; a training loop checking the loss for NaN then saw nothing.
  const Index N = 4, D = 3;
  Tensor<float> a(Shape{N, D}, 0.0f), b(Shape{N, D}, 0.0f);
  for (Index k = 0; k < D; ++k) b(1, k) = 0.1f;
  a(1, 2) = std::numeric_limits<float>::quiet_NaN();
  const std::vector<PairLabel> y{PairLabel::same, PairLabel::different, PairLabel::same, PairLabel::different};
  for (const Distance& dist : {Distance(), Distance(CosineSimilarity{}), Distance(LpDistance{.p = 1})})
    for (Reduction red : every_reduction) {
      CAPTURE(dist.str());
      CAPTURE(static_cast<int>(red));
      const ContrastiveLoss loss{.distance = dist, .reduction = red};
      Tensor<float> ga(a.shape(), 0.0f), gb(b.shape(), 0.0f);
      const auto r = loss(PairBatch<float>{.first = a.view(), .second = b.view(), .labels = y},
                          {.first = ga.view(), .second = gb.view()});
      CHECK(std::isnan(r.value));
      CHECK(std::isnan(r.per_sample[1]));
      CHECK(std::isfinite(r.per_sample[0]));
      bool nan_grad = false;
      for (Index k = 0; k < D; ++k) nan_grad = nan_grad || std::isnan(ga(1, k)) || std::isnan(gb(1, k));
      CHECK(nan_grad);
      Tensor<float> d(Shape{N}, 0.5f), dd(Shape{N}, 0.0f);
      d[1] = std::numeric_limits<float>::quiet_NaN();
      const auto rd = loss.on_distances(d, y, dd.view());
      CHECK(std::isnan(rd.value));
      CHECK(std::isnan(dd[1]));
    }

  // The triplet loss of a batch whose negative is NaN, and of a collapsed batch for contrast.
  Tensor<float> A(Shape{2, D}, 0.0f), P(Shape{2, D}, 0.0f), Ng(Shape{2, D}, 0.0f);
  Ng(0, 0) = std::numeric_limits<float>::quiet_NaN();
  for (bool soft : {false, true})
    for (bool swap : {false, true})
      for (Reduction red : every_reduction) {
        const TripletMarginLoss loss{.margin = 0.2, .swap = swap, .soft_margin = soft, .reduction = red};
        Tensor<float> ga(A.shape(), 0.0f), gp(A.shape(), 0.0f), gn(A.shape(), 0.0f);
        const auto r = loss(TripletBatch<float>{.anchor = A.view(), .positive = P.view(), .negative = Ng.view()},
                            {.anchor = ga.view(), .positive = gp.view(), .negative = gn.view()});
        CHECK(std::isnan(r.value));
        CHECK(std::isnan(r.per_sample[0]));
        CHECK(std::isfinite(r.per_sample[1]));
        CHECK(std::isnan(ga(0, 0)));
      }

  Tensor<float> logits(Shape{3, 1}, 0.5f);
  logits[1] = std::numeric_limits<float>::quiet_NaN();
  Tensor<float> dl(logits.shape(), 0.0f);
  const auto rb = BCEWithLogitsLoss{}(logits, std::span<const PairLabel>(y.data(), 3), dl.view());
  CHECK(std::isnan(rb.value));
  CHECK(std::isnan(dl[1]));
  CHECK(std::isfinite(dl[0]));
}

TEST_CASE("loss workspace: the same results as the owning form, and nothing reallocated after the first call") {
  Rng r(14);
  const Index N = 16, D = 5;
  auto a = rand_t(Shape{N, D}, r), b = rand_t(Shape{N, D}, r), c = rand_t(Shape{N, D}, r);
  const auto y = alternating(N);
  const ContrastiveLoss con{.distance = CosineSimilarity{}, .power = 2};
  const TripletMarginLoss tri{.margin = 0.5, .swap = true};
  const BCEWithLogitsLoss bce{.pos_weight = 2.0};
  Tensor<double> g1(a.shape()), g2(a.shape()), g3(a.shape()), h1(a.shape()), h2(a.shape()), h3(a.shape());
  LossWorkspace<double> ws;
  auto buffers = [&] {
    return std::vector<const void*>{ws.result.per_sample.data(), ws.distance.data(), ws.slope.data(),
                                    ws.target.data(), ws.swapped.data()};
  };
  const PairBatch<double> pairs{.first = a.view(), .second = b.view(), .labels = y};
  const TripletBatch<double> triplets{.anchor = a.view(), .positive = b.view(), .negative = c.view()};
  Tensor<double> logits(Shape{N, 1});
  for (Index i = 0; i < N; ++i) logits[i] = 3.0 * a[i];
  const TensorView<const double> lv = logits.view();
  Tensor<double> dl(Shape{N, 1}), dl2(Shape{N, 1});
  std::vector<const void*> first;
  for (int round = 0; round < 3; ++round) {
    const auto& rc = con(pairs, {.first = g1.view(), .second = g2.view()}, ws);
    const auto vc = rc.value;
    const auto& rt = tri(triplets, {.anchor = g1.view(), .positive = g2.view(), .negative = g3.view()}, ws);
    const auto vt = rt.value;
    const auto& rb = bce(lv, y, dl.view(), ws);
    CHECK(&rb == &ws.result);
    if (round == 0) first = buffers();
    else CHECK(buffers() == first);  // grow-only buffers, already large enough
    CHECK(con(pairs, {.first = h1.view(), .second = h2.view()}).value == vc);
    CHECK(tri(triplets, {.anchor = h1.view(), .positive = h2.view(), .negative = h3.view()}).value == vt);
    CHECK(bce(lv, y, dl2.view()).value == rb.value);
    for (Index i = 0; i < g3.size(); ++i) CHECK(g3[i] == h3[i]);
    for (Index i = 0; i < N; ++i) CHECK(dl[i] == dl2[i]);
  }
}

TEST_CASE("losses from several threads, one workspace each, give the serial results") {
  Rng r(15);
  const Index N = 32, D = 8;
  auto a = rand_t(Shape{N, D}, r), b = rand_t(Shape{N, D}, r), c = rand_t(Shape{N, D}, r);
  const auto y = alternating(N);
  const ContrastiveLoss con{.neg_margin = 2.0};
  const TripletMarginLoss tri{.margin = 1.0, .distance = LpDistance{.squared = true}};
  auto run = [&](LossWorkspace<double>& ws, Tensor<double>& g1, Tensor<double>& g2, Tensor<double>& g3) {
    double v = 0;
    for (int i = 0; i < 20; ++i) {
      v += con(PairBatch<double>{.first = a.view(), .second = b.view(), .labels = y}, {.first = g1.view(), .second = g2.view()}, ws).value;
      v += tri(TripletBatch<double>{.anchor = a.view(), .positive = b.view(), .negative = c.view()},
               {.anchor = g1.view(), .positive = g2.view(), .negative = g3.view()}, ws)
               .value;
    }
    return v;
  };
  LossWorkspace<double> serial_ws;
  Tensor<double> s1(a.shape()), s2(a.shape()), s3(a.shape());
  const double want = run(serial_ws, s1, s2, s3);
  std::vector<LossWorkspace<double>> ws(2);
  std::vector<Tensor<double>> g;
  g.reserve(6);
  for (int i = 0; i < 6; ++i) g.emplace_back(a.shape());
  double got[2] = {0, 0};
  std::thread t0([&] { got[0] = run(ws[0], g[0], g[1], g[2]); });
  std::thread t1([&] { got[1] = run(ws[1], g[3], g[4], g[5]); });
  t0.join();
  t1.join();
  CHECK(got[0] == want);
  CHECK(got[1] == want);
  for (Index i = 0; i < s3.size(); ++i) {
    CHECK(g[2][i] == s3[i]);
    CHECK(g[5][i] == s3[i]);
  }
}

}  // namespace test_siamese_losses
