// `eval`, `verify` and `enroll`: using a trained model.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include <twin/metrics/distance.hpp>
#include <twin/report/html_report.hpp>

#include "commands.hpp"
#include "enrollments.hpp"
#include "outputs.hpp"
#include "pairs.hpp"
#include "persist.hpp"

namespace sigver {

namespace {
using json = nlohmann::json;
using Rows = std::vector<std::pair<std::string, std::string>>;
namespace report = twin::report;

struct Scored {
  double d;
  PairKind kind;
  int a, b;
};

std::string pct(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f%%", 100 * v);
  return b;
}
std::string num(double v, int prec = 4) {
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

// Distances and labels of `s`, of the pairs whose kind `keep` accepts.
template <class Keep>
std::pair<std::vector<double>, std::vector<twin::PairLabel>> labelled(const std::vector<Scored>& s, Keep keep) {
  std::pair<std::vector<double>, std::vector<twin::PairLabel>> out;
  for (const auto& p : s)
    if (keep(p.kind)) out.first.push_back(p.d), out.second.push_back(twin::pair_label(p.kind == PairKind::genuine));
  return out;
}

// The metrics of one list of scored pairs at `threshold` (twin/metrics/distance.hpp).
json metrics_of(const std::vector<Scored>& s, double threshold, Rows& rows, std::vector<report::Curve>& curves,
                const std::string& prefix) {
  namespace m = twin::metrics;
  std::size_t n[3] = {0, 0, 0};
  for (const auto& p : s) ++n[static_cast<int>(p.kind)];
  const auto [d, l] = labelled(s, [](PairKind) { return true; });
  json j;
  j["pairs"] = {{"genuine", n[0]}, {"skilled", n[1]}, {"random", n[2]}};
  j["threshold"] = threshold;
  j["accuracy"] = m::accuracy_at_distance(d, l, threshold);
  j["frr"] = m::far_frr_at_distance(d, l, threshold).frr;
  rows.emplace_back(prefix + "pairs (genuine / skilled / random)",
                    std::to_string(n[0]) + " / " + std::to_string(n[1]) + " / " + std::to_string(n[2]));
  rows.emplace_back(prefix + "accuracy at the validation threshold " + num(threshold), pct(j["accuracy"]));
  rows.emplace_back(prefix + "FRR (genuine rejected)", pct(j["frr"]));
  auto add = [&](const char* key, const char* label, const char* color, auto neg) {
    const auto [dk, lk] = labelled(s, [&](PairKind k) { return k == PairKind::genuine || neg(k); });
    if (std::count(lk.begin(), lk.end(), twin::PairLabel::different) == 0) return;
    const auto roc = m::roc_curve_distance(dk, lk);
    const auto e = m::eer_distance(dk, lk);
    const double auc = m::auc(roc), far = m::far_frr_at_distance(dk, lk, threshold).far;
    const report::Curve curve = report::roc_curve_points(prefix + label + " (EER " + pct(e.eer) + ")", color, roc);
    j[key] = {{"auc", auc}, {"eer", e.eer}, {"eer_threshold", e.threshold}, {"far", far}, {"roc", curve.points}};
    rows.emplace_back(prefix + label + ": EER / ROC AUC", pct(e.eer) + " / " + num(auc, 4));
    rows.emplace_back(prefix + label + ": FAR at the threshold", pct(far));
    curves.push_back(curve);
  };
  add("skilled", "skilled forgeries", "#c0392b", [](PairKind k) { return k == PairKind::skilled; });
  add("random", "random forgeries", "#2471a3", [](PairKind k) { return k == PairKind::random; });
  add("all", "all forgeries", "#7d3c98", [](PairKind k) { return k != PairKind::genuine; });
  return j;
}

void print_rows(const Rows& rows) {
  for (const auto& [k, v] : rows) std::printf("  %-58s %s\n", k.c_str(), v.c_str());
}

// Metrics need both classes: with no genuine pair there is no FRR, with no different pair
// no FAR, and EER and AUC need both. Refuse instead of printing 0 or NaN.
void require_both_classes(const std::vector<Scored>& s, const std::string& source) {
  std::size_t same = 0;
  for (const auto& p : s) same += p.kind == PairKind::genuine;
  if (s.empty()) throw twin::error(source + " gives no pairs to evaluate");
  if (same == 0 || same == s.size())
    throw twin::error(twin::detail::concat(source, " gives ", s.size(), " pairs, all ",
                                           same ? "genuine (same writer)" : "different (forgeries or other writers)",
                                           ": FAR, FRR, EER and AUC need both kinds"));
}

twin::Tensor<float, 2> plane(const twin::Tensor<float>& x, int i) {
  const twin::Index h = x.dim(2), w = x.dim(3);
  twin::Tensor<float, 2> out(twin::Shape{h, w});
  std::copy_n(x.data() + i * h * w, h * w, out.data());
  return out;
}
}  // namespace

int run_eval(const EvalOptions& o) {
  // Outputs are checked before any work: a mistyped --report must not replace the model.
  std::vector<fs::path> inputs = {o.model};
  if (!o.pairs.empty()) inputs.emplace_back(o.pairs);
  if (!o.json.empty()) check_output(o.json, OutputKind::json, inputs, "--json");
  if (!o.report.empty()) check_output(o.report, OutputKind::html, inputs, "--report");
  if (!o.json.empty() && !o.report.empty() && fs::absolute(o.json) == fs::absolute(o.report))
    throw twin::error("--json and --report name the same file '" + o.json + "'");
  ModelInfo info;
  const twin::Sequential<float> net = load_model(o.model, info);
  const double thr = info.threshold;
  Rows rows;
  std::vector<report::Curve> curves;
  twin::Workspace<float> ws;
  json out;
  out["model"] = o.model;
  out["val_eer"] = info.val_eer;
  report::Report rep{.images = {.ink = true}};
  rep.title = "Signature verification: " + (o.pairs.empty() ? std::string("held-out test writers") : o.pairs);
  std::vector<Scored> scored;
  twin::Tensor<float> images;  // (N, 1, H, W)
  std::vector<std::string> captions;

  if (!o.pairs.empty()) {
    const auto lines = read_pairs_file(o.pairs);
    std::map<fs::path, int> index;
    std::vector<fs::path> paths;
    std::vector<std::string> where;  // the first line naming each image
    for (const auto& l : lines)
      for (const auto* p : {&l.a, &l.b})
        if (index.emplace(*p, static_cast<int>(paths.size())).second) {
          paths.push_back(*p);
          where.push_back(o.pairs + ":" + std::to_string(l.line));
        }
    images = load_images(paths, info.tower.canvas, nullptr, where);
    const auto emb = twin::embed_all(net, images.view(), embed_batch, ws);
    const twin::Index D = emb.dim(1);
    for (const auto& l : lines) {
      const int a = index[l.a], b = index[l.b];
      scored.push_back({euclidean.row(emb.data() + a * D, emb.data() + b * D, D), l.same ? PairKind::genuine : PairKind::random, a, b});
    }
    require_both_classes(scored, "pairs file '" + o.pairs + "'");
    for (const auto& p : paths) captions.push_back(p.filename().string());
    rep.subtitle = std::to_string(lines.size()) + " pairs from " + o.pairs + " (label 0 counted as 'random forgeries').";
    std::printf("%zu pairs from '%s'\n", lines.size(), o.pairs.c_str());
    out["pairs_file"] = o.pairs;
    out["single_reference"] = metrics_of(scored, thr, rows, curves, "");
  } else {
    const Dataset all = discover(resolve_data(o.data));
    std::vector<std::string> test = info.test_writers;
    if (!o.split.val_writers.empty() || !o.split.test_writers.empty() || test.empty())
      test = make_split(all, o.split.val_writers, o.split.test_writers, o.split.n_val, o.split.n_test, o.split.split_seed).test;
    std::vector<std::string> missing;
    for (const auto& w : test) {
      if (std::find(info.train_writers.begin(), info.train_writers.end(), w) != info.train_writers.end())
        std::fprintf(stderr, "warning: test writer %s was a training writer of this model\n", w.c_str());
      if (!all.genuine.count(w)) missing.push_back(w);
    }
    if (!missing.empty())
      throw twin::error("the data set '" + all.root.string() + "' lacks " + std::to_string(missing.size()) + " of the " +
                        std::to_string(test.size()) + " test writers: " + join(missing) +
                        " (another data set? choose writers with --test-writers)");
    const Dataset ds = subset(all, test);
    std::printf("test writers (%zu): %s\n", test.size(), join(test).c_str());
    images = load_all(ds, info.tower.canvas);
    const auto t0 = std::chrono::steady_clock::now();
    const auto emb = twin::embed_all(net, images.view(), embed_batch, ws);
    const double embed_ms = 1000 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                            static_cast<double>(ds.files.size());
    const twin::Index D = emb.dim(1);
    auto dist = [&](int a, int b) { return double(euclidean.row(emb.data() + a * D, emb.data() + b * D, D)); };
    for (const auto& p : evaluation_pairs(ds, 276, o.seed)) scored.push_back({dist(p.a, p.b), p.kind, p.a, p.b});
    require_both_classes(scored, "test writers " + join(test));
    for (const auto& f : ds.files) captions.push_back(f.path.filename().string());
    rep.subtitle = "Writers " + join(test) + " (never seen in training). Model " + o.model + ", validation EER " +
                   pct(info.val_eer) + ", threshold " + num(thr) + ".";
    out["test_writers"] = test;
    out["embed_ms_per_image"] = embed_ms;
    out["single_reference"] = metrics_of(scored, thr, rows, curves, "");

    // Several references per writer: the questioned signature's mean distance to the first
    // R genuine signatures of the claimed writer.
    if (o.references > 1) {
      std::vector<Scored> multi;
      std::map<std::string, std::vector<int>> refs;
      std::set<int> is_ref;
      for (const auto& w : ds.writers) {
        const auto& g = ds.genuine.at(w);
        if (static_cast<int>(g.size()) <= o.references) continue;
        refs[w].assign(g.begin(), g.begin() + o.references);
        is_ref.insert(g.begin(), g.begin() + o.references);
      }
      auto mean_dist = [&](const std::string& w, int q) {
        double s = 0;
        for (int r : refs[w]) s += dist(r, q);
        return s / static_cast<double>(refs[w].size());
      };
      for (const auto& [w, r] : refs) {
        for (int q : ds.genuine.at(w))
          if (!is_ref.count(q)) multi.push_back({mean_dist(w, q), PairKind::genuine, r[0], q});
        if (auto f = ds.forged.find(w); f != ds.forged.end())
          for (int q : f->second) multi.push_back({mean_dist(w, q), PairKind::skilled, r[0], q});
        for (const auto& [w2, r2] : refs)
          if (w2 != w)
            for (int q : ds.genuine.at(w2))
              if (!is_ref.count(q)) multi.push_back({mean_dist(w, q), PairKind::random, r[0], q});
      }
      if (!multi.empty()) {
        std::vector<report::Curve> ignore;
        rows.emplace_back("", "");
        const std::string pre = std::to_string(o.references) + " refs: ";
        out["references"] = o.references;
        out["multi_reference"] = metrics_of(multi, thr, rows, ignore, pre);
        for (auto& c : ignore)
          if (c.name.find("all") == std::string::npos) curves.push_back({c.name, c.color == "#c0392b" ? "#e59866" : "#85c1e9", c.points});
      }
    }
    rows.emplace_back("embedding time per image", num(embed_ms, 2) + " ms");
  }

  std::printf("metrics (distance <= %.4f means same writer):\n", thr);
  print_rows(rows);
  if (!o.json.empty()) {
    write_text_atomic(o.json, out.dump(2) + "\n");
    std::printf("wrote %s\n", o.json.c_str());
  }
  if (!o.report.empty()) {
    std::vector<report::Series> hist = {{"genuine pairs", "#27ae60", {}}, {"skilled forgeries", "#c0392b", {}},
                                        {o.pairs.empty() ? "random forgeries" : "different (label 0)", "#2471a3", {}}};
    for (const auto& p : scored) hist[static_cast<std::size_t>(p.kind)].values.push_back(p.d);
    std::erase_if(hist, [](const report::Series& h) { return h.values.empty(); });
    rep.metrics = rows;
    rep.figures = {{"ROC curve", report::svg_roc(curves)}, {"Distances", report::svg_histogram(hist, {.threshold = thr})}};
    rep.examples_note = "Preprocessed inputs (binarised, cropped, fitted to the canvas). Green: verdict correct; red: wrong.";
    twin::Rng rng(o.seed + 99);
    for (int k = 0; k < o.examples && !scored.empty(); ++k) {
      const PairKind want = k % 3 == 0 ? PairKind::genuine : k % 3 == 1 ? PairKind::skilled : PairKind::random;
      std::vector<const Scored*> c;
      for (const auto& p : scored)
        if (p.kind == want) c.push_back(&p);
      if (c.empty()) continue;
      const Scored& p = *c[rng.below(c.size())];
      const bool accept = p.d <= thr;
      rep.examples.push_back({plane(images, p.a), plane(images, p.b),
                              o.pairs.empty() ? kind_name(p.kind) : (p.kind == PairKind::genuine ? "label 1" : "label 0"),
                              "d = " + num(p.d, 3) + (accept ? " accepted" : " rejected") + " | " +
                                  captions[static_cast<std::size_t>(p.a)] + " vs " + captions[static_cast<std::size_t>(p.b)],
                              accept == (p.kind == PairKind::genuine)});
    }
    rep.notes_html = "<h2>Protocol</h2><p>Inputs are binarised with Otsu's threshold (ink 1, paper exactly 0), cropped "
                     "to the ink and fitted into a fixed canvas keeping the aspect ratio, so paper brightness and scan "
                     "contrast (which differ between CEDAR's genuine and forged scans) cannot be used. The threshold was "
                     "chosen at the equal-error point on validation writers.</p>";
    report::write_html(o.report, rep);
    std::printf("wrote %s\n", o.report.c_str());
  }
  return 0;
}

int run_verify(const VerifyOptions& o) {
  ModelInfo info;
  const twin::Sequential<float> net = load_model(o.model, info);
  json out;
  out["model"] = o.model;
  out["threshold"] = info.threshold;
  twin::Workspace<float> ws;  // reused by every repeat: a warm verify allocates nothing in the tower
  twin::Tensor<float, 2> emb;
  float d = 0;
  if (o.against.empty()) {
    if (o.images.size() != 2) throw twin::error("verify needs two images (or one with --against WRITER)");
    std::vector<fs::path> paths(o.images.begin(), o.images.end());
    std::vector<double> ms;
    for (int r = 0; r < std::max(o.repeat, 1); ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      twin::embed_all(net, load_images(paths, info.tower.canvas).view(), embed_batch, ws, emb);
      ms.push_back(1000 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    d = euclidean.row(emb.data(), emb.data() + emb.dim(1), emb.dim(1));
    out["images"] = o.images;
    out["distance"] = d;
    out["ms"] = ms[0];
    if (!o.json)
      std::printf("distance %.4f, threshold %.4f: %s (%.2f ms)\n", d, info.threshold,
                  d <= info.threshold ? "SAME WRITER (genuine)" : "DIFFERENT (forgery or another writer)", ms[0]);
    if (ms.size() > 1) {
      std::vector<double> warm(ms.begin() + 1, ms.end());
      std::sort(warm.begin(), warm.end());
      out["warm_median_ms"] = warm[warm.size() / 2];
      if (!o.json)
        std::printf("time per pair (decode + preprocess + embed both): first %.2f ms, warm median %.2f ms, min %.2f ms "
                    "over %zu repeats\n", ms[0], warm[warm.size() / 2], warm.front(), warm.size());
    }
  } else {
    if (o.images.size() != 1) throw twin::error("verify --against takes exactly one questioned image");
    const EnrollmentStore store = read_enrollments(o.enrollments);
    const auto it = store.writers.find(o.against);
    if (it == store.writers.end())
      throw twin::error("writer '" + o.against + "' is not enrolled in '" + o.enrollments + "'");
    const Enrollment& e = it->second;
    const std::string hash = weights_hash(net);
    if (e.model_hash != hash)
      throw twin::error("'" + o.enrollments + "': writer '" + o.against + "' was enrolled with another model (" +
                        e.model + ", " + e.model_hash + "); model '" + o.model + "' is " + hash +
                        ": enroll the writer again with this model");
    twin::embed_all(net, load_images({fs::path(o.images[0])}, info.tower.canvas).view(), embed_batch, ws, emb);
    std::vector<float> each;
    for (const auto& r : e.embeddings) {
      if (static_cast<twin::Index>(r.size()) != emb.dim(1))
        throw twin::error(twin::detail::concat("'", o.enrollments, "': writer '", o.against, "': a reference has ",
                                               r.size(), " values, the model's embedding ", emb.dim(1)));
      each.push_back(euclidean.row(emb.data(), r.data(), emb.dim(1)));
      d += each.back() / static_cast<float>(e.embeddings.size());
    }
    out["against"] = o.against;
    out["image"] = o.images[0];
    out["reference_distances"] = each;
    out["distance"] = d;
    if (!o.json) {
      for (float r : each) std::printf("  reference distance %.4f\n", r);
      std::printf("mean distance to %zu references of '%s': %.4f, threshold %.4f: %s\n", each.size(), o.against.c_str(),
                  d, info.threshold, d <= info.threshold ? "GENUINE" : "FORGERY (or another writer)");
    }
  }
  const bool same = d <= info.threshold;
  out["verdict"] = same ? "same" : "different";
  out["exit_code"] = same ? verify_same : verify_different;
  if (o.json) std::printf("%s\n", out.dump().c_str());
  return same ? verify_same : verify_different;
}

int run_enroll(const EnrollOptions& o) {
  std::vector<fs::path> inputs = {o.model};
  inputs.insert(inputs.end(), o.images.begin(), o.images.end());
  check_output(o.enrollments, OutputKind::json, inputs, "--enrollments");
  ModelInfo info;
  const twin::Sequential<float> net = load_model(o.model, info);
  const std::string hash = weights_hash(net);
  std::vector<fs::path> paths(o.images.begin(), o.images.end());
  twin::Workspace<float> ws;
  const auto emb = twin::embed_all(net, load_images(paths, info.tower.canvas).view(), embed_batch, ws);
  const auto D = static_cast<std::size_t>(emb.dim(1));
  std::size_t added = 0, again = 0, total = 0;
  bool replaced = false;
  update_enrollments(o.enrollments, [&](EnrollmentStore& s) {
    auto [it, fresh] = s.writers.try_emplace(o.writer);
    Enrollment& e = it->second;
    if (!fresh && o.replace) {
      e = Enrollment{};
      replaced = true;
    } else if (!fresh && e.model_hash != hash) {
      throw twin::error("'" + o.enrollments + "': writer '" + o.writer + "' is enrolled with another model (" + e.model +
                        ", " + e.model_hash + "); this model is " + hash + ": pass --replace to enrol it anew");
    }
    e.model = o.model;
    e.model_hash = hash;
    for (std::size_t i = 0; i < paths.size(); ++i) {
      std::vector<float> v(emb.data() + i * D, emb.data() + (i + 1) * D);
      // The same image enrolled twice would count twice in the mean distance.
      if (std::find(e.embeddings.begin(), e.embeddings.end(), v) != e.embeddings.end()) {
        ++again;
        continue;
      }
      e.files.push_back(o.images[i]);
      e.embeddings.push_back(std::move(v));
      ++added;
    }
    total = e.embeddings.size();
  });
  std::printf("enrolled %zu references of '%s' in %s (%s%zu in all)\n", added, o.writer.c_str(), o.enrollments.c_str(),
              replaced ? "replacing the previous ones; " : "", total);
  if (again) std::printf("  %zu image(s) already among the references were not added again\n", again);
  return 0;
}

}  // namespace sigver
