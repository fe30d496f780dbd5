// eval: k-way one-shot accuracy on runs in Lake's format, JSON, and the HTML report.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>

#include <nlohmann/json.hpp>
#include <twin/metrics/one_shot.hpp>

#include "omniglot.hpp"

namespace omniglot {

namespace {
// Embeddings of `imgs` (N, D), averaged over the identity and `tta` fixed, light warps
// (the same warps for every image and every run, so a run's score depends on nothing else).
twin::Tensor<float, 2> embed(const Model& m, const std::vector<Image>& imgs, Index tta, twin::Workspace<float>& ws) {
  const Index N = static_cast<Index>(imgs.size()), H = m.tower.size;
  twin::Tensor<float> x(twin::Shape{N, 1, H, H});  // (N, 1, H, H)
  twin::Tensor<float, 2> out;
  for (Index v = 0; v <= tta; ++v) {
    twin::data::Affine a;
    if (v > 0) {
      twin::Rng r = twin::Rng(2015).fork(static_cast<std::uint64_t>(v));
      a.angle_deg = r.uniform(-5.0, 5.0);
      a.scale = r.uniform(0.95, 1.05);
      a.shift_y = r.uniform(-0.04, 0.04) * double(H);
      a.shift_x = r.uniform(-0.04, 0.04) * double(H);
    }
    for (Index i = 0; i < N; ++i) warp(imgs[static_cast<std::size_t>(i)].data(), H, H, a, x.data() + i * H * H);
    const auto e = m.net.forward(x.view(), ws, twin::Mode::eval);  // (N, D)
    if (v == 0) out = twin::Tensor<float, 2>(twin::Shape{N, e.dim(1)}, 0.0f);
    for (Index i = 0; i < e.size(); ++i) out[i] += e[i] / static_cast<float>(tta + 1);
  }
  return out;
}

std::string base64(const std::string& bytes) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (unsigned(static_cast<unsigned char>(bytes[i])) << 16) |
                       (unsigned(static_cast<unsigned char>(bytes[i + 1])) << 8) | static_cast<unsigned char>(bytes[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i < bytes.size()) {
    unsigned v = unsigned(static_cast<unsigned char>(bytes[i])) << 16;
    if (i + 1 < bytes.size()) v |= unsigned(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += {t[v >> 18], t[(v >> 12) & 63], i + 1 < bytes.size() ? t[(v >> 6) & 63] : '=', '='};
  }
  return out;
}
std::string data_uri(const fs::path& png) {
  std::ifstream in(png, std::ios::binary);
  const std::string b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return "data:image/png;base64," + base64(b);
}
std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) o += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
  return o;
}
}  // namespace

