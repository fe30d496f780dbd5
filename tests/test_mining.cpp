// Miners against brute force on every distance, the GEMM pairwise-distance kernel against a
// naive loop, miners refusing NaN, and the diagnostics (collapse, and NaN that is not one).
#include <doctest/doctest.h>

#include <twin/siamese.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace test_mining {  // file-local: the test files are compiled as unity batches

using namespace twin;

namespace {
double naive_dist(const Tensor<float>& e, Index i, Index j) {
  double s = 0;
  for (Index k = 0; k < e.dim(1); ++k) s += (double(e(i, k)) - e(j, k)) * (double(e(i, k)) - e(j, k));
  return std::sqrt(s);
}
// The brute-force oracle's distance in double, for each kind the miners are tested with.
double naive_kind(const std::string& kind, const Tensor<float>& e, Index i, Index j) {
  double ab = 0, aa = 0, bb = 0;
  for (Index k = 0; k < e.dim(1); ++k) ab += double(e(i, k)) * e(j, k), aa += double(e(i, k)) * e(i, k), bb += double(e(j, k)) * e(j, k);
  if (kind == "L2") return naive_dist(e, i, j);
  if (kind == "L2 squared") return naive_dist(e, i, j) * naive_dist(e, i, j);
  if (kind == "cosine") return ab / std::sqrt(aa * bb);
  return ab;
}
Distance make(const std::string& kind) {
  if (kind == "L2") return LpDistance{};
  if (kind == "L2 squared") return LpDistance{.squared = true};
  if (kind == "cosine") return CosineSimilarity{};
  return DotProductSimilarity{};
}
Tensor<float> rand_emb(Index n, Index d, std::uint64_t seed) {
  Rng r(seed);
  Tensor<float> t(Shape{n, d});
  for (float& v : t) v = static_cast<float>(r.uniform(-1, 1));
  return t;
}
}  // namespace

