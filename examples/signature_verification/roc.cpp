// Distances (smaller = same) adapted to twin::metrics, whose scores are "higher = same":
// score = -distance, so the threshold on scores is the negated distance threshold.
#include "roc.hpp"

#include <algorithm>

#include <twin/metrics/roc.hpp>
#include <twin/metrics/threshold.hpp>

namespace sigver {

RocSummary roc_of_distances(const std::vector<float>& same, const std::vector<float>& different) {
  if (same.empty() || different.empty())
    throw twin::error("ROC needs genuine and forgery pairs (got " + std::to_string(same.size()) + " and " +
                      std::to_string(different.size()) + ")");
  std::vector<double> scores;
  std::vector<twin::PairLabel> labels;
  for (float d : same) scores.push_back(-d), labels.push_back(twin::PairLabel::same);
  for (float d : different) scores.push_back(-d), labels.push_back(twin::PairLabel::different);
  const auto roc = twin::metrics::roc_curve(scores, labels);
  const auto e = twin::metrics::eer(scores, labels);
  RocSummary r;
  r.auc = twin::metrics::auc(roc);
  r.eer = e.eer;
  r.eer_threshold = -e.threshold;
  for (const auto& p : roc) r.curve.emplace_back(p.far, p.tpr);
  return r;
}

double far_at(const std::vector<float>& different, double t) {
  if (different.empty()) return 0;
  return static_cast<double>(std::count_if(different.begin(), different.end(), [&](float d) { return d <= t; })) /
         static_cast<double>(different.size());
}
double frr_at(const std::vector<float>& same, double t) {
  if (same.empty()) return 0;
  return static_cast<double>(std::count_if(same.begin(), same.end(), [&](float d) { return d > t; })) /
         static_cast<double>(same.size());
}

}  // namespace sigver
