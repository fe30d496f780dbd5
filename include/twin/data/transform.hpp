#pragma once
// Image transforms for greyscale images held as Tensor<float, 2> (H, W) with values in [0, 1].
//
//   to_float(u8)                 bytes 0..255 -> [0, 1]
//   resize(img, h, w)            separable resampling: bilinear when enlarging an axis,
//                                area averaging when shrinking it (see below)
//   invert(img)                  1 - x  (scans are dark ink on white paper; networks like ink = 1)
//   normalise(img, mean, std)    (x - mean) / std
//   affine(img, Affine, fill)    rotate / scale about the image centre, then shift
//   random_affine(img, rng, AffineOptions)   light seeded augmentation built on affine()
//
// Every function returns a new image and leaves its input alone.
//
// Why area averaging when shrinking: bilinear sampling reads only the two nearest source
// pixels per axis, so a 1-pixel pen stroke in a 1000-pixel signature scan shrunk 8x is hit by
// one output sample in eight and mostly disappears. Averaging over the footprint of each
// output pixel keeps the stroke's ink mass (it becomes a fainter, but present, line), which is
// what OpenCV's INTER_AREA and PIL's antialiased resize do.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "twin/error.hpp"
#include "twin/rng.hpp"
#include "twin/tensor.hpp"

