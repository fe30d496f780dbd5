#pragma once
// From a scan to the network's input, removing CEDAR's scanner shortcuts (paper brightness
// and contrast differ between genuine and forged scans): Otsu threshold, binarise (ink 1,
// paper exactly 0), crop to the ink, fit into a fixed canvas keeping the aspect ratio.
#include <filesystem>
#include <vector>

#include <twin/tensor.hpp>

#include "dataset.hpp"

namespace sigver {

struct Canvas {
  twin::Index height = 80;
  twin::Index width = 160;
};

// One file, loaded and preprocessed: (height, width) in [0, 1], paper exactly 0.
twin::Tensor<float, 2> load_preprocessed(const fs::path& path, const Canvas& c);

// Every file of `d` (in parallel): (N, 1, height, width). Errors name the file.
twin::Tensor<float, 4> load_all(const Dataset& d, const Canvas& c);

}  // namespace sigver
