// Metrics on distances (metrics/distance.hpp) agree with the score forms on negated
// distances, thresholds included; all_pairs lists every i < j; one-shot episodes follow
// their protocol, are seeded, and score by distance.
#include <doctest/doctest.h>

#include <twin/metrics.hpp>

#include <cmath>
#include <set>
#include <vector>

namespace test_metrics_distance {  // file-local: the test files are compiled as unity batches

using namespace twin;
using namespace twin::metrics;
constexpr auto S = PairLabel::same, D = PairLabel::different;

TEST_CASE("distance forms: the score forms on -distance, thresholds as distances") {
  const std::vector<double> d{0.1, 0.4, 0.35, 0.8, 0.2, 0.9};
  const std::vector<PairLabel> y{S, S, D, D, S, D};
  std::vector<double> s;
  for (double v : d) s.push_back(-v);
  CHECK(auc_distance(d, y) == auc(s, y));
  // 8 of 9 (same, different) pairs ordered right: 0.4 (same) is farther than 0.35 (different).
  CHECK(auc_distance(d, y) == doctest::Approx(8.0 / 9.0));
  const auto e = eer_distance(d, y), es = eer(s, y);
  CHECK(e.eer == es.eer);
  CHECK(e.threshold == -es.threshold);
  CHECK(e.threshold > 0.2);
  CHECK(e.threshold < 0.8);
  const auto roc = roc_curve_distance(d, y);
  CHECK(roc.front().threshold == -std::numeric_limits<double>::infinity());  // accepts nothing
  CHECK(roc.front().far == 0.0);
  CHECK(roc.back().threshold == 0.9);  // accepts everything
  CHECK(roc.back().tpr == 1.0);
  // Accept when distance <= threshold: at 0.4 all same pairs and one different pair.
  CHECK(accuracy_at_distance(d, y, 0.4) == doctest::Approx(5.0 / 6.0));
  const auto ff = far_frr_at_distance(d, y, 0.4);
  CHECK(ff.far == doctest::Approx(1.0 / 3.0));
  CHECK(ff.frr == 0.0);
  const double t = choose_threshold_distance(d, y);
  CHECK(accuracy_at_distance(d, y, t) == doctest::Approx(5.0 / 6.0));
  CHECK(t == -choose_threshold(s, y));
}

TEST_CASE("all_pairs: every pair i < j of a distance matrix, labelled by class") {
  Tensor<float, 2> dm(Shape{3, 3});
  const float v[9] = {0, 1, 2, 1, 0, 3, 2, 3, 0};
  std::copy(v, v + 9, dm.data());
  const std::vector<int> labels{7, 7, 9};
  const auto p = all_pairs(dm, labels);
  CHECK(p.distances == std::vector<double>{1, 2, 3});
  CHECK(p.labels == std::vector<PairLabel>{S, D, D});
  CHECK_THROWS_AS(all_pairs(dm, std::vector<int>{1, 2}), shape_error);
  Tensor<float, 2> rect(Shape{2, 3});
  CHECK_THROWS_AS(all_pairs(rect, std::vector<int>{1, 2}), shape_error);
}

TEST_CASE("one-shot episodes: k classes, the query's reference is a different item of its class") {
  std::vector<int> labels;
  for (int c = 0; c < 6; ++c)
    for (int i = 0; i < 3 + c; ++i) labels.push_back(c * 10);
  labels.push_back(99);  // a class of one item: a candidate, never the truth
  const auto eps = one_shot_episodes(labels, {.ways = 4, .episodes = 600, .seed = 3});
  REQUIRE(eps.size() == 600);
  std::vector<int> at(4, 0);
  bool singleton_seen = false;
  for (const auto& e : eps) {
    REQUIRE(e.candidates.size() == 4);
    REQUIRE(e.correct < 4);
    ++at[e.correct];
    const Index ref = e.candidates[e.correct];
    CHECK(ref != e.query);
    CHECK(labels[std::size_t(ref)] == labels[std::size_t(e.query)]);
    CHECK(labels[std::size_t(e.query)] != 99);
    std::set<int> classes;
    for (Index c : e.candidates) {
      classes.insert(labels[std::size_t(c)]);
      singleton_seen = singleton_seen || labels[std::size_t(c)] == 99;
    }
    CHECK(classes.size() == 4);
  }
  CHECK(singleton_seen);
  for (int n : at) CHECK(n > 100);  // the reference's position is spread over the k slots
  // Seeded: the same options give the same episodes, another seed others.
  const auto again = one_shot_episodes(labels, {.ways = 4, .episodes = 600, .seed = 3});
  const auto other = one_shot_episodes(labels, {.ways = 4, .episodes = 600, .seed = 4});
  bool same = true, differs = false;
  for (std::size_t i = 0; i < eps.size(); ++i) {
    same = same && eps[i].query == again[i].query && eps[i].candidates == again[i].candidates;
    differs = differs || eps[i].candidates != other[i].candidates;
  }
  CHECK(same);
  CHECK(differs);
  CHECK_THROWS_AS(one_shot_episodes(labels, {.ways = 8}), error);
  CHECK_THROWS_AS(one_shot_episodes(std::vector<int>{1, 2, 3}, {.ways = 2}), error);  // no class of two
}

TEST_CASE("one-shot accuracy on distances: class distance gives 1, a constant gives 1/k") {
  std::vector<int> labels;
  for (int c = 0; c < 5; ++c)
    for (int i = 0; i < 4; ++i) labels.push_back(c);
  const Index n = static_cast<Index>(labels.size());
  Tensor<float, 2> by_class(Shape{n, n}), constant(Shape{n, n}, 1.0f);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < n; ++j) by_class(i, j) = labels[std::size_t(i)] == labels[std::size_t(j)] ? 0.1f : 1.0f;
  const auto eps = one_shot_episodes(labels, {.ways = 5, .episodes = 50, .seed = 1});
  CHECK(one_shot_accuracy_distance(eps, by_class.view()) == 1.0);
  CHECK(one_shot_accuracy_distance(eps, constant.view()) == doctest::Approx(0.2));
  const auto trials = one_shot_trials(eps, [&](Index i, Index j) { return double(by_class(i, j)); });
  CHECK(trials[0].scores[trials[0].correct] == doctest::Approx(-0.1));
  Tensor<float, 2> small(Shape{3, 3}, 0.f);
  CHECK_THROWS_AS(one_shot_accuracy_distance(eps, small.view()), shape_error);
}

}  // namespace test_metrics_distance

