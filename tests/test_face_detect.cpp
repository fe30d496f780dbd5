// Face boxes without weights: IoU by hand, face-api's greedy non-maximum suppression (order,
// threshold, ties, edge cases), clamping to the image and cutting the pixels out.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <twin/face/detection.hpp>
#include <twin/face/square_resize.hpp>
#include <twin/face/tiny_face_detector.hpp>

namespace test_face_detect {  // file-local: the test files are compiled as unity batches

using namespace twin::face;

TEST_CASE("iou: by hand, symmetric, disjoint, contained, zero area") {
  const Box a{0, 0, 10, 10}, b{5, 5, 10, 10};
  CHECK(iou(a, b) == doctest::Approx(25.0 / 175.0));
  CHECK(iou(b, a) == iou(a, b));
  CHECK(iou(a, a) == 1.0);
  CHECK(iou(a, Box{20, 20, 5, 5}) == 0.0);
  CHECK(iou(a, Box{10, 0, 5, 5}) == 0.0);  // touching edges share no area
  CHECK(iou(a, Box{2, 2, 5, 5}) == doctest::Approx(25.0 / 100.0));
  CHECK(iou(Box{3, 3, 0, 0}, Box{3, 3, 0, 0}) == 0.0);  // empty union: 0, not NaN
  CHECK(iou(a, Box{3, 3, 0, 4}) == 0.0);
}

TEST_CASE("nms: keeps the best of each cluster, highest score first") {
  const std::vector<Box> boxes{{0, 0, 10, 10, 0.6}, {1, 1, 10, 10, 0.9}, {50, 50, 10, 10, 0.7}, {0, 0, 10, 9, 0.8}};
  const auto keep = nms_indices(boxes, 0.4);
  CHECK(keep == std::vector<std::size_t>{1, 2});
  const auto kept = nms(boxes, 0.4);
  REQUIRE(kept.size() == 2);
  CHECK(kept[0].score == 0.9);
  CHECK(kept[1].score == 0.7);
}

TEST_CASE("nms: the threshold suppresses IoU strictly above it") {
  // IoU of these two is exactly 1/3 (intersection 50, union 150).
  const std::vector<Box> boxes{{0, 0, 10, 10, 0.9}, {5, 0, 10, 10, 0.8}};
  CHECK(nms_indices(boxes, 1.0 / 3.0).size() == 2);
  CHECK(nms_indices(boxes, 0.3).size() == 1);
  CHECK(nms_indices(boxes, 0.0).size() == 1);
  CHECK(nms_indices(boxes, 1.0).size() == 2);
}

TEST_CASE("nms: empty input, one box, all overlapping, ties, zero-area boxes") {
  CHECK(nms_indices(std::vector<Box>{}, 0.4).empty());
  CHECK(nms(std::vector<Box>{}, 0.4).empty());
  CHECK(nms_indices(std::vector<Box>{{0, 0, 1, 1, 0.5}}, 0.4) == std::vector<std::size_t>{0});
  std::vector<Box> same(5, Box{10, 10, 20, 20, 0.5});
  same[3].score = 0.7;
  CHECK(nms_indices(same, 0.4) == std::vector<std::size_t>{3});  // one survivor: the best
  same[3].score = 0.5;
  CHECK(nms_indices(same, 0.4) == std::vector<std::size_t>{4});  // a tie goes to the later box, as in face-api
  const std::vector<Box> flat{{0, 0, 0, 5, 0.9}, {0, 0, 0, 5, 0.8}, {0, 0, 3, 3, 0.7}};
  CHECK(nms_indices(flat, 0.4) == std::vector<std::size_t>{0, 1, 2});  // zero-area boxes overlap nothing
  CHECK_THROWS_AS(nms_indices(flat, 1.5), twin::error);
  CHECK_THROWS_AS(nms_indices(flat, std::numeric_limits<double>::quiet_NaN()), twin::error);
}

TEST_CASE("clamp: inside unchanged, straddling cut, outside zero area, score kept") {
  const Box in{2, 3, 4, 5, 0.8};
  const Box c = clamp(in, 20, 10);
  CHECK(c.x == 2);
  CHECK(c.w == 4);
  CHECK(c.score == 0.8);
  const Box s = clamp(Box{-3, 15, 8, 10}, 20, 10);  // 10 wide, 20 high
  CHECK(s.x == 0);
  CHECK(s.w == 5);
  CHECK(s.y == 15);
  CHECK(s.h == 5);
  const Box o = clamp(Box{30, 40, 5, 5}, 20, 10);
  CHECK(o.area() == 0.0);
  CHECK(clamp(Box{-9, -9, 3, 3}, 20, 10).area() == 0.0);
}

TEST_CASE("pixel_rect and crop: face-api's clip then floor, and the pixels it covers") {
  // A 4 x 5 image (h x w), pixel value 10 y + x.
  std::vector<std::uint8_t> img(20);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 5; ++x) img[std::size_t(y * 5 + x)] = std::uint8_t(10 * y + x);
  const auto r = pixel_rect(Box{1.7, 0.2, 2.9, 2.5}, 4, 5);  // floor(1.7), floor(0.2), floor(2.9), floor(2.5)
  CHECK(r.x == 1);
  CHECK(r.y == 0);
  CHECK(r.w == 2);
  CHECK(r.h == 2);
  CHECK(crop(img.data(), 4, 5, 1, r) == std::vector<std::uint8_t>{1, 2, 11, 12});
  const auto edge = pixel_rect(Box{-2, 2, 100, 100}, 4, 5);  // straddles the bottom-right
  CHECK(edge.x == 0);
  CHECK(edge.y == 2);
  CHECK(edge.w == 5);
  CHECK(edge.h == 2);
  CHECK(crop(img.data(), 4, 5, 1, edge).size() == 10);
  CHECK(pixel_rect(Box{7, 1, 3, 3}, 4, 5).empty());     // right of the image
  CHECK(pixel_rect(Box{-5, -5, 3, 3}, 4, 5).empty());   // above-left of it
  CHECK(pixel_rect(Box{1, 1, 0.5, 2}, 4, 5).empty());   // less than a pixel wide
  CHECK(pixel_rect(Box{1, 1, 0, 0}, 4, 5).empty());     // zero area
  CHECK_THROWS_AS(pixel_rect(Box{std::nan(""), 0, 1, 1}, 4, 5), twin::error);
  CHECK_THROWS_AS(crop(img.data(), 4, 5, 1, PixelRect{}), twin::shape_error);
  CHECK_THROWS_AS(crop(img.data(), 4, 5, 1, PixelRect{4, 0, 2, 1}), twin::shape_error);
  // RGB: three bytes a pixel
  std::vector<std::uint8_t> rgb(4 * 5 * 3);
  for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = std::uint8_t(i);
  CHECK(crop(rgb.data(), 4, 5, 3, PixelRect{4, 3, 1, 1}) == std::vector<std::uint8_t>{57, 58, 59});
}