std::vector<RunResult> evaluate_runs(const Model& m, const std::vector<Run>& runs, Index tta, double* seconds,
                                     Metric metric) {
  const auto t0 = std::chrono::steady_clock::now();
  twin::Workspace<float> ws;
  twin::PairHeadWorkspace<float> hws;
  std::vector<RunResult> out;
  for (const Run& run : runs) {
    std::vector<Image> imgs;
    const fs::path labels = run.queries.empty() ? fs::path() : run.queries[0].parent_path().parent_path() / "class_labels.txt";
    for (const auto& f : run.candidates) imgs.push_back(prepare_image(f, m.tower.size));  // errors name the file
    for (std::size_t q = 0; q < run.queries.size(); ++q) {
      try {
        imgs.push_back(prepare_image(run.queries[q], m.tower.size));
      } catch (const twin::io_error& e) {
        throw twin::io_error(labels.string() + ":" + std::to_string(run.lines[q]) + ": query image: " + e.what());
      }
    }
    auto e = embed(m, imgs, tta, ws);  // (K + Q, D): candidates, then queries
    const Index K = static_cast<Index>(run.candidates.size()), Q = static_cast<Index>(run.queries.size()), D = e.dim(1);
    if (!m.head && metric == Metric::cl2n) {
      // Centre on the candidates' mean (support only: no query is looked at), then unit length.
      std::vector<double> mean(static_cast<std::size_t>(D), 0.0);
      for (Index k = 0; k < K; ++k)
        for (Index j = 0; j < D; ++j) mean[static_cast<std::size_t>(j)] += double(e(k, j)) / double(K);
      for (Index i = 0; i < K + Q; ++i) {
        double sq = 0;
        for (Index j = 0; j < D; ++j) sq += std::pow(double(e(i, j)) - mean[static_cast<std::size_t>(j)], 2);
        const double inv = 1.0 / std::max(std::sqrt(sq), 1e-12);
        for (Index j = 0; j < D; ++j) e(i, j) = float((double(e(i, j)) - mean[static_cast<std::size_t>(j)]) * inv);
      }
    }
    RunResult r;
    r.name = run.name;
    std::vector<twin::metrics::OneShotTrial> trials;
    twin::Tensor<float, 2> e1(twin::Shape{K, D});
    for (Index q = 0; q < Q; ++q) {
      twin::metrics::OneShotTrial t;
      t.correct = static_cast<std::size_t>(run.truth[static_cast<std::size_t>(q)]);
      const float* eq = e.data() + (K + q) * D;
      if (m.head) {
        // Koch: the head's same-logit for (query, candidate k), all K pairs in one batch.
        for (Index k = 0; k < K; ++k) std::copy(eq, eq + D, e1.data() + k * D);
        const auto logit = m.head->forward(e1.view(), e.view().slice(0, K), hws, twin::Mode::eval);  // (K, 1)
        for (Index k = 0; k < K; ++k) t.scores.push_back(double(logit[k]));
      } else {
        // Nearest neighbour: the prototypical classifier with one shot per class.
        for (Index k = 0; k < K; ++k) {
          double d = 0;
          for (Index j = 0; j < D; ++j) d += std::pow(double(eq[j]) - double(e(k, j)), 2);
          t.scores.push_back(-d);
        }
      }
      r.chosen.push_back(static_cast<Index>(std::max_element(t.scores.begin(), t.scores.end()) - t.scores.begin()));
      r.scores.push_back(t.scores);
      trials.push_back(std::move(t));
    }
    r.accuracy = twin::metrics::one_shot_accuracy(trials);
    out.push_back(std::move(r));
  }
  if (seconds) *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

void write_report(const fs::path& path, const std::string& title, const std::vector<Run>& runs,
                  const std::vector<RunResult>& results, Index examples) {
  double mean = 0;
  for (const auto& r : results) mean += r.accuracy / double(results.size());
  std::ostringstream h;
  h << "<!doctype html><html><head><meta charset=\"utf-8\"><title>" << html_escape(title) << "</title><style>"
    << "body{font-family:sans-serif;margin:24px;color:#222}h1{font-size:20px}h2{font-size:16px;margin-top:28px}"
    << ".ex{margin:12px 0;padding:8px;border:1px solid #ddd}.row{display:flex;flex-wrap:wrap;gap:4px;align-items:flex-end}"
    << ".c{text-align:center;font-size:10px}.c img{width:48px;height:48px;border:3px solid #fff;image-rendering:pixelated}"
    << ".q img{border-color:#36c}.ok img{border-color:#2a2}.bad img{border-color:#d22}.truth img{border-color:#2a2}"
    << ".legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}"
    << "</style></head><body><h1>" << html_escape(title) << "</h1>";
  h << "<p>" << results.size() << " runs, mean accuracy <b>" << std::fixed;
  h.precision(1);
  h << 100 * mean << "%</b> (chance " << 100.0 / double(std::max<std::size_t>(runs.empty() ? 1 : runs[0].candidates.size(), 1))
    << "%).</p>";
  // Per-run accuracy as an SVG bar chart (0-100%, gridlines every 25%).
  const int W = 900, Hc = 180, left = 36;
  const double bw = double(W - left) / double(std::max<std::size_t>(results.size(), 1));
  h << "<h2>Accuracy per run</h2><svg width=\"" << W << "\" height=\"" << Hc + 30 << "\" xmlns=\"http://www.w3.org/2000/svg\">";
  for (int g = 0; g <= 4; ++g) {
    const double y = 10 + Hc * (1 - g / 4.0);
    h << "<line x1=\"" << left << "\" x2=\"" << W << "\" y1=\"" << y << "\" y2=\"" << y << "\" stroke=\"#ccc\"/>"
      << "<text x=\"0\" y=\"" << y + 4 << "\" font-size=\"11\">" << g * 25 << "%</text>";
  }
  for (std::size_t i = 0; i < results.size(); ++i) {
    const double a = results[i].accuracy, x = left + bw * double(i), bh = Hc * a;
    h << "<rect x=\"" << x + bw * 0.1 << "\" y=\"" << 10 + Hc - bh << "\" width=\"" << std::max(bw * 0.8, 1.0)
      << "\" height=\"" << bh << "\" fill=\"" << (a >= mean ? "#4a7" : "#e96") << "\"><title>"
      << html_escape(results[i].name) << ": " << 100 * a << "%</title></rect>";
  }
  const double ym = 10 + Hc * (1 - mean);
  h << "<line x1=\"" << left << "\" x2=\"" << W << "\" y1=\"" << ym << "\" y2=\"" << ym
    << "\" stroke=\"#248\" stroke-dasharray=\"4 3\"/><text x=\"" << left + 4 << "\" y=\"" << Hc + 26
    << "\" font-size=\"11\">runs " << (results.empty() ? "" : html_escape(results.front().name)) << " .. "
    << (results.empty() ? "" : html_escape(results.back().name)) << "; dashed: mean</text></svg>";

  // Examples: the first wrong answers, then right ones, up to `examples`.
  std::vector<std::pair<std::size_t, std::size_t>> wrong, right;
  // Query q of every run before query q + 1 of any, so the examples come from several runs.
  std::size_t most = 0;
  for (const auto& r : results) most = std::max(most, r.chosen.size());
  for (std::size_t q = 0; q < most; ++q)
    for (std::size_t r = 0; r < results.size(); ++r)
      if (q < results[r].chosen.size())
        (std::size_t(results[r].chosen[q]) == std::size_t(runs[r].truth[q]) ? right : wrong).emplace_back(r, q);
  std::vector<std::pair<std::size_t, std::size_t>> show;
  for (std::size_t i = 0; show.size() < std::size_t(examples) && i < std::max(wrong.size(), right.size()); ++i) {
    if (i < wrong.size() && show.size() < std::size_t(examples)) show.push_back(wrong[i]);
    if (i < right.size() && show.size() < std::size_t(examples)) show.push_back(right[i]);
  }
  h << "<h2>Queries and their candidates</h2><p class=\"legend\">"
    << "<span style=\"background:#36c\"></span>query<span style=\"background:#2a2\"></span>correct class"
    << "<span style=\"background:#d22\"></span>chosen, wrong (a right choice is the green one)</p>";
  for (const auto& [r, q] : show) {
    const Run& run = runs[r];
    const RunResult& res = results[r];
    const auto truth = std::size_t(run.truth[q]), chosen = std::size_t(res.chosen[q]);
    h << "<div class=\"ex\"><div>" << html_escape(run.name) << " / " << html_escape(run.queries[q].filename().string())
      << ": " << (truth == chosen ? "right" : "wrong") << "</div><div class=\"row\"><div class=\"c q\"><img src=\""
      << data_uri(run.queries[q]) << "\"><br>query</div><div style=\"width:16px\"></div>";
    for (std::size_t k = 0; k < run.candidates.size(); ++k) {
      const char* cls = k == truth ? (k == chosen ? "c ok" : "c truth") : (k == chosen ? "c bad" : "c");
      h << "<div class=\"" << cls << "\"><img src=\"" << data_uri(run.candidates[k]) << "\"><br>"
        << (k == chosen && k == truth ? "chosen, correct" : k == chosen ? "chosen" : k == truth ? "correct" : "")
        << (k == chosen || k == truth ? "" : std::to_string(k + 1)) << "</div>";
    }
    h << "</div></div>";
  }
  h << "</body></html>\n";
  std::ofstream out(path);
  out << h.str();
  if (!out) throw twin::io_error("cannot write the report " + path.string());
}

int run_eval(const EvalOptions& o) {
  if (o.runs.empty()) throw twin::error("eval needs --runs DIR (a folder of runNN/ in Lake's one-shot format)");
  const Model m = load_model(o.model);
  const auto runs = read_runs(o.runs);
  double seconds = 0;
  const Metric metric = o.metric.empty() ? model_metric(m) : parse_metric(o.metric);
  const auto res = evaluate_runs(m, runs, o.tta, &seconds, metric);
  double correct = 0, queries = 0;
  for (std::size_t i = 0; i < res.size(); ++i) {
    const double q = double(runs[i].queries.size());
    correct += res[i].accuracy * q;
    queries += q;
    std::printf("  %-8s %5.1f%%  (%zu-way, %zu queries)\n", res[i].name.c_str(), 100 * res[i].accuracy,
                runs[i].candidates.size(), runs[i].queries.size());
  }
  const double acc = correct / queries;
  const std::string design = m.meta.count("omniglot.design") ? m.meta.at("omniglot.design") : "?";
  std::printf("%s: %.2f%% over %zu runs (%.0f queries), tta %td, metric %s; %.1f ms per run (load, embed, score)\n",
              design.c_str(), 100 * acc, runs.size(), queries, o.tta, m.head ? "pair head" : metric_name(metric),
              1000 * seconds / double(runs.size()));
  if (!o.json.empty()) {
    nlohmann::json j;
    j["model"] = o.model;
    j["design"] = design;
    j["runs_dir"] = o.runs;
    j["tta"] = o.tta;
    j["metric"] = m.head ? "pair head" : metric_name(metric);
    j["accuracy"] = acc;
    j["seconds_per_run"] = seconds / double(runs.size());
    if (auto it = m.meta.find("omniglot.train_alphabets"); it != m.meta.end()) j["train_alphabets"] = it->second;
    if (auto it = m.meta.find("omniglot.train_seconds"); it != m.meta.end()) j["train_seconds"] = std::stod(it->second);
    for (std::size_t i = 0; i < res.size(); ++i)
      j["runs"].push_back({{"name", res[i].name}, {"accuracy", res[i].accuracy}, {"queries", runs[i].queries.size()}});
    std::ofstream out(o.json);
    out << j.dump(2) << "\n";
    if (!out) throw twin::io_error("cannot write " + o.json);
  }
  if (!o.report.empty()) {
    write_report(o.report, "Omniglot one-shot: " + design + " model on " + o.runs, runs, res, o.report_examples);
    std::printf("report written to %s\n", o.report.c_str());
  }
  return 0;
}

}  // namespace omniglot
