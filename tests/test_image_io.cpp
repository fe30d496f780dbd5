// Hardened image loading: decoded values, and an image_error naming the file and the reason
// for every kind of bad input.
#include "twin/io/image.hpp"
#include "twin/testing/error_message.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace test_image_io {  // file-local: the test files are compiled as unity batches

namespace fs = std::filesystem;
using twin::image_error;
using twin::io::decode_image;
using twin::io::load_image;

namespace {

const fs::path fixtures = fs::path(TWIN_TEST_DATA_DIR) / "images";

std::vector<std::uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

std::vector<std::uint8_t> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A fresh temporary folder per test case, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() / ("twin_image_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path write(const std::string& name, const std::vector<std::uint8_t>& b) const {
    const fs::path p = path / name;
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    return p;
  }
};

// The message of the image_error `f` throws; fails the test when it throws nothing.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const image_error& e) {
    return e.what();
  }
  FAIL("no image_error thrown");
  return {};
}

using twin::testing::contains;

// A PNG written by hand (zlib "stored" blocks, no compression) so the tests can build any
// colour type and chunk layout: colour type 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA.
std::uint32_t crc32_of(const std::uint8_t* p, std::size_t n) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}
void put32(std::vector<std::uint8_t>& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}
void chunk(std::vector<std::uint8_t>& png, const char* type, const std::vector<std::uint8_t>& data) {
  put32(png, static_cast<std::uint32_t>(data.size()));
  const std::size_t start = png.size();
  png.insert(png.end(), type, type + 4);
  png.insert(png.end(), data.begin(), data.end());
  put32(png, crc32_of(png.data() + start, png.size() - start));
}
std::vector<std::uint8_t> make_png(int w, int h, int colour_type, const std::vector<std::uint8_t>& pixels,
                                   const std::vector<std::pair<std::string, std::vector<std::uint8_t>>>& extra = {}) {
  const int channels = colour_type == 2 ? 3 : colour_type == 4 ? 2 : colour_type == 6 ? 4 : 1;
  std::vector<std::uint8_t> raw;  // each row: filter byte 0, then the samples
  for (int y = 0; y < h; ++y) {
    raw.push_back(0);
    raw.insert(raw.end(), pixels.begin() + y * w * channels, pixels.begin() + (y + 1) * w * channels);
  }
  std::vector<std::uint8_t> z = {0x78, 0x01};
  for (std::size_t at = 0; at < raw.size() || at == 0;) {
    const std::size_t n = std::min<std::size_t>(65535, raw.size() - at);
    z.push_back(at + n == raw.size() ? 1 : 0);
    z.push_back(static_cast<std::uint8_t>(n));
    z.push_back(static_cast<std::uint8_t>(n >> 8));
    z.push_back(static_cast<std::uint8_t>(~n));
    z.push_back(static_cast<std::uint8_t>(~n >> 8));
    z.insert(z.end(), raw.begin() + static_cast<std::ptrdiff_t>(at), raw.begin() + static_cast<std::ptrdiff_t>(at + n));
    at += n;
    if (raw.empty()) break;
  }
  std::uint32_t a = 1, b = 0;
  for (std::uint8_t v : raw) a = (a + v) % 65521, b = (b + a) % 65521;
  put32(z, (b << 16) | a);
  std::vector<std::uint8_t> png = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  std::vector<std::uint8_t> ihdr;
  put32(ihdr, static_cast<std::uint32_t>(w));
  put32(ihdr, static_cast<std::uint32_t>(h));
  ihdr.insert(ihdr.end(), {8, static_cast<std::uint8_t>(colour_type), 0, 0, 0});
  chunk(png, "IHDR", ihdr);
  for (const auto& [type, data] : extra) chunk(png, type.c_str(), data);
  chunk(png, "IDAT", z);
  chunk(png, "IEND", {});
  return png;
}

}  // namespace

TEST_CASE("binary and ASCII PGM decode to the written values") {
  std::string p5 = "P5\n# a comment\n3 2\n255\n";
  for (int v : {0, 1, 2, 250, 254, 255}) p5 += static_cast<char>(v);
  const auto img = decode_image(bytes_of(p5), "p5.pgm");
  REQUIRE(img.shape() == twin::Shape{2, 3});
  CHECK(img(0, 0) == 0);
  CHECK(img(0, 2) == 2);
  CHECK(img(1, 0) == 250);
  CHECK(img(1, 2) == 255);

  const auto a = decode_image(bytes_of("P2 2 2 15\n0 15\n# mid\n 5 10\n"), "p2.pgm");
  REQUIRE(a.shape() == twin::Shape{2, 2});
  CHECK(a(0, 0) == 0);
  CHECK(a(0, 1) == 255);  // maxval 15 scales to 255
  CHECK(a(1, 0) == 85);
  CHECK(a(1, 1) == 170);
}

