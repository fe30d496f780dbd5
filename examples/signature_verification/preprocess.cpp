#include "preprocess.hpp"

#include <twin/data/binarize.hpp>
#include <twin/io/image.hpp>
#include <twin/context.hpp>

namespace sigver {

twin::Tensor<float, 2> load_preprocessed(const fs::path& path, const Canvas& c) {
  const auto raw = twin::io::load_image(path);
  return twin::data::normalise_document(raw.view(), c.height, c.width,
                                        {.speck_share = c.speck_share, .stroke_radius = c.stroke_radius});
}

twin::Tensor<float, 4> load_all(const Dataset& d, const Canvas& c) {
  const auto n = static_cast<twin::Index>(d.files.size());
  twin::Tensor<float, 4> out(twin::Shape{n, 1, c.height, c.width});
  const twin::Index plane = c.height * c.width;
  twin::Context().parallel_for(0, n, 1, [&](twin::Index lo, twin::Index hi) {
    for (twin::Index i = lo; i < hi; ++i) {
      const auto img = load_preprocessed(d.files[static_cast<std::size_t>(i)].path, c);
      std::copy(img.begin(), img.end(), out.data() + i * plane);
    }
  });
  return out;
}

}  // namespace sigver
