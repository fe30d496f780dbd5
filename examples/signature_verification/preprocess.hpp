#pragma once
// From a scan to the network's input, removing CEDAR's scanner shortcuts (paper brightness
// and contrast differ between genuine and forged scans): Otsu threshold, binarise (ink 1,
// paper exactly 0), drop specks, crop to the ink, fit into a fixed canvas keeping the aspect
// ratio, and redraw the strokes at one fixed width (the pen's width and the scan's contrast
// would otherwise still tell genuine from forged scans apart; docs/signature-verification.md).
#include <filesystem>
#include <string>
#include <vector>

#include <twin/tensor.hpp>

#include "dataset.hpp"

namespace sigver {

// The network's input and how a scan becomes it (stored in the model file).
struct Canvas {
  twin::Index height = 80;
  twin::Index width = 160;
  double speck_share = 0.002;     // drop ink components below this share of all ink before the crop (0: none)
  twin::Index stroke_radius = 1;  // >= 0: thin, then redraw strokes around the skeleton (1: 3 px); < 0: pen width
};

// What an image must hold to be a signature at all. Preprocessing crops to the ink and
// scales it up to the canvas, so anything (a blank page, one dust speck, a 2-pixel strip)
// would otherwise become a confident embedding: a blank page and a black one both give the
// empty canvas, and "verify white.png black.png" answered SAME WRITER.
struct SignatureRules {
  twin::Index min_side = 8;    // pixels, in each direction
  int min_contrast = 32;       // grey levels between the mean paper and the mean ink
  twin::Index min_ink = 16;    // ink pixels (darker than Otsu's threshold)
  double max_ink_share = 0.5;  // dark on light: more ink than paper is not a signature
};

// Empty when `img` (grey, dark ink on light paper) can be a signature; otherwise the reason.
std::string signature_problem(twin::TensorView<const std::uint8_t, 2> img, const SignatureRules& r = {});

// One file, loaded and preprocessed: (height, width) in [0, 1], paper exactly 0. An image
// that cannot be a signature is a twin::image_error "<path>: no signature: <reason>".
twin::Tensor<float, 2> load_preprocessed(const fs::path& path, const Canvas& c);

// Every file (N, 1, height, width), loaded on all threads (twin/data/parallel_load.hpp).
// Errors name the file, prefixed with where[i] when given (the pairs file's "FILE:LINE"
// that named it). With `rejected`, an image that is no signature (signature_problem) does
// not stop the load: its plane stays zero and rejected[i] holds its error (empty for the
// others).
twin::Tensor<float> load_images(const std::vector<fs::path>& paths, const Canvas& c,
                                std::vector<std::string>* rejected = nullptr, const std::vector<std::string>& where = {});
// Every file of `d`, as load_images.
twin::Tensor<float> load_all(const Dataset& d, const Canvas& c, std::vector<std::string>* rejected = nullptr);

}  // namespace sigver
