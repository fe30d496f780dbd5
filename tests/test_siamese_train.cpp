// Small end-to-end trainings on toy data: the pieces (module, head, losses, miners, sampler,
// metrics, diagnostics) work together and learn.
#include <doctest/doctest.h>

#include <twin/data/pairs.hpp>
#include <twin/data/pk_sampler.hpp>
#include <twin/metrics.hpp>
#include <twin/siamese.hpp>
#include <twin/twin.hpp>

#include <vector>

namespace test_siamese_train {  // file-local: the test files are compiled as unity batches

using namespace twin;

namespace {
// 6 classes, each a Gaussian blob around its own centre in 8-d; 20 points per class.
struct Toy {
  Tensor<float> x;  // (N, 8)
  std::vector<int> y;
};
Toy make_toy(std::uint64_t seed) {
  Rng r(seed);
  Toy t;
  const Index per = 20, C = 6, D = 8;
  t.x.resize(Shape{per * C, D});
  Rng centres(99);  // the same classes for every seed
  std::vector<float> mu(static_cast<std::size_t>(C * D));
  for (float& v : mu) v = static_cast<float>(centres.uniform(-1, 1));
  for (Index c = 0; c < C; ++c)
    for (Index i = 0; i < per; ++i) {
      for (Index k = 0; k < D; ++k)
        t.x(c * per + i, k) = mu[static_cast<std::size_t>(c * D + k)] + static_cast<float>(r.normal(0, 0.35));
      t.y.push_back(static_cast<int>(c));
    }
  return t;
}
Sequential<float> make_tower() {
  Sequential<float> t;
  t.add(Dense{.in = 8, .out = 16}).add(Tanh{}).add(Dense{.in = 16, .out = 4});
  t.init(3);
  return t;
}
void gather_rows(const Tensor<float>& x, std::span<const Index> rows, Tensor<float>& out) {
  const Index D = x.dim(1);
  out.resize(Shape{static_cast<Index>(rows.size()), D});
  for (std::size_t i = 0; i < rows.size(); ++i) std::copy_n(x.data() + rows[i] * D, D, out.data() + Index(i) * D);
}
// AUC of -distance between embeddings of held-out pairs.
double pair_auc(const SiameseModule<float>& m, const Toy& t, std::uint64_t seed) {
  Rng r(seed);
  const auto pairs = data::balanced_pairs(t.y, 400, r);
  Workspace<float> ws;
  auto e = Tensor<float>::from(m.embed(t.x.view(), ws));
  std::vector<double> s;
  std::vector<PairLabel> y;
  for (const auto& p : pairs) {
    s.push_back(-LpDistance{}.row(e.data() + p.first * 4, e.data() + p.second * 4, 4));
    y.push_back(p.label);
  }
  return metrics::auc(s, y);
}

// n balanced pairs of `toy`: their images into x1 and x2, their labels returned.
std::vector<PairLabel> sample_pairs(const Toy& toy, Index n, Rng& r, Tensor<float>& x1, Tensor<float>& x2) {
  std::vector<Index> a, b;
  std::vector<PairLabel> y;
  for (const auto& p : data::balanced_pairs(toy.y, n, r)) a.push_back(p.first), b.push_back(p.second), y.push_back(p.label);
  gather_rows(toy.x, a, x1);
  gather_rows(toy.x, b, x2);
  return y;
}
}  // namespace

TEST_CASE("contrastive training on pairs through SiameseModule (stacked) separates the classes") {
  const Toy train = make_toy(1), test = make_toy(2);
  SiameseModule<float> m(make_tower());
  const double before = pair_auc(m, test, 5);
  Adam<float> opt({.lr = 1e-2});
  SiameseWorkspace<float> ws;
  Rng r(7);
  const ContrastiveLoss loss{.neg_margin = 2.0, .power = 2.0, .reduction = Reduction::mean};
  Tensor<float> x1, x2;
  for (int step = 0; step < 150; ++step) {
    const auto y = sample_pairs(train, 32, r, x1, x2);
    m.zero_grad();
    auto e = m.forward({x1.view(), x2.view()}, ws, Mode::train);
    auto dE = ws.d_embeddings();
    loss(PairBatch<float>{.first = e.branch(0), .second = e.branch(1), .labels = y},
         {.first = dE.slice(0, 32), .second = dE.slice(32, 32)});
    m.backward(dE, ws);
    opt.step(m.params(), m.grads());
  }
  const double after = pair_auc(m, test, 5);
  MESSAGE("pair AUC before ", before, ", after ", after);
  CHECK(after > 0.97);
  CHECK(after > before);
}

TEST_CASE("similarity head + BCEWithLogits: logits rank same pairs above different ones") {
  const Toy train = make_toy(3), test = make_toy(4);
  SiameseModule<float> m(make_tower());
  auto head = make_similarity_head<float>(4, 11);
  Adam<float> opt({.lr = 1e-2}), opt_h({.lr = 1e-2});
  SiameseWorkspace<float> ws;
  PairHeadWorkspace<float> hws;
  Rng r(8);
  Tensor<float> x1, x2, dlogit;
  const BCEWithLogitsLoss bce;
  for (int step = 0; step < 200; ++step) {
    const auto y = sample_pairs(train, 32, r, x1, x2);
    m.zero_grad();
    head.net().zero_grad();
    auto e = m.forward({x1.view(), x2.view()}, ws, Mode::train);
    auto logit = head.forward(e.branch(0), e.branch(1), hws, Mode::train);
    dlogit.resize(logit.shape());
    bce(logit, std::span<const PairLabel>(y), dlogit.view());
    auto dE = ws.d_embeddings();
    head.backward(dlogit.view(), hws, dE.slice(0, 32), dE.slice(32, 32));
    m.backward(dE, ws);
    opt.step(m.params(), m.grads());
    opt_h.step(head.net().params(), head.net().grads());
  }
  Rng rt(9);
  const auto y = sample_pairs(test, 400, rt, x1, x2);
  auto e = m.forward({x1.view(), x2.view()}, ws, Mode::eval);
  auto logit = head.forward(e.branch(0), e.branch(1), hws, Mode::eval);
  std::vector<double> s(logit.begin(), logit.end());
  MESSAGE("head AUC ", metrics::auc(s, y), ", accuracy ", metrics::accuracy_at(s, y, 0.0));
  CHECK(metrics::auc(s, y) > 0.95);
  CHECK(metrics::accuracy_at(s, y, 0.0) > 0.85);  // logit 0 = probability 0.5
}

TEST_CASE("triplet training with a P x K sampler and batch-hard mining; diagnostics stay healthy") {
  const Toy train = make_toy(5), test = make_toy(6);
  Sequential<float> tower = make_tower();
  Adam<float> opt({.lr = 5e-3});
  Workspace<float> ws;
  data::PKSampler sampler(train.y, {.p = 3, .k = 4, .seed = 1});
  const TripletMarginLoss loss{.margin = 0.5};
  Tensor<float> x, d_emb;
  SiameseDiagnostics last;
  for (std::uint64_t epoch = 0; epoch < 40; ++epoch)
    for (const auto& batch : sampler.epoch(epoch)) {
      gather_rows(train.x, batch, x);
      std::vector<int> y;
      for (Index i : batch) y.push_back(train.y[static_cast<std::size_t>(i)]);
      tower.zero_grad();
      auto emb = tower.forward(x.view(), ws, Mode::train);
      const auto triplets = BatchHardMiner{}(emb, y);
      REQUIRE(triplets.size() == batch.size());  // every anchor has a positive and a negative
      d_emb.resize(emb.shape());
      const auto r = loss(emb, std::span<const Triplet>(triplets), d_emb.view());
      last = triplet_diagnostics(emb, std::span<const Triplet>(triplets), {.margin = 0.5, .loss = r.value});
      tower.backward(d_emb.view(), ws);
      opt.step(tower.params(), tower.grads());
    }
  CHECK_FALSE(last.collapsed);
  CHECK(last.mean_neg_distance > last.mean_pos_distance);
  SiameseModule<float> m(std::move(tower));
  MESSAGE("triplet AUC ", pair_auc(m, test, 7), "; last batch ", last.str());
  CHECK(pair_auc(m, test, 7) > 0.97);
}

}  // namespace test_siamese_train
