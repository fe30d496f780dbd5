#pragma once
// A shortcut probe: can a linear model tell two classes apart from a few global features
// of ONE sample (data/image_statistics.hpp), without comparing it to anything? For
// verification data this asks whether the forgeries can be recognised without the
// reference, e.g. because forged scans are darker. An AUC near 0.5 on held-out groups says
// the features carry no cue; a recipe that raises it has found a shortcut, not skill.
//
//   auto r = twin::metrics::shortcut_probe(train_x, train_y, test_x, test_y);
//   r.auc             ROC AUC of the probe's P(positive) on the test rows (0.5: no cue)
//   r.feature_auc[k]  feature k alone as the score, folded to >= 0.5 (which feature leaks)
//
// The probe is logistic regression on features standardised with the training rows' mean
// and deviation, fitted by full-batch gradient descent with a small L2 penalty
// (ProbeOptions); deterministic, no random start. Labels are 1 (positive) or 0.
#include <array>
#include <cmath>
#include <span>
#include <vector>

#include "twin/error.hpp"
#include "twin/metrics/roc.hpp"

namespace twin::metrics {

struct ProbeOptions {
  int iterations = 2000;
  double lr = 0.5;
  double l2 = 1e-3;
};

struct ProbeResult {
  double auc = 0.5;
  std::vector<double> feature_auc;  // one per feature, folded to [0.5, 1]
  std::vector<double> p_test;       // P(positive) of each test row
};

namespace detail {
inline void check_probe_rows(std::size_t rows, std::span<const int> y, const char* what) {
  if (rows != y.size())
    throw shape_error(twin::detail::concat("shortcut_probe: ", rows, " ", what, " rows but ", y.size(), " labels"));
  std::size_t pos = 0;
  for (const int v : y) {
    if (v != 0 && v != 1) throw error(twin::detail::concat("shortcut_probe: ", what, " label ", v, " is neither 0 nor 1"));
    pos += v == 1;
  }
  if (pos == 0 || pos == y.size())
    throw error(twin::detail::concat("shortcut_probe: the ", what, " rows need both classes, got ", pos, " positive of ",
                                     y.size()));
}
inline double auc_of(std::span<const double> score, std::span<const int> y) {
  std::vector<PairLabel> labels(y.size());
  for (std::size_t i = 0; i < y.size(); ++i) labels[i] = y[i] ? PairLabel::same : PairLabel::different;
  return auc(score, labels);
}
}  // namespace detail

template <std::size_t F>
ProbeResult shortcut_probe(std::span<const std::array<double, F>> xtr, std::span<const int> ytr,
                           std::span<const std::array<double, F>> xte, std::span<const int> yte,
                           const ProbeOptions& o = {}) {
  static_assert(F > 0, "shortcut_probe needs at least one feature");
  detail::check_probe_rows(xtr.size(), ytr, "training");
  detail::check_probe_rows(xte.size(), yte, "test");
  if (o.iterations < 1 || !(o.lr > 0) || !(o.l2 >= 0))
    throw error(twin::detail::concat("shortcut_probe: needs iterations >= 1, lr > 0, l2 >= 0, got ", o.iterations, ", ",
                                     o.lr, ", ", o.l2));
  using Row = std::array<double, F>;
  for (const auto* rows : {&xtr, &xte})
    for (const Row& f : *rows)
      for (const double v : f)
        if (!std::isfinite(v)) throw numeric_error("shortcut_probe: a feature is not finite");
  const double n = static_cast<double>(xtr.size());
  Row mu{}, sd{};
  for (const Row& f : xtr)
    for (std::size_t k = 0; k < F; ++k) mu[k] += f[k] / n;
  for (const Row& f : xtr)
    for (std::size_t k = 0; k < F; ++k) sd[k] += (f[k] - mu[k]) * (f[k] - mu[k]) / n;
  for (double& v : sd) v = std::sqrt(v) + 1e-12;  // a constant feature standardises to 0
  auto z = [&](const Row& f) {
    Row out;
    for (std::size_t k = 0; k < F; ++k) out[k] = (f[k] - mu[k]) / sd[k];
    return out;
  };
  std::vector<Row> ztr(xtr.size());
  for (std::size_t i = 0; i < xtr.size(); ++i) ztr[i] = z(xtr[i]);
  Row w{};
  double b = 0;
  auto logit = [&](const Row& f) {
    double s = b;
    for (std::size_t k = 0; k < F; ++k) s += w[k] * f[k];
    return s;
  };
  for (int it = 0; it < o.iterations; ++it) {
    Row g{};
    double gb = 0;
    for (std::size_t i = 0; i < ztr.size(); ++i) {
      const double e = 1 / (1 + std::exp(-logit(ztr[i]))) - ytr[i];  // d(log loss)/d(logit)
      for (std::size_t k = 0; k < F; ++k) g[k] += e * ztr[i][k] / n;
      gb += e / n;
    }
    for (std::size_t k = 0; k < F; ++k) w[k] -= o.lr * (g[k] + o.l2 * w[k]);
    b -= o.lr * gb;
  }
  ProbeResult r;
  for (const Row& f : xte) r.p_test.push_back(1 / (1 + std::exp(-logit(z(f)))));
  r.auc = detail::auc_of(r.p_test, yte);
  std::vector<double> one(xte.size());
  for (std::size_t k = 0; k < F; ++k) {
    for (std::size_t i = 0; i < xte.size(); ++i) one[i] = xte[i][k];
    const double a = detail::auc_of(one, yte);
    r.feature_auc.push_back(std::max(a, 1 - a));
  }
  return r;
}

template <std::size_t F>
ProbeResult shortcut_probe(const std::vector<std::array<double, F>>& xtr, const std::vector<int>& ytr,
                           const std::vector<std::array<double, F>>& xte, const std::vector<int>& yte,
                           const ProbeOptions& o = {}) {
  return shortcut_probe(std::span<const std::array<double, F>>(xtr), std::span<const int>(ytr),
                        std::span<const std::array<double, F>>(xte), std::span<const int>(yte), o);
}

}  // namespace twin::metrics
