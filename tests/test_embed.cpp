// embed_all: a data set embedded in batches equals one forward over all of it, for any batch
// size, for Sequential and SiameseModule alike; the output buffer is reused; bad input throws.
#include <doctest/doctest.h>

#include <twin/layers/batchnorm.hpp>
#include <twin/siamese.hpp>
#include <twin/siamese/embed.hpp>
#include <twin/testing/random.hpp>

namespace test_embed {  // file-local: the test files are compiled as unity batches

using namespace twin;

namespace {
// BatchNorm makes a train-mode forward depend on the batch; eval mode must not.
Sequential<float> make_tower() {
  Sequential<float> t;
  t.add(Flatten{}).add(BatchNorm1d{.features = 12}).add(Dense{.in = 12, .out = 5}).add(Tanh{}).add(Dense{.in = 5, .out = 3});
  t.init(3);
  return t;
}
}  // namespace

TEST_CASE("embed_all: any batch size gives the one-forward embeddings") {
  const auto tower = make_tower();
  const auto x = testing::random_tensor<float>(Shape{10, 3, 2, 2}, 1);  // (N, C, H, W)
  // A warm-up train forward moves BatchNorm's running statistics away from (0, 1).
  {
    auto t = make_tower();
    Workspace<float> ws;
    t.forward(x.view(), ws, Mode::train);
  }
  Workspace<float> ws_all;
  const auto ref = tower.forward(x.view(), ws_all, Mode::eval);  // (10, 3)
  for (Index b : {1, 3, 4, 10, 64}) {
    CAPTURE(b);
    Workspace<float> ws;
    const Tensor<float, 2> e = embed_all(tower, x.view(), b, ws);
    REQUIRE(e.shape() == Shape{10, 3});
    for (Index i = 0; i < e.size(); ++i) CHECK(e.data()[i] == doctest::Approx(ref[i]).epsilon(1e-6));
  }
  SiameseModule<float> m(make_tower());
  Workspace<float> ws;
  const auto e = embed_all(m, x.view(), 4, ws);
  for (Index i = 0; i < e.size(); ++i) CHECK(e.data()[i] == doctest::Approx(ref[i]).epsilon(1e-6));
}

TEST_CASE("embed_all: the output tensor's allocation is reused; a 4-d output is flattened") {
  Sequential<float> t;
  t.add(Conv2D{.in = 1, .out = 2, .kernel = 3, .pad = 1});  // (B, 2, 4, 4)
  t.init(5);
  const auto x = testing::random_tensor<float>(Shape{7, 1, 4, 4}, 2);
  Workspace<float> ws;
  Tensor<float, 2> out;
  embed_all(t, x.view(), 3, ws, out);
  CHECK(out.shape() == Shape{7, 32});
  const float* p = out.data();
  embed_all(t, x.view().slice(0, 5), 2, ws, out);
  CHECK(out.shape() == Shape{5, 32});
  CHECK(out.data() == p);
}

TEST_CASE("embed_all: bad input names what is wrong") {
  const auto tower = make_tower();
  Workspace<float> ws;
  const auto x = testing::random_tensor<float>(Shape{4, 3, 2, 2}, 1);
  CHECK_THROWS_WITH_AS(embed_all(tower, x.view(), 0, ws), doctest::Contains("batch_size"), error);
  CHECK_THROWS_WITH_AS(embed_all(tower, x.view().slice(0, 0), 2, ws), doctest::Contains("no images"), error);
  const Tensor<float> flat(Shape{12}, 0.f);
  CHECK_THROWS_AS(embed_all(tower, flat.view(), 2, ws), shape_error);
}

}  // namespace test_embed
