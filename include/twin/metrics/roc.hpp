#pragma once
// ROC curve and AUC for verification scores.
//
// CONVENTION: a score is "higher = more likely the same" (a similarity, a logit, a
// probability). For a distance pass its negation. A pair is predicted `same` when
// score >= threshold. Labels are PairLabel (pair_label.hpp).
//
//   roc_curve   one point per distinct score, from threshold +inf (nothing accepted:
//               FAR 0, TPR 0) down to the lowest score (everything accepted: FAR 1, TPR 1).
//               Tied scores move together, so a tie between a same and a different pair is
//               a diagonal step.
//   auc         area under that curve by trapezoids: ties count one half, which equals the
//               Mann-Whitney probability P(score_same > score_diff) + 0.5 P(equal).
// FAR (false accept rate) = FPR = accepted different / all different;
// FRR (false reject rate) = 1 - TPR = rejected same / all same.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <span>
#include <vector>

#include "twin/error.hpp"
#include "twin/siamese/pair_label.hpp"

namespace twin::metrics {

struct RocPoint {
  double threshold;  // accept when score >= threshold
  double far;        // false accept rate (= false positive rate)
  double tpr;        // true positive rate (= 1 - FRR)
  double frr() const { return 1.0 - tpr; }
};

namespace detail {
inline void check_scores(std::span<const double> scores, std::span<const PairLabel> labels, const char* what,
                         bool need_both = true) {
  if (scores.size() != labels.size())
    throw shape_error(twin::detail::concat(what, ": ", scores.size(), " scores but ", labels.size(), " labels"));
  if (scores.empty()) throw error(twin::detail::concat(what, ": no scores"));
  for (double s : scores)
    if (std::isnan(s)) throw numeric_error(twin::detail::concat(what, ": a score is NaN"));
  if (need_both) {
    const auto pos = std::count(labels.begin(), labels.end(), PairLabel::same);
    if (pos == 0 || pos == static_cast<std::ptrdiff_t>(labels.size()))
      throw error(twin::detail::concat(what, ": needs both same and different pairs, got ", pos, " same of ",
                                       labels.size()));
  }
}
}  // namespace detail

inline std::vector<RocPoint> roc_curve(std::span<const double> scores, std::span<const PairLabel> labels) {
  detail::check_scores(scores, labels, "roc_curve");
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  double P = 0, N = 0;
  for (PairLabel l : labels) (is_same(l) ? P : N) += 1;
  std::vector<RocPoint> roc{{std::numeric_limits<double>::infinity(), 0.0, 0.0}};
  double tp = 0, fp = 0;
  for (std::size_t i = 0; i < order.size();) {
    const double t = scores[order[i]];
    for (; i < order.size() && scores[order[i]] == t; ++i) (is_same(labels[order[i]]) ? tp : fp) += 1;
    roc.push_back({t, fp / N, tp / P});
  }
  return roc;
}

inline double auc(std::span<const RocPoint> roc) {
  double a = 0;
  for (std::size_t i = 1; i < roc.size(); ++i)
    a += (roc[i].far - roc[i - 1].far) * (roc[i].tpr + roc[i - 1].tpr) / 2;
  return a;
}
inline double auc(std::span<const double> scores, std::span<const PairLabel> labels) {
  const auto roc = roc_curve(scores, labels);
  return auc(roc);
}

}  // namespace twin::metrics
