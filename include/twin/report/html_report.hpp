#pragma once
// A self-contained HTML page for a verification run: a table of metrics, figures (inline
// SVG, e.g. svg_plot.hpp's ROC and histogram), a grid of example pairs as inline PNG
// images, and free notes. Nothing is fetched from the network, so the page can be mailed
// or archived as one file.
//
//   twin::report::Report r{.title = "Face verification: held-out subjects"};
//   r.metrics.emplace_back("EER", "4.10%");
//   r.figures.push_back({"ROC curve", twin::report::svg_roc(curves)});
//   r.examples.push_back({a_img, b_img, "genuine", "d = 0.41 accepted", true});   // (H, W) each
//   twin::report::write_html("report.html", r);      // atomically: the old page or the new one
//
// Text (title, metric names and values, captions) is escaped; `notes_html` and the figures'
// SVG are inserted as they are, so they must come from the program, not from its input.
#include <filesystem>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "twin/io/safetensors.hpp"  // detail::write_file_atomic
#include "twin/report/png.hpp"
#include "twin/report/svg_plot.hpp"
#include "twin/tensor.hpp"

namespace twin::report {

struct Figure {
  std::string heading{};
  std::string svg{};
};

struct ExamplePair {
  Tensor<float, 2> a{}, b{};  // (H, W) each, values in [0, 1]
  std::string kind{}, caption{};
  bool correct = true;  // framed green, else red
};

struct Report {
  std::string title{}, subtitle{};
  std::vector<std::pair<std::string, std::string>> metrics{};  // name, value
  std::vector<Figure> figures{};
  std::vector<ExamplePair> examples{};
  std::string examples_note = "Green: verdict correct; red: wrong.";
  PngOptions images{};  // how example pixels are drawn ({.ink = true} for ink on paper)
  std::string notes_html{};
};

inline std::string render_html(const Report& r) {
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>" << html_escape(r.title) << "</title>\n"
    << "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
       "table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}"
       ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:10px}"
       ".pair{border:2px solid #ccc;padding:6px;border-radius:4px}.ok{border-color:#3a3}.bad{border-color:#c33}"
       ".pair img{width:150px;border:1px solid #eee;image-rendering:auto}.cap{font-size:12px}</style></head><body>\n";
  h << "<h1>" << html_escape(r.title) << "</h1>\n";
  if (!r.subtitle.empty()) h << "<p>" << html_escape(r.subtitle) << "</p>\n";
  if (!r.metrics.empty()) {
    h << "<h2>Metrics</h2>\n<table>\n";
    for (const auto& [k, v] : r.metrics) h << "<tr><th>" << html_escape(k) << "</th><td>" << html_escape(v) << "</td></tr>\n";
    h << "</table>\n";
  }
  for (const auto& f : r.figures) h << "<h2>" << html_escape(f.heading) << "</h2>\n" << f.svg << "\n";
  if (!r.examples.empty()) {
    h << "<h2>Example pairs</h2>\n<p>" << html_escape(r.examples_note) << "</p>\n<div class='grid'>\n";
    for (const auto& e : r.examples) {
      h << "<div class='pair " << (e.correct ? "ok" : "bad") << "'><img alt='first' src='data:image/png;base64,"
        << base64(encode_png(e.a.view(), r.images)) << "'> <img alt='second' src='data:image/png;base64,"
        << base64(encode_png(e.b.view(), r.images)) << "'><div class='cap'><b>" << html_escape(e.kind) << "</b> "
        << html_escape(e.caption) << "</div></div>\n";
    }
    h << "</div>\n";
  }
  h << r.notes_html << "\n</body></html>\n";
  return h.str();
}

// Writes render_html(r) to `file` through a temporary file and a rename.
inline void write_html(const std::filesystem::path& file, const Report& r) {
  const std::string page = render_html(r);
  io::detail::write_file_atomic(file, std::span(reinterpret_cast<const std::uint8_t*>(page.data()), page.size()));
}

}  // namespace twin::report
