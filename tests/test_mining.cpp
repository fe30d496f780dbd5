// Miners against brute force, the GEMM pairwise-distance kernel against a naive loop, and
// the collapse diagnostics.
#include <doctest/doctest.h>

#include <twin/siamese.hpp>

#include <cmath>
#include <vector>

namespace test_mining {  // file-local: the test files are compiled as unity batches

using namespace twin;

namespace {
double naive_dist(const Tensor<float>& e, Index i, Index j) {
  double s = 0;
  for (Index k = 0; k < e.dim(1); ++k) s += (double(e(i, k)) - e(j, k)) * (double(e(i, k)) - e(j, k));
  return std::sqrt(s);
}
Tensor<float> rand_emb(Index n, Index d, std::uint64_t seed) {
  Rng r(seed);
  Tensor<float> t(Shape{n, d});
  for (float& v : t) v = static_cast<float>(r.uniform(-1, 1));
  return t;
}
}  // namespace

TEST_CASE("pairwise distances via GEMM match a naive loop, clamp at 0, zero diagonal") {
  auto e = rand_emb(9, 5, 1);
  for (Index k = 0; k < 5; ++k) e(3, k) = e(4, k);  // two identical rows
  const auto d = pairwise_distances(e);
  for (Index i = 0; i < 9; ++i)
    for (Index j = 0; j < 9; ++j) {
      CHECK(d(i, j) >= 0.0f);
      CHECK(d(i, j) == doctest::Approx(naive_dist(e, i, j)).epsilon(1e-4).scale(1e-3));
    }
  for (Index i = 0; i < 9; ++i) CHECK(d(i, i) == 0.0f);
  CHECK(d(3, 4) == doctest::Approx(0.0).scale(1e-3));
  Tensor<float> y(Shape{4, 5}), out(Shape{9, 4});
  for (float& v : y) v = 0.5f;
  pairwise_squared_distances<float>(e.view(), y.view(), out.view());
  for (Index i = 0; i < 9; ++i)
    for (Index j = 0; j < 4; ++j) {
      double s = 0;
      for (Index k = 0; k < 5; ++k) s += (e(i, k) - 0.5) * (e(i, k) - 0.5);
      CHECK(out(i, j) == doctest::Approx(s).epsilon(1e-4));
    }
}

TEST_CASE("AllTripletsMiner: every valid triplet exactly once") {
  const std::vector<int> labels{0, 1, 0, 2, 1, 0};
  const auto t = AllTripletsMiner{}(labels);
  std::vector<Triplet> want;
  for (Index a = 0; a < 6; ++a)
    for (Index p = 0; p < 6; ++p)
      for (Index n = 0; n < 6; ++n)
        if (a != p && labels[a] == labels[p] && labels[n] != labels[a]) want.push_back({a, p, n});
  CHECK(t == want);
}

TEST_CASE("BatchHardMiner and SemiHardMiner against brute force") {
  for (std::uint64_t seed : {1u, 2u, 3u, 4u}) {
    auto e = rand_emb(12, 4, seed);
    Rng r(seed + 100);
    std::vector<int> labels(12);
    for (int& l : labels) l = static_cast<int>(r.below(4));
    labels[11] = 9;  // a singleton class: an anchor with no positive

    const auto hard = BatchHardMiner{}(e, labels);
    std::size_t k = 0;
    for (Index a = 0; a < 12; ++a) {
      double best_p = -1, best_n = 1e9;
      bool has_p = false, has_n = false;
      for (Index j = 0; j < 12; ++j) {
        if (j == a) continue;
        const double d = naive_dist(e, a, j);
        if (labels[j] == labels[a]) has_p = true, best_p = std::max(best_p, d);
        else has_n = true, best_n = std::min(best_n, d);
      }
      if (!has_p || !has_n) continue;
      REQUIRE(k < hard.size());
      CHECK(hard[k].anchor == a);
      CHECK(naive_dist(e, a, hard[k].positive) == doctest::Approx(best_p).epsilon(1e-4));
      CHECK(naive_dist(e, a, hard[k].negative) == doctest::Approx(best_n).epsilon(1e-4));
      CHECK(labels[hard[k].positive] == labels[a]);
      CHECK(labels[hard[k].negative] != labels[a]);
      ++k;
    }
    CHECK(k == hard.size());

    const double margin = 0.5;
    const auto semi = SemiHardMiner{.margin = margin}(e, labels);
    k = 0;
    for (Index a = 0; a < 12; ++a)
      for (Index p = 0; p < 12; ++p) {
        if (p == a || labels[p] != labels[a]) continue;
        const double dap = naive_dist(e, a, p);
        double semi_d = 1e9, hard_d = 1e9;
        for (Index n = 0; n < 12; ++n) {
          if (labels[n] == labels[a]) continue;
          const double dan = naive_dist(e, a, n);
          hard_d = std::min(hard_d, dan);
          if (dan > dap && dan < dap + margin) semi_d = std::min(semi_d, dan);
        }
        const double want = semi_d < 1e9 ? semi_d : hard_d;
        REQUIRE(k < semi.size());
        CHECK(semi[k].anchor == a);
        CHECK(semi[k].positive == p);
        CHECK(naive_dist(e, a, semi[k].negative) == doctest::Approx(want).epsilon(1e-4));
        ++k;
      }
    CHECK(k == semi.size());
  }
}

TEST_CASE("diagnostics: distances, active fraction, norms; collapse is flagged") {
  auto e = rand_emb(6, 3, 7);
  const std::vector<int> labels{0, 0, 1, 1, 2, 2};
  const auto t = BatchHardMiner{}(e, labels);
  const auto ok = triplet_diagnostics<float>(e.view(), t, 0.2, 0.1);
  CHECK_FALSE(ok.collapsed);
  CHECK(ok.norm_max >= ok.norm_mean);
  CHECK(ok.norm_mean >= ok.norm_min);
  CHECK(ok.str().find("WARNING") == std::string::npos);

  Tensor<float> same(Shape{6, 3}, 0.25f);  // every input mapped to one point
  const auto loss = TripletMarginLoss{.margin = 0.2}(same, std::span<const Triplet>(t));
  CHECK(loss.value == doctest::Approx(0.2).epsilon(1e-4));
  const auto bad = triplet_diagnostics<float>(same.view(), t, 0.2, loss.value);
  CHECK(bad.collapsed);
  CHECK(bad.str().find("WARNING") != std::string::npos);

  Tensor<float> e1(Shape{2, 2}, 0.0f), e2(Shape{2, 2}, 0.0f);
  e2(0, 0) = 0.5f;  // same pair at 0.5 (active: > pos_margin 0)
  e2(1, 0) = 2.0f;  // different pair at 2 (inactive: beyond neg_margin 1)
  const std::vector<PairLabel> y{PairLabel::same, PairLabel::different};
  const auto pd = pair_diagnostics<float>({.first = e1.view(), .second = e2.view(), .labels = y}, 0.0, 1.0);
  CHECK(pd.mean_pos_distance == doctest::Approx(0.5));
  CHECK(pd.mean_neg_distance == doctest::Approx(2.0));
  CHECK(pd.active_fraction == doctest::Approx(0.5));
  CHECK_FALSE(pd.collapsed);
}

}  // namespace test_mining
