// Getting started with twin (docs/getting-started.md): a triplet-loss embedding of
// Fashion-MNIST, trained on 7 clothing classes and evaluated on the 3 it never saw.
//   getting_started [--data DIR] [--steps 1000] [--train 60000] [--test 10000] [--save FILE]
// Exit code 0: the loss fell, the held-out AUC beats raw pixels and the reloaded model
// embeds identically; 1 otherwise; 77 (ctest's skip code) when the data are absent.
#include <twin/data/gather.hpp>
#include <twin/data/pk_sampler.hpp>
#include <twin/io/idx.hpp>
#include <twin/io/safetensors.hpp>
#include <twin/metrics.hpp>
#include <twin/siamese.hpp>
#include <twin/siamese/embed.hpp>
#include <twin/twin.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include <data_dir.hpp>  // --data, $TWIN_DATA, ../shared/data

using namespace twin;

struct Split {
  Tensor<float> x;  // (N, 1, 28, 28) in [0, 1]
  std::vector<int> y;
};
// The images of classes 0-6 (T-shirt ... shirt) or, held out, 7-9 (sneaker, bag, ankle boot).
Split load(const std::filesystem::path& dir, const std::string& set, Index limit, bool held_out) {
  const auto x = io::read_idx_images((dir / (set + "-images-idx3-ubyte.gz")).string(), limit);
  const auto y = io::read_idx_labels((dir / (set + "-labels-idx1-ubyte.gz")).string(), limit);
  std::vector<Index> keep;
  for (std::size_t i = 0; i < y.size(); ++i)
    if ((y[i] >= 7) == held_out) keep.push_back(static_cast<Index>(i));
  Split s;
  data::gather(x, keep, s.x);
  data::gather(std::span<const int>(y), keep, s.y);
  return s;
}

Sequential<float> make_tower() {  // (B, 1, 28, 28) -> (B, 64) on the unit sphere
  Sequential<float> net;
  net.add(Conv2D{.in = 1, .out = 16, .kernel = 3, .pad = 1}).add(ReLU{}).add(MaxPool2D{.kernel = 2})  // (16, 14, 14)
      .add(Conv2D{.in = 16, .out = 32, .kernel = 3, .pad = 1}).add(ReLU{}).add(MaxPool2D{.kernel = 2})  // (32, 7, 7)
      .add(Flatten{}).add(Dense{.in = 32 * 7 * 7, .out = 64}).add(L2Normalize{});
  return net;
}

int main(int argc, char** argv) try {
  std::string data, save = "getting_started.safetensors";
  Index steps = 1000, n_train = 60000, n_test = 10000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--data") data = v;
    else if (a == "--steps") steps = std::stol(v);
    else if (a == "--train") n_train = std::stol(v);
    else if (a == "--test") n_test = std::stol(v);
    else if (a == "--save") save = v;
    else throw error("unknown option " + a);
  }
  if (steps <= 50) throw error("--steps must be above 50");
  const auto dir = twin_examples::find_data_dir_or_skip(data, "fashion-mnist");
  if (!dir) return 77;
  const Split train = load(*dir, "train", n_train, false), test = load(*dir, "t10k", n_test, true);

  Sequential<float> tower = make_tower();
  tower.init(/*seed=*/1);
  data::PKSampler sampler(train.y, {.p = 7, .k = 8, .seed = 1});  // 7 classes x 8 images per batch
  const BatchHardMiner miner;  // each anchor's farthest positive and nearest negative
  const TripletMarginLoss loss{.margin = 0.2};
  Adam<float> opt({.lr = 1e-3});
  Workspace<float> ws(/*seed=*/1);
  Tensor<float> x, d_emb;  // (56, 1, 28, 28), (56, 64): allocated once, reused every step
  std::vector<int> y;
  double first = 0, later = 0;  // summed loss of the first 50 steps, of the others
  Index step = 0;
  for (const auto& batch : sampler.steps(steps)) {
    data::gather(train.x, batch, x);
    data::gather(std::span<const int>(train.y), batch, y);
    tower.zero_grad();
    auto e = tower.forward(x.view(), ws, Mode::train);  // (56, 64)
    const auto triplets = miner(e, y);
    d_emb.resize(e.shape());
    const double l = loss(e, triplets, d_emb.view()).value;
    check_finite(l, "triplet loss");  // stop at the first NaN, naming it (see the guide)
    tower.backward(d_emb.view(), ws);
    opt.step(tower.params(), tower.grads());
    (step < 50 ? first : later) += l;
    if (++step % 100 == 0) std::printf("step %td  loss %.4f  triplets %zu\n", step, l, triplets.size());
  }

  // Held-out classes: embed, compare every pair, draw 3-way one-shot episodes.
  Workspace<float> eval_ws;
  const auto emb = embed_all(tower, test.x.view(), 256, eval_ws);  // (M, 64)
  const auto d = pairwise_distances(emb.view());                   // (M, M)
  const auto pairs = metrics::all_pairs(d, test.y);
  const auto raw = pairwise_distances(test.x.view().reshape(Shape{test.x.dim(0), 28 * 28}));
  const auto raw_pairs = metrics::all_pairs(raw, test.y);
  const auto episodes = metrics::one_shot_episodes(test.y, {.ways = 3, .episodes = 1000, .seed = 2});
  const double auc = metrics::auc_distance(pairs.distances, pairs.labels);
  const double raw_auc = metrics::auc_distance(raw_pairs.distances, raw_pairs.labels);
  std::printf("held out (%td images): AUC %.4f (raw pixels %.4f)  EER %.2f%%  3-way one-shot %.1f%%\n",
              emb.dim(0), auc, raw_auc, 100 * metrics::eer_distance(pairs.distances, pairs.labels).eer,
              100 * metrics::one_shot_accuracy_distance(episodes, d.view()));

  // Save, reload into a fresh tower: the same embeddings, bit for bit.
  io::save_model(tower, save, {{"params", std::to_string(tower.num_params())}});
  Sequential<float> reloaded = make_tower();
  io::load_model(reloaded, save);
  const auto again = embed_all(reloaded, test.x.view(), 256, eval_ws);
  const bool same = std::equal(emb.begin(), emb.end(), again.begin());
  std::printf("mean loss %.4f (first 50 steps) -> %.4f; saved %s, reloaded: %s\n", first / 50, later / double(steps - 50),
              save.c_str(), same ? "same embeddings" : "DIFFERENT");
  return same && later / double(steps - 50) < first / 50 && auc > raw_auc ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "getting_started: %s\n", e.what());
  return 1;
}
