#pragma once
// From a scan to the network's input, removing CEDAR's scanner shortcuts (paper brightness
// and contrast differ between genuine and forged scans): Otsu threshold, binarise (ink 1,
// paper exactly 0), drop specks, crop to the ink, fit into a fixed canvas keeping the aspect
// ratio, and redraw the strokes at one fixed width (the pen's width and the scan's contrast
// would otherwise still tell genuine from forged scans apart; docs/signature-verification.md).
#include <filesystem>
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

// One file, loaded and preprocessed: (height, width) in [0, 1], paper exactly 0.
twin::Tensor<float, 2> load_preprocessed(const fs::path& path, const Canvas& c);

// Every file of `d` (in parallel): (N, 1, height, width). Errors name the file.
twin::Tensor<float, 4> load_all(const Dataset& d, const Canvas& c);

}  // namespace sigver
