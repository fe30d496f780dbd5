#pragma once
// Is there a signature (dark ink on light paper) in an image at all? Preprocessing crops to
// the ink and scales it up to the canvas (twin/data/binarize.hpp: normalise_document), so
// anything (a blank page, one dust speck, a 2-pixel strip) would otherwise become a
// confident embedding: a blank page and a black one both give the empty canvas, and a
// verifier answered "same writer" for them.
//
//   if (const auto why = twin::data::ink_problem(img.view()); !why.empty()) refuse(why);
#include <cstdint>
#include <string>

#include "twin/data/binarize.hpp"
#include "twin/error.hpp"
#include "twin/tensor.hpp"

namespace twin::data {

// What an image must hold to be a signature.
struct InkRules {
  Index min_side = 8;          // pixels, in each direction
  int min_contrast = 32;       // grey levels between the mean paper and the mean ink
  Index min_ink = 16;          // ink pixels (darker than Otsu's threshold)
  double max_ink_share = 0.5;  // dark on light: more ink than paper is not a signature
};

// Thrown for an image that decodes but holds no signature, so a caller can tell it from a
// broken file.
struct no_ink_error : image_error {
  using image_error::image_error;
};

// Otsu's threshold of `img` (twin/data/binarize.hpp), -1 for an empty image.
inline int ink_threshold(TensorView<const std::uint8_t, 2> img) { return img.size() > 0 ? otsu_threshold(img) : -1; }

// Empty when `img` (grey) can be a signature; otherwise the reason. `t` is ink_threshold(img)
// when the caller has it already (the preprocessing binarises at the same level).
inline std::string ink_problem(TensorView<const std::uint8_t, 2> img, const InkRules& r = {}, int t = -2) {
  using twin::detail::concat;
  if (t == -2) t = ink_threshold(img);
  const Index h = img.dim(0), w = img.dim(1);
  if (h < r.min_side || w < r.min_side)
    return concat("too small: ", w, " x ", h, " pixels (a signature needs at least ", r.min_side, " in each direction)");
  if (t < 0) return concat("blank: every pixel has the grey level ", int(img.data()[0]));
  double ink = 0, ink_sum = 0, paper_sum = 0;
  for (const std::uint8_t v : img.span()) {
    if (v <= t) ink += 1, ink_sum += v;
    else paper_sum += v;
  }
  const double n = static_cast<double>(img.size()), paper = n - ink;
  const double contrast = paper_sum / paper - ink_sum / ink;
  if (contrast < r.min_contrast)
    return concat("blank: no ink darker than the paper (contrast ", static_cast<int>(contrast), " grey levels, at least ",
                  r.min_contrast, " needed)");
  if (ink < static_cast<double>(r.min_ink))
    return concat("too little ink: ", static_cast<long>(ink), " dark pixels (at least ", r.min_ink, ")");
  if (ink / n > r.max_ink_share)
    return concat("more ink than paper: ", static_cast<int>(100 * ink / n),
                  "% of the pixels are dark (a signature is dark ink on light paper)");
  return {};
}

}  // namespace twin::data
