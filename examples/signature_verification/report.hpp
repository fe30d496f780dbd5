#pragma once
// A self-contained HTML report (no network): metrics table, ROC curves and distance
// histograms as inline SVG, and a grid of example pairs as inline base64 PNG images.
#include <string>
#include <utility>
#include <vector>

#include <twin/tensor.hpp>

#include "dataset.hpp"

namespace sigver {

// An 8-bit greyscale PNG of `img` (values in [0, 1]; ink 1 drawn black on white).
std::string encode_png_ink(const twin::Tensor<float, 2>& img);
std::string base64(const std::string& bytes);

struct Curve {
  std::string name, color;
  std::vector<std::pair<double, double>> points;  // (x, y)
};
struct Series {
  std::string name, color;
  std::vector<double> values;
};
struct ExamplePair {
  twin::Tensor<float, 2> a, b;
  std::string kind, caption;
  bool correct = true;
};

// ROC: x = false acceptance rate, y = true acceptance rate, both in [0, 1].
std::string svg_roc(const std::vector<Curve>& curves, int width = 420, int height = 380);
// Overlaid normalised histograms with a vertical line at `threshold`.
std::string svg_histogram(const std::vector<Series>& series, double threshold, int bins = 40, int width = 520,
                          int height = 300);

struct Report {
  std::string title, subtitle;
  std::vector<std::pair<std::string, std::string>> metrics;  // name, value
  std::string roc_svg, hist_svg;
  std::vector<ExamplePair> examples;
  std::string notes_html;
};
void write_html(const fs::path& file, const Report& r);

}  // namespace sigver