TEST_CASE("PPM (P3 and P6) becomes grey") {
  const auto a = decode_image(bytes_of("P3\n2 1\n255\n255 0 0  0 0 255\n"), "p3.ppm");
  REQUIRE(a.shape() == twin::Shape{1, 2});
  CHECK(a(0, 0) == (255 * 77) >> 8);
  CHECK(a(0, 1) == (255 * 29) >> 8);
  std::string p6 = "P6 1 1 255\n";
  p6 += std::string{char(200), char(100), char(50)};
  CHECK(decode_image(bytes_of(p6), "p6.ppm")(0, 0) == 124);
}

TEST_CASE("PNG fixtures decode to the pixel values PIL wrote") {
  const auto g = load_image(fixtures / "grey_4x3.png");
  REQUIRE(g.shape() == twin::Shape{3, 4});
  const int want[12] = {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 200, 255};
  for (int i = 0; i < 12; ++i) CHECK(g[i] == want[i]);

  // RGB, RGBA and palette images all become grey: red, green, blue, white.
  for (const char* f : {"rgb_2x2.png", "rgba_2x2.png", "palette_2x2.png"}) {
    CAPTURE(f);
    const auto c = load_image(fixtures / f);
    REQUIRE(c.shape() == twin::Shape{2, 2});
    CHECK(c(0, 0) == (255 * 77) >> 8);
    CHECK(c(0, 1) == (255 * 150) >> 8);
    CHECK(c(1, 0) == (255 * 29) >> 8);
    CHECK(c(1, 1) == 255);
  }
  const auto w16 = load_image(fixtures / "grey16_3x2.png");
  REQUIRE(w16.shape() == twin::Shape{2, 3});
  CHECK(w16(1, 2) == 255);
}

TEST_CASE("read as RGB: colour kept, grey in all three channels, transparency over white") {
  using twin::io::decode_image_rgb;
  const auto a = decode_image_rgb(bytes_of("P3\n2 1\n255\n255 0 0  0 0 255\n"), "p3.ppm");
  REQUIRE(a.shape() == twin::Shape{1, 2, 3});
  CHECK((a(0, 0, 0) == 255 && a(0, 0, 1) == 0 && a(0, 0, 2) == 0));
  CHECK((a(0, 1, 0) == 0 && a(0, 1, 1) == 0 && a(0, 1, 2) == 255));
  std::string p6 = "P6 1 1 255\n";
  p6 += std::string{char(200), char(100), char(50)};
  const auto b = decode_image_rgb(bytes_of(p6), "p6.ppm");
  CHECK((b[0] == 200 && b[1] == 100 && b[2] == 50));
  const auto g = decode_image_rgb(bytes_of("P2 2 1 15\n0 5\n"), "p2.pgm");  // maxval 15 scales to 255
  REQUIRE(g.shape() == twin::Shape{1, 2, 3});
  for (int c = 0; c < 3; ++c) CHECK((g(0, 0, c) == 0 && g(0, 1, c) == 85));
  // PNG fixtures: red, green, blue, white in RGB, RGBA and palette form; a grey PNG.
  for (const char* f : {"rgb_2x2.png", "rgba_2x2.png", "palette_2x2.png"}) {
    CAPTURE(f);
    const auto c = twin::io::load_image_rgb(fixtures / f);
    REQUIRE(c.shape() == twin::Shape{2, 2, 3});
    const int want[12] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
    for (int i = 0; i < 12; ++i) CHECK(c[i] == want[i]);
  }
  const auto grey = twin::io::load_image_rgb(fixtures / "grey_4x3.png");
  REQUIRE(grey.shape() == twin::Shape{3, 4, 3});
  CHECK((grey(2, 2, 0) == 200 && grey(2, 2, 1) == 200 && grey(2, 2, 2) == 200));
  // A colour JPEG: its grey reading is (about) the luma of its RGB reading.
  const auto j = twin::io::load_image_rgb(fixtures / "rgb_16x16.jpg");
  const auto jg = load_image(fixtures / "rgb_16x16.jpg");
  REQUIRE(j.shape() == twin::Shape{16, 16, 3});
  int worst = 0, colourful = 0;
  for (twin::Index i = 0; i < 256; ++i) {
    const int y = (77 * j[3 * i] + 150 * j[3 * i + 1] + 29 * j[3 * i + 2]) >> 8;
    worst = std::max(worst, std::abs(y - int(jg[i])));
    colourful += j[3 * i] != j[3 * i + 1] || j[3 * i + 1] != j[3 * i + 2];
  }
  CHECK(worst <= 3);
  CHECK(colourful > 128);
  // Half-transparent red over white: each channel composited alike.
  const auto t = decode_image_rgb(make_png(1, 1, 6, {255, 0, 0, 128}), "t.png");
  CHECK((t[0] == 255 && t[1] == 127 && t[2] == 127));
  // The same checks guard both formats: errors name the file and the reason.
  CHECK(contains(error_of([] { decode_image_rgb(bytes_of("P5 3 3 255\nabc"), "cut.pgm"); }), "cut.pgm: truncated"));
  CHECK(contains(error_of([] { decode_image_rgb(bytes_of("GIF89a...."), "x.gif"); }), "x.gif: unsupported format: GIF"));
}

