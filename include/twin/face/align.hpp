#pragma once
// Face alignment as dlib makes its face chips (get_face_chip_details + extract_image_chip):
// the similarity transform (rotation, uniform scale, shift) that best maps dlib's mean face
// shape onto the 68 detected landmarks, in least squares, and a size x size chip sampled
// through it with bilinear interpolation (zero outside the image). dlib's face-recognition
// ResNet was trained on such chips (size 150, padding 0.25), so its descriptors are at their
// best on them.
//
// The template is dlib's mean face shape of points 17-67 (normalised to the unit square),
// the constants of dlib's dlib/image_transforms/interpolation.h (Boost Software License 1.0).
// As dlib does, the eyebrows (17-26) and the lower lip (55-59, 65-67) are not used for the
// fit: they move with expression. With padding p the template point m lands at
// (p + m) / (1 + 2 p) * size in the chip.
//
//   const auto t = twin::face::face_chip_transform(landmarks, 150, 0.25);
//   const auto chip = twin::face::extract_chip(pixels, h, w, 1, t, 150);  // (150, 150, 3)
#include <array>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "twin/error.hpp"
#include "twin/face/landmark_net.hpp"

namespace twin::face {

// Chip (x, y) -> image (a x - b y + tx, b x + a y + ty): scale sqrt(a^2 + b^2), angle atan2(b, a).
struct SimilarityTransform {
  double a = 1, b = 0, tx = 0, ty = 0;
  Point operator()(Point p) const { return {a * p.x - b * p.y + tx, b * p.x + a * p.y + ty}; }
  double scale() const { return std::hypot(a, b); }
  double angle() const { return std::atan2(b, a); }
};

// The least-squares similarity transform T minimising sum |T(from_i) - to_i|^2 (no
// reflection): with both point sets centred, a = sum(f . t) / sum |f|^2 and
// b = sum(f x t) / sum |f|^2.
inline SimilarityTransform fit_similarity(std::span<const Point> from, std::span<const Point> to) {
  if (from.size() != to.size() || from.size() < 2)
    throw error(twin::detail::concat("fit_similarity: need two lists of the same length >= 2, got ", from.size(), " and ", to.size()));
  Point mf, mt;
  for (std::size_t i = 0; i < from.size(); ++i) {
    mf.x += from[i].x, mf.y += from[i].y, mt.x += to[i].x, mt.y += to[i].y;
  }
  const double n = static_cast<double>(from.size());
  mf.x /= n, mf.y /= n, mt.x /= n, mt.y /= n;
  double dot = 0, cross = 0, norm = 0;
  for (std::size_t i = 0; i < from.size(); ++i) {
    const double fx = from[i].x - mf.x, fy = from[i].y - mf.y, tx = to[i].x - mt.x, ty = to[i].y - mt.y;
    dot += fx * tx + fy * ty;
    cross += fx * ty - fy * tx;
    norm += fx * fx + fy * fy;
  }
  if (!(norm > 0)) throw error("fit_similarity: the source points all coincide");
  SimilarityTransform t{.a = dot / norm, .b = cross / norm};
  t.tx = mt.x - (t.a * mf.x - t.b * mf.y);
  t.ty = mt.y - (t.b * mf.x + t.a * mf.y);
  return t;
}

// dlib's mean face shape, points 17-67, in the unit square.
inline constexpr std::array<double, 51> dlib_mean_face_x = {
    0.000213256, 0.0752622, 0.18113,  0.29077,  0.393397, 0.586856, 0.689483, 0.799124, 0.904991, 0.98004,  0.490127,
    0.490127,    0.490127,  0.490127, 0.36688,  0.426036, 0.490127, 0.554217, 0.613373, 0.121737, 0.187122, 0.265825,
    0.334606,    0.260918,  0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751,  0.719335, 0.254149, 0.340985,
    0.428858,    0.490127,  0.551395, 0.639268, 0.726104, 0.642159, 0.556721, 0.490127, 0.423532, 0.338094, 0.290379,
    0.428096,    0.490127,  0.552157, 0.689874, 0.553364, 0.490127, 0.42689};
inline constexpr std::array<double, 51> dlib_mean_face_y = {
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891, 0.0187482, 0.038915, 0.106454, 0.203352,
    0.307009, 0.409805, 0.515625,  0.587326,  0.609345,  0.628106,  0.609345,  0.587326,  0.216423, 0.178758, 0.179852,
    0.231733, 0.245099, 0.244077,  0.231733,  0.179852,  0.178758,  0.216423,  0.244077,  0.245099, 0.780233, 0.745405,
    0.727388, 0.742578, 0.727388,  0.745405,  0.780233,  0.864805,  0.902192,  0.909281,  0.902192, 0.864805, 0.784792,
    0.778746, 0.785343, 0.778746,  0.784792,  0.824182,  0.831803,  0.824182};

// Chip -> image transform of the size x size face chip of `landmarks` (dlib's
// get_face_chip_details for 68 points).
inline SimilarityTransform face_chip_transform(const Landmarks68& landmarks, Index size = 150, double padding = 0.25) {
  if (size <= 0 || !(padding >= 0)) throw error(twin::detail::concat("face_chip_transform: need size > 0 and padding >= 0, got ", size, " and ", padding));
  std::vector<Point> from, to;
  for (int i = 17; i < 68; ++i) {
    if ((i >= 17 && i <= 26) || (i >= 55 && i <= 59) || (i >= 65 && i <= 67)) continue;
    const double s = static_cast<double>(size) / (1 + 2 * padding);
    from.push_back({(padding + dlib_mean_face_x[std::size_t(i - 17)]) * s, (padding + dlib_mean_face_y[std::size_t(i - 17)]) * s});
    to.push_back(landmarks[std::size_t(i)]);
  }
  return fit_similarity(from, to);
}

// The size x size RGB chip (float, [0, 255]) of an h x w grey or RGB image, each chip pixel
// (x, y) read bilinearly at t(x, y) in the image; 0 where that falls outside.
inline std::vector<float> extract_chip(const std::uint8_t* pixels, Index h, Index w, Index channels,
                                       const SimilarityTransform& t, Index size) {
  if (h <= 0 || w <= 0 || size <= 0 || (channels != 1 && channels != 3))
    throw shape_error(twin::detail::concat("extract_chip: expected an H x W x 1 or 3 image and size > 0, got ", h, " x ", w, " x ",
                                     channels, " and size ", size));
  std::vector<float> out(static_cast<std::size_t>(size * size * 3), 0.f);
  for (Index y = 0; y < size; ++y)
    for (Index x = 0; x < size; ++x) {
      const Point p = t({double(x), double(y)});
      const double fx = std::floor(p.x), fy = std::floor(p.y);
      const Index x0 = static_cast<Index>(fx), y0 = static_cast<Index>(fy);
      if (x0 < 0 || y0 < 0 || x0 + 1 >= w || y0 + 1 >= h) continue;  // dlib: outside -> 0
      const double ax = p.x - fx, ay = p.y - fy;
      for (Index c = 0; c < 3; ++c) {
        const Index k = channels == 3 ? c : 0;
        auto at = [&](Index yy, Index xx) { return double(pixels[(yy * w + xx) * channels + k]); };
        const double top = at(y0, x0) * (1 - ax) + at(y0, x0 + 1) * ax;
        const double bot = at(y0 + 1, x0) * (1 - ax) + at(y0 + 1, x0 + 1) * ax;
        out[static_cast<std::size_t>((y * size + x) * 3 + c)] = static_cast<float>(top * (1 - ay) + bot * ay);
      }
    }
  return out;
}

}  // namespace twin::face
