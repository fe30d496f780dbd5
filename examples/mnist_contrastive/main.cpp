// The Keras tutorial "Image similarity estimation using a Siamese Network with a contrastive
// loss" (keras.io/examples/vision/siamese_contrastive), reproduced with twin.
//
//   mnist_contrastive [--data DIR] [--epochs 10] [--batch 16] [--seed 1] [--threads 1]
//                     [--stacked] [--train-limit N]
//
// Network, exactly as the tutorial:
//   tower:  BatchNorm, Conv 5x5 4 tanh, AvgPool 2, Conv 5x5 16 tanh, AvgPool 2, Flatten,
//           BatchNorm, Dense 10 tanh
//   head:   Euclidean distance of the two embeddings, BatchNorm(1), Dense 1 sigmoid
//   loss:   contrastive, margin 1, on the sigmoid output; RMSprop (Keras defaults); batch 16
// Data as the tutorial: the first 30,000 training images for training, the other 30,000 for
// validation, test pairs from the test set; every image is the first element of one matching
// and one non-matching pair (twin::data::anchor_pairs), so 60,000 / 60,000 / 20,000 pairs.
// Pixels stay 0..255 as in the tutorial (the first BatchNorm normalises them).
//
// Keras details kept on purpose: BatchNorm momentum 0.99 (twin/PyTorch momentum 0.01) and
// eps 1e-3; Glorot-uniform weights and zero biases; RMSprop lr 1e-3, rho 0.9, eps 1e-7; pair
// order shuffled every epoch; the tower called separately on each branch (so BatchNorm
// statistics are per branch; --stacked runs both branches as one batch instead, see
// docs/siamese.md). Differences: the tutorial's make_pairs may pair an image with itself,
// twin's anchor_pairs never does; its random numbers are of course not Python's.
#include <twin/data/gather.hpp>
#include <twin/data/pairs.hpp>
#include <twin/io/idx.hpp>
#include <twin/layers/avgpool2d.hpp>
#include <twin/layers/batchnorm.hpp>
#include <twin/layers/conv2d.hpp>
#include <twin/metrics.hpp>
#include <twin/siamese.hpp>
#include <twin/siamese/embed.hpp>
#include <twin/twin.hpp>

#include <chrono>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include <data_dir.hpp>

