#pragma once
// Verification metrics on distances (smaller = more likely the same writer).
#include <utility>
#include <vector>

namespace sigver {

struct RocSummary {
  double auc = 0, eer = 0, eer_threshold = 0;
  std::vector<std::pair<double, double>> curve;  // (FAR, TAR), from (0, 0) to (1, 1)
};
// Genuine-pair distances `same` against forgery distances `different`.
RocSummary roc_of_distances(const std::vector<float>& same, const std::vector<float>& different);
// Fraction of `different` accepted (d <= t), of `same` rejected (d > t).
double far_at(const std::vector<float>& different, double t);
double frr_at(const std::vector<float>& same, double t);

}  // namespace sigver