namespace twin::data {

using Image = Tensor<float, 2>;  // (H, W), values in [0, 1]

inline Image to_float(const Tensor<std::uint8_t, 2>& img) {
  Image out(img.shape());
  for (Index i = 0; i < img.size(); ++i) out[i] = static_cast<float>(img[i]) * (1.0f / 255.0f);
  return out;
}

inline Image invert(const Image& img) {
  Image out(img.shape());
  for (Index i = 0; i < img.size(); ++i) out[i] = 1.0f - img[i];
  return out;
}

inline Image normalise(const Image& img, float mean, float std) {
  if (!(std > 0.0f) || !std::isfinite(std) || !std::isfinite(mean))
    throw numeric_error(twin::detail::concat("normalise: std must be positive and finite and mean finite, got mean ", mean,
                                       " std ", std));
  Image out(img.shape());
  const float inv = 1.0f / std;
  for (Index i = 0; i < img.size(); ++i) out[i] = (img[i] - mean) * inv;
  return out;
}

namespace detail {
// Resampling weights for one axis: output pixel j reads source pixels [first[j], first[j] +
// count) with weights w[j * width + k]; the weights of each output pixel sum to 1.
struct AxisWeights {
  std::vector<Index> first, count;
  std::vector<float> w;
  Index width = 0;
};

inline AxisWeights axis_weights(Index in, Index out) {
  AxisWeights a;
  a.first.resize(static_cast<std::size_t>(out));
  a.count.resize(static_cast<std::size_t>(out));
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  if (scale <= 1.0) {
    // Enlarging (or same size): bilinear with pixel centres at i + 0.5 (PyTorch
    // align_corners=False); samples beyond the edge clamp to the edge pixel.
    a.width = 2;
    a.w.assign(static_cast<std::size_t>(out * 2), 0.0f);
    for (Index j = 0; j < out; ++j) {
      const double src = std::clamp((static_cast<double>(j) + 0.5) * scale - 0.5, 0.0, static_cast<double>(in - 1));
      const Index i0 = std::min(static_cast<Index>(std::floor(src)), in - 1);
      const double f = src - static_cast<double>(i0);
      const auto s = static_cast<std::size_t>(j);
      a.first[s] = i0;
      a.count[s] = i0 + 1 < in ? 2 : 1;
      a.w[s * 2] = static_cast<float>(1.0 - f);
      a.w[s * 2 + 1] = static_cast<float>(f);
      if (a.count[s] == 1) a.w[s * 2] = 1.0f;
    }
  } else {
    // Shrinking: output pixel j covers source interval [j scale, (j + 1) scale); each source
    // pixel is weighted by its overlap with that interval.
    a.width = static_cast<Index>(std::ceil(scale)) + 1;
    a.w.assign(static_cast<std::size_t>(out * a.width), 0.0f);
    for (Index j = 0; j < out; ++j) {
      const double lo = static_cast<double>(j) * scale, hi = std::min(static_cast<double>(j + 1) * scale, double(in));
      const Index i0 = static_cast<Index>(std::floor(lo));
      const Index i1 = std::min(static_cast<Index>(std::ceil(hi)), in);
      const auto s = static_cast<std::size_t>(j);
      a.first[s] = i0;
      a.count[s] = i1 - i0;
      for (Index i = i0; i < i1; ++i) {
        const double ov = std::min(hi, double(i + 1)) - std::max(lo, double(i));
        a.w[s * static_cast<std::size_t>(a.width) + static_cast<std::size_t>(i - i0)] =
            static_cast<float>(std::max(ov, 0.0) / (hi - lo));
      }
    }
  }
  return a;
}
}  // namespace detail

// Resamples to (h, w). Each axis is treated on its own, so shrinking one axis while
// enlarging the other works.
inline Image resize(const Image& img, Index h, Index w) {
  const Index H = img.dim(0), W = img.dim(1);
  if (h <= 0 || w <= 0) throw shape_error(twin::detail::concat("resize: target size must be positive, got ", h, " x ", w));
  if (H <= 0 || W <= 0) throw shape_error(twin::detail::concat("resize: empty input image ", img.shape().str()));
  const auto ax = detail::axis_weights(W, w), ay = detail::axis_weights(H, h);
  Image tmp(Shape{H, w});  // (H, w): rows resampled first
  for (Index y = 0; y < H; ++y)
    for (Index x = 0; x < w; ++x) {
      const auto s = static_cast<std::size_t>(x);
      float acc = 0.0f;
      for (Index k = 0; k < ax.count[s]; ++k)
        acc += ax.w[s * static_cast<std::size_t>(ax.width) + static_cast<std::size_t>(k)] * img(y, ax.first[s] + k);
      tmp(y, x) = acc;
    }
  Image out(Shape{h, w});  // (h, w)
  for (Index y = 0; y < h; ++y) {
    const auto s = static_cast<std::size_t>(y);
    for (Index x = 0; x < w; ++x) {
      float acc = 0.0f;
      for (Index k = 0; k < ay.count[s]; ++k)
        acc += ay.w[s * static_cast<std::size_t>(ay.width) + static_cast<std::size_t>(k)] * tmp(ay.first[s] + k, x);
      out(y, x) = acc;
    }
  }
  return out;
}

// One affine map about the image centre ((H - 1) / 2, (W - 1) / 2): scale, then rotate
// counter-clockwise by angle_deg (as seen on screen, y down), then shift by (shift_y,
// shift_x) pixels. Output pixels whose source falls outside the image take `fill`; the
// source is sampled bilinearly, an outside neighbour counting as `fill`.
struct Affine {
  double angle_deg = 0.0;
  double scale = 1.0;
  double shift_y = 0.0;
  double shift_x = 0.0;
};

inline Image affine(const Image& img, const Affine& a, float fill = 0.0f) {
  if (!(a.scale > 0.0)) throw error(twin::detail::concat("affine: scale must be positive, got ", a.scale));
  const Index H = img.dim(0), W = img.dim(1);
  Image out(img.shape());
  const double cy = (static_cast<double>(H) - 1) / 2, cx = (static_cast<double>(W) - 1) / 2;
  const double th = a.angle_deg * std::numbers::pi / 180.0;
  // Forward: p' = c + t + s R (p - c), with R rotating counter-clockwise on screen (y down).
  // Inverse: p = c + R^T (p' - c - t) / s.
  const double c = std::cos(th), sn = std::sin(th), inv = 1.0 / a.scale;
  auto at = [&](Index y, Index x) -> float { return (y < 0 || y >= H || x < 0 || x >= W) ? fill : img(y, x); };
  for (Index y = 0; y < H; ++y)
    for (Index x = 0; x < W; ++x) {
      const double dy = static_cast<double>(y) - cy - a.shift_y, dx = static_cast<double>(x) - cx - a.shift_x;
      // R = [[c, sn], [-sn, c]] acting on (x, y) rotates counter-clockwise on screen.
      const double sx = cx + inv * (c * dx - sn * dy);
      const double sy = cy + inv * (sn * dx + c * dy);
      if (sy <= -1.0 || sy >= static_cast<double>(H) || sx <= -1.0 || sx >= static_cast<double>(W)) {
        out(y, x) = fill;
        continue;
      }
      const double fy0 = std::floor(sy), fx0 = std::floor(sx);
      const auto y0 = static_cast<Index>(fy0), x0 = static_cast<Index>(fx0);
      const float fy = static_cast<float>(sy - fy0), fx = static_cast<float>(sx - fx0);
      // Exact grid hits (the common case for shifts by whole pixels) skip the zero-weight
      // neighbours so they never read fill.
      const float v00 = at(y0, x0);
      const float v01 = fx > 0.0f ? at(y0, x0 + 1) : 0.0f;
      const float v10 = fy > 0.0f ? at(y0 + 1, x0) : 0.0f;
      const float v11 = (fx > 0.0f && fy > 0.0f) ? at(y0 + 1, x0 + 1) : 0.0f;
      out(y, x) = (1 - fy) * ((1 - fx) * v00 + fx * v01) + fy * ((1 - fx) * v10 + fx * v11);
    }
  return out;
}

// Light augmentation: each parameter drawn uniformly from its range.
struct AffineOptions {
  double max_shift = 0.05;         // fraction of the image size, per axis (torchvision "translate")
  double max_rotation_deg = 5.0;   // angle in [-max, max]
  double scale_range[2] = {0.95, 1.05};
  float fill = 0.0f;               // value of pixels shifted in from outside (0 = background
                                   // after invert())
};

// Draws angle, scale, shift_y, shift_x from rng in that order, so a seed fixes the result.
inline Affine draw_affine(const Image& img, Rng& rng, const AffineOptions& o) {
  if (o.max_shift < 0 || o.max_rotation_deg < 0 || !(o.scale_range[0] > 0) || o.scale_range[1] < o.scale_range[0])
    throw error(twin::detail::concat("random_affine: invalid options (max_shift ", o.max_shift, ", max_rotation_deg ",
                               o.max_rotation_deg, ", scale_range [", o.scale_range[0], ", ", o.scale_range[1], "])"));
  Affine a;
  a.angle_deg = rng.uniform(-o.max_rotation_deg, o.max_rotation_deg);
  a.scale = rng.uniform(o.scale_range[0], o.scale_range[1]);
  a.shift_y = rng.uniform(-o.max_shift, o.max_shift) * static_cast<double>(img.dim(0));
  a.shift_x = rng.uniform(-o.max_shift, o.max_shift) * static_cast<double>(img.dim(1));
  return a;
}

inline Image random_affine(const Image& img, Rng& rng, const AffineOptions& o = {}) {
  return affine(img, draw_affine(img, rng, o), o.fill);
}

}  // namespace twin::data
