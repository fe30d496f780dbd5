#include "preprocess.hpp"

#include <twin/data/binarize.hpp>
#include <twin/io/image.hpp>
#include <twin/data/parallel_load.hpp>

namespace sigver {

namespace {
// Thrown for an image that decodes but is no signature, so load_all can tell it from a
// broken file.
struct not_a_signature : twin::image_error {
  using twin::image_error::image_error;
};

int otsu_of(twin::TensorView<const std::uint8_t, 2> img) { return img.size() > 0 ? twin::data::otsu_threshold(img) : -1; }

// signature_problem, given Otsu's threshold `t` of img (computed once per image: the
// preprocessing binarises at the same level).
std::string problem_at(twin::TensorView<const std::uint8_t, 2> img, const SignatureRules& r, int t) {
  using twin::detail::concat;
  const twin::Index h = img.dim(0), w = img.dim(1);
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
}  // namespace

std::string signature_problem(twin::TensorView<const std::uint8_t, 2> img, const SignatureRules& r) {
  return problem_at(img, r, otsu_of(img));
}

twin::Tensor<float, 2> load_preprocessed(const fs::path& path, const Canvas& c) {
  const auto raw = twin::io::load_image(path);
  const int t = otsu_of(raw.view());
  if (const std::string why = problem_at(raw.view(), {}, t); !why.empty())
    throw not_a_signature(path.string() + ": no signature: " + why);
  return twin::data::normalise_document(raw.view(), c.height, c.width,
                                        {.speck_share = c.speck_share, .stroke_radius = c.stroke_radius, .threshold = t});
}

twin::Tensor<float> load_images(const std::vector<fs::path>& paths, const Canvas& c, std::vector<std::string>* rejected,
                                const std::vector<std::string>& where) {
  if (paths.empty()) throw twin::error("no images to load");
  if (rejected) rejected->assign(paths.size(), std::string());
  const auto n = static_cast<twin::Index>(paths.size());
  return twin::data::load_images(n, c.height, c.width, [&](twin::Index i) {
    const auto k = static_cast<std::size_t>(i);
    try {
      return load_preprocessed(paths[k], c);
    } catch (const twin::io_error& e) {
      if (rejected && dynamic_cast<const not_a_signature*>(&e)) {
        (*rejected)[k] = e.what();  // each call writes its own slot
        return twin::data::Image(twin::Shape{c.height, c.width}, 0.0f);
      }
      if (where.empty()) throw;
      throw twin::io_error(where[k] + ": " + e.what());
    }
  });
}

twin::Tensor<float> load_all(const Dataset& d, const Canvas& c, std::vector<std::string>* rejected) {
  std::vector<fs::path> paths;
  for (const auto& f : d.files) paths.push_back(f.path);
  return load_images(paths, c, rejected);
}

}  // namespace sigver