TEST_CASE("pairwise distances via GEMM match a naive loop, clamp at 0, guarded diagonal") {
  auto e = rand_emb(9, 5, 1);
  for (Index k = 0; k < 5; ++k) e(3, k) = e(4, k);  // two identical rows
  const auto d = pairwise_distances(e);
  for (Index i = 0; i < 9; ++i)
    for (Index j = 0; j < 9; ++j) {
      CHECK(d(i, j) >= 0.0f);
      const double guarded = std::sqrt(std::max(naive_dist(e, i, j) * naive_dist(e, i, j), 1e-7));
      CHECK(d(i, j) == doctest::Approx(guarded).epsilon(1e-4).scale(1e-3));
    }
  for (Index i = 0; i < 9; ++i) CHECK(d(i, i) == doctest::Approx(std::sqrt(1e-7)));  // the Euclidean guard
  CHECK(d(3, 4) == doctest::Approx(std::sqrt(1e-7)));
  const auto sq = pairwise_distances(e, LpDistance{.squared = true});
  for (Index i = 0; i < 9; ++i) CHECK(sq(i, i) == 0.0f);
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

TEST_CASE("BatchHardMiner and SemiHardMiner against brute force, every distance") {
  for (const std::string kind : {"L2", "L2 squared", "cosine", "dot"})
    for (std::uint64_t seed : {1u, 2u, 3u, 4u}) {
      CAPTURE(kind);
      CAPTURE(seed);
      const Distance dist = make(kind);
      const bool inv = dist.is_inverted();
      // "closer" and "farther by" for the oracle, written out for both kinds.
      auto closer = [inv](double x, double y) { return inv ? x > y : x < y; };
      auto beyond = [inv](double x, double y) { return inv ? y - x : x - y; };
      auto e = rand_emb(12, 4, seed);
      Rng r(seed + 100);
      std::vector<int> labels(12);
      for (int& l : labels) l = static_cast<int>(r.below(4));
      labels[11] = 9;  // a singleton class: an anchor with no positive
      auto d = [&](Index i, Index j) { return naive_kind(kind, e, i, j); };
      auto near = [](double got, double want) { return got == doctest::Approx(want).epsilon(1e-4).scale(1e-4); };

      const auto hard = BatchHardMiner{.distance = dist}(e, labels);
      std::size_t k = 0;
      for (Index a = 0; a < 12; ++a) {
        Index bp = -1, bn = -1;
        for (Index j = 0; j < 12; ++j) {
          if (j == a) continue;
          if (labels[j] == labels[a]) {
            if (bp < 0 || closer(d(a, bp), d(a, j))) bp = j;
          } else if (bn < 0 || closer(d(a, j), d(a, bn))) {
            bn = j;
          }
        }
        if (bp < 0 || bn < 0) continue;
        REQUIRE(k < hard.size());
        CHECK(hard[k].anchor == a);
        CHECK(near(d(a, hard[k].positive), d(a, bp)));
        CHECK(near(d(a, hard[k].negative), d(a, bn)));
        CHECK(labels[hard[k].positive] == labels[a]);
        CHECK(labels[hard[k].negative] != labels[a]);
        ++k;
      }
      CHECK(k == hard.size());

      const double margin = kind == "dot" ? 0.3 : 0.5;
      const auto semi = SemiHardMiner{.margin = margin, .distance = dist}(e, labels);
      k = 0;
      for (Index a = 0; a < 12; ++a)
        for (Index p = 0; p < 12; ++p) {
          if (p == a || labels[p] != labels[a]) continue;
          const double dap = d(a, p);
          Index sn = -1, hn = -1;
          for (Index n = 0; n < 12; ++n) {
            if (labels[n] == labels[a]) continue;
            const double dan = d(a, n);
            if (hn < 0 || closer(dan, d(a, hn))) hn = n;
            if (beyond(dan, dap) > 0 && beyond(dan, dap) < margin && (sn < 0 || closer(dan, d(a, sn)))) sn = n;
          }
          REQUIRE(k < semi.size());
          CHECK(semi[k].anchor == a);
          CHECK(semi[k].positive == p);
          CHECK(near(d(a, semi[k].negative), d(a, sn >= 0 ? sn : hn)));
          ++k;
        }
      CHECK(k == semi.size());
    }
}

TEST_CASE("miners: the workspace form gives the same triplets, takes any view, and reallocates nothing") {
  auto e = rand_emb(16, 6, 5);
  const std::vector<int> labels{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3};
  MinerWorkspace<float> ws;
  const SemiHardMiner semi{.margin = 0.3};
  const BatchHardMiner hard{.distance = CosineSimilarity{}};
  const TensorView<float> mutable_view = e.view();
  const TensorView<const float> const_view = e.view();
  const auto want_semi = semi(e, labels), want_hard = hard(const_view, labels);
  const void* first = nullptr;
  for (int round = 0; round < 3; ++round) {
    const auto s = semi(mutable_view, labels, ws);
    CHECK(std::vector<Triplet>(s.begin(), s.end()) == want_semi);
    const auto h = hard(e, labels, ws);
    CHECK(std::vector<Triplet>(h.begin(), h.end()) == want_hard);
    if (round == 0) first = ws.distances.data();
    CHECK(ws.distances.data() == first);
  }
  const auto all = AllTripletsMiner{}(mutable_view, labels, ws);
  CHECK(all.size() == 16 * 3 * 12);
}

TEST_CASE("miners refuse NaN and Inf embeddings with numeric_error naming the row") {
  auto e = rand_emb(8, 3, 6);
  const std::vector<int> labels{0, 0, 1, 1, 2, 2, 3, 3};
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    auto x = e;
    x(5, 1) = bad;
    for (const Distance& dist : {Distance(), Distance(CosineSimilarity{})}) {
      CHECK_THROWS_WITH_AS(BatchHardMiner{.distance = dist}(x, labels), doctest::Contains("BatchHardMiner: embedding row 5"),
                           numeric_error);
      CHECK_THROWS_WITH_AS(SemiHardMiner{.distance = dist}(x, labels), doctest::Contains("SemiHardMiner: embedding row 5"),
                           numeric_error);
    }
    CHECK_THROWS_AS(AllTripletsMiner{}(x, labels), numeric_error);
  }
  // Finite embeddings whose distance overflows to NaN (inf - inf in the GEMM expansion).
  Tensor<float> huge(Shape{4, 2}, 3e38f);
  huge(1, 0) = -3e38f;
  CHECK_THROWS_WITH_AS(BatchHardMiner{}(huge, std::vector<int>{0, 0, 1, 1}), doctest::Contains("is NaN"), numeric_error);
}

