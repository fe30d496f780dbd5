// twin/data/ink_check.hpp and document_loader.hpp: images without a signature are told
// apart from broken files, errors name the file, the smallest signature survives.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <twin/data/document_loader.hpp>
#include <twin/report/png.hpp>
#include <twin/testing/error_message.hpp>
#include <twin/testing/temp_dir.hpp>

namespace test_document_loader {

namespace fs = std::filesystem;
using namespace twin::data;
using twin::testing::contains;
using twin::testing::error_message;
using twin::testing::TempDir;
using twin::testing::write_file;


TEST_CASE("ink_problem: blank, tiny, speck-only, dark and faint images are no signature") {
  auto problem = [](int w, int h, int grey) {
    twin::Tensor<std::uint8_t, 2> img(twin::Shape{h, w}, static_cast<std::uint8_t>(grey));
    return ink_problem(img.view());
  };
  CHECK(contains(problem(100, 50, 255), "blank"));
  CHECK(contains(problem(100, 50, 0), "blank"));
  CHECK(contains(problem(100, 50, 128), "blank"));
  CHECK(contains(problem(1, 1, 0), "too small"));
  CHECK(contains(problem(2, 2, 0), "too small"));
  CHECK(contains(problem(5000, 2, 0), "too small"));
  twin::Tensor<std::uint8_t, 2> speck(twin::Shape{50, 100}, 255);
  speck(10, 10) = speck(10, 11) = 0;
  CHECK(contains(ink_problem(speck.view()), "too little ink"));
  twin::Tensor<std::uint8_t, 2> dark(twin::Shape{50, 100}, 0);
  for (int i = 0; i < 40; ++i) dark(20, i) = 255;
  CHECK(contains(ink_problem(dark.view()), "more ink than paper"));
  twin::Tensor<std::uint8_t, 2> faint(twin::Shape{50, 100}, 200);
  for (int i = 0; i < 60; ++i) faint(20, i) = 190;
  CHECK(contains(ink_problem(faint.view()), "no ink darker than the paper"));
}

TEST_CASE("the smallest signature survives preprocessing") {
  const TempDir d("docload_small");
  // The smallest image load_document takes as a signature: 8 x 8 with 16 ink pixels.
  twin::Tensor<float, 2> img(twin::Shape{8, 8}, 0.0f);
  for (twin::Index x = 0; x < 8; ++x) img(3, x) = img(4, x) = 1.0f;
  write_file(d.path / "x.png", twin::report::encode_png(img.view(), {.ink = true}));
  const auto back = load_document(d.path / "x.png", DocumentCanvas{.height = 8, .width = 8});
  double mass = 0;
  for (float v : back.span()) mass += v;
  CHECK(mass > 0);
}

TEST_CASE("load_documents: broken files stop the load naming the file; blank ones can be set aside") {
  const TempDir d("docload_many");
  twin::Tensor<float, 2> img(twin::Shape{30, 60}, 0.0f);
  for (twin::Index x = 5; x < 55; ++x) img(10 + x % 10, x) = 1.0f;
  write_file(d.path / "sig.png", twin::report::encode_png(img.view(), {.ink = true}));
  write_file(d.path / "blank.pgm", "P5\n40 20\n255\n" + std::string(800, '\xff'));
  write_file(d.path / "broken.png", "\x89PNG\r\n\x1a\n garbage");
  const DocumentCanvas c{.height = 16, .width = 32};
  const std::vector<fs::path> ok = {d.path / "sig.png", d.path / "blank.pgm"};
  CHECK(contains(error_message([&] { (void)load_documents(ok, c); }), "blank.pgm: no signature: blank"));
  std::vector<std::string> rejected;
  const auto x = load_documents(ok, c, &rejected);
  CHECK(x.dim(0) == 2);
  CHECK(rejected[0].empty());
  CHECK(contains(rejected[1], "blank.pgm: no signature"));
  // A broken file is no "no signature": it stops the load, prefixed with where it was named.
  const std::vector<fs::path> bad = {d.path / "sig.png", d.path / "broken.png"};
  CHECK(contains(error_message([&] { (void)load_documents(bad, c, &rejected, {"p.csv:1", "p.csv:2"}); }),
            "p.csv:2: " + (d.path / "broken.png").string()));
  CHECK(contains(error_message([&] { (void)load_documents({}, c); }), "no images"));
}

}  // namespace test_document_loader
