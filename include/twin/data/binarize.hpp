#pragma once
// Binarisation and size normalisation of scanned documents (signatures, handwriting).
//
// Scans of one data set often differ in paper brightness and contrast between classes
// (CEDAR: genuine signatures on grey paper, forgeries on near-white paper). A network then
// learns the scanner instead of the handwriting. These steps remove both cues:
//
//   otsu_threshold(img)          the grey level that best separates ink from paper
//   binarize(img, t)             ink (<= t) -> 1, paper -> exactly 0, as Tensor<float, 2>
//   ink_bbox(ink) / crop(...)    the bounding box of the ink, and the image cut to it
//   fit_into_canvas(ink, h, w)   scaled (aspect ratio kept) to fill an h x w canvas, centred;
//                                area-averaged, so the result stays in [0, 1] with paper 0;
//                                with a scale limit, at that fixed scale unless it does not fit
//   normalise_document(img,h,w)  all of the above in order; optionally (DocumentOptions)
//                                dropping specks before the crop and normalising the
//                                stroke width (twin/data/morphology.hpp)
//
// Images are (height, width), dark ink on light paper, as read by twin::io::load_image.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "twin/data/morphology.hpp"
#include "twin/error.hpp"
#include "twin/tensor.hpp"

namespace twin::data {

// Otsu's threshold: the level t maximising the between-class variance of the classes
// [0, t] (ink) and (t, 255] (paper). Returns -1 when the image holds a single grey level
// (nothing to separate: all of it is paper).
inline int otsu_threshold(TensorView<const std::uint8_t, 2> img) {
  std::array<double, 256> hist{};
  for (std::uint8_t v : img.span()) hist[v] += 1;
  const double n = static_cast<double>(img.size());
  if (n == 0) throw shape_error("otsu_threshold: empty image");
  double total = 0;
  for (int i = 0; i < 256; ++i) total += i * hist[static_cast<std::size_t>(i)];
  double w0 = 0, sum0 = 0, best = -1;
  int best_t = -1;
  for (int t = 0; t < 255; ++t) {
    w0 += hist[static_cast<std::size_t>(t)];
    sum0 += t * hist[static_cast<std::size_t>(t)];
    const double w1 = n - w0;
    if (w0 == 0 || w1 == 0) continue;
    const double m0 = sum0 / w0, m1 = (total - sum0) / w1;
    const double between = w0 * w1 * (m0 - m1) * (m0 - m1);
    if (between > best) best = between, best_t = t;
  }
  return best_t;
}

// Ink (grey level <= threshold) becomes 1, paper exactly 0.
inline Tensor<float, 2> binarize(TensorView<const std::uint8_t, 2> img, int threshold) {
  Tensor<float, 2> out(img.shape());
  const std::uint8_t* s = img.data();
  float* d = out.data();
  for (Index i = 0; i < img.size(); ++i) d[i] = static_cast<int>(s[i]) <= threshold ? 1.0f : 0.0f;
  return out;
}

// Rows [top, top + height) and columns [left, left + width).
struct Box {
  Index top = 0, left = 0, height = 0, width = 0;
  bool empty() const { return height == 0 || width == 0; }
  friend bool operator==(const Box&, const Box&) = default;
};

// The smallest box holding every pixel > 0; empty when there is none.
inline Box ink_bbox(TensorView<const float, 2> ink) {
  const Index h = ink.dim(0), w = ink.dim(1);
  Index top = h, bottom = -1, left = w, right = -1;
  for (Index y = 0; y < h; ++y)
    for (Index x = 0; x < w; ++x)
      if (ink(y, x) > 0.0f) {
        top = std::min(top, y), bottom = std::max(bottom, y);
        left = std::min(left, x), right = std::max(right, x);
      }
  if (bottom < 0) return {};
  return {top, left, bottom - top + 1, right - left + 1};
}

inline Tensor<float, 2> crop(TensorView<const float, 2> img, const Box& b) {
  if (b.top < 0 || b.left < 0 || b.top + b.height > img.dim(0) || b.left + b.width > img.dim(1))
    throw shape_error(twin::detail::concat("crop: box (", b.top, ", ", b.left, ", ", b.height, ", ", b.width,
                                     ") outside image ", img.shape().str()));
  Tensor<float, 2> out(Shape{b.height, b.width});
  for (Index y = 0; y < b.height; ++y)
    std::copy_n(&img(b.top + y, b.left), b.width, &out(y, 0));
  return out;
}

namespace detail {
// Weights of an area-averaging resampling of n source cells onto m destination cells:
// destination cell j covers source interval [j n/m, (j+1) n/m); entry (j, i) is the share
// of source cell i in it (rows sum to 1).
inline std::vector<std::vector<std::pair<Index, float>>> area_weights(Index n, Index m) {
  std::vector<std::vector<std::pair<Index, float>>> w(static_cast<std::size_t>(m));
  const double scale = static_cast<double>(n) / static_cast<double>(m);
  for (Index j = 0; j < m; ++j) {
    const double a = j * scale, b = (j + 1) * scale;
    for (Index i = static_cast<Index>(std::floor(a)); i < n && i < b; ++i) {
      const double overlap = std::min<double>(b, static_cast<double>(i + 1)) - std::max<double>(a, static_cast<double>(i));
      if (overlap > 1e-12) w[static_cast<std::size_t>(j)].emplace_back(i, static_cast<float>(overlap / scale));
    }
  }
  return w;
}
}  // namespace detail

// Scales `img` by the largest factor that fits it into (height, width), keeping its aspect
// ratio, and centres it on a zero canvas. With max_scale > 0 the factor is at most
// max_scale: every image that fits at that scale keeps it, so sizes stay comparable between
// images (the fixed canvas of Hafemann et al.), and only larger ones shrink to fit; 0 (or
// below): no limit, every image fills the canvas. Area averaging keeps values in [0, 1] and
// the paper exactly 0. An all-zero (or empty) image gives an all-zero canvas.
inline Tensor<float, 2> fit_into_canvas(TensorView<const float, 2> img, Index height, Index width, double max_scale = 0) {
  if (height <= 0 || width <= 0) throw shape_error(twin::detail::concat("fit_into_canvas: bad canvas ", height, " x ", width));
  if (!std::isfinite(max_scale)) throw shape_error(twin::detail::concat("fit_into_canvas: scale limit ", max_scale, " is not finite"));
  Tensor<float, 2> out(Shape{height, width}, 0.0f);
  const Index h = img.dim(0), w = img.dim(1);
  if (h == 0 || w == 0) return out;
  double s = std::min(static_cast<double>(height) / static_cast<double>(h), static_cast<double>(width) / static_cast<double>(w));
  if (max_scale > 0) s = std::min(s, max_scale);
  const Index oh = std::clamp<Index>(static_cast<Index>(std::lround(h * s)), 1, height);
  const Index ow = std::clamp<Index>(static_cast<Index>(std::lround(w * s)), 1, width);
  const auto wy = detail::area_weights(h, oh), wx = detail::area_weights(w, ow);
  // Columns first: (h, ow), then rows: (oh, ow).
  Tensor<float, 2> tmp(Shape{h, ow}, 0.0f);
  for (Index y = 0; y < h; ++y)
    for (Index j = 0; j < ow; ++j) {
      float acc = 0;
      for (auto [i, f] : wx[static_cast<std::size_t>(j)]) acc += f * img(y, i);
      tmp(y, j) = acc;
    }
  const Index top = (height - oh) / 2, left = (width - ow) / 2;
  for (Index j = 0; j < oh; ++j)
    for (Index x = 0; x < ow; ++x) {
      float acc = 0;
      for (auto [i, f] : wy[static_cast<std::size_t>(j)]) acc += f * tmp(i, x);
      out(top + j, left + x) = std::clamp(acc, 0.0f, 1.0f);
    }
  return out;
}

struct DocumentOptions {
  // Ink components (8-connected) below this share of all ink are removed before the crop
  // (0: keep every pixel). Dust far from a signature otherwise shrinks it in the canvas.
  double speck_share = 0.0;
  // >= 0: thin the strokes to a skeleton and redraw them `stroke_radius` pixels around it in
  // the canvas (0: one pixel wide, 1: three), so every image has the same stroke width and
  // only 0/1 values; < 0: keep the pen's width (area-averaged edges).
  Index stroke_radius = -1;
  // The grey level at or below which a pixel is ink, when the caller has it already (a
  // validity check that computed Otsu's threshold); -1: otsu_threshold(img).
  int threshold = -1;
  // > 0: the scale (canvas pixels per scan pixel) of every scan, so that a
  // signature's size relative to others survives; only scans too large for the canvas at
  // this scale shrink to fit. 0: each cropped scan is scaled to fill the canvas.
  double fixed_scale = 0.0;
};

// Otsu threshold, binarise (ink 1, paper 0), [remove specks], crop to the ink, fit into
// (height, width) [, normalise the stroke width].
inline Tensor<float, 2> normalise_document(TensorView<const std::uint8_t, 2> img, Index height, Index width,
                                           const DocumentOptions& opt = {}) {
  const int t = opt.threshold >= 0 ? opt.threshold : otsu_threshold(img);
  Tensor<float, 2> ink = binarize(img, t);
  if (opt.speck_share > 0) remove_small_components(ink, opt.speck_share);
  const Box b = ink_bbox(ink.view());
  if (b.empty()) return Tensor<float, 2>(Shape{height, width}, 0.0f);
  if (opt.stroke_radius < 0) return fit_into_canvas(crop(ink.view(), b).view(), height, width, opt.fixed_scale);
  // Thinned at the scan's resolution first, so that resampling cannot merge close strokes;
  // any skeleton pixel marks its canvas cell, which keeps the skeleton connected; thinned
  // again in the canvas (the marked cells can be 2 wide on diagonals), then redrawn.
  Tensor<float, 2> skel = fit_into_canvas(thin(crop(ink.view(), b).view()).view(), height, width, opt.fixed_scale);
  for (float& v : skel.span()) v = v > 0.0f ? 1.0f : 0.0f;
  return dilate(thin(skel.view()).view(), opt.stroke_radius);
}

}  // namespace twin::data
