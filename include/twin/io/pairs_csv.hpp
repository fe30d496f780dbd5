#pragma once
// Pairs files: one pair of images a line, `path1,path2,label` (label 1 = same identity, e.g.
// the same writer's genuine signature; 0 = different: a forgery or another person), read as
// CSV (twin/io/csv.hpp: BOM, quotes, CRLF). Relative paths are relative to the pairs file's
// folder. A header line "path1,path2,label" and blank lines or lines starting with '#' are
// skipped.
//
//   for (const auto& p : twin::io::read_pairs_csv("pairs.csv")) use(p.a, p.b, p.same);
//
// Errors are twin::io_error "FILE:LINE: reason" for a malformed line, a bad label or (with
// `check_files`) a path that does not exist; "... 'FILE' ..." for a file without pairs.
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "twin/error.hpp"
#include "twin/io/csv.hpp"

namespace twin::io {

struct PairLine {
  std::filesystem::path a, b;
  bool same = false;
  int line = 0;  // 1-based line in the file
};

inline std::vector<PairLine> parse_pairs_csv(std::string_view text, const std::filesystem::path& file, bool check_files) {
  namespace fs = std::filesystem;
  const std::string name = file.string();
  auto fail = [&](int line, const std::string& why) { throw io_error(name + ":" + std::to_string(line) + ": " + why); };
  std::vector<PairLine> out;
  bool first = true;
  for (auto& row : parse_csv(text, name)) {
    auto& cols = row.fields;
    const bool header = first && cols.size() == 3 && cols[2] == "label";
    first = false;
    if (header) continue;
    if (cols.size() != 3)
      fail(row.line, "expected 3 comma-separated fields path1,path2,label, got " + std::to_string(cols.size()));
    if (cols[2] != "0" && cols[2] != "1")
      fail(row.line, "label must be 1 (same writer, genuine) or 0 (different), got " + quoted_excerpt(cols[2]));
    PairLine p;
    p.line = row.line;
    p.same = cols[2] == "1";
    for (std::size_t k = 0; k < 2; ++k) {
      if (cols[k].empty()) fail(row.line, "empty path" + std::to_string(k + 1));
      fs::path path = cols[k];
      if (path.is_relative()) path = file.parent_path() / path;
      std::error_code ec;  // a name too long for the file system is "does not exist" too
      if (check_files && !fs::is_regular_file(path, ec))
        fail(row.line, "image " + quoted_excerpt(path.string(), 200) + " does not exist");
      (k == 0 ? p.a : p.b) = path;
    }
    out.push_back(std::move(p));
  }
  if (out.empty()) throw io_error("pairs file '" + name + "' holds no pairs");
  return out;
}

// Reads and parses `file`, checking that every image exists; at most 256 MB.
inline std::vector<PairLine> read_pairs_csv(const std::filesystem::path& file) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec || !fs::is_regular_file(file)) throw io_error("cannot open pairs file '" + file.string() + "'");
  if (size > (std::uintmax_t{256} << 20)) throw io_error("pairs file '" + file.string() + "' is larger than 256 MB");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw io_error("cannot open pairs file '" + file.string() + "'");
  std::string text(static_cast<std::size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  text.resize(static_cast<std::size_t>(in.gcount()));
  return parse_pairs_csv(text, file, true);
}

}  // namespace twin::io
