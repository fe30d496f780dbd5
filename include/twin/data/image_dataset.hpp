#pragma once
// A labelled collection of greyscale image files, from a folder-per-class layout or from an
// explicit list of (path, label), loaded on demand through a loader callback and prepared
// with twin/data/transform.hpp.
//
//   #include <twin/io/image.hpp>        // opt-in: compiles stb_image
//   auto ds = twin::data::ImageDataset::from_folders("att_faces", twin::io::load_image,
//                                                    {.height = 112, .width = 92});
//   auto img = ds.load(i);                // Image (H, W) in [0, 1], resized / inverted
//   auto pairs = twin::data::balanced_pairs(ds.labels(), 1000, rng);
//
// The loader is any callable std::string -> Tensor<std::uint8_t, 2> (twin::io::load_image,
// or a test's fake), so this header does not pull in an image decoder.
//
// from_folders(root): every sub-folder of root is one class, named by the folder; labels are
// 0, 1, ... in sorted folder-name order; files are every regular file with an image
// extension (.png .jpg .jpeg .pgm .ppm .pnm, any case), in sorted path order, so the same
// tree always gives the same indices. Folders without images are not classes.
// Empty datasets and datasets with one class are a twin::error naming the folder, because
// no different pairs (or nothing at all) could be drawn from them.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "twin/data/transform.hpp"
#include "twin/error.hpp"

namespace twin::data {

using ImageLoader = std::function<Tensor<std::uint8_t, 2>(const std::string&)>;

struct PrepareOptions {
  Index height = 0;     // resize to height x width when both are > 0
  Index width = 0;
  bool invert = false;  // 1 - x: dark ink on light paper becomes ink = 1, background = 0
};

class ImageDataset {
 public:
  struct Item {
    std::string path;
    int label = 0;
  };

  ImageDataset(std::vector<Item> items, std::vector<std::string> class_names, ImageLoader loader,
               PrepareOptions prepare = {}, const std::string& where = "dataset")
      : items_(std::move(items)), names_(std::move(class_names)), loader_(std::move(loader)), prep_(prepare) {
    if (!loader_) throw error(where + ": no image loader given");
    if (items_.empty()) throw error(where + ": empty (no images)");
    for (const auto& it : items_) labels_.push_back(it.label);
    std::vector<int> distinct = labels_;
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    if (distinct.size() < 2)
      throw error(twin::detail::concat(where, ": only one class (", items_.size(),
                                       " images, all labelled ", distinct.front(),
                                       "); a Siamese dataset needs at least two classes"));
    num_classes_ = static_cast<Index>(distinct.size());
  }

  // An explicit list of (path, label). Class names are the label numbers.
  static ImageDataset from_list(const std::vector<std::pair<std::string, int>>& list, ImageLoader loader,
                                PrepareOptions prepare = {}) {
    std::vector<Item> items;
    std::vector<int> seen;
    for (const auto& [p, l] : list) {
      items.push_back({p, l});
      seen.push_back(l);
    }
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    std::vector<std::string> names;
    for (int l : seen) names.push_back(std::to_string(l));
    return ImageDataset(std::move(items), std::move(names), std::move(loader), prepare, "image list");
  }

  static ImageDataset from_folders(const std::filesystem::path& root, ImageLoader loader, PrepareOptions prepare = {}) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(root, ec)) throw io_error("'" + root.string() + "': not a folder");
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(root, ec))
      if (e.is_directory()) dirs.push_back(e.path());
    if (ec) throw io_error("'" + root.string() + "': cannot list: " + ec.message());
    std::sort(dirs.begin(), dirs.end());
    std::vector<Item> items;
    std::vector<std::string> names;
    for (const auto& d : dirs) {
      std::vector<std::string> files;
      for (const auto& e : fs::directory_iterator(d, ec))
        if (e.is_regular_file() && is_image_name(e.path())) files.push_back(e.path().string());
      if (files.empty()) continue;
      std::sort(files.begin(), files.end());
      const int label = static_cast<int>(names.size());
      names.push_back(d.filename().string());
      for (auto& f : files) items.push_back({std::move(f), label});
    }
    return ImageDataset(std::move(items), std::move(names), std::move(loader), prepare, twin::detail::concat("'", root.string(), "'"));
  }

  static bool is_image_name(const std::filesystem::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".pgm" || ext == ".ppm" || ext == ".pnm";
  }

  Index size() const { return static_cast<Index>(items_.size()); }
  Index num_classes() const { return num_classes_; }
  const std::vector<int>& labels() const { return labels_; }
  int label(Index i) const { return items_.at(static_cast<std::size_t>(i)).label; }
  const std::string& path(Index i) const { return items_.at(static_cast<std::size_t>(i)).path; }
  const std::vector<std::string>& class_names() const { return names_; }
  const PrepareOptions& prepare_options() const { return prep_; }

  // Image i as floats in [0, 1], resized and inverted as the PrepareOptions say.
  Image load(Index i) const {
    Image img = to_float(loader_(path(i)));
    if (prep_.height > 0 && prep_.width > 0) img = resize(img, prep_.height, prep_.width);
    if (prep_.invert) img = invert(img);
    return img;
  }

 private:
  std::vector<Item> items_;
  std::vector<std::string> names_;
  ImageLoader loader_;
  PrepareOptions prep_;
  std::vector<int> labels_;
  Index num_classes_ = 0;
};

// Copies image img (H, W) into sample i of an (N, 1, H, W) batch.
inline void copy_to_batch(const Image& img, TensorView<float> batch, Index i) {
  if (batch.rank() != 4 || batch.dim(1) != 1 || batch.dim(2) != img.dim(0) || batch.dim(3) != img.dim(1))
    throw shape_error(twin::detail::concat("copy_to_batch: image ", img.shape().str(), " does not fit batch ",
                                           batch.shape().str()));
  std::copy(img.begin(), img.end(), batch.data() + i * img.size());
}

}  // namespace twin::data
