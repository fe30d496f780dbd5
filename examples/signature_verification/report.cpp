#include "report.hpp"

#include "outputs.hpp"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <twin/error.hpp>

namespace sigver {

namespace {
void put32(std::string& s, std::uint32_t v) {
  for (int k = 3; k >= 0; --k) s.push_back(static_cast<char>((v >> (8 * k)) & 0xff));
}
void chunk(std::string& png, const char* type, const std::string& data) {
  put32(png, static_cast<std::uint32_t>(data.size()));
  std::string body = std::string(type, 4) + data;
  png += body;
  put32(png, static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()))));
}
std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}
std::string fmt(double v, int prec = 3) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}
}  // namespace

std::string encode_png_ink(const twin::Tensor<float, 2>& img) {
  const auto h = static_cast<std::uint32_t>(img.dim(0)), w = static_cast<std::uint32_t>(img.dim(1));
  std::string raw;
  raw.reserve(static_cast<std::size_t>(h) * (w + 1));
  for (std::uint32_t y = 0; y < h; ++y) {
    raw.push_back(0);  // filter: none
    for (std::uint32_t x = 0; x < w; ++x) {
      const float v = std::clamp(img(static_cast<twin::Index>(y), static_cast<twin::Index>(x)), 0.0f, 1.0f);
      raw.push_back(static_cast<char>(static_cast<unsigned char>(std::lround(255.0f * (1.0f - v)))));
    }
  }
  uLongf n = compressBound(static_cast<uLong>(raw.size()));
  std::string z(n, '\0');
  if (compress2(reinterpret_cast<Bytef*>(z.data()), &n, reinterpret_cast<const Bytef*>(raw.data()),
                static_cast<uLong>(raw.size()), 9) != Z_OK)
    throw twin::error("encode_png_ink: zlib failed");
  z.resize(n);
  std::string png = "\x89PNG\r\n\x1a\n";
  std::string ihdr;
  put32(ihdr, w);
  put32(ihdr, h);
  ihdr += std::string("\x08\x00\x00\x00\x00", 5);  // 8-bit greyscale, deflate, no filter, no interlace
  chunk(png, "IHDR", ihdr);
  chunk(png, "IDAT", z);
  chunk(png, "IEND", "");
  return png;
}

std::string base64(const std::string& bytes) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string o;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    o += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    o += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
    o += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return o;
}

std::string svg_roc(const std::vector<Curve>& curves, int width, int height) {
  const double l = 50, r = 15, t = 15, b = 45, pw = width - l - r, ph = height - t - b;
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height
    << "' font-family='sans-serif' font-size='12'>\n";
  s << "<rect x='" << l << "' y='" << t << "' width='" << pw << "' height='" << ph << "' fill='white' stroke='#888'/>\n";
  for (int k = 0; k <= 5; ++k) {
    const double f = k / 5.0;
    s << "<line x1='" << l + f * pw << "' y1='" << t << "' x2='" << l + f * pw << "' y2='" << t + ph
      << "' stroke='#eee'/><text x='" << l + f * pw << "' y='" << t + ph + 15 << "' text-anchor='middle'>" << fmt(f, 1)
      << "</text>\n";
    s << "<line x1='" << l << "' y1='" << t + ph - f * ph << "' x2='" << l + pw << "' y2='" << t + ph - f * ph
      << "' stroke='#eee'/><text x='" << l - 5 << "' y='" << t + ph - f * ph + 4 << "' text-anchor='end'>" << fmt(f, 1)
      << "</text>\n";
  }
  s << "<line x1='" << l << "' y1='" << t + ph << "' x2='" << l + pw << "' y2='" << t << "' stroke='#bbb' stroke-dasharray='4 4'/>\n";
  s << "<text x='" << l + pw / 2 << "' y='" << height - 8 << "' text-anchor='middle'>false acceptance rate</text>\n";
  s << "<text transform='translate(13," << t + ph / 2 << ") rotate(-90)' text-anchor='middle'>true acceptance rate</text>\n";
  int row = 0;
  for (const auto& c : curves) {
    s << "<polyline fill='none' stroke='" << c.color << "' stroke-width='2' points='";
    for (auto [x, y] : c.points) s << fmt(l + x * pw, 1) << "," << fmt(t + ph - y * ph, 1) << " ";
    s << "'/>\n";
    s << "<rect x='" << l + pw - 170 << "' y='" << t + ph - 20 - 18 * row << "' width='12' height='3' fill='" << c.color
      << "'/><text x='" << l + pw - 153 << "' y='" << t + ph - 15 - 18 * row << "'>" << html_escape(c.name) << "</text>\n";
    ++row;
  }
  s << "</svg>\n";
  return s.str();
}