namespace {
using twin::Index;

// THE LABEL CONVENTION, made explicit. The tutorial labels a matching pair 1 and minimises
//   mean((1 - y) o^2 + y max(margin - o, 0)^2)
// on the sigmoid output o. That is twin's ContrastiveLoss{.power = 2} on a "distance" o
// with the roles of the two classes swapped: the matching pairs take the margin term. So the
// network learns o ~ 1 for matching and o ~ 0 for non-matching pairs, and the tutorial's
// accuracy (round(o) == y) reads "same" when o > 0.5: o is a similarity score. We therefore
// keep PairLabel::same for matching pairs everywhere (data, metrics) and swap only at the
// loss call, here.
twin::PairLabel keras_loss_role(twin::PairLabel l) {
  return twin::is_same(l) ? twin::PairLabel::different : twin::PairLabel::same;
}

struct PairSet {
  const twin::Tensor<float>* images = nullptr;  // (M, 1, 28, 28)
  std::vector<twin::data::IndexPair> pairs;
};

PairSet make_set(const twin::Tensor<float>& images, std::span<const int> labels, std::uint64_t seed) {
  twin::Rng rng(seed);
  return {&images, twin::data::anchor_pairs(labels, rng)};
}

void gather(const PairSet& s, std::span<const std::size_t> order, Index begin, Index n, twin::Tensor<float>& x1,
            twin::Tensor<float>& x2, std::vector<twin::PairLabel>& y) {
  constexpr Index px = 28 * 28;
  x1.resize(twin::Shape{n, 1, 28, 28});
  x2.resize(twin::Shape{n, 1, 28, 28});
  y.resize(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    const auto& p = s.pairs[order.empty() ? static_cast<std::size_t>(begin + i) : order[static_cast<std::size_t>(begin + i)]];
    std::copy_n(s.images->data() + p.first * px, px, x1.data() + i * px);
    std::copy_n(s.images->data() + p.second * px, px, x2.data() + i * px);
    y[static_cast<std::size_t>(i)] = p.label;
  }
}

struct Model {
  twin::SiameseModule<float> siamese;
  twin::PairHead<float> head;
};

Model build(std::uint64_t seed) {
  using namespace twin;
  const Init g = Init::glorot_uniform;
  Sequential<float> tower;
  tower.add(BatchNorm2d{.features = 1, .eps = 1e-3, .momentum = 0.01})
      .add(Conv2D{.in = 1, .out = 4, .kernel = 5, .init = g})
      .add(Tanh{})
      .add(AvgPool2D{.kernel = 2})
      .add(Conv2D{.in = 4, .out = 16, .kernel = 5, .init = g})
      .add(Tanh{})
      .add(AvgPool2D{.kernel = 2})
      .add(Flatten{})
      .add(BatchNorm1d{.features = 256, .eps = 1e-3, .momentum = 0.01})
      .add(Dense{.in = 256, .out = 10, .init = g})
      .add(Tanh{});
  tower.init(seed);
  Sequential<float> net;
  net.add(BatchNorm1d{.features = 1, .eps = 1e-3, .momentum = 0.01}).add(Dense{.in = 1, .out = 1, .init = g}).add(Sigmoid{});
  net.init(seed + 1);
  return {SiameseModule<float>(std::move(tower)),
          PairHead<float>(PairCombine{.distance = LpDistance{}, .elementwise = false}, std::move(net))};
}

// Sigmoid outputs for every pair of a set (eval mode), in pair order. In eval mode an
// embedding does not depend on its batch: each image is embedded once, then the head
// scores all pairs from those rows.
std::vector<double> predict(const Model& m, const PairSet& s, std::vector<double>* neg_dist = nullptr) {
  twin::Workspace<float> ws;
  const auto emb = twin::embed_all(m.siamese, s.images->view(), 500, ws);  // (M, 10)
  std::vector<Index> first, second;
  for (const auto& p : s.pairs) first.push_back(p.first), second.push_back(p.second);
  twin::Tensor<float> e1, e2, d(twin::Shape{static_cast<Index>(s.pairs.size())});  // (pairs, 10), (pairs)
  twin::data::gather(emb.view(), first, e1);
  twin::data::gather(emb.view(), second, e2);
  const twin::TensorView<const float> a = e1.view(), b = e2.view();
  twin::PairHeadWorkspace<float> hws;
  const auto o = m.head.forward(a, b, hws, twin::Mode::eval);  // (pairs, 1)
  if (neg_dist) {
    twin::distance_forward(twin::LpDistance{}, a, b, d.view());
    for (float v : d) neg_dist->push_back(-double(v));
  }
  return {o.begin(), o.end()};
}

std::vector<twin::PairLabel> labels_of(const PairSet& s) {
  std::vector<twin::PairLabel> y;
  for (const auto& p : s.pairs) y.push_back(p.label);
  return y;
}

double keras_loss(std::span<const double> o, std::span<const twin::PairLabel> y) {
  const twin::ContrastiveLoss loss{.pos_margin = 0.0, .neg_margin = 1.0, .power = 2.0, .reduction = twin::Reduction::mean};
  twin::Tensor<double> d(twin::Shape{static_cast<Index>(o.size())});
  std::copy(o.begin(), o.end(), d.begin());
  std::vector<twin::PairLabel> role(y.size());
  for (std::size_t i = 0; i < y.size(); ++i) role[i] = keras_loss_role(y[i]);
  return loss.on_distances(d.view(), role).value;
}
}  // namespace