TEST_CASE("diagnostics: distances, active fraction, norms; collapse is flagged") {
  auto e = rand_emb(6, 3, 7);
  const std::vector<int> labels{0, 0, 1, 1, 2, 2};
  const auto t = BatchHardMiner{}(e, labels);
  const auto ok = triplet_diagnostics(e.view(), t, {.margin = 0.2, .loss = 0.1});
  CHECK_FALSE(ok.collapsed);
  CHECK(ok.norm_max >= ok.norm_mean);
  CHECK(ok.norm_mean >= ok.norm_min);
  CHECK(ok.str().find("WARNING") == std::string::npos);

  Tensor<float> same(Shape{6, 3}, 0.25f);  // every input mapped to one point
  const auto loss = TripletMarginLoss{.margin = 0.2}(same, t);
  CHECK(loss.value == doctest::Approx(0.2).epsilon(1e-4));
  const auto bad = triplet_diagnostics(same, t, {.margin = 0.2, .loss = loss.value});
  CHECK(bad.collapsed);
  CHECK(bad.str().find("WARNING") != std::string::npos);

  Tensor<float> e1(Shape{2, 2}, 0.0f), e2(Shape{2, 2}, 0.0f);
  e2(0, 0) = 0.5f;  // same pair at 0.5 (active: > pos_margin 0)
  e2(1, 0) = 2.0f;  // different pair at 2 (inactive: beyond neg_margin 1)
  const std::vector<PairLabel> y{PairLabel::same, PairLabel::different};
  const auto pd = pair_diagnostics<float>({.first = e1.view(), .second = e2.view(), .labels = y}, {.pos_margin = 0.0, .neg_margin = 1.0});
  CHECK(pd.mean_pos_distance == doctest::Approx(0.5));
  CHECK(pd.mean_neg_distance == doctest::Approx(2.0));
  CHECK(pd.active_fraction == doctest::Approx(0.5));
  CHECK_FALSE(pd.collapsed);
}

TEST_CASE("diagnostics: any view, any distance; a NaN batch is reported as non-finite, not as collapse") {
  auto e = rand_emb(6, 3, 8);
  const std::vector<int> labels{0, 0, 1, 1, 2, 2};
  const auto t = BatchHardMiner{.distance = CosineSimilarity{}}(e, labels);
  const TensorView<float> mutable_view = e.view();
  const auto a = triplet_diagnostics(mutable_view, t, {.distance = CosineSimilarity{}, .margin = 0.2});
  const auto b = triplet_diagnostics(e, t, {.distance = CosineSimilarity{}, .margin = 0.2});
  CHECK(a.mean_pos_distance == b.mean_pos_distance);
  // Cosine similarities of the mined triplets: the hardest positive is the least similar.
  double pos = 0;
  for (const Triplet& x : t) pos += CosineSimilarity{}.row(e.data() + x.anchor * 3, e.data() + x.positive * 3, 3);
  CHECK(a.mean_pos_distance == doctest::Approx(pos / double(t.size())).epsilon(1e-4));
  CHECK_FALSE(a.collapsed);
  Tensor<float> one_dir(Shape{6, 3});
  for (Index i = 0; i < 6; ++i)
    for (Index k = 0; k < 3; ++k) one_dir(i, k) = float(i + 1) * 0.5f;  // one direction, different norms
  CHECK(triplet_diagnostics(one_dir, t, {.distance = CosineSimilarity{}, .margin = 0.2}).collapsed);
  CHECK_FALSE(triplet_diagnostics(one_dir, t, {.margin = 0.2}).collapsed);  // Euclidean: not collapsed

  // One NaN in one embedding: every comparison with NaN is false, which used to read as zero
  // spread, i.e. "collapse".
  auto x = e;
  x(2, 1) = std::numeric_limits<float>::quiet_NaN();
  const auto n = triplet_diagnostics(x, t, {.margin = 0.2, .loss = 0.2});
  CHECK_FALSE(n.collapsed);
  CHECK(n.non_finite_rows == 1);
  CHECK(n.str().find("non-finite") != std::string::npos);
  Tensor<float> all_nan(Shape{6, 3}, std::numeric_limits<float>::quiet_NaN());
  const auto m = triplet_diagnostics(all_nan, t, {.margin = 0.2, .loss = 0.2});
  CHECK_FALSE(m.collapsed);
  CHECK(m.non_finite_rows == 6);
  Tensor<float> e1(Shape{2, 2}, 0.0f), e2(Shape{2, 2}, std::numeric_limits<float>::quiet_NaN());
  const std::vector<PairLabel> y{PairLabel::same, PairLabel::different};
  const auto p = pair_diagnostics<float>({.first = e1.view(), .second = e2.view(), .labels = y});
  CHECK_FALSE(p.collapsed);
  CHECK(p.non_finite_rows == 2);
  CHECK_THROWS_AS(triplet_diagnostics(e, std::vector<Triplet>{{0, 1, 7}}), shape_error);
}

}  // namespace test_mining
