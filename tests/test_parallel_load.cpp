// Parallel image preparation: every item lands in its own slot and draws its own random
// stream, so 1 and 2 threads give the same bits; errors from a worker reach the caller.
#include <doctest/doctest.h>

#include <twin/data/parallel_load.hpp>
#include <twin/data/transform.hpp>

#include <stdexcept>
#include <vector>

namespace test_parallel_load {  // file-local: the test files are compiled as unity batches

using namespace twin;

namespace {
// A fake decoder: item i is a (6, 5) ramp scaled by i, then randomly shifted by rng.
data::Image fake(Index i, Rng& rng) {
  data::Image img(Shape{6, 5});
  for (Index k = 0; k < img.size(); ++k) img[k] = static_cast<float>((i + 1) * k) / 100.0f;
  return data::random_affine(img, rng, {.max_shift = 0.2});
}
struct Threads {  // restores the thread count on scope exit
  int before = default_threads();
  explicit Threads(int n) { set_default_threads(n); }
  ~Threads() { set_default_threads(before); }
};
}  // namespace

TEST_CASE("load_images: the same tensor on 1 and 2 threads; item i in slot i") {
  Tensor<float> one, two;
  {
    Threads t(1);
    one = data::load_images(9, 6, 5, fake, {.seed = 4});
  }
  {
    Threads t(2);
    two = data::load_images(9, 6, 5, fake, {.seed = 4});
  }
  REQUIRE(one.shape() == Shape{9, 1, 6, 5});
  for (Index i = 0; i < one.size(); ++i) REQUIRE(one[i] == two[i]);
  // Slot 3 holds item 3 prepared with stream fork(3), whatever thread ran it.
  Rng r3 = Rng(4).fork(3);
  const auto ref = fake(3, r3);
  for (Index k = 0; k < ref.size(); ++k) CHECK(one[3 * 30 + k] == ref[k]);
  const auto other = data::load_images(9, 6, 5, fake, {.seed = 5});
  bool differs = false;
  for (Index i = 0; i < one.size(); ++i) differs = differs || one[i] != other[i];
  CHECK(differs);
}

TEST_CASE("prepare_all keeps order; errors and wrong sizes reach the caller") {
  Threads t(2);
  const auto v = data::prepare_all(50, [](Index i) { return 3 * i; });
  REQUIRE(v.size() == 50);
  for (std::size_t i = 0; i < v.size(); ++i) CHECK(v[i] == Index(3 * i));
  CHECK_THROWS_WITH_AS(data::load_images(8, 6, 5, [](Index i) { return data::Image(Shape{6, i == 5 ? 4 : 5}); }),
                       doctest::Contains("image 5"), shape_error);
  CHECK_THROWS_WITH_AS(data::prepare_all(8,
                                         [](Index i) {
                                           if (i == 6) throw io_error("cannot decode item 6");
                                           return i;
                                         }),
                       doctest::Contains("item 6"), io_error);
}

TEST_CASE("load_all / load_images over an ImageDataset") {
  // An in-memory "dataset": the loader decodes the number in the path into a flat image.
  auto loader = [](const std::string& p) {
    Tensor<std::uint8_t, 2> img(Shape{4, 3});
    img.fill(static_cast<std::uint8_t>(std::stoi(p)));
    return img;
  };
  std::vector<std::pair<std::string, int>> list;
  for (int i = 0; i < 7; ++i) list.push_back({std::to_string(10 * i), i % 2});
  const auto ds = data::ImageDataset::from_list(list, loader, {.height = 2, .width = 3});
  const auto imgs = data::load_all(ds);
  REQUIRE(imgs.size() == 7);
  CHECK(imgs[6](1, 2) == doctest::Approx(60.0 / 255.0));
  const auto x = data::load_images(ds);
  CHECK(x.shape() == Shape{7, 1, 2, 3});
  CHECK(x[5 * 6] == doctest::Approx(50.0 / 255.0));
  const auto unsized = data::ImageDataset::from_list(list, loader);
  CHECK_THROWS_AS(data::load_images(unsized), error);
}

}  // namespace test_parallel_load