TEST_CASE("transparency is composited over white: ink held only in the alpha channel is ink") {
  // Black ink whose paper is transparent black: dropping alpha would read an all-black page.
  // Pixels: opaque ink, transparent paper, half-transparent ink, opaque white.
  const std::vector<std::uint8_t> rgba = {0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 0, 128, 255, 255, 255, 255};
  const auto c = decode_image(make_png(2, 2, 6, rgba), "rgba.png");
  REQUIRE(c.shape() == twin::Shape{2, 2});
  CHECK(c(0, 0) == 0);
  CHECK(c(0, 1) == 255);
  CHECK(c(1, 0) == 127);  // 255 * (255 - 128) / 255, rounded
  CHECK(c(1, 1) == 255);
  // Grey + alpha (colour type 4).
  const auto ga = decode_image(make_png(2, 1, 4, {40, 255, 40, 0}), "ga.png");
  CHECK(ga(0, 0) == 40);
  CHECK(ga(0, 1) == 255);
  // A palette image whose transparency is in a tRNS chunk: entry 0 red opaque, entry 1
  // black fully transparent.
  const auto pal = decode_image(make_png(2, 1, 3, {0, 1}, {{"PLTE", {255, 0, 0, 0, 0, 0}}, {"tRNS", {255, 0}}}), "p.png");
  CHECK(pal(0, 0) == (255 * 77) >> 8);
  CHECK(pal(0, 1) == 255);
  // Without transparency nothing changes: the hand-made grey PNG reads its own values.
  const auto g = decode_image(make_png(3, 1, 0, {0, 100, 255}), "g.png");
  CHECK(g(0, 0) == 0);
  CHECK(g(0, 1) == 100);
  CHECK(g(0, 2) == 255);
}

TEST_CASE("JPEG fixtures decode (baseline grey, baseline colour, progressive)") {
  const auto g = load_image(fixtures / "grey_16x8.jpg");
  REQUIRE(g.shape() == twin::Shape{8, 16});
  for (auto v : g.span()) CHECK(std::abs(int(v) - 128) <= 2);
  for (const char* f : {"rgb_16x16.jpg", "rgb_16x16_progressive.jpg"}) {
    CAPTURE(f);
    const auto c = load_image(fixtures / f);
    REQUIRE(c.shape() == twin::Shape{16, 16});
    for (auto v : c.span()) CHECK(std::abs(int(v) - 124) <= 3);  // luma of (200, 100, 50)
  }
}

TEST_CASE("a missing file names the path") {
  const std::string m = error_of([] { load_image("/nonexistent/dir/sig.png"); });
  CHECK(contains(m, "/nonexistent/dir/sig.png"));
  CHECK(contains(m, "missing"));
  TempDir d;
  CHECK(contains(error_of([&] { load_image(d.path); }), "not a regular file"));
}

TEST_CASE("an empty file is rejected") {
  TempDir d;
  const auto p = d.write("empty.png", {});
  const std::string m = error_of([&] { load_image(p); });
  CHECK(contains(m, p.string()));
  CHECK(contains(m, "empty"));
}

TEST_CASE("an oversized file is refused before reading, an oversized image before decoding") {
  TempDir d;
  std::vector<std::uint8_t> big = bytes_of("P5 4 4 255\n");
  big.resize(big.size() + 16, 'x');
  const auto p = d.write("big.pgm", big);
  const std::string m = error_of([&] { load_image(p, {.max_file_bytes = 10}); });
  CHECK(contains(m, p.string()));
  CHECK(contains(m, "too large"));
  // The header claims 2^20 x 2^20 pixels; nothing that size is ever allocated.
  CHECK(contains(error_of([] { decode_image(bytes_of("P5 1048576 1048576 255\n"), "huge.pgm"); }), "too large"));
  CHECK(contains(error_of([] { load_image(fixtures / "grey_4x3.png", {.max_pixels = 11}); }), "too large"));
  CHECK(contains(error_of([] { load_image(fixtures / "grey_16x8.jpg", {.max_pixels = 127}); }), "too large"));
}

