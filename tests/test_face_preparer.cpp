// FacePreparer without the pretrained weights: the whole-image path against square_resize +
// recognition_input, mirroring, grey = RGB replicated, stacking and clear(); with an untrained
// detector (which finds boxes all the same), best / all / one and the errors naming the image.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <twin/face/face_preparer.hpp>
#include <twin/testing/error_message.hpp>

namespace test_face_preparer {  // file-local: the test files are compiled as unity batches

using namespace twin::face;
using twin::Index;
using twin::testing::contains;

std::vector<std::uint8_t> pattern(Index h, Index w, Index channels, unsigned salt) {
  std::vector<std::uint8_t> img(static_cast<std::size_t>(h * w * channels));
  for (std::size_t i = 0; i < img.size(); ++i) img[i] = static_cast<std::uint8_t>((i * 37 + salt) % 251);
  return img;
}

template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const twin::error& e) {
    return e.what();
  }
  FAIL("no error thrown");
  return {};
}

TEST_CASE("FacePreparer: the whole image is square_resize + recognition_input; mirror; grey as RGB") {
  const Index h = 61, w = 47, S = recognition_side;
  const auto grey = pattern(h, w, 1, 5);
  FacePreparer<float> prep(nullptr, nullptr);
  CHECK(prep.add(grey.data(), h, w, 1, "a.pgm") == 1);
  const auto want = square_resize(grey.data(), h, w, 1, S);
  twin::Tensor<float> x(twin::Shape{1, 3, S, S});
  recognition_input(want.data(), S, x.view(), 0);
  REQUIRE(prep.inputs().shape() == twin::Shape{1, 3, S, S});
  CHECK(std::equal(x.begin(), x.end(), prep.inputs().data()));
  CHECK(prep.faces()[0].box.w == w);
  CHECK(prep.faces()[0].box.h == h);
  CHECK(prep.faces()[0].found == 1);

  // The same picture as RGB with equal channels gives the same input; it stacks as row 1.
  std::vector<std::uint8_t> rgb(grey.size() * 3);
  for (std::size_t i = 0; i < grey.size(); ++i) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = grey[i];
  CHECK(prep.add(rgb.data(), h, w, 3, "b.ppm") == 1);
  REQUIRE(prep.inputs().dim(0) == 2);
  CHECK(prep.faces()[1].image == 1);
  CHECK(std::equal(x.begin(), x.end(), prep.inputs().data() + x.size()));

  // Mirrored: column c of the input is column S - 1 - c of the plain one.
  FacePreparer<float> flip(nullptr, nullptr, {.mirror = true});
  flip.add(grey.data(), h, w, 1, "a.pgm");
  bool mirrored = true;
  for (Index c = 0; c < 3; ++c)
    for (Index y = 0; y < S; ++y)
      for (Index q = 0; q < S; ++q) mirrored = mirrored && flip.inputs()(0, c, y, q) == x(0, c, y, S - 1 - q);
  CHECK(mirrored);

  // clear() starts again at row 0 and image 0, in the same buffer.
  const float* buffer = prep.inputs().data();
  prep.clear();
  CHECK(prep.inputs().dim(0) == 0);
  prep.add(rgb.data(), h, w, 3, "b.ppm");
  CHECK(prep.faces()[0].image == 0);
  CHECK(prep.inputs().data() == buffer);
}

TEST_CASE("FacePreparer: many images keep every row (the buffer grows)") {
  FacePreparer<float> prep(nullptr, nullptr);
  std::vector<std::vector<std::uint8_t>> imgs;
  for (unsigned k = 0; k < 9; ++k) {
    imgs.push_back(pattern(50, 40, 1, k));
    prep.add(imgs.back().data(), 50, 40, 1, twin::detail::concat("img", k));
  }
  REQUIRE(prep.inputs().dim(0) == 9);
  for (unsigned k = 0; k < 9; ++k) {
    FacePreparer<float> one(nullptr, nullptr);
    one.add(imgs[k].data(), 50, 40, 1, "one");
    const Index per = one.inputs().size();
    CHECK(std::equal(one.inputs().data(), one.inputs().data() + per, prep.inputs().data() + k * per));
  }
}

