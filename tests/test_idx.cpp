// The idx reader (MNIST / Fashion-MNIST files), on small files written here, plain and
// gzip-compressed: pixel values, the limit, and clear errors for wrong or damaged files.
#include <doctest/doctest.h>

#include <twin/io/idx.hpp>
#include <twin/io/image.hpp>  // both in one translation unit: no clashing names

#include <filesystem>
#include <fstream>
#include <vector>

namespace test_idx {  // file-local: the test files are compiled as unity batches

using namespace twin;
namespace fs = std::filesystem;

namespace {
std::vector<unsigned char> be32(std::uint32_t v) {
  return {static_cast<unsigned char>(v >> 24), static_cast<unsigned char>(v >> 16), static_cast<unsigned char>(v >> 8),
          static_cast<unsigned char>(v)};
}
// An idx3 file of n images of rows x cols, pixel k of image i = (7 i + k) mod 256.
std::vector<unsigned char> idx3(std::uint32_t n, std::uint32_t rows, std::uint32_t cols) {
  std::vector<unsigned char> b;
  for (auto v : {2051u, n, rows, cols})
    for (unsigned char c : be32(v)) b.push_back(c);
  for (std::uint32_t i = 0; i < n; ++i)
    for (std::uint32_t k = 0; k < rows * cols; ++k) b.push_back(static_cast<unsigned char>((7 * i + k) % 256));
  return b;
}
fs::path write(const std::string& name, const std::vector<unsigned char>& bytes, bool gz) {
  const fs::path p = fs::temp_directory_path() / ("twin_test_idx_" + name);
  if (gz) {
    gzFile f = gzopen(p.string().c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                             static_cast<std::streamsize>(bytes.size()));
  }
  return p;
}
}  // namespace

TEST_CASE("idx images and labels, plain and gzip") {
  for (bool gz : {false, true}) {
    CAPTURE(gz);
    const auto img = write(gz ? "img.gz" : "img", idx3(5, 3, 4), gz);
    const auto x = io::read_idx_images(img.string());
    REQUIRE(x.shape() == Shape{5, 1, 3, 4});
    CHECK(x(2, 0, 1, 3) == doctest::Approx(static_cast<float>(7 * 2 + 7) / 255.0f));
    CHECK(io::read_idx_images(img.string(), 2).shape() == Shape{2, 1, 3, 4});
    CHECK(io::read_idx_images(img.string(), 99).dim(0) == 5);
    std::vector<unsigned char> lb = be32(2049);
    for (unsigned char c : be32(4)) lb.push_back(c);
    for (unsigned char c : {9, 0, 3, 3}) lb.push_back(c);
    const auto lab = write(gz ? "lab.gz" : "lab", lb, gz);
    CHECK(io::read_idx_labels(lab.string()) == std::vector<int>{9, 0, 3, 3});
    CHECK(io::read_idx_labels(lab.string(), 3) == std::vector<int>{9, 0, 3});
    // A label file is not an image file and vice versa.
    CHECK_THROWS_WITH_AS(io::read_idx_images(lab.string()), doctest::Contains("magic 2051"), io_error);
    CHECK_THROWS_WITH_AS(io::read_idx_labels(img.string()), doctest::Contains("magic 2049"), io_error);
    fs::remove(img);
    fs::remove(lab);
  }
}

TEST_CASE("idx: truncated files and missing paths") {
  auto bytes = idx3(3, 2, 2);
  bytes.pop_back();
  const auto p = write("short", bytes, false);
  CHECK_THROWS_WITH_AS(io::read_idx_images(p.string()), doctest::Contains("pixel bytes"), io_error);
  fs::remove(p);
  CHECK_THROWS_WITH_AS(io::read_idx_images("/nonexistent/twin-idx"), doctest::Contains("cannot open"), io_error);
}

}  // namespace test_idx
