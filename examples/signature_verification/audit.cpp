// `audit`: how much of the task can be solved without looking at the handwriting?
//  1. Brightness baseline: the difference of the mean grey levels of the two images of a
//     pair, used as a distance, on raw scans and on preprocessed inputs.
//  2. Single-image probe (twin/metrics/shortcut_probe.hpp): logistic regression on global
//     statistics of ONE image (twin/data/image_statistics.hpp) predicting genuine vs forged,
//     trained on the training writers' images and scored (ROC AUC) on the test writers'.
//     Near 0.5 means the preprocessing leaves no global scanner cue.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

#include <twin/data/image_statistics.hpp>
#include <twin/data/parallel_load.hpp>
#include <twin/io/image.hpp>
#include <twin/metrics/distance.hpp>
#include <twin/metrics/shortcut_probe.hpp>

#include "commands.hpp"
#include "outputs.hpp"
#include "pairs.hpp"

namespace sigver {

int run_audit(const AuditOptions& o) {
  using json = nlohmann::json;
  using twin::data::ImageStatistics;
  if (!o.json.empty()) check_output(o.json, OutputKind::json, {}, "--json");
  const Dataset all = discover(resolve_data(o.data));
  const Split split = make_split(all, o.split.val_writers, o.split.test_writers, o.split.n_val, o.split.n_test,
                                 o.split.split_seed);
  std::printf("audit of %s: %zu writers; probe trained on %zu training writers, scored on test writers %s\n",
              all.root.string().c_str(), all.writers.size(), split.train.size(), join(split.test).c_str());
  // Per file: the statistics of the raw scan and of the network's input.
  struct Stats {
    ImageStatistics raw, pre;
  };
  const auto stats = twin::data::prepare_all(static_cast<twin::Index>(all.files.size()), [&](twin::Index i) {
    const auto img = twin::io::load_image(all.files[static_cast<std::size_t>(i)].path);
    const auto x = twin::data::normalise_document(img.view(), o.canvas.height, o.canvas.width,
                                                  {.speck_share = o.canvas.speck_share, .stroke_radius = o.canvas.stroke_radius});
    return Stats{twin::data::scan_statistics(img.view()), twin::data::canvas_statistics(x.view())};
  });
  json out;
  out["test_writers"] = split.test;
  const std::pair<const char*, ImageStatistics Stats::*> kinds[] = {{"raw scans", &Stats::raw}, {"preprocessed", &Stats::pre}};

  // 1. Brightness-difference baseline on the test writers' pairs (statistic 0: the mean).
  const Dataset test = subset(all, split.test);
  std::map<fs::path, std::size_t> where;
  for (std::size_t i = 0; i < all.files.size(); ++i) where[all.files[i].path] = i;
  const auto pairs = evaluation_pairs(test, 276, o.seed);
  std::printf("\nbrightness-difference baseline (distance = |mean(a) - mean(b)|), %zu test pairs:\n", pairs.size());
  for (const auto& [name, field] : kinds) {
    auto mean = [&](int k) { return (stats[where[test.files[static_cast<std::size_t>(k)].path]].*field)[0]; };
    auto eer = [&](PairKind negative) {
      std::vector<double> d;
      std::vector<twin::PairLabel> l;
      for (const auto& p : pairs)
        if (p.kind == PairKind::genuine || p.kind == negative)
          d.push_back(std::abs(mean(p.a) - mean(p.b))), l.push_back(twin::pair_label(p.same()));
      return twin::metrics::eer_distance(d, l).eer;
    };
    const double skilled = eer(PairKind::skilled), random = eer(PairKind::random);
    std::printf("  %-13s skilled-forgery EER %6.2f%%   random-forgery EER %6.2f%%\n", name, 100 * skilled, 100 * random);
    out["brightness_baseline"][name] = {{"skilled_eer", skilled}, {"random_eer", random}};
  }

  // 2. Single-image genuine-vs-forged probe.
  std::printf("\nsingle-image probe (logistic regression on %zu global statistics; ROC AUC on test writers, 0.5 = "
              "no cue):\n", twin::data::n_image_statistics);
  for (const auto& [name, field] : kinds) {
    std::vector<ImageStatistics> xtr, xte;
    std::vector<int> ytr, yte;
    auto in = [](const std::vector<std::string>& ws, const std::string& w) { return std::find(ws.begin(), ws.end(), w) != ws.end(); };
    for (std::size_t i = 0; i < all.files.size(); ++i) {
      const auto& f = all.files[i];
      if (in(split.train, f.writer)) xtr.push_back(stats[i].*field), ytr.push_back(f.genuine);
      if (in(split.test, f.writer)) xte.push_back(stats[i].*field), yte.push_back(f.genuine);
    }
    if (std::count(ytr.begin(), ytr.end(), 0) == 0 || std::count(yte.begin(), yte.end(), 0) == 0) {
      std::printf("  %-13s no forgeries in the data: probe skipped\n", name);
      continue;
    }
    const auto probe = twin::metrics::shortcut_probe(xtr, ytr, xte, yte);
    const auto& names = field == &Stats::raw ? twin::data::scan_statistic_names : twin::data::canvas_statistic_names;
    // Which statistic carries the cue: each one alone as a score (AUC folded to >= 0.5).
    std::printf("  %-13s AUC %.3f   (single features:", name, probe.auc);
    for (std::size_t k = 0; k < names.size(); ++k) {
      std::printf(" %s %.2f", names[k], probe.feature_auc[k]);
      out["feature_auc"][name][names[k]] = probe.feature_auc[k];
    }
    std::printf(")\n");
    out["probe_auc"][name] = probe.auc;
  }
  if (!o.json.empty()) {
    write_text_atomic(o.json, out.dump(2) + "\n");
    std::printf("wrote %s\n", o.json.c_str());
  }
  return 0;
}

}  // namespace sigver
