#pragma once
// Training diagnostics for a Siamese batch, cheap enough for every step:
//   mean distance of positive (same) and negative (different) pairs, the fraction of pairs
//   or triplets still inside their margin (active: contributing gradient), embedding norms,
//   and a collapse warning. Distances and margins are those of the loss: pass its Distance.
//
// COLLAPSE. When a tower maps every input to (almost) the same point, all distances are ~0:
// a triplet loss then sits at exactly `margin` (d_ap - d_an + margin = margin) and a
// contrastive loss at its negative-margin term, whatever the batch; gradients vanish or
// point nowhere useful. `collapsed` is set when the spread of the embeddings is tiny against
// the margin, or when the positive and negative distances are indistinguishable while the
// loss is pinned within 1% of the margin. The spread is the largest farther_by(d(i, j),
// d(i, i)) over the batch: how far the two most distant embeddings are from identical, in
// the distance's units (the largest distance, for LpDistance).
//
// NON-FINITE EMBEDDINGS are not a collapse: a NaN compares false with everything, so a NaN
// batch would otherwise look like zero spread. When any embedding entry is NaN or Inf,
// `non_finite_rows` counts the rows, `collapsed` stays false and `warning` says so; the
// distances and norms are then NaN or Inf as computed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <span>
#include <string>

#include "twin/siamese/batch.hpp"
#include "twin/siamese/distance.hpp"
#include "twin/siamese/view_arg.hpp"

namespace twin {

struct SiameseDiagnostics {
  double mean_pos_distance = 0, mean_neg_distance = 0;
  Index pos_count = 0, neg_count = 0;
  double active_fraction = 0;  // pairs/triplets inside their margin
  double norm_mean = 0, norm_min = 0, norm_max = 0;
  double spread = 0;           // see COLLAPSE above
  Index non_finite_rows = 0;   // embedding rows holding a NaN or Inf
  bool collapsed = false;
  std::string warning;         // "" unless collapsed or non-finite