TEST_CASE("square_resize with SquarePad::end pads at the bottom or right, as face-api's detectors do") {
  const std::vector<std::uint8_t> row{10, 20, 30};  // 1 row x 3 columns
  const auto end = square_resize(row.data(), 1, 3, 1, 3, SquarePad::end);
  const auto centre = square_resize(row.data(), 1, 3, 1, 3);
  for (int x = 0; x < 3; ++x) {
    CHECK(end[std::size_t(x * 3)] == float(10 * (x + 1)));           // row 0: the image
    CHECK(end[std::size_t((3 + x) * 3)] == 0.f);                     // rows 1, 2: padding
    CHECK(end[std::size_t((6 + x) * 3 + 2)] == 0.f);
    CHECK(centre[std::size_t(x * 3)] == 0.f);                        // centred: one row before
    CHECK(centre[std::size_t((3 + x) * 3)] == float(10 * (x + 1)));
  }
}

}  // namespace test_face_detect

namespace test_face_detect {
TEST_CASE("detect_faces: a FaceDetectorWorkspace gives the per-call overload's boxes and keeps its buffers") {
  auto net = twin::face::tiny_face_detector<float>();
  net.init(3);
  const twin::Index h = 50, w = 70;
  std::vector<std::uint8_t> img(static_cast<std::size_t>(h * w));
  for (std::size_t i = 0; i < img.size(); ++i) img[i] = static_cast<std::uint8_t>((i * 37) % 251);
  const TinyFaceDetectorOptions o{.input_size = 64, .score_threshold = 0.3};
  twin::Workspace<float> plain;
  const auto want = detect_faces(net, plain, img.data(), h, w, 1, o);
  REQUIRE(!want.empty());
  FaceDetectorWorkspace<float> ws;
  const auto& got = detect_faces(net, ws, img.data(), h, w, 1, o);
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].x == want[i].x);
    CHECK(got[i].y == want[i].y);
    CHECK(got[i].w == want[i].w);
    CHECK(got[i].h == want[i].h);
    CHECK(got[i].score == want[i].score);
  }
  // A second image of the same size: the same buffers, nothing grown.
  const float* input = ws.input.data();
  const float* rgb = ws.rgb.data();
  const std::size_t bytes = ws.net.bytes(), faces = ws.faces.capacity(), candidates = ws.candidates.capacity();
  for (auto& p : img) p = static_cast<std::uint8_t>(255 - p);
  const auto& again = detect_faces(net, ws, img.data(), h, w, 1, o);
  CHECK(&again == &ws.faces);
  CHECK(ws.input.data() == input);
  CHECK(ws.rgb.data() == rgb);
  CHECK(ws.net.bytes() == bytes);
  CHECK(ws.faces.capacity() == faces);
  CHECK(ws.candidates.capacity() >= candidates);
  CHECK(again.size() == detect_faces(net, plain, img.data(), h, w, 1, o).size());
}
}  // namespace test_face_detect
