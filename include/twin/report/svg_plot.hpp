#pragma once
// Two charts a verification report needs, as inline SVG (no script, no network):
//
//   svg_roc(curves)                 ROC curves: x = false acceptance rate, y = true
//                                   acceptance rate, both in [0, 1], with the chance diagonal
//   svg_histogram(series, o)        overlaid histograms, each normalised to its own peak
//                                   share, with an optional vertical line at o.threshold
//   roc_curve_points(name, colour, roc)   a Curve from twin::metrics::roc_curve's points,
//                                   thinned to at most max_points
//
// Names are escaped, so any text may be passed. Colours are CSS colours ("#c0392b").
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "twin/metrics/roc.hpp"

namespace twin::report {

struct Curve {
  std::string name{}, color{};
  std::vector<std::pair<double, double>> points{};  // (x, y) in [0, 1]
};

struct Series {
  std::string name{}, color{};
  std::vector<double> values{};
};

struct RocPlotOptions {
  int width = 420, height = 380;
  std::string x_label = "false acceptance rate", y_label = "true acceptance rate";
};

struct HistogramOptions {
  double threshold = std::numeric_limits<double>::quiet_NaN();  // NaN: no line
  int bins = 40;
  int width = 520, height = 300;
  std::string x_label = "Euclidean distance between embeddings";
};

inline std::string html_escape(std::string_view s) {
  std::string o;
  o.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

namespace detail {
inline std::string fixed(double v, int prec) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}
inline void check_size(int width, int height, const char* what) {
  if (width < 100 || height < 100 || width > 10000 || height > 10000)
    throw error(twin::detail::concat(what, ": width and height must be in [100, 10000], got ", width, " x ", height));
}
}  // namespace detail

// (FAR, TPR) of each point, every stride-th of them so that at most max_points (and the
// last) remain: a 40,000-pair ROC need not draw 40,000 vertices.
inline Curve roc_curve_points(std::string name, std::string color, std::span<const metrics::RocPoint> roc,
                              std::size_t max_points = 300) {
  Curve c{std::move(name), std::move(color), {}};
  if (roc.empty()) return c;
  const std::size_t stride = std::max<std::size_t>(1, roc.size() / std::max<std::size_t>(max_points, 1));
  for (std::size_t i = 0; i < roc.size(); i += stride) c.points.emplace_back(roc[i].far, roc[i].tpr);
  if ((roc.size() - 1) % stride != 0) c.points.emplace_back(roc.back().far, roc.back().tpr);
  return c;
}

inline std::string svg_roc(const std::vector<Curve>& curves, const RocPlotOptions& o = {}) {
  detail::check_size(o.width, o.height, "svg_roc");
  using detail::fixed;
  const double l = 50, r = 15, t = 15, b = 45, pw = o.width - l - r, ph = o.height - t - b;
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << o.width << "' height='" << o.height
    << "' font-family='sans-serif' font-size='12'>\n";
  s << "<rect x='" << l << "' y='" << t << "' width='" << pw << "' height='" << ph << "' fill='white' stroke='#888'/>\n";
  for (int k = 0; k <= 5; ++k) {
    const double f = k / 5.0;
    s << "<line x1='" << l + f * pw << "' y1='" << t << "' x2='" << l + f * pw << "' y2='" << t + ph
      << "' stroke='#eee'/><text x='" << l + f * pw << "' y='" << t + ph + 15 << "' text-anchor='middle'>"
      << fixed(f, 1) << "</text>\n";
    s << "<line x1='" << l << "' y1='" << t + ph - f * ph << "' x2='" << l + pw << "' y2='" << t + ph - f * ph
      << "' stroke='#eee'/><text x='" << l - 5 << "' y='" << t + ph - f * ph + 4 << "' text-anchor='end'>"
      << fixed(f, 1) << "</text>\n";
  }
  s << "<line x1='" << l << "' y1='" << t + ph << "' x2='" << l + pw << "' y2='" << t
    << "' stroke='#bbb' stroke-dasharray='4 4'/>\n";
  s << "<text x='" << l + pw / 2 << "' y='" << o.height - 8 << "' text-anchor='middle'>" << html_escape(o.x_label)
    << "</text>\n";
  s << "<text transform='translate(13," << t + ph / 2 << ") rotate(-90)' text-anchor='middle'>"
    << html_escape(o.y_label) << "</text>\n";
  int row = 0;
  for (const auto& c : curves) {
    s << "<polyline fill='none' stroke='" << html_escape(c.color) << "' stroke-width='2' points='";
    for (auto [x, y] : c.points) {
      x = std::isfinite(x) ? std::clamp(x, 0.0, 1.0) : 0.0, y = std::isfinite(y) ? std::clamp(y, 0.0, 1.0) : 0.0;
      s << fixed(l + x * pw, 1) << "," << fixed(t + ph - y * ph, 1) << " ";
    }
    s << "'/>\n";
    s << "<rect x='" << l + pw - 170 << "' y='" << t + ph - 20 - 18 * row << "' width='12' height='3' fill='"
      << html_escape(c.color) << "'/><text x='" << l + pw - 153 << "' y='" << t + ph - 15 - 18 * row << "'>"
      << html_escape(c.name) << "</text>\n";
    ++row;
  }
  s << "</svg>\n";
  return s.str();
}

inline std::string svg_histogram(const std::vector<Series>& series, const HistogramOptions& o = {}) {
  detail::check_size(o.width, o.height, "svg_histogram");
  if (o.bins < 1 || o.bins > 10000) throw error(twin::detail::concat("svg_histogram: bins must be in [1, 10000], got ", o.bins));
  using detail::fixed;
  const bool line = std::isfinite(o.threshold);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  if (line) lo = hi = o.threshold;
  for (const auto& se : series)
    for (double v : se.values)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!std::isfinite(lo)) lo = 0, hi = 1;  // nothing finite to draw
  if (hi <= lo) hi = lo + 1;
  const int bins = o.bins;
  const double l = 45, r = 15, t = 15, b = 45, pw = o.width - l - r, ph = o.height - t - b;
  std::vector<std::vector<double>> h(series.size(), std::vector<double>(static_cast<std::size_t>(bins), 0));
  double peak = 1e-12;
  for (std::size_t k = 0; k < series.size(); ++k) {
    for (double v : series[k].values) {
      if (!std::isfinite(v)) continue;
      const int i = std::clamp(static_cast<int>((v - lo) / (hi - lo) * bins), 0, bins - 1);
      h[k][static_cast<std::size_t>(i)] += 1.0 / static_cast<double>(series[k].values.size());
    }
    for (double v : h[k]) peak = std::max(peak, v);
  }
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << o.width << "' height='" << o.height
    << "' font-family='sans-serif' font-size='12'>\n";
  s << "<rect x='" << l << "' y='" << t << "' width='" << pw << "' height='" << ph << "' fill='white' stroke='#888'/>\n";
  for (std::size_t k = 0; k < series.size(); ++k) {
    const std::string color = html_escape(series[k].color);
    s << "<polyline fill='" << color << "' fill-opacity='0.25' stroke='" << color << "' stroke-width='1.5' points='" << l
      << "," << t + ph << " ";
    for (int i = 0; i < bins; ++i) {
      const double y = t + ph - h[k][static_cast<std::size_t>(i)] / peak * ph;
      s << fixed(l + i * pw / bins, 1) << "," << fixed(y, 1) << " " << fixed(l + (i + 1) * pw / bins, 1) << ","
        << fixed(y, 1) << " ";
    }
    s << l + pw << "," << t + ph << "'/>\n";
    s << "<rect x='" << l + pw - 150 << "' y='" << t + 10 + 18 * static_cast<double>(k) << "' width='12' height='8' fill='"
      << color << "'/><text x='" << l + pw - 133 << "' y='" << t + 18 + 18 * static_cast<double>(k) << "'>"
      << html_escape(series[k].name) << "</text>\n";
  }
  if (line) {
    const double tx = l + (o.threshold - lo) / (hi - lo) * pw;
    s << "<line x1='" << tx << "' y1='" << t << "' x2='" << tx << "' y2='" << t + ph
      << "' stroke='black' stroke-dasharray='5 3'/><text x='" << tx + 4 << "' y='" << t + 12 << "'>threshold "
      << fixed(o.threshold, 3) << "</text>\n";
  }
  for (int k = 0; k <= 4; ++k)
    s << "<text x='" << l + k * pw / 4 << "' y='" << t + ph + 15 << "' text-anchor='middle'>"
      << fixed(lo + k * (hi - lo) / 4, 2) << "</text>\n";
  s << "<text x='" << l + pw / 2 << "' y='" << o.height - 8 << "' text-anchor='middle'>" << html_escape(o.x_label)
    << "</text>\n";
  s << "</svg>\n";
  return s.str();
}

}  // namespace twin::report
