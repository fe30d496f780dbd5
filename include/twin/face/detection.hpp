#pragma once
// Face boxes: what a detector returns, their overlap, non-maximum suppression, and the
// pixels a box covers.
//   Box      x, y (top-left corner), w, h in pixels, and the detector's score
//   iou      |a n b| / |a u b|; 0 when the union is empty (two zero-area boxes)
//   nms      face-api's greedy suppression (ops/nonMaxSuppression): take the highest score,
//            drop every remaining box overlapping it by IoU > threshold, repeat. Ties go to
//            the later box, as face-api's stable ascending sort popped from the back does.
//            face-api's tiny face detector uses threshold 0.4.
//   clamp    the part of a box inside a w x h image (zero area when it lies outside)
//   pixel_rect, crop  the whole pixels of a box as face-api cuts a face out of the image
//            (Box::clipAtImageBorders: clipped to the image, then x, y, w, h each floored)
// A deliberate difference: face-api's IoU of two zero-area boxes is 0 / 0 = NaN, which
// suppresses the second box; here it is 0, which keeps it.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

#include "twin/error.hpp"
#include "twin/tensor.hpp"

namespace twin::face {

struct Box {
  double x = 0, y = 0, w = 0, h = 0;
  double score = 0;
  double right() const { return x + w; }
  double bottom() const { return y + h; }
  double area() const { return std::max(0.0, w) * std::max(0.0, h); }
};

inline double iou(const Box& a, const Box& b) {
  const double iw = std::max(0.0, std::min(a.right(), b.right()) - std::max(a.x, b.x));
  const double ih = std::max(0.0, std::min(a.bottom(), b.bottom()) - std::max(a.y, b.y));
  const double inter = iw * ih, uni = a.area() + b.area() - inter;
  return uni > 0 ? inter / uni : 0.0;
}

// nms's working lists, kept by a caller that suppresses often (detect_faces'
// FaceDetectorWorkspace), so that a call allocates nothing once they have grown.
struct NmsScratch {
  std::vector<std::size_t> order, keep;
  std::vector<char> gone;
};

// The indices of the boxes kept, highest score first, into s.keep.
inline void nms_indices_into(std::span<const Box> boxes, double iou_threshold, NmsScratch& s) {
  if (!(iou_threshold >= 0 && iou_threshold <= 1))
    throw error(twin::detail::concat("nms: the IoU threshold must be in [0, 1], got ", iou_threshold));
  s.order.resize(boxes.size());
  std::iota(s.order.begin(), s.order.end(), std::size_t{0});
  std::stable_sort(s.order.begin(), s.order.end(), [&](std::size_t a, std::size_t b) {
    return boxes[a].score > boxes[b].score || (boxes[a].score == boxes[b].score && a > b);
  });
  s.keep.clear();
  s.gone.assign(boxes.size(), 0);
  for (std::size_t i = 0; i < s.order.size(); ++i) {
    if (s.gone[i]) continue;
    s.keep.push_back(s.order[i]);
    for (std::size_t j = i + 1; j < s.order.size(); ++j)
      if (!s.gone[j] && iou(boxes[s.order[i]], boxes[s.order[j]]) > iou_threshold) s.gone[j] = 1;
  }
}
inline std::vector<std::size_t> nms_indices(std::span<const Box> boxes, double iou_threshold) {
  NmsScratch s;
  nms_indices_into(boxes, iou_threshold, s);
  return std::move(s.keep);
}

// The boxes kept, highest score first, into `out`.
inline void nms_into(std::span<const Box> boxes, double iou_threshold, NmsScratch& s, std::vector<Box>& out) {
  nms_indices_into(boxes, iou_threshold, s);
  out.clear();
  for (std::size_t i : s.keep) out.push_back(boxes[i]);
}
inline std::vector<Box> nms(std::span<const Box> boxes, double iou_threshold) {
  NmsScratch s;
  std::vector<Box> out;
  nms_into(boxes, iou_threshold, s, out);
  return out;
}

inline Box clamp(const Box& b, Index img_h, Index img_w) {
  const double x0 = std::clamp(b.x, 0.0, double(img_w)), y0 = std::clamp(b.y, 0.0, double(img_h));
  const double x1 = std::clamp(b.right(), 0.0, double(img_w)), y1 = std::clamp(b.bottom(), 0.0, double(img_h));
  return {x0, y0, std::max(0.0, x1 - x0), std::max(0.0, y1 - y0), b.score};
}

// Whole pixels: columns [x, x + w), rows [y, y + h); empty (w or h 0) when nothing is left.
struct PixelRect {
  Index x = 0, y = 0, w = 0, h = 0;
  bool empty() const { return w <= 0 || h <= 0; }
};

inline PixelRect pixel_rect(const Box& b, Index img_h, Index img_w) {
  if (!std::isfinite(b.x) || !std::isfinite(b.y) || !std::isfinite(b.w) || !std::isfinite(b.h))
    throw error(twin::detail::concat("face box: not finite: x ", b.x, " y ", b.y, " w ", b.w, " h ", b.h));
  const double x = std::max(b.x, 0.0), y = std::max(b.y, 0.0);
  const double w = std::min(b.right() - x, double(img_w) - x), h = std::min(b.bottom() - y, double(img_h) - y);
  PixelRect r{Index(std::floor(x)), Index(std::floor(y)), Index(std::floor(w)), Index(std::floor(h))};
  if (r.x >= img_w || r.y >= img_h || r.w <= 0 || r.h <= 0) return {};
  r.w = std::min(r.w, img_w - r.x);
  r.h = std::min(r.h, img_h - r.y);
  return r;
}

// The pixels of r from an h x w x channels image (row-major): r.h x r.w x channels.
inline std::vector<std::uint8_t> crop(const std::uint8_t* pixels, Index h, Index w, Index channels, const PixelRect& r) {
  if (h <= 0 || w <= 0 || channels <= 0)
    throw shape_error(twin::detail::concat("crop: expected an H x W x C image, got ", h, " x ", w, " x ", channels));
  if (r.empty() || r.x < 0 || r.y < 0 || r.x + r.w > w || r.y + r.h > h)
    throw shape_error(twin::detail::concat("crop: the rectangle x ", r.x, " y ", r.y, " w ", r.w, " h ", r.h,
                                           " is empty or not inside the ", w, " x ", h, " image"));
  std::vector<std::uint8_t> out(static_cast<std::size_t>(r.h * r.w * channels));
  for (Index y = 0; y < r.h; ++y)
    std::copy_n(pixels + ((r.y + y) * w + r.x) * channels, r.w * channels, out.begin() + y * r.w * channels);
  return out;
}

}  // namespace twin::face
