// The Model concept and the one parameter store: a tower and a head in one model (one
// optimiser, one file), AbsDifference, gradients through tower + head, save/load of a
// SiameseModule, join_store keeping values.
#include <doctest/doctest.h>

#include <filesystem>

#include <twin/io/safetensors.hpp>
#include <twin/testing/gradcheck.hpp>
#include <twin/testing/random.hpp>
#include <twin/twin.hpp>

#include "layer_helpers.hpp"

namespace test_model {
using namespace twin;
using twin::testing::check_gradients;
using twin::testing::random_tensor;

static_assert(Model<Graph<float>>);
static_assert(Model<Sequential<double>>);
static_assert(Model<SiameseModule<float>>);

template <class T>
Sequential<T> tower() {
  Sequential<T> t;
  t.add(Conv2D{.in = 1, .out = 3, .kernel = 3, .pad = 1}).add(ReLU{}).add(MaxPool2D{.kernel = 2}).add(Flatten{});
  t.add(Dense{.in = 3 * 3 * 3, .out = 4});
  return t;
}
// Koch's head: |a - b| -> Dense(D, 1), a same/different logit.
template <class T>
Graph<T> koch_head(Index d) {
  Graph<T> h;
  auto a = h.input("a", Shape{d});
  auto b = h.input("b", Shape{d});
  h.output(h.add("fc", Dense{.in = d, .out = 1}, h.add("l1", AbsDifference{}, {a, b})));
  return h;
}

TEST_CASE("model: AbsDifference gradients (away from a == b)") {
  Graph<double> g;
  auto a = g.input("a", Shape{6});
  auto b = g.input("b", Shape{6});
  g.output(g.add("d", AbsDifference{}, {a, b}));
  g.init(1);
  CHECK_GRAD(check_gradients(g, {Shape{3, 6}, Shape{3, 6}}));
}

TEST_CASE("model: a tower and a head share one store, one optimiser, one zero_grad") {
  SiameseModule<float> m(tower<float>(), koch_head<float>(4));
  m.init(7);
  const Index tower_params = 3 * 9 + 3 + 27 * 4 + 4, head_params = 4 + 1;
  CHECK(m.num_params() == tower_params + head_params);
  std::vector<std::string> names;
  for (const auto& t : m.named_tensors()) names.push_back(t.name);
  CHECK(names.front() == "0.weight");
  CHECK(names.back() == "head.fc.bias");
  CHECK(m.tower().params().data() == m.head().params().data());  // one block

  // One step of BCE on logits moves both tower and head parameters.
  SiameseWorkspace<float> ws;
  const auto x1 = random_tensor<float>(Shape{4, 1, 6, 6}, 1), x2 = random_tensor<float>(Shape{4, 1, 6, 6}, 2);
  m.zero_grad();
  auto e = m.forward({x1.view(), x2.view()}, ws, Mode::train);
  auto logits = m.head_forward(e, ws, Mode::train);
  CHECK(logits.shape() == Shape{4, 1});
  Tensor<float> dl(logits.shape(), 0.25f);
  m.head_backward(dl.view(), ws);
  m.backward(ws.d_embeddings(), ws);
  double tower_g = 0, head_g = 0;
  for (Index i = 0; i < tower_params; ++i) tower_g += std::abs(m.grads()[static_cast<std::size_t>(i)]);
  for (Index i = tower_params; i < m.num_params(); ++i) head_g += std::abs(m.grads()[static_cast<std::size_t>(i)]);
  CHECK(tower_g > 0);
  CHECK(head_g > 0);
  SGD<float> opt({.lr = 0.1});
  const std::vector<float> before(m.params().begin(), m.params().end());
  opt.step(m.params(), m.grads());
  CHECK(before.back() != m.params().back());  // the head's bias moved with the tower
}

TEST_CASE("model: gradients through tower and head match finite differences") {
  SiameseModule<double> m(tower<double>(), koch_head<double>(4));
  m.init(3);
  const auto x1 = random_tensor<double>(Shape{3, 1, 6, 6}, 4), x2 = random_tensor<double>(Shape{3, 1, 6, 6}, 5);
  const auto R = random_tensor<double>(Shape{3, 1}, 6);
  SiameseWorkspace<double> ws;
  auto loss = [&] {
    auto e = m.forward({x1.view(), x2.view()}, ws, Mode::train);
    auto l = m.head_forward(e, ws, Mode::train);
    double s = 0;
    for (Index i = 0; i < l.size(); ++i) s += l[i] * R[i];
    return s;
  };
  m.zero_grad();
  loss();
  m.head_backward(R.view(), ws);
  m.backward(ws.d_embeddings(), ws);
  const std::vector<double> analytic(m.grads().begin(), m.grads().end());
  const auto numeric = twin::testing::numeric_gradient(loss, m.params());
  CHECK_GRAD(twin::testing::compare_gradients(analytic, numeric, "tower + head"));
}

// The hook data-parallel training overlaps with: every parameter range reported once per
// backward, head first, each range already holding its final gradient when reported.
TEST_CASE("model: on_gradients_ready reports each node's final gradients once, last node first") {
  SiameseModule<double> m(tower<double>(), koch_head<double>(4));
  m.init(3);
  const auto x1 = random_tensor<double>(Shape{5, 1, 6, 6}, 1), x2 = random_tensor<double>(Shape{5, 1, 6, 6}, 2);
  const auto d_logit = random_tensor<double>(Shape{5, 1}, 3);
  for (BranchMode how : {BranchMode::stacked, BranchMode::separate}) {
    CAPTURE(static_cast<int>(how));
    SiameseWorkspace<double> ws;
    std::vector<std::pair<std::size_t, std::size_t>> ranges;
    std::vector<std::vector<double>> seen;  // the gradients in each range when it was reported
    ws.on_gradients_ready([&](std::size_t offset, std::size_t count) {
      ranges.emplace_back(offset, count);
      seen.emplace_back(m.grads().begin() + static_cast<std::ptrdiff_t>(offset),
                        m.grads().begin() + static_cast<std::ptrdiff_t>(offset + count));
    });
    for (int step = 0; step < 2; ++step) {  // the second step reuses the plans
      ranges.clear(), seen.clear();
      m.zero_grad();
      const auto e = m.forward({x1.view(), x2.view()}, ws, Mode::train, how);
      m.head_forward(e, ws, Mode::train);
      m.head_backward(d_logit.view(), ws);
      m.backward(ws.d_embeddings(), ws);
      // head.fc, then the tower's Dense and Conv2D: the nodes with parameters, last first.
      REQUIRE(ranges.size() == 3);
      CHECK(ranges[0].first > ranges[1].first);
      CHECK(ranges[1].first > ranges[2].first);
      std::vector<int> covered(m.grads().size(), 0);
      for (std::size_t r = 0; r < ranges.size(); ++r)
        for (std::size_t i = 0; i < ranges[r].second; ++i) {
          ++covered[ranges[r].first + i];
          CHECK(seen[r][i] == m.grads()[ranges[r].first + i]);  // final when reported
        }
      for (int c : covered) CHECK(c == 1);
    }
  }
}

TEST_CASE("model: save and load a SiameseModule with its head") {
  const auto dir = std::filesystem::temp_directory_path() / "twin_test_model";
  std::filesystem::create_directories(dir);
  const auto path = dir / "siamese.safetensors";
  SiameseModule<float> a(tower<float>(), koch_head<float>(4));
  a.init(11);
  io::save_model(a, path);
  SiameseModule<float> b(tower<float>(), koch_head<float>(4));
  b.init(12);
  io::load_model(b, path);
  CHECK(std::vector<float>(a.params().begin(), a.params().end()) == std::vector<float>(b.params().begin(), b.params().end()));
  // The head must be usable after a load (its values came through the shared store).
  SiameseWorkspace<float> ws;
  const auto x = random_tensor<float>(Shape{2, 1, 6, 6}, 1);
  auto e = b.forward({x.view(), x.view()}, ws, Mode::eval);
  CHECK_NOTHROW(b.head_forward(e, ws, Mode::eval));
  // A model without the head does not load that file.
  SiameseModule<float> c(tower<float>());
  c.init(1);
  CHECK_THROWS_WITH_AS(io::load_model(c, path), doctest::Contains("\"head.fc."), io_error);
  std::filesystem::remove_all(dir);
}

TEST_CASE("model: join_store keeps the values a graph had") {
  Sequential<float> t = tower<float>();
  t.init(5);
  const std::vector<float> before(t.params().begin(), t.params().end());
  auto store = std::make_shared<ParameterStore<float>>();
  Graph<float> g(std::move(t));
  g.join_store(store, "tower.");
  CHECK(std::vector<float>(g.params().begin(), g.params().end()) == before);
  CHECK(g.named_tensors().front().name == "tower.0.weight");
}

}  // namespace test_model
