// Verification metrics against hand-computed values on small lists.
#include <doctest/doctest.h>

#include <twin/metrics.hpp>

#include <vector>

namespace test_metrics {  // file-local: the test files are compiled as unity batches

using namespace twin;
using namespace twin::metrics;

namespace {
constexpr PairLabel S = PairLabel::same, D = PairLabel::different;
}

TEST_CASE("ROC and AUC: hand-computed, no ties") {
  // scores 0.9 S, 0.8 D, 0.7 S, 0.6 S, 0.4 D, 0.2 D   (P = 3, N = 3)
  const std::vector<double> s{0.9, 0.8, 0.7, 0.6, 0.4, 0.2};
  const std::vector<PairLabel> y{S, D, S, S, D, D};
  const auto roc = roc_curve(s, y);
  REQUIRE(roc.size() == 7);
  const double far[] = {0, 0, 1. / 3, 1. / 3, 1. / 3, 2. / 3, 1};
  const double tpr[] = {0, 1. / 3, 1. / 3, 2. / 3, 1, 1, 1};
  for (int i = 0; i < 7; ++i) {
    CHECK(roc[i].far == doctest::Approx(far[i]));
    CHECK(roc[i].tpr == doctest::Approx(tpr[i]));
  }
  // Pairs (same, different) ordered correctly: 0.9 beats all 3, 0.7 and 0.6 beat 2 each -> 7 / 9.
  CHECK(auc(s, y) == doctest::Approx(7.0 / 9.0));
}

TEST_CASE("AUC with ties counts one half; perfect and reversed scores") {
  const std::vector<double> s{0.5, 0.5, 0.5, 0.5};
  const std::vector<PairLabel> y{S, D, S, D};
  CHECK(auc(s, y) == doctest::Approx(0.5));
  const std::vector<double> t{1.0, 0.5, 0.5, 0.0};  // S, S, D, D: one tied (S, D) pair of four
  const std::vector<PairLabel> yt{S, S, D, D};
  CHECK(auc(t, yt) == doctest::Approx((3 + 0.5) / 4));
  const std::vector<double> perfect{3, 2, 1, 0};
  CHECK(auc(perfect, yt) == doctest::Approx(1.0));
  const std::vector<double> reversed{0, 1, 2, 3};
  CHECK(auc(reversed, yt) == doctest::Approx(0.0));
  CHECK_THROWS_AS(auc(perfect, std::vector<PairLabel>{S, S, S, S}), error);
  CHECK_THROWS_AS(auc(std::vector<double>{1.0}, yt), shape_error);
}

TEST_CASE("FAR/FRR and accuracy at a threshold; EER and its threshold") {
  const std::vector<double> s{0.9, 0.8, 0.7, 0.6, 0.4, 0.2};
  const std::vector<PairLabel> y{S, D, S, S, D, D};
  auto ff = far_frr_at(s, y, 0.65);  // accept 0.9 S, 0.8 D, 0.7 S
  CHECK(ff.far == doctest::Approx(1. / 3));
  CHECK(ff.frr == doctest::Approx(1. / 3));
  CHECK(accuracy_at(s, y, 0.65) == doctest::Approx(4. / 6));
  CHECK(accuracy_at(s, y, 0.5) == doctest::Approx(5. / 6));
  // ROC points (FAR, FRR) at thresholds inf, .9, .8, .7: (0,1) (0,2/3) (1/3,2/3) (1/3,1/3).
  // FRR - FAR is 1/3 at 0.8 and 0 at 0.7: the EER is 1/3 at 0.7.
  const auto e = eer(s, y);
  CHECK(e.eer == doctest::Approx(1. / 3));
  CHECK(e.threshold == doctest::Approx(0.7));

  // An interpolated crossing: S 0.8, D 0.6, S 0.4, D 0.2. Points (FAR, FRR):
  // (0,1) (0,.5) (.5,.5) ... FRR - FAR hits 0 exactly at threshold 0.6: EER 0.5.
  const std::vector<double> s2{0.8, 0.6, 0.4, 0.2};
  const std::vector<PairLabel> y2{S, D, S, D};
  CHECK(eer(s2, y2).eer == doctest::Approx(0.5));
  CHECK(eer(s2, y2).threshold == doctest::Approx(0.6));
  // Perfect separation: EER 0.
  const std::vector<double> s3{0.9, 0.8, 0.3, 0.1};
  const std::vector<PairLabel> y3{S, S, D, D};
  CHECK(eer(s3, y3).eer == doctest::Approx(0.0));
  // A true interpolation: S 1.0, D 0.8 (tied with) S 0.8, D 0.0. Points (FAR, FRR):
  // (0,1) (0,.5) at 1.0, (.5,0) at 0.8: FRR - FAR goes .5 -> -.5, crossing half-way:
  // EER .25 at threshold .9.
  const std::vector<double> s4{1.0, 0.8, 0.8, 0.0};
  const std::vector<PairLabel> y4{S, D, S, D};
  CHECK(eer(s4, y4).eer == doctest::Approx(0.25));
  CHECK(eer(s4, y4).threshold == doctest::Approx(0.9));
}

TEST_CASE("choose_threshold: maximise accuracy on validation, or at the EER") {
  const std::vector<double> s{0.9, 0.8, 0.7, 0.6, 0.4, 0.2};
  const std::vector<PairLabel> y{S, D, S, S, D, D};
  const double t = choose_threshold(s, y);
  CHECK(t == doctest::Approx(0.5));  // between the lowest accepted (0.6) and the highest rejected (0.4)
  CHECK(accuracy_at(s, y, t) == doctest::Approx(5. / 6));
  CHECK(choose_threshold(s, y, Criterion::eer) == doctest::Approx(0.7));
  const std::vector<double> sep{0.9, 0.8, 0.3, 0.1};
  const std::vector<PairLabel> ysep{S, S, D, D};
  CHECK(choose_threshold(sep, ysep) == doctest::Approx(0.55));
}

TEST_CASE("k-way one-shot accuracy, with ties") {
  std::vector<OneShotTrial> trials{
      {{0.9, 0.1, 0.2}, 0},  // right
      {{0.1, 0.9, 0.2}, 0},  // wrong
      {{0.5, 0.5, 0.1}, 1},  // tie of two at the top: 1/2
      {{0.3, 0.3, 0.3}, 2},  // all tied: 1/3
  };
  CHECK(one_shot_accuracy(trials) == doctest::Approx((1 + 0 + 0.5 + 1.0 / 3) / 4));
  std::vector<OneShotTrial> bad{{{0.1}, 3}};
  CHECK_THROWS_AS(one_shot_accuracy(bad), shape_error);
}

}  // namespace test_metrics
