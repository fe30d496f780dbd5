#pragma once
// Where twin's examples find their data sets: the --data option, else $TWIN_DATA, else
// ../shared/data relative to the working directory or to the source tree (TWIN_SOURCE_DIR,
// defined by examples/CMakeLists.txt). When none exists the error says what was tried.
// Part of the examples, not of the installed library: a program of yours knows where its
// data are.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <twin/error.hpp>

namespace twin_examples {

inline std::filesystem::path find_data_dir(const std::string& from_option, const std::string& subfolder) {
  namespace fs = std::filesystem;
  std::vector<fs::path> tried;
  auto ok = [&](const fs::path& root) {
    tried.push_back(root / subfolder);
    return !root.empty() && fs::is_directory(root / subfolder);
  };
  if (!from_option.empty()) {
    if (ok(from_option)) return fs::path(from_option) / subfolder;
    if (fs::is_directory(from_option) && subfolder.empty()) return from_option;
    throw twin::io_error("data folder '" + (fs::path(from_option) / subfolder).string() + "' (from --data) does not exist");
  }
  if (const char* env = std::getenv("TWIN_DATA"); env && *env) {
    if (ok(env)) return fs::path(env) / subfolder;
    throw twin::io_error("data folder '" + (fs::path(env) / subfolder).string() + "' (from $TWIN_DATA) does not exist");
  }
  for (fs::path p : {fs::path("../shared/data"), fs::path("../../shared/data"), fs::path("../../../shared/data")
#ifdef TWIN_SOURCE_DIR
                     , fs::path(TWIN_SOURCE_DIR) / "../shared/data"
#endif
       })
    if (ok(p)) return p / subfolder;
  std::string msg = "cannot find the data set '" + subfolder + "'. Tried:";
  for (const auto& t : tried) msg += " " + t.string();
  msg += ". Pass --data DIR or set TWIN_DATA to a folder holding '" + subfolder +
         "' (the shared data sets; see ../shared/data/README.md for their sources).";
  throw twin::io_error(msg);
}

// As find_data_dir, but a missing data set prints "SKIPPED: <what was tried>" and gives
// nullopt, for a program whose test registration skips on exit code 77.
inline std::optional<std::filesystem::path> find_data_dir_or_skip(const std::string& from_option,
                                                                  const std::string& subfolder) {
  try {
    return find_data_dir(from_option, subfolder);
  } catch (const twin::io_error& e) {
    std::printf("SKIPPED: %s\n", e.what());
    return std::nullopt;
  }
}

}  // namespace twin_examples
