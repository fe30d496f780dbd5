// `audit`: how much of the task can be solved without looking at the handwriting?
//  1. Brightness baseline: the difference of the mean grey levels of the two images of a
//     pair, used as a distance, on raw scans and on preprocessed inputs.
//  2. Single-image probe: logistic regression on global statistics of ONE image predicting
//     genuine vs forged, trained on the training writers' images and scored (ROC AUC) on the
//     test writers'. Near 0.5 means the preprocessing leaves no global scanner cue.
#include <cmath>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include <twin/data/binarize.hpp>
#include <twin/io/image.hpp>
#include <twin/context.hpp>

#include "commands.hpp"
#include "outputs.hpp"
#include "pairs.hpp"
#include "roc.hpp"

namespace sigver {

namespace {
constexpr int n_features = 6;
using Features = std::array<double, n_features>;

const char* const raw_names[n_features] = {"mean", "std", "median", "p5", "otsu", "ink"};
const char* const pre_names[n_features] = {"mass", "ink-level", "partial", "height", "width", "centroid"};

// Global statistics of a raw scan: mean, std, median, 5th percentile, Otsu level, ink share.
Features raw_features(const twin::Tensor<std::uint8_t, 2>& img) {
  std::array<double, 256> h{};
  double s = 0, s2 = 0;
  for (std::uint8_t v : img.span()) h[v] += 1, s += v, s2 += double(v) * v;
  const double n = static_cast<double>(img.size()), mean = s / n;
  auto quantile = [&](double q) {
    double c = 0;
    for (int i = 0; i < 256; ++i)
      if ((c += h[static_cast<std::size_t>(i)]) >= q * n) return double(i);
    return 255.0;
  };
  const int t = twin::data::otsu_threshold(img.view());
  double ink = 0;
  for (int i = 0; i <= t; ++i) ink += h[static_cast<std::size_t>(i)];
  return {mean, std::sqrt(std::max(0.0, s2 / n - mean * mean)), quantile(0.5), quantile(0.05), double(t), ink / n};
}

// Global statistics of a preprocessed input: ink mass, mean ink value where inked (scan
// contrast survives here if binarisation failed), share of partially inked pixels (stroke
// width), ink bounding-box height and width in the canvas, vertical centroid.
Features pre_features(const twin::Tensor<float, 2>& x) {
  double mass = 0, inked = 0, partial = 0, cy = 0;
  for (twin::Index y = 0; y < x.dim(0); ++y)
    for (twin::Index c = 0; c < x.dim(1); ++c) {
      const double v = x(y, c);
      mass += v, cy += v * static_cast<double>(y);
      inked += v > 0, partial += v > 0 && v < 1;
    }
  const auto b = twin::data::ink_bbox(x.view());
  const double n = static_cast<double>(x.size());
  return {mass / n, inked > 0 ? mass / inked : 0, inked > 0 ? partial / inked : 0,
          static_cast<double>(b.height) / static_cast<double>(x.dim(0)), static_cast<double>(b.width) / static_cast<double>(x.dim(1)),
          mass > 0 ? cy / mass / static_cast<double>(x.dim(0)) : 0};
}

// Logistic regression (standardised features, full-batch gradient descent with a small L2
// penalty); returns P(genuine) for the test features.
std::vector<double> logistic_probe(const std::vector<Features>& xtr, const std::vector<int>& ytr,
                                   const std::vector<Features>& xte) {
  Features mu{}, sd{};
  for (const auto& f : xtr)
    for (int k = 0; k < n_features; ++k) mu[k] += f[k] / static_cast<double>(xtr.size());
  for (const auto& f : xtr)
    for (int k = 0; k < n_features; ++k) sd[k] += (f[k] - mu[k]) * (f[k] - mu[k]) / static_cast<double>(xtr.size());
  for (auto& v : sd) v = std::sqrt(v) + 1e-12;
  auto z = [&](const Features& f) {
    Features o;
    for (int k = 0; k < n_features; ++k) o[k] = (f[k] - mu[k]) / sd[k];
    return o;
  };
  Features w{};
  double b = 0;
  for (int it = 0; it < 2000; ++it) {
    Features g{};
    double gb = 0;
    for (std::size_t i = 0; i < xtr.size(); ++i) {
      const Features f = z(xtr[i]);
      double s = b;
      for (int k = 0; k < n_features; ++k) s += w[k] * f[k];
      const double p = 1 / (1 + std::exp(-s)), e = p - ytr[i];
      for (int k = 0; k < n_features; ++k) g[k] += e * f[k] / static_cast<double>(xtr.size());
      gb += e / static_cast<double>(xtr.size());
    }
    for (int k = 0; k < n_features; ++k) w[k] -= 0.5 * (g[k] + 1e-3 * w[k]);
    b -= 0.5 * gb;
  }
  std::vector<double> out;
  for (const auto& f : xte) {
    const Features q = z(f);
    double s = b;
    for (int k = 0; k < n_features; ++k) s += w[k] * q[k];
    out.push_back(1 / (1 + std::exp(-s)));
  }
  return out;
}
}  // namespace

int run_audit(const AuditOptions& o) {
  using json = nlohmann::json;
  if (!o.json.empty()) check_output(o.json, OutputKind::json, {}, "--json");
  const Dataset all = discover(resolve_data(o.data));
  const Split split = make_split(all, o.split.val_writers, o.split.test_writers, o.split.n_val, o.split.n_test,
                                 o.split.split_seed);
  std::printf("audit of %s: %zu writers; probe trained on %zu training writers, scored on test writers %s\n",
              all.root.string().c_str(), all.writers.size(), split.train.size(), join(split.test).c_str());
  const auto n = static_cast<twin::Index>(all.files.size());
  std::vector<Features> raw(static_cast<std::size_t>(n)), pre(static_cast<std::size_t>(n));
  std::vector<double> raw_mean(static_cast<std::size_t>(n)), pre_mean(static_cast<std::size_t>(n));
  twin::Context().parallel_for(0, n, 1, [&](twin::Index lo, twin::Index hi) {
    for (twin::Index i = lo; i < hi; ++i) {
      const auto img = twin::io::load_image(all.files[static_cast<std::size_t>(i)].path);
      const auto x = twin::data::normalise_document(
          img.view(), o.canvas.height, o.canvas.width,
          {.speck_share = o.canvas.speck_share, .stroke_radius = o.canvas.stroke_radius});
      const auto k = static_cast<std::size_t>(i);
      raw[k] = raw_features(img);
      pre[k] = pre_features(x);
      raw_mean[k] = raw[k][0];
      pre_mean[k] = pre[k][0];
    }
  });
  json out;
  out["test_writers"] = split.test;

  // 1. Brightness-difference baseline on the test writers' pairs.
  const Dataset test = subset(all, split.test);
  std::map<fs::path, std::size_t> where;
  for (std::size_t i = 0; i < all.files.size(); ++i) where[all.files[i].path] = i;
  const auto pairs = evaluation_pairs(test, 276, o.seed);
  std::printf("\nbrightness-difference baseline (distance = |mean(a) - mean(b)|), %zu test pairs:\n", pairs.size());
  for (const auto& [name, values] : {std::pair{"raw scans", &raw_mean}, std::pair{"preprocessed", &pre_mean}}) {
    std::vector<float> same, skilled, random;
    for (const auto& p : pairs) {
      const auto a = where[test.files[static_cast<std::size_t>(p.a)].path], b = where[test.files[static_cast<std::size_t>(p.b)].path];
      const float d = static_cast<float>(std::abs((*values)[a] - (*values)[b]));
      (p.kind == PairKind::genuine ? same : p.kind == PairKind::skilled ? skilled : random).push_back(d);
    }
    const auto rs = roc_of_distances(same, skilled), rr = roc_of_distances(same, random);
    std::printf("  %-13s skilled-forgery EER %6.2f%%   random-forgery EER %6.2f%%\n", name, 100 * rs.eer, 100 * rr.eer);
    out["brightness_baseline"][name] = {{"skilled_eer", rs.eer}, {"random_eer", rr.eer}};
  }

  // 2. Single-image genuine-vs-forged probe.
  std::printf("\nsingle-image probe (logistic regression on %d global statistics; ROC AUC on test writers, 0.5 = "
              "no cue):\n", n_features);
  for (const auto& [name, feats] : {std::pair{"raw scans", &raw}, std::pair{"preprocessed", &pre}}) {
    std::vector<Features> xtr, xte;
    std::vector<int> ytr, yte;
    for (std::size_t i = 0; i < all.files.size(); ++i) {
      const auto& f = all.files[i];
      const bool in_train = std::find(split.train.begin(), split.train.end(), f.writer) != split.train.end();
      const bool in_test = std::find(split.test.begin(), split.test.end(), f.writer) != split.test.end();
      if (in_train) xtr.push_back((*feats)[i]), ytr.push_back(f.genuine);
      if (in_test) xte.push_back((*feats)[i]), yte.push_back(f.genuine);
    }
    if (std::count(ytr.begin(), ytr.end(), 0) == 0 || std::count(yte.begin(), yte.end(), 0) == 0) {
      std::printf("  %-13s no forgeries in the data: probe skipped\n", name);
      continue;
    }
    const auto p = logistic_probe(xtr, ytr, xte);
    std::vector<float> gen, forg;  // as distances: -P(genuine)
    for (std::size_t i = 0; i < p.size(); ++i) (yte[i] ? gen : forg).push_back(static_cast<float>(-p[i]));
    const double auc = roc_of_distances(gen, forg).auc;
    std::printf("  %-13s AUC %.3f   (single features:", name, auc);
    // Which statistic carries the cue: each one alone as a score (AUC folded to >= 0.5).
    for (int k = 0; k < n_features; ++k) {
      std::vector<float> g1, f1;
      for (std::size_t i = 0; i < xte.size(); ++i) (yte[i] ? g1 : f1).push_back(static_cast<float>(-xte[i][static_cast<std::size_t>(k)]));
      const double a = roc_of_distances(g1, f1).auc;
      std::printf(" %s %.2f", (name == std::string("raw scans") ? raw_names : pre_names)[k], std::max(a, 1 - a));
      out["feature_auc"][name][(name == std::string("raw scans") ? raw_names : pre_names)[k]] = std::max(a, 1 - a);
    }
    std::printf(")\n");
    out["probe_auc"][name] = auc;
  }
  if (!o.json.empty()) {
    write_text_atomic(o.json, out.dump(2) + "\n");
    std::printf("wrote %s\n", o.json.c_str());
  }
  return 0;
}

}  // namespace sigver
