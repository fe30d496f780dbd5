// FaceNet-style face verification and one-shot recognition on AT&T/ORL faces
// (docs/face-verification.md).
//
// A small conv tower maps a face to a 64-d L2-normalised embedding; it is trained with a
// triplet margin loss (margin 0.2) on P subjects x K images per batch, with triplets mined
// online (semi-hard by default). Evaluation is on subjects never seen in training:
// verification ROC AUC / EER over every same/different pair, and k-way one-shot accuracy
// (one reference image per subject), both next to a raw-pixel baseline.
//
//   face_verification [--data DIR] [--epochs N] [--quick] [--miner semihard|hard|all] [--tower small|resnet]
//                     [--save FILE] [--model FILE (evaluate only)] [--check]
//   face_verification --embedder pretrained [--align] [--detect] [--finetune] [--models DIR]
//       dlib's face ResNet with face-api's weights (scripts/fetch-face-models.sh): all 40
//       subjects without training, or a linear map fine-tuned on the 28 training subjects;
//       --detect finds the face first (face-api's tiny face detector, --detect-size,
//       --detect-threshold) and takes the landmarks / the crop on its box
//   face_verification [--align] [--detect] enroll NAME IMAGE... | identify IMAGE... | verify A B  [--json] [--gallery FILE]
//
// --check exits 1 unless the trained model beats the raw-pixel baseline on the held-out
// subjects (used by the integration test), and 77 (ctest's skip code) without the data.
#include <twin/data/group_split.hpp>
#include <twin/data/image_dataset.hpp>
#include <twin/data/parallel_load.hpp>
#include <twin/data/pk_sampler.hpp>
#include <twin/data/transform.hpp>
#include <twin/face/face_preparer.hpp>
#include <twin/io/gallery.hpp>
#include <twin/io/image.hpp>
#include <twin/io/weights_hash.hpp>
#include <twin/io/safetensors.hpp>
#include <twin/metrics.hpp>
#include <twin/report/png.hpp>
#include <twin/siamese.hpp>
#include <twin/siamese/embed.hpp>
#include <twin/twin.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <data_dir.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>
#include <span>
#include <string>
#include <vector>

