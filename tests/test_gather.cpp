// Batches from dataset indices: gather copies the chosen samples and keeps its buffer;
// PKSampler::steps runs for any number of steps, continuing the epoch stream.
#include <doctest/doctest.h>

#include <twin/data/gather.hpp>
#include <twin/data/pk_sampler.hpp>

#include <set>
#include <vector>

namespace test_gather {  // file-local: the test files are compiled as unity batches

using namespace twin;

TEST_CASE("gather: samples in batch order; the batch buffer is reused") {
  Tensor<float> data(Shape{5, 2, 3});  // (N, 2, 3): sample i holds 100 i + position
  for (Index i = 0; i < data.size(); ++i) data[i] = static_cast<float>(100 * (i / 6) + i % 6);
  Tensor<float> x;
  const std::vector<Index> which{4, 0, 4};
  data::gather(data, which, x);
  REQUIRE(x.shape() == Shape{3, 2, 3});
  for (Index b = 0; b < 3; ++b)
    for (Index k = 0; k < 6; ++k) CHECK(x[b * 6 + k] == static_cast<float>(100 * which[std::size_t(b)] + k));
  const float* p = x.data();
  data::gather(data.view(), std::vector<Index>{1, 2}, x);
  CHECK(x.shape() == Shape{2, 2, 3});
  CHECK(x.data() == p);
  CHECK(x[0] == 100.f);
  const std::vector<int> labels{10, 11, 12, 13, 14};
  std::vector<int> y;
  data::gather(std::span<const int>(labels), which, y);
  CHECK(y == std::vector<int>{14, 10, 14});
  CHECK_THROWS_WITH_AS(data::gather(data, std::vector<Index>{0, 5}, x), doctest::Contains("index 5 at batch position 1"),
                       shape_error);
  CHECK_THROWS_AS(data::gather(std::span<const int>(labels), std::vector<Index>{-1}, y), shape_error);
}

TEST_CASE("PKSampler::steps: n batches whatever the epoch length, continuing the stream") {
  std::vector<int> labels;
  for (int c = 0; c < 7; ++c)
    for (int i = 0; i < 5; ++i) labels.push_back(c);
  const data::PKSampler s(labels, {.p = 7, .k = 2, .seed = 9});
  CHECK(s.batches_per_epoch() == 1);  // 7 classes, P = 7: an epoch is one batch
  CHECK(s.epoch(0).size() == 1);
  const auto steps = s.steps(25);
  REQUIRE(steps.size() == 25);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    CHECK(steps[i] == s.epoch(i)[0]);  // batch i is epoch i's
    std::set<int> classes;
    for (Index j : steps[i]) classes.insert(labels[std::size_t(j)]);
    CHECK(classes.size() == 7);
  }
  CHECK(steps[0] != steps[1]);
  // A sampler with 3 batches per epoch: steps(n, first) is the stream from batch `first`.
  std::vector<int> many;
  for (int c = 0; c < 12; ++c)
    for (int i = 0; i < 4; ++i) many.push_back(c);
  const data::PKSampler m(many, {.p = 4, .k = 2, .seed = 1});
  REQUIRE(m.batches_per_epoch() == 3);
  const auto all = m.steps(10), tail = m.steps(5, 4);
  REQUIRE(tail.size() == 5);
  for (std::size_t i = 0; i < 5; ++i) CHECK(tail[i] == all[4 + i]);
  CHECK(all[3] == m.epoch(1)[0]);
  CHECK(m.steps(0).empty());
  CHECK_THROWS_AS(m.steps(-1), error);
}

}  // namespace test_gather