int main(int argc, char** argv) try {
  std::string data;
  int epochs = 10, threads = 1;
  Index batch = 16, train_limit = 0;
  std::uint64_t seed = 1;
  bool stacked = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) throw twin::error("missing value after " + a);
      return std::string(argv[++i]);
    };
    if (a == "--data") data = next();
    else if (a == "--epochs") epochs = std::stoi(next());
    else if (a == "--batch") batch = std::stol(next());
    else if (a == "--seed") seed = std::stoull(next());
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--train-limit") train_limit = std::stol(next());
    else if (a == "--stacked") stacked = true;
    else {
      std::fprintf(stderr,
                   "usage: mnist_contrastive [--data DIR] [--epochs 10] [--batch 16] [--seed 1] [--threads 1] "
                   "[--stacked] [--train-limit N]\n");
      return 2;
    }
  }
  twin::set_default_threads(threads);
  const auto how = stacked ? twin::BranchMode::stacked : twin::BranchMode::separate;

  const auto dir = twin_examples::find_data_dir(data, "mnist");
  auto all = twin::io::read_idx_images((dir / "train-images-idx3-ubyte.gz").string());
  const auto all_labels = twin::io::read_idx_labels((dir / "train-labels-idx1-ubyte.gz").string());
  auto test = twin::io::read_idx_images((dir / "t10k-images-idx3-ubyte.gz").string());
  const auto test_labels = twin::io::read_idx_labels((dir / "t10k-labels-idx1-ubyte.gz").string());
  for (float& v : all) v *= 255.0f;  // the tutorial feeds raw 0..255 pixels
  for (float& v : test) v *= 255.0f;
  const Index half = 30000, px = 28 * 28;
  const Index n_train = train_limit > 0 ? std::min(train_limit, half) : half;
  twin::Tensor<float> train(twin::Shape{n_train, 1, 28, 28}), val(twin::Shape{all.dim(0) - half, 1, 28, 28});
  std::copy_n(all.data(), n_train * px, train.data());
  std::copy_n(all.data() + half * px, val.size(), val.data());
  const std::vector<int> train_labels(all_labels.begin(), all_labels.begin() + n_train);
  const std::vector<int> val_labels(all_labels.begin() + half, all_labels.end());

  const PairSet train_set = make_set(train, train_labels, seed * 3 + 0);
  const PairSet val_set = make_set(val, val_labels, seed * 3 + 1);
  const PairSet test_set = make_set(test, test_labels, seed * 3 + 2);
  std::printf("pairs: train %zu, validation %zu, test %zu; branches %s; threads %d\n", train_set.pairs.size(),
              val_set.pairs.size(), test_set.pairs.size(), stacked ? "stacked" : "separate", twin::default_threads());

  Model m = build(seed);
  std::printf("tower:\n%s", m.siamese.tower().summary(twin::Shape{batch, 1, 28, 28}).c_str());
  std::printf("head: Euclidean ->\n%s", m.head.net().summary(twin::Shape{batch, 1}).c_str());

  const twin::RMSprop<float>::Options keras_rmsprop{.lr = 1e-3, .alpha = 0.9, .eps = 1e-7};
  twin::RMSprop<float> opt_tower(keras_rmsprop), opt_head(keras_rmsprop);
  const twin::ContrastiveLoss loss{.pos_margin = 0.0, .neg_margin = 1.0, .power = 2.0, .reduction = twin::Reduction::mean};

  twin::SiameseWorkspace<float> ws;
  twin::LossWorkspace<float> lws;
  twin::PairHeadWorkspace<float> hws;
  twin::Tensor<float> x1, x2, d_out(twin::Shape{batch, 1});
  std::vector<twin::PairLabel> y, role(static_cast<std::size_t>(batch));
  std::vector<std::size_t> order(train_set.pairs.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  twin::Rng shuffle_rng(seed + 1000);
  const auto n = static_cast<Index>(order.size());
  double total_secs = 0;

  for (int epoch = 1; epoch <= epochs; ++epoch) {
    shuffle_rng.shuffle(std::span<std::size_t>(order));
    const auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0;
    Index correct = 0, seen = 0, steps = 0;
    for (Index b = 0; b < n; b += batch) {
      const Index k = std::min(batch, n - b);
      if (k < 2) break;  // BatchNorm needs two samples
      gather(train_set, order, b, k, x1, x2, y);
      m.siamese.zero_grad();
      m.head.net().zero_grad();
      auto e = m.siamese.forward({x1.view(), x2.view()}, ws, twin::Mode::train, how);
      auto o = m.head.forward(e.branch(0), e.branch(1), hws, twin::Mode::train);  // (k, 1) in (0, 1)
      for (Index i = 0; i < k; ++i) role[static_cast<std::size_t>(i)] = keras_loss_role(y[static_cast<std::size_t>(i)]);
      d_out.resize(twin::Shape{k, 1});
      const auto& r = loss.on_distances(o, std::span<const twin::PairLabel>(role.data(), static_cast<std::size_t>(k)),
                                         d_out.view(), lws);
      auto dE = ws.d_embeddings();
      m.head.backward(d_out.view(), hws, dE.slice(0, k), dE.slice(k, k));
      m.siamese.backward(dE, ws);
      opt_tower.step(m.siamese.params(), m.siamese.grads());
      opt_head.step(m.head.net().params(), m.head.net().grads());
      loss_sum += r.value;
      ++steps;
      if (steps % 1000 == 0) {
        // Embedding-level diagnostics: mean distance of same / different pairs, pairs inside
        // the margin, embedding norms, collapse warning.
        const auto dg = twin::pair_diagnostics<float>(
            {.first = e.branch(0), .second = e.branch(1), .labels = std::span<const twin::PairLabel>(y)},
            {.pos_margin = 0.0, .neg_margin = 1.0});
        std::printf("  step %5td  loss %.4f  %s\n", steps, loss_sum / double(steps), dg.str().c_str());
        std::fflush(stdout);
      }
      for (Index i = 0; i < k; ++i) correct += (o[i] > 0.5f) == twin::is_same(y[static_cast<std::size_t>(i)]);
      seen += k;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    total_secs += secs;
    const auto vo = predict(m, val_set);
    const auto vy = labels_of(val_set);
    std::printf("epoch %2d/%d  %.1f s  loss %.4f  acc %.4f  |  val loss %.4f  val acc %.4f\n", epoch, epochs, secs,
                loss_sum / double(steps), double(correct) / double(seen), keras_loss(vo, vy),
                twin::metrics::accuracy_at(vo, vy, 0.5));
    std::fflush(stdout);
  }

  const auto vo = predict(m, val_set);
  const auto vy = labels_of(val_set);
  std::vector<double> test_neg_dist;
  const auto to = predict(m, test_set, &test_neg_dist);
  const auto ty = labels_of(test_set);
  const double t_val = twin::metrics::choose_threshold(vo, vy);
  const auto e = twin::metrics::eer(to, ty);
  std::printf("\ntest: loss %.4f  accuracy %.4f (threshold 0.5, as Keras)  accuracy %.4f (threshold %.3f chosen on "
              "validation)\n      AUC %.5f  EER %.4f at %.3f  (embedding distance alone: AUC %.5f)\n",
              keras_loss(to, ty), twin::metrics::accuracy_at(to, ty, 0.5), twin::metrics::accuracy_at(to, ty, t_val),
              t_val, twin::metrics::auc(to, ty), e.eer, e.threshold, twin::metrics::auc(test_neg_dist, ty));
  std::printf("mean time per epoch: %.1f s over %d epochs\n", epochs ? total_secs / epochs : 0.0, epochs);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "mnist_contrastive: %s\n", e.what());
  return 1;
}
