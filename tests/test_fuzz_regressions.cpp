// Replays every input the fuzzers (tests/fuzz/, scripts/fuzz.sh) ever crashed on. Each must
// now be rejected with the library's own error, or decode, and never crash; the sanitizer
// build runs this under ASan + UBSan like the fuzzer did.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "twin/io/image.hpp"
#include "twin/io/safetensors.hpp"

namespace test_fuzz_regressions {  // file-local: the test files are compiled as unity batches

namespace fs = std::filesystem;

// Inputs under image-stb-ub/ trigger arithmetic undefined behaviour inside stb_image 2.27
// itself (see tests/fuzz/ubsan.supp, docs/robustness.md): a sanitizer build without
// recovery would stop on them, so only the plain build replays those.
#if defined(__SANITIZE_ADDRESS__)
#define TWIN_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define TWIN_SANITIZED 1
#endif
#endif

namespace {
std::vector<fs::path> files_in(const std::string& target) {
  std::vector<fs::path> out;
  const fs::path dir = fs::path(TWIN_TEST_DATA_DIR) / "fuzz-regressions" / target;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && e.path().filename() != "README.md") out.push_back(e.path());
  return out;
}
std::vector<std::uint8_t> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
}  // namespace

TEST_CASE("image fuzz regressions are rejected cleanly") {
  auto files = files_in("image");
#ifndef TWIN_SANITIZED
  for (const auto& f : files_in("image-stb-ub")) files.push_back(f);
#endif
  MESSAGE("replaying " << files.size() << " image inputs");
  for (const auto& f : files) {
    CAPTURE(f.filename().string());
    try {
      (void)twin::io::decode_image(read_file(f), f.filename().string());
    } catch (const twin::image_error& e) {
      CHECK(std::string(e.what()).find(f.filename().string() + ": ") == 0);
    }
  }
}

TEST_CASE("safetensors fuzz regressions are rejected cleanly") {
  const auto files = files_in("safetensors");
  MESSAGE("replaying " << files.size() << " safetensors inputs");
  for (const auto& f : files) {
    CAPTURE(f.filename().string());
    try {
      (void)twin::io::SafeTensors::parse(read_file(f), f.filename().string());
    } catch (const twin::io_error& e) {
      CHECK(std::string(e.what()).find(f.filename().string() + ": ") == 0);
    }
  }
}

}  // namespace test_fuzz_regressions
