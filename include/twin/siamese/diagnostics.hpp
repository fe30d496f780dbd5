#pragma once
// Training diagnostics for a Siamese batch, cheap enough for every step:
//   mean distance of positive (same) and negative (different) pairs, the fraction of pairs
//   or triplets still inside their margin (active: contributing gradient), embedding norms,
//   and a collapse warning.
//
// COLLAPSE. When a tower maps every input to (almost) the same point, all distances are ~0:
// a triplet loss then sits at exactly `margin` (d_ap - d_an + margin = margin) and a
// contrastive loss at its negative-margin term, whatever the batch; gradients vanish or
// point nowhere useful. `collapsed` is set when the spread of the embeddings (largest
// pairwise distance) is tiny against the margin, or when the positive and negative distances
// are indistinguishable while the loss is pinned within 1% of the margin.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <span>
#include <string>

#include "twin/siamese/batch.hpp"
#include "twin/siamese/pairwise_distance.hpp"

namespace twin {

struct SiameseDiagnostics {
  double mean_pos_distance = 0, mean_neg_distance = 0;
  Index pos_count = 0, neg_count = 0;
  double active_fraction = 0;  // pairs/triplets inside their margin
  double norm_mean = 0, norm_min = 0, norm_max = 0;
  double spread = 0;           // largest distance between any two embeddings of the batch
  bool collapsed = false;
  std::string warning;         // "" unless collapsed

  std::string str() const {
    char buf[320];
    std::snprintf(buf, sizeof buf, "d+ %.4f  d- %.4f  active %.1f%%  |e| %.3f [%.3f, %.3f]", mean_pos_distance,
                  mean_neg_distance, 100.0 * active_fraction, norm_mean, norm_min, norm_max);
    return warning.empty() ? std::string(buf) : std::string(buf) + "  WARNING: " + warning;
  }
};

namespace detail {
template <class T>
void norms_and_spread(TensorView<const T> e, SiameseDiagnostics& s) {
  const Index N = e.dim(0), D = e.dim(1);
  s.norm_min = N ? std::numeric_limits<double>::infinity() : 0.0;
  double sum = 0;
  for (Index i = 0; i < N; ++i) {
    double n2 = 0;
    for (Index k = 0; k < D; ++k) n2 += double(e(i, k)) * double(e(i, k));
    const double n = std::sqrt(n2);
    sum += n;
    s.norm_min = std::min(s.norm_min, n);
    s.norm_max = std::max(s.norm_max, n);
  }
  s.norm_mean = N ? sum / double(N) : 0.0;
  if (N > 1) {
    const auto d = pairwise_distances(e);
    for (T v : d) s.spread = std::max(s.spread, double(v));
  }
}
inline void check_collapse(SiameseDiagnostics& s, double margin, double loss) {
  const double tiny = 1e-3 * std::max(margin, 1e-12);
  const bool no_spread = s.spread < tiny;
  const bool pinned = std::isfinite(loss) && std::abs(loss - margin) <= 0.01 * margin &&
                      std::abs(s.mean_pos_distance - s.mean_neg_distance) <= 0.01 * margin;
  if (no_spread || pinned) {
    s.collapsed = true;
    s.warning = no_spread ? detail::concat("embeddings collapsed: every embedding within ", s.spread,
                                           " of the others (margin ", margin, ")")
                          : detail::concat("loss pinned at the margin (", loss, " vs ", margin,
                                           ") with equal positive and negative distances: embedding collapse");
  }
}
}  // namespace detail

// Pairs (e1[i], e2[i]) with labels, for a contrastive-style margin: positives are active
// when d > pos_margin, negatives when d < neg_margin. `loss` (per pair, mean) feeds the
// pinned-at-margin check against neg_margin; pass NaN to skip that check.
template <class T>
SiameseDiagnostics pair_diagnostics(const PairBatch<T>& in, double pos_margin, double neg_margin,
                                    double loss = std::numeric_limits<double>::quiet_NaN()) {
  detail::check_pair_shapes(in.first.shape(), in.second.shape(), "pair_diagnostics");
  SiameseDiagnostics s;
  const Index N = in.first.dim(0), D = in.first.dim(1);
  Index active = 0;
  for (Index i = 0; i < N; ++i) {
    double d2 = 0;
    for (Index k = 0; k < D; ++k) {
      const double v = double(in.first(i, k)) - double(in.second(i, k));
      d2 += v * v;
    }
    const double d = std::sqrt(d2);
    if (is_same(in.labels[static_cast<std::size_t>(i)])) {
      s.mean_pos_distance += d;
      ++s.pos_count;
      active += d > pos_margin;
    } else {
      s.mean_neg_distance += d;
      ++s.neg_count;
      active += d < neg_margin;
    }
  }
  if (s.pos_count) s.mean_pos_distance /= double(s.pos_count);
  if (s.neg_count) s.mean_neg_distance /= double(s.neg_count);
  s.active_fraction = N ? double(active) / double(N) : 0.0;
  Tensor<T> both(Shape{2 * N, D});
  std::copy(in.first.begin(), in.first.end(), both.data());
  std::copy(in.second.begin(), in.second.end(), both.data() + N * D);
  detail::norms_and_spread<T>(both.view(), s);
  detail::check_collapse(s, neg_margin, loss);
  return s;
}

// A labelled batch with (mined) triplets: positive/negative distances over the triplets,
// active = d_ap - d_an + margin > 0.
template <class T>
SiameseDiagnostics triplet_diagnostics(TensorView<const T> emb, std::span<const Triplet> triplets, double margin,
                                       double loss = std::numeric_limits<double>::quiet_NaN()) {
  SiameseDiagnostics s;
  const auto d = pairwise_distances(emb);
  Index active = 0;
  for (const Triplet& t : triplets) {
    const double dap = d(t.anchor, t.positive), dan = d(t.anchor, t.negative);
    s.mean_pos_distance += dap;
    s.mean_neg_distance += dan;
    active += dap - dan + margin > 0;
  }
  s.pos_count = s.neg_count = static_cast<Index>(triplets.size());
  if (!triplets.empty()) {
    s.mean_pos_distance /= double(triplets.size());
    s.mean_neg_distance /= double(triplets.size());
    s.active_fraction = double(active) / double(triplets.size());
  }
  detail::norms_and_spread<T>(emb, s);
  detail::check_collapse(s, margin, loss);
  return s;
}

}  // namespace twin