TEST_CASE("a truncated file is rejected at every length") {
  for (const char* f : {"grey_4x3.png", "rgb_2x2.png", "grey_16x8.jpg", "rgb_16x16_progressive.jpg"}) {
    CAPTURE(f);
    const auto full = read_file(fixtures / f);
    REQUIRE(full.size() > 20);
    for (std::size_t n = 1; n < full.size(); ++n) {
      CAPTURE(n);
      const std::string m = error_of([&] { decode_image(std::span(full.data(), n), f); });
      CHECK(contains(m, f));
      CHECK(contains(m, "truncated"));
    }
  }
  CHECK(contains(error_of([] { decode_image(bytes_of("P5 3 3 255\nabc"), "cut.pgm"); }), "truncated"));
  CHECK(contains(error_of([] { decode_image(bytes_of("P2 2 2 255\n1 2 3"), "cut.pgm"); }), "truncated"));
  CHECK(contains(error_of([] { decode_image(bytes_of("P5 3 3"), "cut.pgm"); }), "truncated"));
}

TEST_CASE("a file that is not an image is rejected") {
  TempDir d;
  const auto p = d.write("notes.png", bytes_of("hello, this is text\n"));
  const std::string m = error_of([&] { load_image(p); });
  CHECK(contains(m, p.string()));
  CHECK(contains(m, "not an image"));
}

TEST_CASE("known but unsupported formats are named") {
  CHECK(contains(error_of([] { load_image(fixtures / "rgb_2x2.gif"); }), "unsupported format: GIF"));
  CHECK(contains(error_of([] { load_image(fixtures / "rgb_2x2.bmp"); }), "unsupported format: BMP"));
  CHECK(contains(error_of([] { decode_image(bytes_of("P4 8 1\n\xff"), "b.pbm"); }), "unsupported format: PBM"));
  CHECK(contains(error_of([] { decode_image(bytes_of("P5 1 1 65535\n\x01\x02"), "w.pgm"); }), "16-bit"));
}

TEST_CASE("corrupt headers and tables are rejected with a reason") {
  CHECK(contains(error_of([] { decode_image(bytes_of("P5 0 3 255\n"), "z.pgm"); }), "corrupt"));
  CHECK(contains(error_of([] { decode_image(bytes_of("P5 x 3 255\n"), "z.pgm"); }), "not a number"));
  CHECK(contains(error_of([] { decode_image(bytes_of("P5 1 1 0\n\x00"), "z.pgm"); }), "maxval"));
  CHECK(contains(error_of([] { decode_image(bytes_of("P2 1 1 15\n16\n"), "z.pgm"); }), "exceeds maxval"));
  CHECK(contains(error_of([] { decode_image(bytes_of("P5 99999999999 1 255\n"), "z.pgm"); }), "too many digits"));

  // A DHT segment whose 16 code counts sum to more than 256 (stb 2.27 overflows on it).
  auto jpg = read_file(fixtures / "grey_16x8.jpg");
  bool patched = false;
  for (std::size_t i = 2; i + 21 < jpg.size(); ++i)
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC4) {
      for (int k = 0; k < 16; ++k) jpg[i + 5 + static_cast<std::size_t>(k)] = 255;
      patched = true;
      break;
    }
  REQUIRE(patched);
  CHECK(contains(error_of([&] { decode_image(jpg, "dht.jpg"); }), "Huffman"));
}

TEST_CASE("one real file of each shared data set loads") {
  for (const auto& [set, file] : {std::pair{"cedar", "full_org/original_1_1.png"}, std::pair{"att_faces", "s1/1.pgm"}}) {
    const fs::path dir = fs::path(TWIN_SOURCE_DIR) / ".." / "shared" / "data" / set;
    if (!fs::is_directory(dir)) {
      MESSAGE(("skipped: shared data set " + dir.string() + " is absent"));
      continue;
    }
    const auto img = load_image(dir / file);
    CHECK(img.dim(0) > 10);
    CHECK(img.dim(1) > 10);
    MESSAGE((std::string(set) + "/" + file + ": " + std::to_string(img.dim(0)) + " x " + std::to_string(img.dim(1))));
  }
}

}  // namespace test_image_io
