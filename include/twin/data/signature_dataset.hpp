#pragma once
// Where the signatures are and who wrote them.
//
// Two layouts are recognised under the data folder:
//   CEDAR    full_org/original_W_N.png (genuine) and full_forg/forgeries_W_N.png (skilled
//            forgeries of writer W)
//   generic  <writer>/genuine/*.<img> and <writer>/forged/*.<img> (forged/ may be absent);
//            any format twin::io::load_image reads (PNG, JPEG, PGM/PPM)
// Writers are named by strings, in natural order (twin/data/natural_order.hpp: "2" before "10").
//
//   const auto all = twin::data::discover_signatures("data/cedar");
//   const auto split = twin::data::split_writers(all, {}, {}, 5, 10, /*seed=*/1);
//   const auto test = twin::data::subset(all, split.test);
#include <cstdint>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "twin/data/group_split.hpp"
#include "twin/data/image_dataset.hpp"
#include "twin/data/natural_order.hpp"
#include "twin/error.hpp"

namespace twin::data {

struct SignatureFile {
  std::string writer;
  bool genuine = true;
  std::filesystem::path path;
};

struct SignatureDataset {
  std::filesystem::path root;
  std::string layout;                // "cedar" or "generic"
  std::vector<std::string> writers;  // natural order
  std::vector<SignatureFile> files;  // grouped by writer, genuine first, then by name
  std::map<std::string, std::vector<int>> genuine, forged;  // writer -> indices into files
};

namespace detail {
inline std::vector<std::filesystem::path> images_in(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file() && ImageDataset::is_image_name(e.path())) out.push_back(e.path());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return natural_less(a.stem().string(), b.stem().string()); });
  return out;
}
// Sorts the files (by writer, genuine first) and rebuilds writers, genuine and forged.
inline void index_signature_files(SignatureDataset& d) {
  std::stable_sort(d.files.begin(), d.files.end(), [](const SignatureFile& a, const SignatureFile& b) {
    if (a.writer != b.writer) return natural_less(a.writer, b.writer);
    return a.genuine > b.genuine;
  });
  d.genuine.clear();
  d.forged.clear();
  std::set<std::string> ws;
  for (int i = 0; i < static_cast<int>(d.files.size()); ++i) {
    const auto& f = d.files[static_cast<std::size_t>(i)];
    ws.insert(f.writer);
    (f.genuine ? d.genuine : d.forged)[f.writer].push_back(i);
  }
  d.writers.assign(ws.begin(), ws.end());
  sort_natural(d.writers);
}
}  // namespace detail

// Reads the layout of `root`; throws twin::io_error naming the folder or file at fault
// (missing folder, a writer folder with no genuine image, an unparsable CEDAR name).
inline SignatureDataset discover_signatures(const std::filesystem::path& root) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(root)) throw io_error("data folder '" + root.string() + "' does not exist");
  SignatureDataset d;
  d.root = root;
  if (fs::is_directory(root / "full_org")) {
    d.layout = "cedar";
    const std::regex org(R"(original_(\d+)_(\d+)\.png)"), forg(R"(forgeries_(\d+)_(\d+)\.png)");
    for (const auto& [sub, re, genuine] : {std::tuple{"full_org", &org, true}, std::tuple{"full_forg", &forg, false}}) {
      const fs::path dir = root / sub;
      if (!fs::is_directory(dir)) {
        if (genuine) throw io_error("CEDAR folder '" + dir.string() + "' does not exist");
        continue;
      }
      for (const auto& p : detail::images_in(dir)) {
        std::smatch m;
        const std::string name = p.filename().string();
        if (!std::regex_match(name, m, *re))
          throw io_error("'" + p.string() + "': not a CEDAR name (expected " +
                         (genuine ? "original_W_N.png" : "forgeries_W_N.png") + ")");
        d.files.push_back({m[1].str(), genuine, p});
      }
    }
    if (d.files.empty()) throw io_error("CEDAR folder '" + (root / "full_org").string() + "' holds no images");
  } else {
    d.layout = "generic";
    std::vector<fs::path> writer_dirs;
    for (const auto& e : fs::directory_iterator(root))
      if (e.is_directory()) writer_dirs.push_back(e.path());
    if (writer_dirs.empty())
      throw io_error("data folder '" + root.string() +
                     "' holds neither the CEDAR layout (full_org/, full_forg/) nor writer folders "
                     "(<writer>/genuine/*.png, <writer>/forged/*.png)");
    for (const auto& w : writer_dirs) {
      const std::string writer = w.filename().string();
      if (!fs::is_directory(w / "genuine"))
        throw io_error("writer folder '" + w.string() + "' has no 'genuine' folder (expected " + writer +
                       "/genuine/*.png and optionally " + writer + "/forged/*.png)");
      const auto gen = detail::images_in(w / "genuine");
      if (gen.empty()) throw io_error("writer folder '" + (w / "genuine").string() + "' holds no images");
      for (const auto& p : gen) d.files.push_back({writer, true, p});
      if (fs::is_directory(w / "forged"))
        for (const auto& p : detail::images_in(w / "forged")) d.files.push_back({writer, false, p});
    }
  }
  detail::index_signature_files(d);
  for (const auto& w : d.writers)
    if (d.genuine[w].empty())
      throw io_error("writer '" + w + "' in '" + root.string() + "' has forgeries but no genuine signature");
  return d;
}

// Only the given writers' files (indices are rebuilt).
inline SignatureDataset subset(const SignatureDataset& d, const std::vector<std::string>& writers) {
  const std::set<std::string> keep(writers.begin(), writers.end());
  SignatureDataset s;
  s.root = d.root;
  s.layout = d.layout;
  for (const auto& f : d.files)
    if (keep.count(f.writer)) s.files.push_back(f);
  detail::index_signature_files(s);
  return s;
}

using WriterSplit = GroupSplit<std::string>;

// The seeded split (n_val, n_test writers: twin/data/group_split.hpp) or the explicit one when
// val or test is given, each part in natural order. Writers listed that are not in the data
// set, or a split without test or validation writers, are an error.
inline WriterSplit split_writers(const SignatureDataset& d, const std::vector<std::string>& val,
                                 const std::vector<std::string>& test, int n_val, int n_test, std::uint64_t seed) {
  WriterSplit s = (val.empty() && test.empty()) ? split_groups(d.writers, n_val, n_test, seed)
                                                : split_groups_explicit(d.writers, val, test);
  for (auto* v : {&s.train, &s.val, &s.test}) sort_natural(*v);
  if (s.test.empty()) throw error("the split has no test writer");
  if (s.val.empty()) throw error("the split has no validation writer");
  return s;
}

}  // namespace twin::data