  std::string str() const {
    char buf[320];
    std::snprintf(buf, sizeof buf, "d+ %.4f  d- %.4f  active %.1f%%  |e| %.3f [%.3f, %.3f]", mean_pos_distance,
                  mean_neg_distance, 100.0 * active_fraction, norm_mean, norm_min, norm_max);
    return warning.empty() ? std::string(buf) : std::string(buf) + "  WARNING: " + warning;
  }
};

// For pairs (e1[i], e2[i]) under a contrastive-style margin: positives are active when
// farther_by(d, pos_margin) > 0, negatives when farther_by(neg_margin, d) > 0 (ContrastiveLoss).
// `loss` (per pair, mean) feeds the pinned-at-margin check against neg_margin; NaN skips it.
struct PairDiagnosticsOptions {
  Distance distance{};
  double pos_margin = 0.0;
  double neg_margin = 1.0;
  double loss = std::numeric_limits<double>::quiet_NaN();
};
// For (mined) triplets: active when farther_by(d_ap, d_an) + margin > 0 (TripletMarginLoss).
struct TripletDiagnosticsOptions {
  Distance distance{};
  double margin = 1.0;
  double loss = std::numeric_limits<double>::quiet_NaN();
};

namespace detail {
// Norms, spread and the non-finite count of the rows of e, given their (N, N) matrix d.
template <class T>
void norms_and_spread(TensorView<const T> e, TensorView<const T> d, const Distance& dist, SiameseDiagnostics& s) {
  const Index N = e.dim(0), D = e.dim(1);
  s.norm_min = N ? std::numeric_limits<double>::infinity() : 0.0;
  double sum = 0;
  for (Index i = 0; i < N; ++i) {
    double n2 = 0;
    bool finite = true;
    for (Index k = 0; k < D; ++k) {
      n2 += double(e(i, k)) * double(e(i, k));
      finite = finite && std::isfinite(e(i, k));
    }
    s.non_finite_rows += !finite;
    const double n = std::sqrt(n2);
    sum += n;
    s.norm_min = std::min(s.norm_min, n);
    s.norm_max = std::max(s.norm_max, n);
  }
  s.norm_mean = N ? sum / double(N) : 0.0;
  for (Index i = 0; i < N; ++i)
    for (Index j = i + 1; j < N; ++j) s.spread = std::max(s.spread, double(dist.farther_by(d(i, j), d(i, i))));
}
inline void check_collapse(SiameseDiagnostics& s, double margin, double loss, Index rows) {
  if (s.non_finite_rows > 0) {
    s.warning = detail::concat("non-finite embeddings: ", s.non_finite_rows, " of ", rows,
                               " rows hold NaN or Inf (not a collapse; check the inputs and the learning rate)");
    return;
  }
  const double tiny = 1e-3 * std::max(std::abs(margin), 1e-12);
  const bool no_spread = s.spread < tiny;
  const bool pinned = std::isfinite(loss) && std::abs(loss - margin) <= 0.01 * std::abs(margin) &&
                      std::abs(s.mean_pos_distance - s.mean_neg_distance) <= 0.01 * std::abs(margin);
  if (no_spread || pinned) {
    s.collapsed = true;
    s.warning = no_spread ? detail::concat("embeddings collapsed: every embedding within ", s.spread,
                                           " of the others (margin ", margin, ")")
                          : detail::concat("loss pinned at the margin (", loss, " vs ", margin,
                                           ") with equal positive and negative distances: embedding collapse");
  }
}
}  // namespace detail

template <class T>
SiameseDiagnostics pair_diagnostics(const PairBatch<T>& in, const PairDiagnosticsOptions& o = {}) {
  detail::check_pair_shapes(in.first.shape(), in.second.shape(), "pair_diagnostics");
  const Index N = in.first.dim(0), D = in.first.dim(1);
  if (static_cast<Index>(in.labels.size()) != N)
    throw shape_error(detail::concat("pair_diagnostics: ", N, " pairs but ", in.labels.size(), " labels"));
  SiameseDiagnostics s;
  const Distance& dist = o.distance;
  Index active = 0;
  for (Index i = 0; i < N; ++i) {
    const double d = double(dist.row(in.first.data() + i * D, in.second.data() + i * D, D));
    if (is_same(in.labels[static_cast<std::size_t>(i)])) {
      s.mean_pos_distance += d;
      ++s.pos_count;
      active += dist.farther_by(d, o.pos_margin) > 0;
    } else {
      s.mean_neg_distance += d;
      ++s.neg_count;
      active += dist.farther_by(o.neg_margin, d) > 0;
    }
  }
  if (s.pos_count) s.mean_pos_distance /= double(s.pos_count);
  if (s.neg_count) s.mean_neg_distance /= double(s.neg_count);
  s.active_fraction = N ? double(active) / double(N) : 0.0;
  Tensor<T> both(Shape{2 * N, D});
  std::copy(in.first.begin(), in.first.end(), both.data());
  std::copy(in.second.begin(), in.second.end(), both.data() + N * D);
  const auto d = pairwise_distances(both, dist);
  detail::norms_and_spread<T>(both.view(), d.view(), dist, s);
  detail::check_collapse(s, o.neg_margin, o.loss, 2 * N);
  return s;
}

// A labelled batch (N, D) with (mined) triplets: positive/negative distances over the triplets.
template <ViewLike V, class T = view_value_t<V>>
SiameseDiagnostics triplet_diagnostics(const V& emb_in, std::span<const Triplet> triplets,
                                       const TripletDiagnosticsOptions& o = {}) {
  const TensorView<const T> emb = cview(emb_in);
  if (emb.rank() != 2) throw shape_error(detail::concat("triplet_diagnostics: expected (N, D), got ", emb.shape().str()));
  const Index N = emb.dim(0);
  for (const Triplet& t : triplets)
    if (t.anchor < 0 || t.anchor >= N || t.positive < 0 || t.positive >= N || t.negative < 0 || t.negative >= N)
      throw shape_error(detail::concat("triplet_diagnostics: triplet (", t.anchor, ", ", t.positive, ", ", t.negative,
                                       ") out of range for ", N, " embeddings"));
  SiameseDiagnostics s;
  const Distance& dist = o.distance;
  const auto d = pairwise_distances(emb, dist);
  Index active = 0;
  for (const Triplet& t : triplets) {
    const double dap = d(t.anchor, t.positive), dan = d(t.anchor, t.negative);
    s.mean_pos_distance += dap;
    s.mean_neg_distance += dan;
    active += dist.farther_by(dap, dan) + o.margin > 0;
  }
  s.pos_count = s.neg_count = static_cast<Index>(triplets.size());
  if (!triplets.empty()) {
    s.mean_pos_distance /= double(triplets.size());
    s.mean_neg_distance /= double(triplets.size());
    s.active_fraction = double(active) / double(triplets.size());
  }
  detail::norms_and_spread<T>(emb, d.view(), dist, s);
  detail::check_collapse(s, o.margin, o.loss, N);
  return s;
}

}  // namespace twin
