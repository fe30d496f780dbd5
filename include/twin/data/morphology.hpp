#pragma once
// Binary morphology on ink images (Tensor<float, 2>, ink > 0, paper 0), for scanned
// handwriting:
//
//   remove_small_components(ink, share)  drop 8-connected blobs holding less than `share`
//                                        of all ink (dust and specks that would otherwise
//                                        stretch the ink's bounding box)
//   thin(ink)                            Zhang-Suen thinning to a one-pixel skeleton
//   dilate(ink, radius)                  grow every ink pixel into a disc of `radius`
//
// thin + dilate normalise the stroke width: a pen's (and a scanner's contrast's) width
// becomes the same fixed width for every image. Outputs are exactly 0 or 1.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "twin/error.hpp"
#include "twin/tensor.hpp"

namespace twin::data {

// Sets to 0 every 8-connected component of ink (> 0) whose pixel count is below
// `min_share` x the total ink count; returns the number of pixels removed. Specks far from
// a signature otherwise decide where `ink_bbox` puts the crop. Values must be >= 0.
inline Index remove_small_components(Tensor<float, 2>& ink, double min_share) {
  const Index h = ink.dim(0), w = ink.dim(1), n = h * w;
  float* p = ink.data();
  Index total = 0;
  for (Index i = 0; i < n; ++i) total += p[i] > 0.0f;
  const double min_pixels = min_share * static_cast<double>(total);
  if (total == 0 || min_pixels <= 1.0) return 0;
  // A visited pixel is marked by negating its value (ink > 0 becomes < 0), so no label
  // image is allocated (fresh pages cost more than this whole pass on a 320 px scan).
  std::vector<Index> stack, members;
  Index removed = 0;
  for (Index start = 0; start < n; ++start) {
    if (!(p[start] > 0.0f)) continue;
    members.clear();
    stack.assign(1, start);
    p[start] = -p[start];
    while (!stack.empty()) {
      const Index i = stack.back();
      stack.pop_back();
      members.push_back(i);
      const Index y = i / w, x = i % w;
      for (Index dy = -1; dy <= 1; ++dy)
        for (Index dx = -1; dx <= 1; ++dx) {
          const Index yy = y + dy, xx = x + dx;
          if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
          const Index j = yy * w + xx;
          if (p[j] > 0.0f) {
            p[j] = -p[j];
            stack.push_back(j);
          }
        }
    }
    if (static_cast<double>(members.size()) < min_pixels) {
      for (Index i : members) p[i] = 0.0f;
      removed += static_cast<Index>(members.size());
    }
  }
  for (Index i = 0; i < n; ++i) p[i] = p[i] < 0.0f ? -p[i] : p[i];  // unmark the kept ink
  return removed;
}

// Zhang & Suen (1984) thinning: peels boundary pixels in two alternating sub-iterations
// until none can go without breaking connectivity or shortening a line end. Input ink > 0,
// output exactly 0 / 1. Pixels outside the image count as paper.
inline Tensor<float, 2> thin(TensorView<const float, 2> ink) {
  const Index h = ink.dim(0), w = ink.dim(1);
  // Padded by one pixel of paper on every side: (h + 2, w + 2).
  const Index W = w + 2;
  std::vector<std::uint8_t> b(static_cast<std::size_t>((h + 2) * W), 0);
  for (Index y = 0; y < h; ++y)
    for (Index x = 0; x < w; ++x) b[static_cast<std::size_t>((y + 1) * W + x + 1)] = ink(y, x) > 0.0f;
  // Only ink pixels can be peeled: visit the list of them (a tenth of a signature's box)
  // rather than the whole image. Deletions of a sub-iteration are applied after it, so the
  // visiting order does not change the result.
  std::vector<Index> live, drop;
  for (Index y = 1; y <= h; ++y)
    for (Index x = 1; x <= w; ++x)
      if (b[static_cast<std::size_t>(y * W + x)]) live.push_back(y * W + x);
  for (bool changed = true; changed;) {
    changed = false;
    for (int pass = 0; pass < 2; ++pass) {
      drop.clear();
      for (const Index i : live) {
          // Neighbours P2..P9 clockwise from north.
          const std::uint8_t q[8] = {b[static_cast<std::size_t>(i - W)],     b[static_cast<std::size_t>(i - W + 1)],
                                     b[static_cast<std::size_t>(i + 1)],     b[static_cast<std::size_t>(i + W + 1)],
                                     b[static_cast<std::size_t>(i + W)],     b[static_cast<std::size_t>(i + W - 1)],
                                     b[static_cast<std::size_t>(i - 1)],     b[static_cast<std::size_t>(i - W - 1)]};
          int count = 0, transitions = 0;
          for (int k = 0; k < 8; ++k) {
            count += q[k];
            transitions += !q[k] && q[(k + 1) % 8];
          }
          if (count < 2 || count > 6 || transitions != 1) continue;
          const bool ok = pass == 0 ? !(q[0] && q[2] && q[4]) && !(q[2] && q[4] && q[6])
                                    : !(q[0] && q[2] && q[6]) && !(q[0] && q[4] && q[6]);
          if (ok) drop.push_back(i);
        }
      for (Index i : drop) b[static_cast<std::size_t>(i)] = 0;
      if (!drop.empty()) {
        changed = true;
        std::erase_if(live, [&](Index i) { return !b[static_cast<std::size_t>(i)]; });
      }
    }
  }
  Tensor<float, 2> out(Shape{h, w});
  for (Index y = 0; y < h; ++y)
    for (Index x = 0; x < w; ++x) out(y, x) = b[static_cast<std::size_t>((y + 1) * W + x + 1)] ? 1.0f : 0.0f;
  return out;
}

// Every pixel within Euclidean distance sqrt(radius^2 + radius) of an ink pixel becomes 1
// (radius 1: the 3x3 square, a stroke 3 pixels wide around a skeleton); radius 0 binarises.
inline Tensor<float, 2> dilate(TensorView<const float, 2> ink, Index radius) {
  if (radius < 0) throw shape_error(twin::detail::concat("dilate: negative radius ", radius));
  const Index h = ink.dim(0), w = ink.dim(1), r2 = radius * radius + radius;
  Tensor<float, 2> out(Shape{h, w}, 0.0f);
  for (Index y = 0; y < h; ++y)
    for (Index x = 0; x < w; ++x) {
      if (ink(y, x) <= 0.0f) continue;
      for (Index dy = -radius; dy <= radius; ++dy)
        for (Index dx = -radius; dx <= radius; ++dx) {
          const Index yy = y + dy, xx = x + dx;
          if (dy * dy + dx * dx <= r2 && yy >= 0 && yy < h && xx >= 0 && xx < w) out(yy, xx) = 1.0f;
        }
    }
  return out;
}

}  // namespace twin::data