TEST_CASE("FacePreparer: errors name the image") {
  const auto small = pattern(38, 31, 1, 1);
  FacePreparer<float> prep(nullptr, nullptr);  // min_face 40 by default
  const std::string m = message_of([&] { prep.add(small.data(), 38, 31, 1, "tiny.pgm"); });
  CHECK(contains(m, "tiny.pgm"));
  CHECK(contains(m, "too small"));
  CHECK(contains(m, "31 pixels"));
  CHECK(prep.faces().empty());
  FacePreparer<float> lenient(nullptr, nullptr, {.min_face = 30});
  CHECK(lenient.add(small.data(), 38, 31, 1, "tiny.pgm") == 1);
  CHECK(contains(message_of([&] { prep.add(small.data(), 38, 31, 2, "two.pgm"); }), "two.pgm"));
  CHECK(contains(message_of([] { FacePreparer<float> p(nullptr, nullptr, {.detect = true}); }), "no detector"));
  CHECK(contains(message_of([] { FacePreparer<float> p(nullptr, nullptr, {.align = true}); }), "no landmark net"));
  CHECK(contains(message_of([] { FacePreparer<float> p(nullptr, nullptr, {.min_face = 0}); }), "min_face"));
}

TEST_CASE("FacePreparer with a detector: best, all and one face; no face found") {
  auto net = tiny_face_detector<float>();
  net.init(3);  // untrained: it still scores boxes, enough to exercise the choice
  const Index h = 50, w = 70;
  const auto img = pattern(h, w, 1, 0);
  const TinyFaceDetectorOptions det{.input_size = 64, .score_threshold = 0.3};
  FaceDetectorWorkspace<float> ws;
  std::vector<Box> boxes;
  for (const Box& b : detect_faces(net, ws, img.data(), h, w, 1, det))
    if (!pixel_rect(b, h, w).empty() && std::min(pixel_rect(b, h, w).w, pixel_rect(b, h, w).h) >= 4) boxes.push_back(b);
  REQUIRE(boxes.size() >= 2);

  FacePreparer<float> all(&net, nullptr, {.detect = true, .faces = FaceCount::all, .min_face = 4, .detector = det});
  CHECK(all.add(img.data(), h, w, 1, "group.pgm") == static_cast<Index>(boxes.size()));
  for (std::size_t i = 0; i < boxes.size(); ++i) {
    CHECK(all.faces()[i].score == boxes[i].score);
    CHECK(all.faces()[i].found == static_cast<Index>(boxes.size()));
  }
  FacePreparer<float> best(&net, nullptr, {.detect = true, .min_face = 4, .detector = det});
  CHECK(best.add(img.data(), h, w, 1, "group.pgm") == 1);
  CHECK(best.faces()[0].score == boxes[0].score);
  CHECK(best.inputs().dim(0) == 1);
  CHECK(std::equal(best.inputs().data(), best.inputs().data() + best.inputs().size(), all.inputs().data()));
  CHECK(best.times().detect > 0);

  FacePreparer<float> one(&net, nullptr, {.detect = true, .faces = FaceCount::one, .min_face = 4, .detector = det});
  const std::string m = message_of([&] { one.add(img.data(), h, w, 1, "group.pgm"); });
  CHECK(contains(m, std::to_string(boxes.size()) + " faces found in group.pgm"));

  FacePreparer<float> strict(&net, nullptr, {.detect = true, .detector = {.input_size = 64, .score_threshold = 0.999999}});
  CHECK(contains(message_of([&] { strict.add(img.data(), h, w, 1, "blank.pgm"); }), "no face found in blank.pgm"));
}

}  // namespace test_face_preparer
