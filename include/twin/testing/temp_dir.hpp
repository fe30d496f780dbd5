#pragma once
// A fresh folder under the system's temporary folder for one test, removed (with what it
// holds) when the object goes out of scope. The process id is part of the name, so two test
// runs at once do not share a folder.
//
//   const twin::testing::TempDir d("pairs");
//   write(d.path / "a.png");
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace twin::testing {

struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& name)
      : path(std::filesystem::temp_directory_path() / ("twin_" + name + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

// Writes `bytes` to `p`, creating its folders.
inline void write_file(const std::filesystem::path& p, const std::string& bytes) {
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

}  // namespace twin::testing
