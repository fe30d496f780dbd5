#pragma once
// Score normalisation against a cohort (speaker and signature verification: Auckenthaler et
// al. 2000 "z-norm"; Kenny 2010 symmetric "s-norm"). A raw distance d(a, b) means different
// things for different people: a writer with a variable hand, or an embedding in a crowded
// region, has larger distances to everything. Normalising d by how far each side lies from
// a fixed cohort of other people's samples makes one global threshold transfer across them.
//
//   CohortStats s = cohort_stats(dist, a, cohort);   // mean and std of d(a, c) over cohort rows c
//   z_norm(d, s)       = (d - s.mean) / s.std        (one side: the reference)
//   s_norm(d, sa, sb)  = (z_norm(d, sa) + z_norm(d, sb)) / 2   (symmetric in a and b)
//
// With top_k > 0 only the k cohort rows closest to the embedding count ("adaptive"
// normalisation, Sturim and Reynolds 2005). The result is a distance-like score: lower means
// more likely the same person, and it may be negative. The std is floored at 1e-12 so that a
// cohort at one point gives large but finite scores. `dist` is any distance with
// row(a, b, D) (twin/siamese/distance.hpp). Needs 2 or more cohort rows.
#include <algorithm>
#include <cmath>
#include <vector>

#include "twin/error.hpp"
#include "twin/tensor.hpp"

namespace twin::metrics {

struct CohortStats {
  double mean = 0;
  double std = 1;
};

// cohort (C, D); e points at D values.
template <class Dist, class T>
CohortStats cohort_stats(const Dist& dist, const T* e, TensorView<const T> cohort, Index top_k = 0) {
  if (cohort.rank() != 2 || cohort.dim(0) < 2)
    throw shape_error(twin::detail::concat("cohort_stats: expected a cohort (C, D) with C >= 2, got ", cohort.shape().str()));
  if (top_k < 0) throw error(twin::detail::concat("cohort_stats: top_k must be >= 0, got ", top_k));
  const Index C = cohort.dim(0), D = cohort.dim(1);
  std::vector<double> d(static_cast<std::size_t>(C));
  for (Index c = 0; c < C; ++c) d[static_cast<std::size_t>(c)] = static_cast<double>(dist.row(e, cohort.data() + c * D, D));
  Index k = C;
  if (top_k > 0 && top_k < C) {
    k = std::max<Index>(top_k, 2);
    std::partial_sort(d.begin(), d.begin() + k, d.end());
  }
  double s = 0, s2 = 0;
  for (Index i = 0; i < k; ++i) s += d[static_cast<std::size_t>(i)];
  const double mean = s / static_cast<double>(k);
  for (Index i = 0; i < k; ++i) s2 += (d[static_cast<std::size_t>(i)] - mean) * (d[static_cast<std::size_t>(i)] - mean);
  return {mean, std::max(std::sqrt(s2 / static_cast<double>(k - 1)), 1e-12)};
}

inline double z_norm(double d, const CohortStats& s) { return (d - s.mean) / s.std; }
inline double s_norm(double d, const CohortStats& a, const CohortStats& b) { return 0.5 * (z_norm(d, a) + z_norm(d, b)); }

}  // namespace twin::metrics