namespace test_cohort_norm {

using namespace twin;
using namespace twin::metrics;

TEST_CASE("cohort normalisation: mean and sample std of the distances to the cohort, z- and s-norm") {
  // Cohort rows on a line at 1, 2, 3, 6 from the origin; the embedding at the origin.
  Tensor<double, 2> cohort(Shape{4, 2}, 0.0);
  const double at[] = {1, 2, 3, 6};
  for (Index i = 0; i < 4; ++i) cohort(i, 0) = at[i];
  const double e[2] = {0, 0};
  const LpDistance l2{.eps = 0};
  const CohortStats s = cohort_stats(l2, e, TensorView<const double>(cohort.view()));
  CHECK(s.mean == doctest::Approx(3.0));
  CHECK(s.std == doctest::Approx(std::sqrt((4.0 + 1.0 + 0.0 + 9.0) / 3.0)));
  // Only the 2 closest rows (1 and 2); a top_k of 1 still takes 2 (a std needs two values);
  // a top_k of the cohort's size or more takes all.
  const CohortStats s2 = cohort_stats(l2, e, TensorView<const double>(cohort.view()), 2);
  CHECK(s2.mean == doctest::Approx(1.5));
  CHECK(s2.std == doctest::Approx(std::sqrt(0.5)));
  CHECK(cohort_stats(l2, e, TensorView<const double>(cohort.view()), 1).mean == doctest::Approx(1.5));
  CHECK(cohort_stats(l2, e, TensorView<const double>(cohort.view()), 9).mean == doctest::Approx(3.0));
  CHECK(z_norm(5.0, {3.0, 2.0}) == doctest::Approx(1.0));
  CHECK(s_norm(5.0, {3.0, 2.0}, {1.0, 1.0}) == doctest::Approx(2.5));
  CHECK(s_norm(5.0, {1.0, 1.0}, {3.0, 2.0}) == s_norm(5.0, {3.0, 2.0}, {1.0, 1.0}));  // symmetric
  // A cohort at one point: a finite, floored std.
  Tensor<double, 2> same(Shape{3, 2}, 1.0);
  const CohortStats p = cohort_stats(l2, e, TensorView<const double>(same.view()));
  CHECK(p.std == 1e-12);
  CHECK(std::isfinite(z_norm(0.0, p)));
  // Too small a cohort, a bad top_k.
  Tensor<double, 2> one(Shape{1, 2}, 0.0);
  CHECK_THROWS_AS(cohort_stats(l2, e, TensorView<const double>(one.view())), shape_error);
  CHECK_THROWS_AS(cohort_stats(l2, e, TensorView<const double>(cohort.view()), -1), error);
}

TEST_CASE("cohort normalisation makes one threshold serve two people of different spread") {
  // Person A's distances are small, person B's twice as large; the cohort sees the same.
  // Raw: no threshold separates both people's genuine (A 1, B 2) from their impostors
  // (A 1.5, B 3). Z-normalised by each reference's cohort statistics: one does.
  const CohortStats a{2.0, 0.5}, b{4.0, 1.0};
  CHECK(z_norm(1.0, a) < z_norm(1.5, a));
  CHECK(z_norm(2.0, b) < z_norm(1.5, a));  // B's genuine below A's impostor
  CHECK(z_norm(1.0, a) < z_norm(3.0, b));
}

}  // namespace test_cohort_norm
