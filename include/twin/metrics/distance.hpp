#pragma once
// The metrics of roc.hpp and threshold.hpp on distances ("lower = more likely same"), so a
// caller with embedding distances does not negate them by hand. Each *_distance function
// is its score form applied to -distance; thresholds come back as distances, and a pair is
// accepted (predicted same) when distance <= threshold.
//
//   auto pairs = twin::metrics::all_pairs(d.view(), labels);  // d (N, N): every i < j
//   double a = twin::metrics::auc_distance(pairs.distances, pairs.labels);
//   auto e = twin::metrics::eer_distance(pairs.distances, pairs.labels);  // e.threshold: a distance
//
//   roc_curve_distance   points from threshold -inf (accept nothing) up to the largest distance
//   auc_distance, eer_distance, accuracy_at_distance, far_frr_at_distance,
//   choose_threshold_distance   as their score forms
//   all_pairs            distances and same/different labels of every pair i < j of a
//                        symmetric (N, N) distance matrix and N class labels
#include <span>
#include <vector>

#include "twin/metrics/roc.hpp"
#include "twin/metrics/threshold.hpp"
#include "twin/tensor.hpp"

namespace twin::metrics {

namespace detail {
inline std::vector<double> negated(std::span<const double> d) {
  std::vector<double> s(d.size());
  for (std::size_t i = 0; i < d.size(); ++i) s[i] = -d[i];
  return s;
}
}  // namespace detail

inline std::vector<RocPoint> roc_curve_distance(std::span<const double> distances, std::span<const PairLabel> labels) {
  auto roc = roc_curve(detail::negated(distances), labels);
  for (auto& p : roc) p.threshold = -p.threshold;  // accept when distance <= threshold
  return roc;
}
inline double auc_distance(std::span<const double> distances, std::span<const PairLabel> labels) {
  return auc(detail::negated(distances), labels);
}
inline Eer eer_distance(std::span<const double> distances, std::span<const PairLabel> labels) {
  Eer e = eer(detail::negated(distances), labels);
  e.threshold = -e.threshold;
  return e;
}
inline double accuracy_at_distance(std::span<const double> distances, std::span<const PairLabel> labels,
                                   double threshold) {
  return accuracy_at(detail::negated(distances), labels, -threshold);
}
inline FarFrr far_frr_at_distance(std::span<const double> distances, std::span<const PairLabel> labels,
                                  double threshold) {
  return far_frr_at(detail::negated(distances), labels, -threshold);
}
inline double choose_threshold_distance(std::span<const double> distances, std::span<const PairLabel> labels,
                                        Criterion c = Criterion::accuracy) {
  return -choose_threshold(detail::negated(distances), labels, c);
}

struct PairDistances {
  std::vector<double> distances;  // N (N - 1) / 2, pair (i, j) for i < j in row order
  std::vector<PairLabel> labels;  // same when labels[i] == labels[j]
};

template <class T, int R>
PairDistances all_pairs(TensorView<T, R> d, std::span<const int> labels) {
  if (d.rank() != 2 || d.dim(0) != d.dim(1))
    throw shape_error(twin::detail::concat("all_pairs: expected a square (N, N) distance matrix, got ", d.shape().str()));
  const Index n = d.dim(0);
  if (static_cast<Index>(labels.size()) != n)
    throw shape_error(twin::detail::concat("all_pairs: ", n, " x ", n, " distances but ", labels.size(), " labels"));
  PairDistances out;
  out.distances.reserve(static_cast<std::size_t>(n * (n - 1) / 2));
  out.labels.reserve(out.distances.capacity());
  for (Index i = 0; i < n; ++i)
    for (Index j = i + 1; j < n; ++j) {
      out.distances.push_back(static_cast<double>(d(i, j)));
      out.labels.push_back(labels[static_cast<std::size_t>(i)] == labels[static_cast<std::size_t>(j)]
                               ? PairLabel::same
                               : PairLabel::different);
    }
  return out;
}
template <class T, int R>
PairDistances all_pairs(const Tensor<T, R>& d, std::span<const int> labels) {
  return all_pairs(d.view(), labels);
}

}  // namespace twin::metrics
