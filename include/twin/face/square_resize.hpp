#pragma once
// The unaligned face input: the whole image padded with black to a square, centred, then
// resized bilinearly to side x side, as face-api prepares an image it is given without a
// detection (NetInput::toBatchTensor: padToSquare(centre) + tf.image.resizeBilinear with
// alignCorners = false, halfPixelCenters = false).
//   grey (H, W) or RGB (H, W, 3) uint8 -> RGB (side, side, 3) float in [0, 255]
// padToSquare puts round(d / 2) columns (rows) after the image and the rest before it;
// SquarePad::end (what face-api's detectors ask for: toBatchTensor(size, false)) puts all
// d after it, at the right or bottom.
// resizeBilinear samples source row y * (in / out) (no half-pixel shift), so the last rows
// repeat the edge; the interpolation is done as tfjs does (top, bottom, then between).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "twin/error.hpp"
#include "twin/tensor.hpp"

namespace twin::face {

enum class SquarePad { centre, end };

// pixels: h x w x channels (1: grey, replicated to RGB; 3: RGB), row-major; into `out`
// (side x side x 3), whose capacity is kept, so a caller reusing it allocates once.
inline void square_resize_into(const std::uint8_t* pixels, Index h, Index w, Index channels, Index side, SquarePad pad,
                               std::vector<float>& out) {
  if (h <= 0 || w <= 0 || side <= 0 || (channels != 1 && channels != 3))
    throw shape_error(twin::detail::concat("square_resize: expected an H x W x 1 or 3 image and side > 0, got ", h, " x ", w, " x ",
                                     channels, " and side ", side));
  const Index n = std::max(h, w), diff = n - std::min(h, w);
  const Index after = pad == SquarePad::end ? diff : static_cast<Index>(std::lround(0.5 * static_cast<double>(diff)));
  const Index before = diff - after;
  const Index top = h < w ? before : 0, left = w < h ? before : 0;
  // value at padded (y, x), channel c
  auto at = [&](Index y, Index x, Index c) -> float {
    y -= top;
    x -= left;
    if (y < 0 || y >= h || x < 0 || x >= w) return 0.f;
    return static_cast<float>(pixels[(y * w + x) * channels + (channels == 3 ? c : 0)]);
  };
  out.resize(static_cast<std::size_t>(side * side * 3));
  const float scale = static_cast<float>(n) / static_cast<float>(side);
  for (Index oy = 0; oy < side; ++oy) {
    const float sy = static_cast<float>(oy) * scale;
    const Index y0 = std::max<Index>(0, static_cast<Index>(std::floor(sy)));
    const Index y1 = std::min<Index>(n - 1, static_cast<Index>(std::ceil(sy)));
    const float fy = sy - std::floor(sy);
    for (Index ox = 0; ox < side; ++ox) {
      const float sx = static_cast<float>(ox) * scale;
      const Index x0 = std::max<Index>(0, static_cast<Index>(std::floor(sx)));
      const Index x1 = std::min<Index>(n - 1, static_cast<Index>(std::ceil(sx)));
      const float fx = sx - std::floor(sx);
      for (Index c = 0; c < 3; ++c) {
        const float tl = at(y0, x0, c), tr = at(y0, x1, c), bl = at(y1, x0, c), br = at(y1, x1, c);
        const float t = tl + (tr - tl) * fx, b = bl + (br - bl) * fx;
        out[static_cast<std::size_t>((oy * side + ox) * 3 + c)] = t + (b - t) * fy;
      }
    }
  }
}
inline std::vector<float> square_resize(const std::uint8_t* pixels, Index h, Index w, Index channels, Index side,
                                        SquarePad pad = SquarePad::centre) {
  std::vector<float> out;
  square_resize_into(pixels, h, w, channels, side, pad, out);
  return out;
}

}  // namespace twin::face
