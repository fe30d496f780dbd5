#pragma once
// Where the signatures are and who wrote them.
//
// Two layouts are recognised under the data folder:
//   CEDAR    full_org/original_W_N.png (genuine) and full_forg/forgeries_W_N.png (skilled
//            forgeries of writer W)
//   generic  <writer>/genuine/*.<img> and <writer>/forged/*.<img> (forged/ may be absent);
//            any format twin::io::load_image reads (PNG, JPEG, PGM/PPM)
// Writers are named by strings; numeric names sort as numbers ("2" before "10").
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <twin/data/group_split.hpp>

namespace sigver {

namespace fs = std::filesystem;

struct SignatureFile {
  std::string writer;
  bool genuine = true;
  fs::path path;
};

struct Dataset {
  fs::path root;
  std::string layout;                // "cedar" or "generic"
  std::vector<std::string> writers;  // natural order
  std::vector<SignatureFile> files;  // grouped by writer, genuine first, then by name
  std::map<std::string, std::vector<int>> genuine, forged;  // writer -> indices into files
};

// Natural order: numbers by value, numbers before other names, others by text.
bool writer_less(const std::string& a, const std::string& b);
void sort_writers(std::vector<std::string>& w);

// Reads the layout of `root`; throws twin::io_error naming the folder or file at fault
// (missing folder, a writer folder with no genuine image, an unparsable CEDAR name).
Dataset discover(const fs::path& root);

// Only the given writers' files (indices are rebuilt).
Dataset subset(const Dataset& d, const std::vector<std::string>& writers);

using Split = twin::data::GroupSplit<std::string>;

// The default seeded split (n_val, n_test) or the explicit one when val/test are given.
// Writers listed that are not in the data set are an error.
Split make_split(const Dataset& d, const std::vector<std::string>& val, const std::vector<std::string>& test,
                 int n_val, int n_test, std::uint64_t seed);

std::string join(const std::vector<std::string>& v, const std::string& sep = " ");

}  // namespace sigver