std::string svg_histogram(const std::vector<Series>& series, double threshold, int bins, int width, int height) {
  double lo = threshold, hi = threshold;
  for (const auto& se : series)
    for (double v : se.values) lo = std::min(lo, v), hi = std::max(hi, v);
  if (hi <= lo) hi = lo + 1;
  const double l = 45, r = 15, t = 15, b = 45, pw = width - l - r, ph = height - t - b;
  std::vector<std::vector<double>> h(series.size(), std::vector<double>(static_cast<std::size_t>(bins), 0));
  double peak = 1e-12;
  for (std::size_t k = 0; k < series.size(); ++k) {
    for (double v : series[k].values) {
      const int i = std::clamp(static_cast<int>((v - lo) / (hi - lo) * bins), 0, bins - 1);
      h[k][static_cast<std::size_t>(i)] += 1.0 / std::max<std::size_t>(1, series[k].values.size());
    }
    for (double v : h[k]) peak = std::max(peak, v);
  }
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height
    << "' font-family='sans-serif' font-size='12'>\n";
  s << "<rect x='" << l << "' y='" << t << "' width='" << pw << "' height='" << ph << "' fill='white' stroke='#888'/>\n";
  for (std::size_t k = 0; k < series.size(); ++k) {
    s << "<polyline fill='" << series[k].color << "' fill-opacity='0.25' stroke='" << series[k].color
      << "' stroke-width='1.5' points='" << l << "," << t + ph << " ";
    for (int i = 0; i < bins; ++i) {
      const double y = t + ph - h[k][static_cast<std::size_t>(i)] / peak * ph;
      s << fmt(l + i * pw / bins, 1) << "," << fmt(y, 1) << " " << fmt(l + (i + 1) * pw / bins, 1) << "," << fmt(y, 1) << " ";
    }
    s << l + pw << "," << t + ph << "'/>\n";
    s << "<rect x='" << l + pw - 150 << "' y='" << t + 10 + 18 * k << "' width='12' height='8' fill='" << series[k].color
      << "'/><text x='" << l + pw - 133 << "' y='" << t + 18 + 18 * k << "'>" << html_escape(series[k].name) << "</text>\n";
  }
  const double tx = l + (threshold - lo) / (hi - lo) * pw;
  s << "<line x1='" << tx << "' y1='" << t << "' x2='" << tx << "' y2='" << t + ph
    << "' stroke='black' stroke-dasharray='5 3'/><text x='" << tx + 4 << "' y='" << t + 12 << "'>threshold "
    << fmt(threshold) << "</text>\n";
  for (int k = 0; k <= 4; ++k)
    s << "<text x='" << l + k * pw / 4 << "' y='" << t + ph + 15 << "' text-anchor='middle'>" << fmt(lo + k * (hi - lo) / 4, 2)
      << "</text>\n";
  s << "<text x='" << l + pw / 2 << "' y='" << height - 8 << "' text-anchor='middle'>Euclidean distance between embeddings</text>\n";
  s << "</svg>\n";
  return s.str();
}

void write_html(const fs::path& file, const Report& r) {
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>" << html_escape(r.title) << "</title>\n"
    << "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
       "table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}"
       ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:10px}"
       ".pair{border:2px solid #ccc;padding:6px;border-radius:4px}.ok{border-color:#3a3}.bad{border-color:#c33}"
       ".pair img{width:150px;border:1px solid #eee;image-rendering:auto}.cap{font-size:12px}</style></head><body>\n";
  h << "<h1>" << html_escape(r.title) << "</h1>\n<p>" << html_escape(r.subtitle) << "</p>\n";
  h << "<h2>Metrics</h2>\n<table>\n";
  for (const auto& [k, v] : r.metrics) h << "<tr><th>" << html_escape(k) << "</th><td>" << html_escape(v) << "</td></tr>\n";
  h << "</table>\n";
  h << "<h2>ROC curve</h2>\n" << r.roc_svg << "\n<h2>Distances</h2>\n" << r.hist_svg << "\n";
  if (!r.examples.empty()) {
    h << "<h2>Example pairs</h2>\n<p>Preprocessed inputs (binarised, cropped, fitted to the canvas). Green: verdict "
         "correct; red: wrong.</p>\n<div class='grid'>\n";
    for (const auto& e : r.examples) {
      h << "<div class='pair " << (e.correct ? "ok" : "bad") << "'><img alt='reference' src='data:image/png;base64,"
        << base64(encode_png_ink(e.a)) << "'> <img alt='questioned' src='data:image/png;base64,"
        << base64(encode_png_ink(e.b)) << "'><div class='cap'><b>" << html_escape(e.kind) << "</b> " << html_escape(e.caption)
        << "</div></div>\n";
    }
    h << "</div>\n";
  }
  h << r.notes_html << "\n</body></html>\n";
  write_text_atomic(file, h.str());
}

}  // namespace sigver
