// twin/report: the PNG encoder (read back by the image decoder, bit for bit), base64, the
// SVG charts and the self-contained HTML page.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <twin/io/image.hpp>
#include <twin/metrics/roc.hpp>
#include <twin/report/html_report.hpp>
#include <twin/rng.hpp>
#include <twin/testing/error_message.hpp>

namespace test_report {

namespace {
std::size_t count(const std::string& s, const std::string& part) {
  std::size_t n = 0;
  for (auto at = s.find(part); at != std::string::npos; at = s.find(part, at + 1)) ++n;
  return n;
}
twin::Tensor<std::uint8_t, 2> decode(const std::string& png) {
  return twin::io::decode_image(std::span(reinterpret_cast<const std::uint8_t*>(png.data()), png.size()), "test.png");
}
}  // namespace

TEST_CASE("report checksums and base64 match their standards' check values") {
  using namespace twin::report;
  CHECK(detail::crc32("123456789") == 0xCBF43926u);      // the CRC-32 check value
  CHECK(detail::adler32("Wikipedia") == 0x11E60398u);    // RFC 1950's worked example
  CHECK(base64("") == "");
  CHECK(base64("M") == "TQ==");
  CHECK(base64("Ma") == "TWE=");
  CHECK(base64("Man") == "TWFu");
  CHECK(base64(std::string("\xff\x00\xfe", 3)) == "/wD+");
}

TEST_CASE("encode_png: the decoder reads back every grey level, runs longer than a match and noise") {
  // Row 0: a ramp over all 256 levels; rows 1-3: one long run (longer than deflate's 258)
  // broken by single pixels; the rest: seeded noise, which must not grow the data much.
  const twin::Index h = 40, w = 600;
  twin::Tensor<float, 2> img(twin::Shape{h, w}, 1.0f);
  for (twin::Index x = 0; x < w; ++x) img(0, x) = static_cast<float>(x % 256) / 255.0f;
  img(2, 300) = 0.0f;
  img(3, 7) = 0.5f;
  twin::Rng rng(3);
  for (twin::Index y = 4; y < h; ++y)
    for (twin::Index x = 0; x < w; ++x) img(y, x) = static_cast<float>(rng.below(256)) / 255.0f;
  const std::string png = twin::report::encode_png(img.view());
  const auto back = decode(png);
  REQUIRE(back.dim(0) == h);
  REQUIRE(back.dim(1) == w);
  int wrong = 0;
  for (twin::Index y = 0; y < h; ++y)
    for (twin::Index x = 0; x < w; ++x)
      wrong += back(y, x) != static_cast<std::uint8_t>(std::lround(255.0f * img(y, x)));
  CHECK(wrong == 0);
  CHECK(png.size() < static_cast<std::size_t>(h * (w + 1)) * 9 / 8 + 100);  // at most 1/8 more than raw

  // Ink convention: 1 is black; out-of-range values clamp and NaN is 0 (paper).
  twin::Tensor<float, 2> ink(twin::Shape{2, 3}, 0.0f);
  ink(0, 0) = 1.0f, ink(0, 1) = 7.0f, ink(0, 2) = -3.0f, ink(1, 0) = std::numeric_limits<float>::quiet_NaN();
  const auto b = decode(twin::report::encode_png(ink.view(), {.ink = true}));
  CHECK(b(0, 0) == 0);
  CHECK(b(0, 1) == 0);
  CHECK(b(0, 2) == 255);
  CHECK(b(1, 0) == 255);
  CHECK(b(1, 2) == 255);

  // A binarised signature canvas, mostly paper, shrinks to a few percent of its pixels.
  twin::Tensor<float, 2> sig(twin::Shape{80, 160}, 0.0f);
  for (twin::Index x = 10; x < 150; ++x) sig(40 + x % 7, x) = 1.0f;
  CHECK(twin::report::encode_png(sig.view(), {.ink = true}).size() < 80 * 160 / 10);
  CHECK(twin::testing::error_message([] { twin::report::encode_png(twin::Tensor<float, 2>(twin::Shape{0, 4}).view()); })
            .find("empty image") != std::string::npos);
}

TEST_CASE("svg charts: one polyline per curve or series, escaped names, the threshold line only when asked") {
  using namespace twin::report;
  const std::vector<double> scores = {0.9, 0.8, 0.3, 0.1, 0.7, 0.2};
  const std::vector<twin::PairLabel> labels = {twin::PairLabel::same, twin::PairLabel::same, twin::PairLabel::same,
                                               twin::PairLabel::different, twin::PairLabel::different,
                                               twin::PairLabel::different};
  const auto roc = twin::metrics::roc_curve(scores, labels);
  const Curve c = roc_curve_points("a <b> & \"c\"", "#c0392b", roc);
  REQUIRE(c.points.size() == roc.size());
  CHECK(c.points.front() == std::pair(0.0, 0.0));
  CHECK(c.points.back() == std::pair(1.0, 1.0));
  // Thinning keeps the last point.
  const Curve thin = roc_curve_points("t", "red", roc, 2);
  CHECK(thin.points.size() <= 4);
  CHECK(thin.points.back() == std::pair(1.0, 1.0));

  const std::string svg = svg_roc({c, thin});
  CHECK(svg.rfind("<svg xmlns='http://www.w3.org/2000/svg'", 0) == 0);
  CHECK(count(svg, "<polyline") == 2);
  CHECK(svg.find("a &lt;b&gt; &amp; &quot;c&quot;") != std::string::npos);
  CHECK(svg.find("<b>") == std::string::npos);

  const std::vector<Series> series = {{"genuine", "#27ae60", {0.1, 0.2, 0.2, 0.3}}, {"forged", "#c0392b", {0.8, 0.9}}};
  const std::string h = svg_histogram(series, {.threshold = 0.5});
  CHECK(count(h, "<polyline") == 2);
  CHECK(h.find("threshold 0.500") != std::string::npos);
  const std::string no_line = svg_histogram(series, {});
  CHECK(no_line.find("threshold") == std::string::npos);
  // Non-finite values and empty series draw nothing wrong (no NaN coordinates).
  const std::string odd = svg_histogram({{"x", "red", {std::numeric_limits<double>::quiet_NaN()}}, {"y", "blue", {}}});
  CHECK(odd.find("nan") == std::string::npos);
  CHECK(twin::testing::error_message([&] { svg_histogram(series, {.bins = 0}); }).find("bins") != std::string::npos);
  CHECK(twin::testing::error_message([&] { svg_roc({}, {.width = 5}); }).find("width and height") != std::string::npos);
}

TEST_CASE("html report: self-contained, escaped, one inline PNG per example image, written atomically") {
  using namespace twin::report;
  Report r;
  r.title = "Verification <test>";
  r.subtitle = "3 writers & more";
  r.metrics = {{"EER", "4.10%"}, {"AUC", "0.98"}};
  r.figures.push_back({"ROC curve", svg_roc({{"x", "#000", {{0, 0}, {1, 1}}}})});
  twin::Tensor<float, 2> a(twin::Shape{8, 16}, 0.0f), b(twin::Shape{8, 16}, 1.0f);
  r.examples.push_back({a, b, "genuine", "d = 0.4 <accepted>", true});
  r.examples.push_back({b, a, "forgery", "d = 1.9 rejected", false});
  r.images = {.ink = true};
  const std::string page = render_html(r);
  CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(page.find("<title>Verification &lt;test&gt;</title>") != std::string::npos);
  CHECK(page.find("3 writers &amp; more") != std::string::npos);
  CHECK(page.find("<th>EER</th><td>4.10%</td>") != std::string::npos);
  CHECK(count(page, "data:image/png;base64,") == 4);
  CHECK(count(page, "class='pair ok'") == 1);
  CHECK(count(page, "class='pair bad'") == 1);
  CHECK(page.find("&lt;accepted&gt;") != std::string::npos);
  CHECK(page.find("http") == page.find("http://www.w3.org/2000/svg"));  // nothing fetched from the network

  const auto dir = std::filesystem::temp_directory_path() / "twin_test_report";
  std::filesystem::create_directories(dir);
  const auto file = dir / "r.html";
  write_html(file, r);
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  CHECK(ss.str() == page);
  std::filesystem::remove_all(dir);
  CHECK(twin::testing::error_message([&] { write_html(dir / "no" / "such" / "r.html", r); }).find("r.html") !=
        std::string::npos);
}

}  // namespace test_report