namespace {

using twin::Index;
using twin::Tensor;
using twin::data::Image;

struct Config {
  std::string data, save = "face_model.safetensors", model, miner = "semihard", tower = "small";
  std::string embedder = "trained", models, report;  // --embedder pretrained: face-api's weights from --models
  bool finetune = false, align = false, detect = false;
  Index detect_size = 128;         // AT&T's 92 x 112 faces fill the frame: at 416 most score below 0.5
  Index min_face = 40;             // pixels: a smaller face (box, or whole image) is refused
  double detect_threshold = 0.5;
  std::string finetune_layers = "head";  // head: a linear map on frozen descriptors; all: every weight
  std::vector<Index> ways_all{5, 40};  // one-shot k over all 40 subjects (--embedder pretrained)
  int epochs = 40;
  bool quick = false, check = false;
  double check_auc = 0;  // > 0: --check asks for this held-out AUC instead of the baseline
  Index p = 8, k = 4, embed = 64, height = 56, width = 46, test_subjects = 12, episodes = 2000;
  double lr = 1e-3, margin = 0.2, resnet_width = 0.25;
  std::uint64_t seed = 1;
  int threads = 0;
  std::vector<Index> ways{5, 12};
};

// 56 x 46 input: three conv + pool blocks (28x23, 14x11, 7x5), then Dense + L2Normalize so
// every embedding lies on the unit sphere and distances are in [0, 2] whatever the scale
// of the tower (the margin 0.2 then means the same thing throughout training).
//
// --tower resnet: dlib's face ResNet (twin/models/dlib_resnet.hpp) on 112 x 112 grey faces,
// its channels scaled by --resnet-width (0.25: 8 to 64), + L2Normalize: a graph tower with
// residual blocks, trained from scratch in a few minutes.
twin::Graph<float> make_tower(const Config& c) {
  using namespace twin;
  if (c.tower == "resnet") {
    Graph<float> g = models::dlib_face_resnet<float>(
        {.input = c.height, .in_channels = 1, .embedding = c.embed, .width = c.resnet_width});
    g.output(g.add("norm", L2Normalize{}, "fc"));
    return g;
  }
  Sequential<float> net;
  auto block = [&](Index in, Index out, Index k) {
    net.add(Conv2D{.in = in, .out = out, .kernel = k, .pad = k / 2, .bias = false, .init = Init::he_uniform})
        .add(BatchNorm2d{.features = out})
        .add(ReLU{})
        .add(MaxPool2D{.kernel = 2});
  };
  block(1, 16, 5);
  block(16, 32, 3);
  block(32, 64, 3);
  net.add(Flatten{});
  const Shape s = net.output_shape(Shape{1, 1, c.height, c.width});
  net.add(Dense{.in = s[1], .out = c.embed}).add(L2Normalize{});
  return net;
}

// Mean and standard deviation of all pixels of the training images: the input normalisation.
std::pair<float, float> pixel_stats(const std::vector<Image>& imgs, const std::vector<Index>& which) {
  double s = 0, s2 = 0, n = 0;
  for (Index i : which)
    for (float v : imgs[static_cast<std::size_t>(i)]) {
      s += v;
      s2 += double(v) * v;
      n += 1;
    }
  const double m = s / n;
  return {static_cast<float>(m), static_cast<float>(std::sqrt(std::max(s2 / n - m * m, 1e-12)))};
}

// Images `which`, normalised, as one (N, 1, H, W) batch.
Tensor<float> stack(const std::vector<Image>& imgs, const std::vector<Index>& which, float mean, float std) {
  Tensor<float> x(twin::Shape{static_cast<Index>(which.size()), 1, imgs[0].dim(0), imgs[0].dim(1)});
  for (std::size_t i = 0; i < which.size(); ++i)
    twin::data::copy_to_batch(twin::data::normalise(imgs[static_cast<std::size_t>(which[i])], mean, std), x.view(),
                              static_cast<Index>(i));
  return x;
}

// The baseline: each image's pixels, minus their mean, scaled to unit length. Euclidean
// distance between these is a monotone function of normalised cross-correlation, the
// classic template-matching score, so the baseline is not a strawman.
Tensor<float, 2> raw_pixel_embeddings(const std::vector<Image>& imgs, const std::vector<Index>& which) {
  const Index n = static_cast<Index>(which.size()), D = imgs[0].size();
  Tensor<float, 2> out(twin::Shape{n, D});
  for (Index i = 0; i < n; ++i) {
    const Image& img = imgs[static_cast<std::size_t>(which[static_cast<std::size_t>(i)])];
    double m = 0;
    for (float v : img) m += v;
    m /= double(D);
    double s2 = 0;
    for (float v : img) s2 += (v - m) * (v - m);
    const double inv = 1.0 / std::sqrt(std::max(s2, 1e-12));
    for (Index k = 0; k < D; ++k) out(i, k) = static_cast<float>((img[k] - m) * inv);
  }
  return out;
}

struct Results {
  double auc = 0, eer = 0;
  std::vector<double> one_shot;  // one per entry of Config::ways
};

// Verification over every pair of held-out images, and k-way one-shot episodes drawn from
// `seed`, so the trained model and the baseline face the same episodes.
Results evaluate(const Tensor<float, 2>& emb, const std::vector<int>& labels, const std::vector<Index>& ways,
                 Index episodes, std::uint64_t seed) {
  namespace m = twin::metrics;
  const auto d = twin::pairwise_distances(emb.view());  // (N, N)
  const auto pairs = m::all_pairs(d, labels);
  Results r{.auc = m::auc_distance(pairs.distances, pairs.labels), .eer = m::eer_distance(pairs.distances, pairs.labels).eer,
            .one_shot = {}};
  for (Index k : ways)
    r.one_shot.push_back(m::one_shot_accuracy_distance(
        m::one_shot_episodes(labels, {.ways = k, .episodes = episodes, .seed = seed + static_cast<std::uint64_t>(k)}),
        d.view()));
  return r;
}

void print_results(const char* name, const Results& r, const std::vector<Index>& ways) {
  std::printf("  %-18s AUC %.4f  EER %5.2f%%", name, r.auc, 100 * r.eer);
  for (std::size_t i = 0; i < ways.size(); ++i) std::printf("  %td-way %5.1f%%", ways[i], 100 * r.one_shot[i]);
  std::printf("\n");
}

// Horizontal mirror: a face seen from the other side is still the same person.
Image mirror(const Image& img) {
  Image out(img.shape());
  const Index H = img.dim(0), W = img.dim(1);
  for (Index y = 0; y < H; ++y)
    for (Index x = 0; x < W; ++x) out(y, x) = img(y, W - 1 - x);
  return out;
}

// Trains `net` on the training subjects; returns seconds spent.
double train(twin::Graph<float>& net, const Config& c, const std::vector<Image>& imgs,
             const std::vector<int>& labels, const std::vector<Index>& train_items, float mean, float std) {
  using namespace twin;
  std::vector<int> train_labels;
  for (Index i : train_items) train_labels.push_back(labels[static_cast<std::size_t>(i)]);
  data::PKSampler sampler(train_labels, {.p = c.p, .k = c.k, .seed = c.seed});
  // One "epoch" shows about every training image once: the sampler's own epoch visits each
  // class once (floor(classes / P) batches), so several of those make one of ours.
  const Index per_sampler_epoch = static_cast<Index>(sampler.epoch(0).size()) * sampler.batch_size();
  const Index rounds = std::max<Index>(1, (static_cast<Index>(train_items.size()) + per_sampler_epoch / 2) / per_sampler_epoch);
  const Index H = c.height, W = c.width, B = sampler.batch_size();

  Adam<float> opt({.lr = c.lr});
  const CosineAnnealingLR schedule{.t_max = c.epochs, .eta_min = c.lr * 0.05};
  const TripletMarginLoss loss{.margin = c.margin};
  Workspace<float> ws(c.seed);
  Rng aug = Rng(c.seed).fork(7);
  const data::AffineOptions affine{.max_shift = 0.05, .max_rotation_deg = 8.0, .scale_range = {0.93, 1.07},
                                   .fill = mean};
  Tensor<float> x(Shape{B, 1, H, W});  // (P K, 1, H, W)
  Tensor<float> d_emb;                 // (P K, D)
  std::vector<int> y(static_cast<std::size_t>(B));
  const auto t0 = std::chrono::steady_clock::now();
  for (int epoch = 0; epoch < c.epochs; ++epoch) {
    opt.set_lr(schedule(c.lr, epoch));
    double sum_loss = 0, dpos = 0, dneg = 0, active = 0, norm = 0;
    Index steps = 0, triplets = 0, collapsed = 0;
    std::string warning;
    for (Index r = 0; r < rounds; ++r)
      for (const auto& batch : sampler.epoch(static_cast<std::uint64_t>(epoch * rounds + r))) {
        for (Index i = 0; i < B; ++i) {
          const Index item = train_items[static_cast<std::size_t>(batch[static_cast<std::size_t>(i)])];
          Image img = data::random_affine(imgs[static_cast<std::size_t>(item)], aug, affine);
          if (aug.below(2)) img = mirror(img);
          data::copy_to_batch(data::normalise(img, mean, std), x.view(), i);
          y[static_cast<std::size_t>(i)] = labels[static_cast<std::size_t>(item)];
        }
        net.zero_grad();
        auto e = net.forward(x.view(), ws, Mode::train);  // (P K, D)
        std::vector<Triplet> t;
        if (c.miner == "hard") t = BatchHardMiner{}(e, y);
        else if (c.miner == "all") t = AllTripletsMiner{}(e, y);
        else t = SemiHardMiner{.margin = c.margin}(e, y);
        d_emb.resize(e.shape());
        const auto l = loss(e, t, d_emb.view());
        net.backward(d_emb.view(), ws);
        opt.step(net.params(), net.grads());
        const auto diag = triplet_diagnostics(e, t, {.distance = loss.distance, .margin = c.margin, .loss = double(l.value)});
        sum_loss += double(l.value);
        dpos += diag.mean_pos_distance;
        dneg += diag.mean_neg_distance;
        active += diag.active_fraction;
        norm += diag.norm_mean;
        triplets += static_cast<Index>(t.size());
        if (diag.collapsed) {
          ++collapsed;
          warning = diag.warning;
        }
        ++steps;
      }
    const double s = double(steps);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("epoch %3d  lr %.2e  loss %.4f  d+ %.3f  d- %.3f  active %5.1f%%  |e| %.3f  triplets/batch %td  %.0fs\n",
                epoch + 1, opt.lr(), sum_loss / s, dpos / s, dneg / s, 100 * active / s, norm / s, triplets / steps, secs);
    if (collapsed) std::printf("  WARNING (%td of %td steps): %s\n", collapsed, steps, warning.c_str());
    std::fflush(stdout);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// ---- --embedder pretrained: dlib's face ResNet with face-api's weights, no training ----

// How the pretrained pipeline prepares faces (twin/face/face_preparer.hpp), from the options:
// the whole image or --detect's box, unaligned or --align's chip, faces below --min-face refused.
twin::face::FacePrepOptions prep_options(const Config& c, twin::face::FaceCount faces = twin::face::FaceCount::best,
                                         bool mirror = false) {
  return {.detect = c.detect,
          .align = c.align,
          .faces = faces,
          .min_face = c.min_face,
          .mirror = mirror,
          .detector = {.input_size = c.detect_size, .score_threshold = c.detect_threshold}};
}

// The images' faces as the recognition net's input (faces, 3, 150, 150), decoded in colour.
// `decode_seconds`, when given, gets the time spent reading and decoding the files.
const twin::face::FacePreparer<float>& prepare_faces(twin::face::FacePreparer<float>& prep, const std::vector<std::string>& paths,
                                                     double* decode_seconds = nullptr) {
  prep.clear();
  for (const auto& path : paths) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto img = twin::io::load_image_rgb(path);
    if (decode_seconds) *decode_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    prep.add(img, path);
  }
  return prep;
}

Tensor<float> pretrained_inputs(const std::vector<std::string>& paths, const twin::face::FacePrepOptions& o,
                                const twin::Graph<float>* detector, const twin::Graph<float>* landmarks) {
  twin::face::FacePreparer<float> prep(detector, landmarks, o);
  return Tensor<float>::from(prepare_faces(prep, paths).inputs());
}

// Rows `which` of a (N, D) matrix.
// The seeded subject split both paths evaluate on: images of the c.test_subjects held-out
// subjects (with their labels) and of the others, and the one-shot ways it can serve.
struct HeldOut {
  twin::data::GroupSplit<int> split;
  std::vector<Index> train_items, test_items;
  std::vector<int> test_labels;
  std::vector<Index> ways;  // the entries of c.ways in [2, c.test_subjects]
};
HeldOut hold_out(Index num_classes, const std::vector<int>& labels, const Config& c) {
  std::vector<int> subjects(static_cast<std::size_t>(num_classes));
  std::iota(subjects.begin(), subjects.end(), 0);
  HeldOut h{twin::data::split_groups(subjects, 0, c.test_subjects, c.seed), {}, {}, {}, {}};
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const int s = labels[i];
    if (std::binary_search(h.split.test.begin(), h.split.test.end(), s)) {
      h.test_items.push_back(static_cast<Index>(i));
      h.test_labels.push_back(s);
    } else {
      h.train_items.push_back(static_cast<Index>(i));
    }
  }
  for (Index k : c.ways)
    if (k >= 2 && k <= c.test_subjects) h.ways.push_back(k);
  return h;
}

Tensor<float, 2> rows(const Tensor<float, 2>& m, const std::vector<Index>& which) {
  Tensor<float, 2> out(twin::Shape{static_cast<Index>(which.size()), m.dim(1)});
  for (std::size_t i = 0; i < which.size(); ++i)
    std::copy(m.data() + which[i] * m.dim(1), m.data() + (which[i] + 1) * m.dim(1), out.data() + static_cast<Index>(i) * m.dim(1));
  return out;
}

// The triplet fine-tuning loop both --finetune variants share: P x K batches of the training
// subjects, semi-hard mining, Adam. fill(i, item, flip) writes batch row i from image `item`
// (mirrored when flip) into the batch tensor x; the model is a Sequential or a Graph.
template <class Model, class Fill>
void finetune_triplets(Model& model, const Config& c, std::uint64_t aug_stream, Tensor<float>& x, const std::vector<int>& labels,
                       const std::vector<Index>& train_items, const char* progress_format, int report_every, Fill fill) {
  using namespace twin;
  std::vector<int> train_labels;
  for (Index i : train_items) train_labels.push_back(labels[static_cast<std::size_t>(i)]);
  data::PKSampler sampler(train_labels, {.p = c.p, .k = c.k, .seed = c.seed});
  const Index B = sampler.batch_size();
  x.resize(x.shape().with_batch(B));
  Adam<float> opt({.lr = c.lr});
  const TripletMarginLoss loss{.margin = c.margin};
  Workspace<float> ws(c.seed);
  Rng aug = Rng(c.seed).fork(aug_stream);
  Tensor<float> d_emb;
  std::vector<int> y(static_cast<std::size_t>(B));
  const auto t0 = std::chrono::steady_clock::now();
  for (int epoch = 0; epoch < c.epochs; ++epoch) {
    double sum = 0, active = 0;
    Index steps = 0;
    for (const auto& batch : sampler.epoch(static_cast<std::uint64_t>(epoch))) {
      for (Index i = 0; i < B; ++i) {
        const Index item = train_items[static_cast<std::size_t>(batch[static_cast<std::size_t>(i)])];
        fill(i, item, aug.below(2) != 0);
        y[static_cast<std::size_t>(i)] = labels[static_cast<std::size_t>(item)];
      }
      model.zero_grad();
      auto e = model.forward(x.view(), ws, Mode::train);
      const auto t = SemiHardMiner{.margin = c.margin}(e, y);
      d_emb.resize(e.shape());
      const auto l = loss(e, t, d_emb.view());
      model.backward(d_emb.view(), ws);
      opt.step(model.params(), model.grads());
      sum += double(l.value);
      active += triplet_diagnostics(e, t, {.distance = loss.distance, .margin = c.margin, .loss = double(l.value)}).active_fraction;
      ++steps;
    }
    if ((epoch + 1) % report_every == 0 || epoch + 1 == c.epochs) {
      std::printf(progress_format, epoch + 1, sum / double(steps), 100 * active / double(steps),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      std::fflush(stdout);
    }
  }
}

// --finetune: a 128 -> 128 linear map (initialised to the identity) + L2Normalize on top of
// the frozen pretrained descriptors, trained with the triplet loss and semi-hard mining on the
// training subjects; each step sees every image as itself or mirrored, at random.
twin::Sequential<float> finetune_head(const Config& c, const Tensor<float, 2>& desc, const Tensor<float, 2>& desc_mirror,
                                      const std::vector<int>& labels, const std::vector<Index>& train_items) {
  using namespace twin;
  const Index D = desc.dim(1);
  Sequential<float> head;
  head.add(Dense{.in = D, .out = D, .bias = false}).add(L2Normalize{});
  head.init(c.seed);
  std::fill(head.params().begin(), head.params().end(), 0.f);
  for (Index i = 0; i < D; ++i) head.params()[static_cast<std::size_t>(i * D + i)] = 1.f;
  Tensor<float> x(Shape{1, D});
  finetune_triplets(head, c, 11, x, labels, train_items, "finetune epoch %3d  loss %.4f  active %5.1f%%  %.1fs\n",
                    std::max(1, c.epochs / 10), [&](Index i, Index item, bool flip) {
                      const Tensor<float, 2>& src = flip ? desc_mirror : desc;
                      std::copy(src.data() + item * D, src.data() + (item + 1) * D, x.data() + i * D);
                    });
  return head;
}

// --finetune --finetune-layers all: every weight of the pretrained net (+ L2Normalize)
// trained with the triplet loss and semi-hard mining on the training subjects' inputs
// (x: (N, 3, 150, 150), aligned or not), each image mirrored with probability 1/2.
void finetune_all(twin::Graph<float>& net, const Config& c, const Tensor<float>& x, const std::vector<int>& labels,
                  const std::vector<Index>& train_items) {
  using namespace twin;
  const Index S = x.dim(2), plane = S * S;
  Tensor<float> xb(Shape{1, 3, S, S});
  finetune_triplets(net, c, 13, xb, labels, train_items, "finetune epoch %3d  loss %.4f  active %5.1f%%  %.0fs\n", 1,
                    [&](Index i, Index item, bool flip) {
                      for (Index ch = 0; ch < 3; ++ch)
                        for (Index r = 0; r < S; ++r) {
                          const float* src = x.data() + (item * 3 + ch) * plane + r * S;
                          float* dst = xb.data() + (i * 3 + ch) * plane + r * S;
                          for (Index q = 0; q < S; ++q) dst[q] = src[flip ? S - 1 - q : q];
                        }
                    });
}

// ---- --report FILE: a self-contained HTML page (ROC, distance histograms, a gallery) ----

// Sample n of the recognition input x (N, 3, S, S) back to pixels, as a 24-bit BMP data URI.
std::string input_as_bmp(const Tensor<float>& x, Index n) {
  const Index S = x.dim(2), row = (3 * S + 3) / 4 * 4;
  std::vector<std::uint8_t> b(static_cast<std::size_t>(54 + row * S), 0);
  auto put32 = [&](std::size_t at, std::uint32_t v) {
    for (int k = 0; k < 4; ++k) b[at + std::size_t(k)] = std::uint8_t(v >> (8 * k));
  };
  b[0] = 'B', b[1] = 'M';
  put32(2, std::uint32_t(b.size()));
  put32(10, 54);
  put32(14, 40);
  put32(18, std::uint32_t(S));
  put32(22, std::uint32_t(S));
  b[26] = 1, b[28] = 24;
  put32(34, std::uint32_t(row * S));
  for (Index y = 0; y < S; ++y)
    for (Index xx = 0; xx < S; ++xx)
      for (Index c = 0; c < 3; ++c) {
        const float v = x[((n * 3 + c) * S + y) * S + xx] * 255.f + twin::face::recognition_mean_rgb[c];
        // BMP: bottom-up rows, BGR
        b[static_cast<std::size_t>(54 + (S - 1 - y) * row + xx * 3 + (2 - c))] = std::uint8_t(std::clamp(std::lround(v), 0L, 255L));
      }
  return "data:image/bmp;base64," + twin::report::base64(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

void write_report(const std::string& path, const Config& c, const Results& pre, const Results& raw,
                  const std::vector<Index>& ways, const Tensor<float, 2>& desc, const std::vector<int>& labels,
                  const Tensor<float>& inputs, const std::vector<std::string>& names) {
  const auto d = twin::pairwise_distances(desc.view());
  const auto pairs = twin::metrics::all_pairs(d, labels);
  std::vector<double> scores(pairs.distances.size());
  for (std::size_t i = 0; i < scores.size(); ++i) scores[i] = -pairs.distances[i];
  const auto roc = twin::metrics::roc_curve(scores, pairs.labels);
  std::ofstream f(path);
  if (!f) throw twin::io_error("cannot write the report " + path);
  f << "<!doctype html><html><head><meta charset=\"utf-8\"><title>twin face verification report</title><style>"
       "body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px}figure{display:inline-block;margin:4px;"
       "text-align:center;font-size:12px}img{width:100px;height:100px}.ok{color:#080}.bad{color:#c00}</style></head><body>\n";
  f << "<h1>Face verification: dlib's face ResNet, face-api " << twin::face::face_api_version << " weights</h1>\n";
  f << "<p>AT&amp;T faces, all " << *std::max_element(labels.begin(), labels.end()) + 1 << " subjects, " << desc.dim(0)
    << " images, " << pairs.distances.size() << " pairs, " << c.episodes << " one-shot episodes per k; "
    << (c.align ? "aligned (dlib's 150x150 chip of the 68 landmarks, padding 0.25)" : "unaligned (padded to a square, 150x150)")
    << ".</p>\n<table id=\"metrics\"><tr><th></th><th>ROC AUC</th><th>EER</th>";
  for (Index k : ways) f << "<th>" << k << "-way</th>";
  f << "</tr>\n";
  auto row = [&](const char* name, const Results& r) {
    char buf[64];
    f << "<tr><td>" << name << "</td>";
    std::snprintf(buf, sizeof buf, "<td>%.4f</td><td>%.2f %%</td>", r.auc, 100 * r.eer);
    f << buf;
    for (double a : r.one_shot) {
      std::snprintf(buf, sizeof buf, "<td>%.1f %%</td>", 100 * a);
      f << buf;
    }
    f << "</tr>\n";
  };
  row("pretrained", pre);
  row("raw pixels (NCC)", raw);
  f << "</table>\n";
  // ROC: TPR against FAR, 300 x 300.
  f << "<h2>ROC</h2><svg id=\"roc\" width=\"320\" height=\"320\" viewBox=\"-10 -10 320 320\"><rect width=\"300\" "
       "height=\"300\" fill=\"none\" stroke=\"#888\"/><polyline fill=\"none\" stroke=\"#06c\" stroke-width=\"2\" points=\"";
  const std::size_t step = std::max<std::size_t>(1, roc.size() / 600);
  for (std::size_t i = 0; i < roc.size(); i += step) f << 300 * roc[i].far << "," << 300 * (1 - roc[i].tpr) << " ";
  f << "300,0\"/></svg>\n";
  // Histograms of same- and different-person distances, densities over 60 bins.
  const double top = *std::max_element(pairs.distances.begin(), pairs.distances.end());
  const int bins = 60;
  std::vector<double> hs(bins, 0), hd(bins, 0);
  double ns = 0, nd = 0;
  for (std::size_t i = 0; i < pairs.distances.size(); ++i) {
    const int b = std::min(bins - 1, static_cast<int>(pairs.distances[i] / top * bins));
    (twin::is_same(pairs.labels[i]) ? hs : hd)[std::size_t(b)] += 1;
    (twin::is_same(pairs.labels[i]) ? ns : nd) += 1;
  }
  double peak = 0;
  for (int b = 0; b < bins; ++b) peak = std::max({peak, hs[std::size_t(b)] / ns, hd[std::size_t(b)] / nd});
  f << "<h2>Distances</h2><svg id=\"hist\" width=\"620\" height=\"220\" viewBox=\"-10 -10 620 220\">";
  for (int b = 0; b < bins; ++b) {
    const double x = 600.0 * b / bins, w = 600.0 / bins;
    f << "<rect x=\"" << x << "\" y=\"" << 200 - 200 * hs[std::size_t(b)] / ns / peak << "\" width=\"" << w
      << "\" height=\"" << 200 * hs[std::size_t(b)] / ns / peak << "\" fill=\"#0a0\" fill-opacity=\"0.5\"/>";
    f << "<rect x=\"" << x << "\" y=\"" << 200 - 200 * hd[std::size_t(b)] / nd / peak << "\" width=\"" << w
      << "\" height=\"" << 200 * hd[std::size_t(b)] / nd / peak << "\" fill=\"#c00\" fill-opacity=\"0.5\"/>";
  }
  const double tx = 600 * twin::face::recognition_threshold / top;
  f << "<line x1=\"" << tx << "\" y1=\"0\" x2=\"" << tx << "\" y2=\"200\" stroke=\"#000\" stroke-dasharray=\"4\"/></svg>"
    << "<p>green: same person, red: different people (each normalised); dashed: dlib's threshold 0.6; x from 0 to "
    << top << ".</p>\n";
  // Gallery: the first image of every subject is enrolled; each subject's second image is a
  // query, shown beside its nearest enrolled face.
  std::map<int, Index> enrolled, query;
  for (Index i = 0; i < desc.dim(0); ++i) {
    const int s = labels[static_cast<std::size_t>(i)];
    if (!enrolled.count(s)) enrolled[s] = i;
    else if (!query.count(s)) query[s] = i;
  }
  f << "<h2>Query &rarr; nearest enrolled face</h2><div id=\"gallery\">\n";
  for (const auto& [s, q] : query) {
    Index best = -1;
    double bd = 1e300;
    for (const auto& [t, e] : enrolled)
      if (d(q, e) < bd) bd = d(q, e), best = e;
    const bool ok = labels[static_cast<std::size_t>(best)] == s;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", bd);
    f << "<figure><img src=\"" << input_as_bmp(inputs, q) << "\"><img src=\"" << input_as_bmp(inputs, best)
      << "\"><figcaption class=\"" << (ok ? "ok" : "bad") << "\">" << names[static_cast<std::size_t>(s)] << " &rarr; "
      << names[static_cast<std::size_t>(labels[static_cast<std::size_t>(best)])] << " (" << buf << ")</figcaption></figure>\n";
  }
  f << "</div></body></html>\n";
  std::printf("report written to %s\n", path.c_str());
}

int run_pretrained(Config c) {
  namespace fs = std::filesystem;
  const bool checking = c.check || c.check_auc > 0;
  if (c.threads > 0) twin::set_default_threads(c.threads);
  fs::path dir;
  try {
    dir = twin_examples::find_data_dir(c.data, "att_faces");
  } catch (const twin::io_error& e) {
    if (!checking) throw;
    std::printf("SKIPPED: %s\n", e.what());
    return 77;
  }
  twin::Graph<float> net, landmark_net, detector_net;
  try {
    net = twin::face::load_recognition_net(c.models);
    if (c.align) landmark_net = twin::face::load_landmark_net(c.models);
    if (c.detect) detector_net = twin::face::load_tiny_face_detector(c.models);
  } catch (const twin::io_error& e) {
    if (!checking || fs::exists(twin::face::default_models_dir() / "face_recognition_model.bin")) throw;
    std::printf("SKIPPED: %s\n", e.what());
    return 77;
  }
  auto ds = twin::data::ImageDataset::from_folders(dir, [](const std::string& p) { return twin::io::load_image(p); });
  std::vector<std::string> paths;
  for (Index i = 0; i < ds.size(); ++i) paths.push_back(ds.path(i));
  const std::vector<int>& labels = ds.labels();
  std::printf("AT&T faces: %td images of %td subjects from %s; dlib's face ResNet with face-api %s's weights "
              "(%td parameters), %s, %s, %d threads\n",
              ds.size(), ds.num_classes(), dir.string().c_str(), twin::face::face_api_version, net.num_params(),
              c.detect ? twin::detail::concat("face box from the tiny face detector (input ", c.detect_size, ", score > ",
                                              c.detect_threshold, ")").c_str()
                       : "the whole image as the face box",
              c.align ? "aligned: dlib's 150x150 face chip (padding 0.25) of face-api's 68 landmarks"
                      : "unaligned: face box padded to a square, resized to 150x150",
              twin::default_threads());
  const twin::Graph<float>* lm = c.align ? &landmark_net : nullptr;
  const twin::Graph<float>* det = c.detect ? &detector_net : nullptr;

  twin::Workspace<float> ws;
  ws.set_forward_only(true);
  auto t0 = std::chrono::steady_clock::now();
  const Tensor<float> inputs = pretrained_inputs(paths, prep_options(c), det, lm);  // (N, 3, 150, 150)
  const Tensor<float, 2> desc = twin::embed_all(net, inputs.view(), 16, ws);  // (N, 128)
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("inputs and descriptors: %td in %.1f s (%.1f ms per face, batch 16)\n", desc.dim(0), secs, 1000 * secs / double(desc.dim(0)));

  std::vector<Index> all(static_cast<std::size_t>(ds.size()));
  std::iota(all.begin(), all.end(), Index(0));
  std::vector<Index> ways_all;
  for (Index k : c.ways_all) ways_all.push_back(std::min<Index>(k, ds.num_classes()));
  const std::uint64_t episode_seed = c.seed + 1000;
  const Results pre = evaluate(desc, labels, ways_all, c.episodes, episode_seed);
  const Results raw = evaluate(raw_pixel_embeddings(twin::data::load_all(ds), all), labels, ways_all, c.episodes, episode_seed);
  std::printf("all %td subjects (%td pairs, %td one-shot episodes per k):\n", ds.num_classes(), ds.size() * (ds.size() - 1) / 2,
              c.episodes);
  print_results("pretrained", pre, ways_all);
  print_results("raw pixels (NCC)", raw, ways_all);
  if (!c.report.empty()) write_report(c.report, c, pre, raw, ways_all, desc, labels, inputs, ds.class_names());
  {
    // dlib's fixed threshold, not fitted to these faces.
    Index same = 0, same_ok = 0, diff = 0, diff_ok = 0;
    const auto d = twin::pairwise_distances(desc.view());
    for (Index i = 0; i < desc.dim(0); ++i)
      for (Index j = i + 1; j < desc.dim(0); ++j) {
        const bool s = labels[static_cast<std::size_t>(i)] == labels[static_cast<std::size_t>(j)];
        const bool match = d(i, j) < twin::face::recognition_threshold;
        (s ? same : diff) += 1;
        (s ? same_ok : diff_ok) += s == match;
      }
    std::printf("  at dlib's threshold 0.6: %.1f%% of same-person pairs match, %.1f%% of different-person pairs do not\n",
                100.0 * double(same_ok) / double(same), 100.0 * double(diff_ok) / double(diff));
  }
  Results tuned;
  bool tuned_done = false;
  if (c.finetune_layers != "head" && c.finetune_layers != "all")
    throw twin::error("--finetune-layers must be head or all, got '" + c.finetune_layers + "'");
  if (c.finetune) {
    const HeldOut h = hold_out(ds.num_classes(), labels, c);
    const auto& [split, train_items, test_items, test_labels, ways] = h;
    const Tensor<float, 2> test_desc = rows(desc, test_items);
    if (c.finetune_layers == "all") {
      std::printf("finetune: all %td weights + L2Normalize, %d epochs, P=%td x K=%td, semi-hard mining, margin %.2f, Adam lr "
                  "%.1e; %zu train subjects, %zu held out (split seed %llu)\n",
                  net.num_params(), c.epochs, c.p, c.k, c.margin, c.lr, split.train.size(), split.test.size(),
                  static_cast<unsigned long long>(c.seed));
      twin::Graph<float> tuned_net = twin::face::load_recognition_net(c.models);
      tuned_net.output(tuned_net.add("norm", twin::L2Normalize{}, "fc"));
      tuned_net.mark_initialised();  // the added node has no parameters; the loaded ones stand
      finetune_all(tuned_net, c, inputs, labels, train_items);
      Tensor<float> test_x(twin::Shape{static_cast<Index>(test_items.size()), 3, inputs.dim(2), inputs.dim(3)});
      const Index per = 3 * inputs.dim(2) * inputs.dim(3);
      for (std::size_t i = 0; i < test_items.size(); ++i)
        std::copy(inputs.data() + test_items[i] * per, inputs.data() + (test_items[i] + 1) * per, test_x.data() + static_cast<Index>(i) * per);
      twin::Workspace<float> tws;
      tws.set_forward_only(true);
      tuned = evaluate(twin::embed_all(tuned_net, test_x.view(), 16, tws), test_labels, ways, c.episodes, episode_seed);
    } else {
      const Tensor<float, 2> mirrored = twin::embed_all(net, pretrained_inputs(paths, prep_options(c, twin::face::FaceCount::best, true), det, lm).view(), 16, ws);
      std::printf("finetune: a 128x128 linear map (identity at start) + L2Normalize on the frozen descriptors, %d epochs, "
                  "P=%td x K=%td, semi-hard mining, margin %.2f, Adam lr %.1e; %zu train subjects, %zu held out (split seed %llu)\n",
                  c.epochs, c.p, c.k, c.margin, c.lr, split.train.size(), split.test.size(), static_cast<unsigned long long>(c.seed));
      twin::Sequential<float> head = finetune_head(c, desc, mirrored, labels, train_items);
      twin::Workspace<float> hws;
      tuned = evaluate(twin::embed_all(head, test_desc.view(), 64, hws), test_labels, ways, c.episodes, episode_seed);
    }
    const Results before = evaluate(test_desc, test_labels, ways, c.episodes, episode_seed);
    std::printf("held-out subjects (%zu pairs, %td one-shot episodes per k):\n", test_items.size() * (test_items.size() - 1) / 2,
                c.episodes);
    print_results("pretrained", before, ways);
    print_results("fine-tuned", tuned, ways);
    tuned_done = true;
  }
  if (c.check_auc > 0) {
    const double auc = tuned_done ? tuned.auc : pre.auc;
    const bool ok = auc >= c.check_auc;
    std::printf("check: AUC %.4f %s %.2f\n", auc, ok ? ">=" : "FAILED: below", c.check_auc);
    return ok ? 0 : 1;
  }
  if (c.check) {
    const bool ok = pre.auc > raw.auc + 0.02 && pre.eer < raw.eer - 0.02;
    std::printf("check: %s\n", ok ? "pretrained descriptors beat the raw-pixel baseline" : "FAILED: no clear gain over raw pixels");
    return ok ? 0 : 1;
  }
  return 0;
}

// ---- enroll / identify / verify: the pretrained embedder on your own images ----
//
// A gallery is twin's enrolment store (twin/io/gallery.hpp: locked, atomic updates): each
// person's images and descriptors, the recognition net's weights fingerprint, and in its
// settings how the faces were prepared (--align, --detect and the detector's options), so
// that identify prepares a query the same way. Identify and verify use dlib's threshold 0.6
// on the Euclidean distance of descriptors.

struct PeopleArgs {
  std::vector<std::string> images;
  std::string name, gallery = "face_gallery.json";
  bool json = false, fresh = false, skip_without_models = false;
  bool all = false;  // identify: every face the detector finds, not only the best
  int repeat = 1;    // verify: run the pipeline this many times and print its stage times
};

// The preparation a gallery records, and the Config it gives back.
std::map<std::string, std::string> preparation(const Config& c) {
  std::map<std::string, std::string> s{{"align", c.align ? "true" : "false"}, {"detect", c.detect ? "true" : "false"}};
  if (c.detect) {
    s["detect_size"] = std::to_string(c.detect_size);
    s["detect_threshold"] = twin::detail::concat(c.detect_threshold);
  }
  return s;
}

Config prepared_as(Config c, const twin::io::Gallery& g, const std::string& file) {
  const auto get = [&](const std::string& key) {
    const auto it = g.settings.find(key);
    if (it == g.settings.end()) throw twin::io_error(file + ": not a face gallery (no setting \"" + key + "\")");
    return it->second;
  };
  c.align = get("align") == "true";
  c.detect = get("detect") == "true";
  if (c.detect) {
    try {
      c.detect_size = std::stoll(get("detect_size"));
      c.detect_threshold = std::stod(get("detect_threshold"));
    } catch (const std::logic_error&) {
      throw twin::io_error(file + ": the detector's settings are not numbers");
    }
  }
  return c;
}

struct Embedder {
  twin::Graph<float> net, landmarks, detector;
  std::string hash;  // the recognition net's weights fingerprint
};

Embedder load_embedder(const Config& c) {
  Embedder e{twin::face::load_recognition_net(c.models), {}, {}, {}};
  if (c.align) e.landmarks = twin::face::load_landmark_net(c.models);
  if (c.detect) e.detector = twin::face::load_tiny_face_detector(c.models);
  e.hash = twin::io::weights_hash(e.net);
  return e;
}

// The pretrained pipeline for enroll / identify / verify: the nets, a face preparer and the
// recognition net's workspace, kept from call to call (verify --repeat times warm calls).
struct StageTimes {
  double decode = 0, detect = 0, landmarks = 0, chip = 0, embed = 0;
  double total() const { return decode + detect + landmarks + chip + embed; }
};

class Describer {
 public:
  Describer(const Config& c, twin::face::FaceCount faces)
      : e_(load_embedder(c)), prep_(c.detect ? &e_.detector : nullptr, c.align ? &e_.landmarks : nullptr, prep_options(c, faces)) {
    ws_.set_forward_only(true);
  }
  Describer(const Describer&) = delete;  // prep_ points into e_
  Describer& operator=(const Describer&) = delete;

  // The descriptors (faces, 128) of the images' faces; faces()[i] says where row i came from.
  const Tensor<float, 2>& operator()(const std::vector<std::string>& images) {
    times_ = {};
    prepare_faces(prep_, images, &times_.decode);
    const auto t0 = std::chrono::steady_clock::now();
    twin::embed_all(e_.net, prep_.inputs(), 16, ws_, desc_);
    times_.embed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    times_.detect = prep_.times().detect;
    times_.landmarks = prep_.times().landmarks;
    times_.chip = prep_.times().chip;
    return desc_;
  }
  std::span<const twin::face::PreparedFace> faces() const { return prep_.faces(); }
  const StageTimes& times() const { return times_; }
  const std::string& weights_hash() const { return e_.hash; }

 private:
  Embedder e_;
  twin::face::FacePreparer<float> prep_;
  twin::Workspace<float> ws_;
  Tensor<float, 2> desc_;
  StageTimes times_;
};

double distance(const float* a, const std::vector<float>& b) {
  double s = 0;
  for (std::size_t k = 0; k < b.size(); ++k) s += (double(a[k]) - b[k]) * (double(a[k]) - b[k]);
  return std::sqrt(s);
}

int enroll(const Config& c, const PeopleArgs& a) {
  Describer describe(c, twin::face::FaceCount::one);  // a photo of several people enrols nobody
  const Tensor<float, 2>& d = describe(a.images);
  std::size_t total = 0;
  twin::io::update_gallery(a.gallery, [&](twin::io::Gallery& g) {
    if (a.fresh) g = {};  // --new: replaced atomically, like any update
    if (!g.people.empty() && g.settings != preparation(c))
      throw twin::error("gallery " + a.gallery + " was made with other face preparation (" +
                        nlohmann::json(g.settings).dump() + "); enroll the same way or start a new one with --new");
    g.settings = preparation(c);
    twin::io::GalleryEntry& person = g.people[a.name];
    if (!person.files.empty() && person.model_hash != describe.weights_hash())
      throw twin::error("gallery " + a.gallery + ": " + a.name + " was enrolled with other recognition weights");
    person.model = "face-api face_recognition_model";
    person.model_hash = describe.weights_hash();
    for (Index i = 0; i < d.dim(0); ++i) {
      person.files.push_back(a.images[static_cast<std::size_t>(i)]);
      person.embeddings.emplace_back(d.data() + i * d.dim(1), d.data() + (i + 1) * d.dim(1));
    }
    total = person.files.size();
  });
  if (a.json)
    std::printf("%s\n", nlohmann::json{{"enrolled", a.name}, {"images", a.images.size()}, {"total", total},
                                       {"gallery", a.gallery}}.dump().c_str());
  else
    std::printf("enrolled %zu image(s) of %s (%zu in all) in %s\n", a.images.size(), a.name.c_str(), total, a.gallery.c_str());
  return 0;
}

// Says on stderr which face was taken where the detector found several (without --all).
void note_several_faces(std::span<const twin::face::PreparedFace> faces, const std::vector<std::string>& images) {
  for (const auto& f : faces)
    if (f.found > 1)
      std::fprintf(stderr, "face_verification: %td faces found in %s; the best-scoring one (at %td,%td, %tdx%td) is taken%s\n",
                   f.found, images[f.image].c_str(), f.box.x, f.box.y, f.box.w, f.box.h,
                   " (identify --all takes every face)");
}

int identify(const Config& c, const PeopleArgs& a) {
  const twin::io::Gallery g = twin::io::read_gallery(a.gallery);
  const Config cc = prepared_as(c, g, a.gallery);  // describe the queries as the gallery was described
  if (a.all && !cc.detect)
    throw twin::error("identify --all needs a gallery enrolled with --detect (" + a.gallery + " takes each image as one face)");
  Describer describe(cc, a.all ? twin::face::FaceCount::all : twin::face::FaceCount::best);
  for (const auto& [name, person] : g.people)
    if (person.model_hash != describe.weights_hash())
      throw twin::error("gallery " + a.gallery + ": " + name + " was enrolled with other recognition weights (" +
                        person.model_hash + ", these are " + describe.weights_hash() + ")");
  const Tensor<float, 2>& d = describe(a.images);
  if (!a.all) note_several_faces(describe.faces(), a.images);
  nlohmann::json out = nlohmann::json::array();
  for (Index i = 0; i < d.dim(0); ++i) {
    const twin::face::PreparedFace& face = describe.faces()[static_cast<std::size_t>(i)];
    const std::string& image = a.images[face.image];
    std::string best = "unknown", best_image;
    double best_d = std::numeric_limits<double>::infinity();
    for (const auto& [name, person] : g.people)
      for (std::size_t k = 0; k < person.embeddings.size(); ++k) {
        if (person.embeddings[k].size() != static_cast<std::size_t>(d.dim(1)))
          throw twin::io_error(a.gallery + ": " + name + "'s descriptors are not " + std::to_string(d.dim(1)) + "-d");
        const double dist = distance(d.data() + i * d.dim(1), person.embeddings[k]);
        if (dist < best_d) {
          best_d = dist;
          best = name;
          best_image = person.files[k];
        }
      }
    const bool known = best_d < twin::face::recognition_threshold;
    nlohmann::json r{{"image", image}, {"identity", known ? best : "unknown"}, {"nearest", best}, {"nearest_image", best_image},
                     {"distance", best_d}, {"threshold", twin::face::recognition_threshold}, {"faces_found", face.found}};
    if (cc.detect)
      r["face"] = {{"x", face.box.x}, {"y", face.box.y}, {"w", face.box.w}, {"h", face.box.h}, {"score", face.score}};
    out.push_back(r);
    if (!a.json) {
      const std::string where = a.all ? twin::detail::concat(" face at ", face.box.x, ",", face.box.y, " ", face.box.w, "x", face.box.h)
                                      : std::string();
      std::printf("%s%s: %s (nearest %s, distance %.4f, threshold %.1f)\n", image.c_str(), where.c_str(),
                  known ? best.c_str() : "unknown", best.c_str(), best_d, twin::face::recognition_threshold);
    }
  }
  if (a.json) std::printf("%s\n", out.dump().c_str());
  return 0;
}

int verify(const Config& c, const PeopleArgs& a) {
  if (a.images.size() != 2) throw twin::error("verify takes two images");
  if (a.repeat < 1) throw twin::error("verify --repeat must be at least 1");
  Describer describe(c, twin::face::FaceCount::best);
  std::vector<StageTimes> runs;
  for (int r = 0; r < a.repeat; ++r) {
    describe(a.images);
    runs.push_back(describe.times());
  }
  const Tensor<float, 2>& d = describe(a.images);
  note_several_faces(describe.faces(), a.images);
  const double dist = distance(d.data(), std::vector<float>(d.data() + d.dim(1), d.data() + 2 * d.dim(1)));
  const bool same = dist < twin::face::recognition_threshold;
  if (a.json)
    std::printf("%s\n", nlohmann::json{{"a", a.images[0]}, {"b", a.images[1]}, {"distance", dist}, {"aligned", c.align},
                                       {"threshold", twin::face::recognition_threshold}, {"same", same}}.dump().c_str());
  else
    std::printf("distance %.4f: %s (threshold %.1f, %s)\n", dist, same ? "same person" : "different people",
                twin::face::recognition_threshold, c.align ? "aligned" : "unaligned");
  if (a.repeat > 1) {
    // The first call warms the workspaces; the median of the others, per stage, for the pair.
    runs.erase(runs.begin());
    auto median_ms = [&](double StageTimes::*stage) {
      std::vector<double> v;
      for (const auto& t : runs) v.push_back(stage ? t.*stage : t.total());
      std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
      return 1000 * v[v.size() / 2];
    };
    std::fprintf(stderr,
                 "verify: median of %zu warm calls, ms per pair (two images, %d threads): decode %.2f  detect %.2f  "
                 "landmarks %.2f  chip %.2f  embed %.2f  total %.2f\n",
                 runs.size(), twin::default_threads(), median_ms(&StageTimes::decode), median_ms(&StageTimes::detect),
                 median_ms(&StageTimes::landmarks), median_ms(&StageTimes::chip), median_ms(&StageTimes::embed), median_ms(nullptr));
  }
  return same ? 0 : 3;
}

int run(Config c) {
  if (c.embedder == "pretrained") return run_pretrained(c);
  if (c.embedder != "trained") throw twin::error("--embedder must be trained or pretrained, got '" + c.embedder + "'");
  if (c.finetune) throw twin::error("--finetune needs --embedder pretrained");
  // The trained towers take the whole image; the pretrained pipeline's options would be ignored.
  if (c.align) throw twin::error("--align needs --embedder pretrained");
  if (c.detect) throw twin::error("--detect needs --embedder pretrained");
  namespace fs = std::filesystem;
  if (c.quick) {
    c.epochs = std::min(c.epochs, 15);
    c.episodes = std::min<Index>(c.episodes, 500);
  }
  if (c.tower != "small" && c.tower != "resnet") throw twin::error("--tower must be small or resnet, got '" + c.tower + "'");
  if (c.tower == "resnet") c.height = c.width = 112;  // the ResNet takes square faces
  if (c.miner != "semihard" && c.miner != "hard" && c.miner != "all")
    throw twin::error("--miner must be semihard, hard or all, got '" + c.miner + "'");
  if (c.threads > 0) twin::set_default_threads(c.threads);

  fs::path dir;
  try {
    dir = twin_examples::find_data_dir(c.data, "att_faces");
  } catch (const twin::io_error& e) {
    if (!c.check && c.check_auc <= 0) throw;
    std::printf("SKIPPED: %s\n", e.what());
    return 77;
  }
  auto ds = twin::data::ImageDataset::from_folders(
      dir, [](const std::string& p) { return twin::io::load_image(p); }, {.height = c.height, .width = c.width});
  const std::vector<Image> imgs = twin::data::load_all(ds);  // decoded on all threads
  const std::vector<int>& labels = ds.labels();

  twin::Graph<float> net = make_tower(c);
  std::map<std::string, std::string> meta;
  if (!c.model.empty()) {
    meta = twin::io::load_model(net, c.model);
    // The split and normalisation come from the file, so "held-out" means held out from
    // that model's training.
    if (auto it = meta.find("face.split_seed"); it != meta.end()) c.seed = std::stoull(it->second);
    if (auto it = meta.find("face.test_subjects"); it != meta.end()) c.test_subjects = std::stoll(it->second);
  }

  const HeldOut h = hold_out(ds.num_classes(), labels, c);
  const auto& [split, train_items, test_items, test_labels, ways] = h;
  for (Index k : c.ways)
    if (k < 2 || k > c.test_subjects) std::printf("note: %td-way one-shot skipped (%td held-out subjects)\n", k, c.test_subjects);

  auto [mean, std] = pixel_stats(imgs, train_items);
  if (!c.model.empty()) {
    mean = std::stof(meta.at("face.mean"));
    std = std::stof(meta.at("face.std"));
  }
  std::printf("AT&T faces: %td images of %td subjects from %s, %tdx%td; %zu train subjects (%zu images), %zu held out "
              "(%zu images), split seed %llu\n",
              ds.size(), ds.num_classes(), dir.string().c_str(), c.height, c.width, split.train.size(),
              train_items.size(), split.test.size(), test_items.size(), static_cast<unsigned long long>(c.seed));

  double seconds = 0;
  if (c.model.empty()) {
    net.init(c.seed);
    std::printf("%s", net.summary(twin::Shape{c.p * c.k, 1, c.height, c.width}).c_str());
    std::printf("training: %d epochs, P=%td x K=%td, %s mining, triplet margin %.2f, Adam lr %.1e (cosine), %d threads\n",
                c.epochs, c.p, c.k, c.miner.c_str(), c.margin, c.lr, twin::default_threads());
    seconds = train(net, c, imgs, labels, train_items, mean, std);
    std::printf("training took %.1f s\n", seconds);
    if (!c.save.empty()) {
      twin::io::save_model(net, c.save,
                           {{"face.mean", std::to_string(mean)},
                            {"face.std", std::to_string(std)},
                            {"face.split_seed", std::to_string(c.seed)},
                            {"face.test_subjects", std::to_string(c.test_subjects)},
                            {"face.input", std::to_string(c.height) + "x" + std::to_string(c.width)}});
      std::printf("model saved to %s\n", c.save.c_str());
    }
  } else {
    std::printf("evaluating %s (no training)\n", c.model.c_str());
  }

  const std::uint64_t episode_seed = c.seed + 1000;
  twin::Workspace<float> ws;
  const Results trained =
      evaluate(twin::embed_all(net, stack(imgs, test_items, mean, std).view(), 64, ws), test_labels, ways, c.episodes, episode_seed);
  const Results raw = evaluate(raw_pixel_embeddings(imgs, test_items), test_labels, ways, c.episodes, episode_seed);
  std::printf("held-out subjects (%zu pairs, %td one-shot episodes per k):\n", test_items.size() * (test_items.size() - 1) / 2,
              c.episodes);
  print_results("trained embedding", trained, ways);
  print_results("raw pixels (NCC)", raw, ways);

  if (c.check_auc > 0) {
    const bool ok = trained.auc >= c.check_auc;
    std::printf("check: held-out AUC %.4f %s %.2f\n", trained.auc, ok ? ">=" : "FAILED: below", c.check_auc);
    return ok ? 0 : 1;
  }
  if (c.check) {
    // Generous margins: the checks ask "did training help clearly", not for a number.
    bool ok = trained.auc > raw.auc + 0.02 && trained.eer < raw.eer - 0.02;
    for (std::size_t i = 0; i < ways.size(); ++i) ok = ok && trained.one_shot[i] > raw.one_shot[i];
    std::printf("check: %s\n", ok ? "trained model beats the raw-pixel baseline" : "FAILED: no clear gain over raw pixels");
    return ok ? 0 : 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  Config c;
  CLI::App app{"FaceNet-style face verification and one-shot recognition on AT&T/ORL faces"};
  app.add_option("--data", c.data, "folder holding att_faces/ (default: $TWIN_DATA, then ../shared/data)");
  app.add_option("--epochs", c.epochs, "training epochs (each shows about every training image once)");
  app.add_flag("--quick", c.quick, "at most 15 epochs and 500 episodes (tests)");
  app.add_option("--tower", c.tower, "small (3 conv blocks, 56x46) or resnet (dlib's face ResNet, 112x112)");
  app.add_option("--resnet-width", c.resnet_width, "channel multiplier of --tower resnet (1: dlib's 32-256)")
      ->check(CLI::Range(0.05, 1.0));
  app.add_option("--miner", c.miner, "triplet mining: semihard, hard (batch-hard) or all");
  app.add_option("--seed", c.seed, "seed of the subject split, initialisation, sampling and augmentation");
  app.add_option("--lr", c.lr, "Adam learning rate");
  app.add_option("--margin", c.margin, "triplet margin");
  app.add_option("--p", c.p, "subjects per batch");
  app.add_option("--k", c.k, "images per subject per batch");
  app.add_option("--test-subjects", c.test_subjects, "subjects held out for evaluation");
  app.add_option("--ways", c.ways, "k of the k-way one-shot tasks");
  app.add_option("--episodes", c.episodes, "one-shot episodes per k");
  app.add_option("--save", c.save, "where to save the trained model (safetensors); empty: do not save");
  app.add_option("--model", c.model, "evaluate this saved model instead of training");
  app.add_option("--threads", c.threads, "worker threads (default: all cores)");
  app.add_option("--check-auc", c.check_auc, "exit 1 unless the held-out AUC reaches this; 77 without data")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--embedder", c.embedder,
                 "trained (train a tower here) or pretrained (dlib's face ResNet with face-api's weights, all 40 "
                 "subjects, no training)");
  app.add_option("--models", c.models, "face-api weights folder (default: $TWIN_FACE_MODELS, then the cache of "
                                         "scripts/fetch-face-models.sh)");
  app.add_flag("--finetune", c.finetune,
               "with --embedder pretrained: train a linear map on the descriptors with the triplet loss on the training "
               "subjects, evaluate on the held-out ones");
  app.add_flag("--detect", c.detect,
               "with --embedder pretrained (and enroll/identify/verify): find the face with face-api's tiny face "
               "detector and take its best box as the face (default: the whole image)");
  app.add_option("--detect-size", c.detect_size,
                 "--detect: the detector's input side, a multiple of 32 (face-api: 416; 128 suits AT&T's 92x112 faces)");
  app.add_option("--detect-threshold", c.detect_threshold, "--detect: a box is a face when its score exceeds this, in (0, 1)");
  app.add_option("--min-face", c.min_face,
                 "pretrained embedder: refuse a face (the detector's box, or the whole image) whose shorter side is below "
                 "this many pixels")
      ->check(CLI::Range(1, 1000000));
  app.add_flag("--align", c.align,
               "with --embedder pretrained: align each face as dlib does (68 landmarks, similarity transform onto dlib's "
               "mean face, 150x150 chip, padding 0.25)");
  app.add_option("--report", c.report,
                 "with --embedder pretrained: write an HTML report (ROC, distance histograms, query -> nearest "
                 "enrolled faces)");
  app.add_option("--finetune-layers", c.finetune_layers,
                 "what --finetune trains: head (a linear map on the frozen descriptors) or all (every weight)");
  app.add_option("--ways-all", c.ways_all, "k of the one-shot tasks over all subjects (--embedder pretrained)");
  app.add_flag("--check", c.check, "exit 1 unless the model beats the raw-pixel baseline; 77 without data");
  PeopleArgs people;
  auto* enroll_cmd = app.add_subcommand("enroll", "add a person's images to a gallery (pretrained embedder)");
  enroll_cmd->add_option("name", people.name, "the person's name")->required();
  enroll_cmd->add_option("images", people.images, "their images")->required();
  enroll_cmd->add_flag("--new", people.fresh, "start a new gallery instead of adding to it");
  auto* identify_cmd = app.add_subcommand("identify", "the nearest enrolled person of each image, or unknown past 0.6");
  identify_cmd->add_option("images", people.images, "images to identify")->required();
  identify_cmd->add_flag("--all", people.all, "every face the detector finds (a gallery made with --detect), not only the best");
  auto* verify_cmd = app.add_subcommand("verify", "same person or not (distance < 0.6); exit 0 same, 3 different");
  verify_cmd->add_option("images", people.images, "two images")->required()->expected(2);
  verify_cmd->add_option("--repeat", people.repeat, "run the pipeline N times; print the median time of each stage (warm)")
      ->check(CLI::Range(1, 1000000));
  for (auto* sub : {enroll_cmd, identify_cmd, verify_cmd}) {
    sub->add_option("--gallery", people.gallery, "gallery file (JSON; default face_gallery.json)");
    sub->add_flag("--json", people.json, "print the result as JSON");
    sub->add_flag("--skip-without-models", people.skip_without_models,
                  "exit 77 (ctest's skip code) when the weights or an image are absent (tests)");
    sub->fallthrough();
  }
  CLI11_PARSE(app, argc, argv);
  if (c.threads > 0) twin::set_default_threads(c.threads);
  if ((*enroll_cmd || *identify_cmd || *verify_cmd) && people.skip_without_models) {
    std::string missing;
    if (!std::filesystem::exists((c.models.empty() ? twin::face::default_models_dir() : std::filesystem::path(c.models)) /
                                 "face_recognition_model.bin"))
      missing = "the face-api weights (scripts/fetch-face-models.sh)";
    for (const auto& f : people.images)
      if (!std::filesystem::exists(f)) missing = f;
    // identify reads a gallery that an earlier test enrolled; when that test was skipped
    // (its images are absent), this one is too.
    if (*identify_cmd && !std::filesystem::exists(people.gallery)) missing = people.gallery;
    if (!missing.empty()) {
      std::printf("SKIPPED: %s not found\n", missing.c_str());
      return 77;
    }
  }
  if (*enroll_cmd) return enroll(c, people);
  if (*identify_cmd) return identify(c, people);
  if (*verify_cmd) return verify(c, people);
  return run(c);
} catch (const std::exception& e) {
  std::fprintf(stderr, "face_verification: %s\n", e.what());
  return 1;
}
