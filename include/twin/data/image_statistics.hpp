#pragma once
// Global statistics of one image, the features a shortcut probe (metrics/shortcut_probe.hpp)
// looks at: if a linear model on these alone tells two classes apart, a network can too,
// without looking at what the images show (scanner brightness, pen width, how big the
// object is drawn).
//
//   scan_statistics(img)     of a raw grey scan (H, W) in 0..255: mean, standard deviation,
//                            median, 5th percentile, Otsu threshold, share of ink (pixels at
//                            or below the threshold)
//   canvas_statistics(x)     of a preprocessed ink canvas (H, W), ink > 0 (binarize.hpp's
//                            convention): ink mass per pixel, mean ink value where inked
//                            (scan contrast survives here if binarisation failed), share of
//                            partially inked pixels (stroke edges: pen width), the ink
//                            bounding box's height and width as shares of the canvas, and
//                            the ink's vertical centroid as a share of the height
// Each returns ImageStatistics; *_statistic_names name its entries in order.
#include <array>
#include <cmath>
#include <cstdint>

#include "twin/data/binarize.hpp"
#include "twin/tensor.hpp"

namespace twin::data {

inline constexpr std::size_t n_image_statistics = 6;
using ImageStatistics = std::array<double, n_image_statistics>;

inline constexpr std::array<const char*, n_image_statistics> scan_statistic_names = {"mean", "std",  "median",
                                                                                     "p5",   "otsu", "ink"};
inline constexpr std::array<const char*, n_image_statistics> canvas_statistic_names = {
    "mass", "ink-level", "partial", "height", "width", "centroid"};

inline ImageStatistics scan_statistics(TensorView<const std::uint8_t, 2> img) {
  if (img.size() == 0) throw shape_error("scan_statistics: empty image");
  std::array<double, 256> hist{};
  double s = 0, s2 = 0;
  for (const std::uint8_t v : img.span()) hist[v] += 1, s += v, s2 += double(v) * v;
  const double n = static_cast<double>(img.size()), mean = s / n;
  auto quantile = [&](double q) {
    double c = 0;
    for (int i = 0; i < 256; ++i)
      if ((c += hist[static_cast<std::size_t>(i)]) >= q * n) return double(i);
    return 255.0;
  };
  const int t = otsu_threshold(img);  // -1 for a flat image: no ink
  double ink = 0;
  for (int i = 0; i <= t; ++i) ink += hist[static_cast<std::size_t>(i)];
  return {mean, std::sqrt(std::max(0.0, s2 / n - mean * mean)), quantile(0.5), quantile(0.05), double(t), ink / n};
}

inline ImageStatistics canvas_statistics(TensorView<const float, 2> x) {
  if (x.size() == 0) throw shape_error("canvas_statistics: empty canvas");
  const Index h = x.dim(0), w = x.dim(1);
  double mass = 0, inked = 0, partial = 0, cy = 0;
  for (Index y = 0; y < h; ++y)
    for (Index c = 0; c < w; ++c) {
      const double v = x(y, c);
      mass += v, cy += v * static_cast<double>(y);
      inked += v > 0, partial += v > 0 && v < 1;
    }
  const Box b = ink_bbox(x);
  const double n = static_cast<double>(x.size());
  return {mass / n,
          inked > 0 ? mass / inked : 0,
          inked > 0 ? partial / inked : 0,
          static_cast<double>(b.height) / static_cast<double>(h),
          static_cast<double>(b.width) / static_cast<double>(w),
          mass > 0 ? cy / mass / static_cast<double>(h) : 0};
}

}  // namespace twin::data
