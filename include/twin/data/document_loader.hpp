#pragma once
// From scans of documents (signatures, handwriting) to a network's input: each file decoded,
// checked for ink (twin/data/ink_check.hpp) and normalised (twin/data/binarize.hpp:
// Otsu threshold, binarise with ink 1 and paper exactly 0, drop specks, crop to the ink, fit
// into a fixed canvas keeping the aspect ratio, redraw the strokes at one width), many files
// at once on all threads (twin/data/parallel_load.hpp).
//
//   const twin::data::DocumentCanvas canvas{.height = 80, .width = 160};
//   auto x = twin::data::load_documents(paths, canvas);   // (N, 1, 80, 160)
//   std::vector<std::string> rejected;                    // or: skip images without ink
//   auto y = twin::data::load_documents(paths, canvas, &rejected);
#include <filesystem>
#include <string>
#include <vector>

#include "twin/data/binarize.hpp"
#include "twin/data/ink_check.hpp"
#include "twin/data/parallel_load.hpp"
#include "twin/error.hpp"
#include "twin/io/image.hpp"
#include "twin/tensor.hpp"

namespace twin::data {

// The network's input and how a scan becomes it.
struct DocumentCanvas {
  Index height = 80;
  Index width = 160;
  double speck_share = 0.002;  // drop ink components below this share of all ink before the crop (0: none)
  Index stroke_radius = 1;     // >= 0: thin, then redraw strokes around the skeleton (1: 3 px); < 0: pen width
  double fixed_scale = 0.0;    // > 0: every scan at this scale, larger ones shrunk to fit; 0: fill the canvas
};

// One file, loaded and preprocessed: (height, width) in [0, 1], paper exactly 0. An image
// without a signature in it is a no_ink_error "<path>: no signature: <reason>".
inline Tensor<float, 2> load_document(const std::filesystem::path& path, const DocumentCanvas& c) {
  const auto raw = io::load_image(path);
  const int t = ink_threshold(raw.view());
  if (const std::string why = ink_problem(raw.view(), {}, t); !why.empty())
    throw no_ink_error(path.string() + ": no signature: " + why);
  return normalise_document(raw.view(), c.height, c.width,
                            {.speck_share = c.speck_share, .stroke_radius = c.stroke_radius, .threshold = t, .fixed_scale = c.fixed_scale});
}

// Every file (N, 1, height, width), loaded on all threads. Errors name the file, prefixed
// with where[i] when given (e.g. the "FILE:LINE" of the list that named it). With `rejected`,
// an image without ink does not stop the load: its plane stays zero and rejected[i] holds
// its error (empty for the others).
inline Tensor<float> load_documents(const std::vector<std::filesystem::path>& paths, const DocumentCanvas& c,
                                    std::vector<std::string>* rejected = nullptr, const std::vector<std::string>& where = {}) {
  if (paths.empty()) throw error("no images to load");
  if (rejected) rejected->assign(paths.size(), std::string());
  const auto n = static_cast<Index>(paths.size());
  return load_images(n, c.height, c.width, [&](Index i) {
    const auto k = static_cast<std::size_t>(i);
    try {
      return load_document(paths[k], c);
    } catch (const io_error& e) {
      if (rejected && dynamic_cast<const no_ink_error*>(&e)) {
        (*rejected)[k] = e.what();  // each call writes its own slot
        return Tensor<float, 2>(Shape{c.height, c.width}, 0.0f);
      }
      if (where.empty()) throw;
      throw io_error(where[k] + ": " + e.what());
    }
  });
}

}  // namespace twin::data
