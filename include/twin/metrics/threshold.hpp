#pragma once
// Decisions at a threshold, and choosing the threshold on validation data.
// Scores are "higher = more likely same"; a pair is accepted (predicted same) when
// score >= threshold (see roc.hpp).
//
//   accuracy_at(s, y, t)     fraction of pairs decided correctly
//   far_frr_at(s, y, t)      {FAR, FRR} at t
//   eer(s, y)                equal error rate and its threshold: the ROC is walked from the
//                            strictest threshold down until FRR - FAR changes sign, and both
//                            are interpolated linearly between the two ROC points around the
//                            crossing (the threshold likewise)
//   choose_threshold(s, y, Criterion::accuracy | Criterion::eer)
//                            accuracy: the threshold maximising accuracy on these (validation)
//                            scores, placed half-way between the lowest accepted and the
//                            highest rejected score so it generalises; ties go to the higher
//                            threshold. eer: eer(s, y).threshold.
#include <cmath>
#include <limits>
#include <span>
#include <vector>

#include "twin/metrics/roc.hpp"

namespace twin::metrics {

inline double accuracy_at(std::span<const double> scores, std::span<const PairLabel> labels, double threshold) {
  detail::check_scores(scores, labels, "accuracy_at", false);
  std::size_t ok = 0;
  for (std::size_t i = 0; i < scores.size(); ++i) ok += (scores[i] >= threshold) == is_same(labels[i]);
  return static_cast<double>(ok) / static_cast<double>(scores.size());
}

struct FarFrr {
  double far = 0, frr = 0;
};
inline FarFrr far_frr_at(std::span<const double> scores, std::span<const PairLabel> labels, double threshold) {
  detail::check_scores(scores, labels, "far_frr_at");
  double fa = 0, fr = 0, P = 0, N = 0;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    const bool accept = scores[i] >= threshold;
    if (is_same(labels[i])) {
      P += 1;
      fr += !accept;
    } else {
      N += 1;
      fa += accept;
    }
  }
  return {fa / N, fr / P};
}

struct Eer {
  double eer = 0;
  double threshold = 0;
};
inline Eer eer(std::span<const double> scores, std::span<const PairLabel> labels) {
  const auto roc = roc_curve(scores, labels);
  for (std::size_t i = 1; i < roc.size(); ++i) {
    const double d0 = roc[i - 1].frr() - roc[i - 1].far, d1 = roc[i].frr() - roc[i].far;
    if (d1 > 0) continue;
    const double a = d0 == d1 ? 0.0 : d0 / (d0 - d1);  // fraction of the way to point i
    const double e = roc[i - 1].far + a * (roc[i].far - roc[i - 1].far);
    // The first point's threshold is +inf: interpolate from point i's threshold instead.
    const double t0 = std::isinf(roc[i - 1].threshold) ? roc[i].threshold : roc[i - 1].threshold;
    return {e, t0 + a * (roc[i].threshold - t0)};
  }
  return {0.0, roc.back().threshold};  // unreachable: the last point has FRR 0 <= FAR
}

enum class Criterion { accuracy, eer };

inline double choose_threshold(std::span<const double> scores, std::span<const PairLabel> labels,
                               Criterion c = Criterion::accuracy) {
  if (c == Criterion::eer) return eer(scores, labels).threshold;
  const auto roc = roc_curve(scores, labels);
  double P = 0;
  for (PairLabel l : labels) P += is_same(l);
  const double N = static_cast<double>(labels.size()) - P;
  std::size_t best = 0;
  double best_acc = -1;
  for (std::size_t i = 0; i < roc.size(); ++i) {
    const double acc = (roc[i].tpr * P + (1 - roc[i].far) * N) / (P + N);
    if (acc > best_acc) best_acc = acc, best = i;
  }
  // Point best accepts scores >= roc[best].threshold; the highest rejected score is the
  // next point's threshold. Place the threshold half-way between them.
  if (best == 0) return std::nextafter(roc[1].threshold, std::numeric_limits<double>::infinity());  // reject all
  if (best + 1 == roc.size()) return roc[best].threshold;  // accept all
  return (roc[best].threshold + roc[best + 1].threshold) / 2;
}

}  // namespace twin::metrics
