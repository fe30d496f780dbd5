// signature_verification: writer-independent offline signature verification with a Siamese
// network on CEDAR (or any data set in the generic layout). See docs/signature-verification.md.
//
//   signature_verification train  [--data DIR] [--val-writers ...] [--test-writers ...]
//   signature_verification eval   [--pairs FILE.csv] [--json out.json] [--report out.html]
//   signature_verification verify A.png B.png
//   signature_verification enroll --writer NAME ref1.png ref2.png ...
//   signature_verification verify --against NAME questioned.png
// verify exits 0 for the same writer (genuine), 2 for a different one (forgery), 1 on error.
//   signature_verification audit  [--data DIR]
//
// The story, top to bottom: the options of each command; the data (twin/data/signature_dataset.hpp
// finds the writers, twin/data/document_loader.hpp turns scans into the network's input,
// twin/data/signature_pairs.hpp draws pairs); `train` (contrastive loss on pairs of the
// training writers, threshold chosen on the validation writers, checkpoints to resume);
// `eval` (ROC, EER, FAR, FRR on writers never seen in training, an HTML report); `verify`
// and `enroll` (one pair, or a questioned signature against an enrolled writer's references
// in twin/io/gallery.hpp); `audit` (how much a shortcut would score); and the command line.
// The tower and its model file are in signature_model.hpp.
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <data_dir.hpp>
#include <ranks.hpp>
#include <twin/context.hpp>
#include <twin/data/document_loader.hpp>
#include <twin/data/image_statistics.hpp>
#include <twin/data/signature_dataset.hpp>
#include <twin/data/signature_pairs.hpp>
#include <twin/data/transform.hpp>
#include <twin/io/checkpoint.hpp>
#include <twin/io/gallery.hpp>
#include <twin/io/output_guard.hpp>
#include <twin/io/pairs_csv.hpp>
#include <twin/io/weights_hash.hpp>
#include <twin/metrics/distance.hpp>
#include <twin/metrics/shortcut_probe.hpp>
#include <twin/optim/adam.hpp>
#include <twin/optim/schedule.hpp>
#include <twin/optim/weight_average.hpp>
#include <twin/report/html_report.hpp>
#include <twin/siamese/contrastive_loss.hpp>
#include <twin/siamese/embed.hpp>
#include <twin/siamese/mining.hpp>
#include <twin/siamese/triplet_margin_loss.hpp>
#include <twin/siamese/siamese_module.hpp>

#include "signature_model.hpp"

namespace sigver {

using Dataset = twin::data::SignatureDataset;
using Split = twin::data::WriterSplit;
using twin::data::PairKind;
using PairRef = twin::data::SignaturePair;
using twin::io::OutputKind;

// ---- The commands' options (filled by the command line at the end of this file) --------
struct SplitOptions {
  std::vector<std::string> val_writers, test_writers;  // explicit split when given
  int n_val = 5, n_test = 10;                          // else a seeded split of this size
  std::uint64_t split_seed = 1;
};

// The default recipe's tower and canvas (docs/signature-verification.md, "Ablation"): six
// convolutions with BatchNorm, global average pooling, a 96 x 192 canvas. Model files keep
// their own; these are only what train builds when not told otherwise.
inline Canvas default_canvas() {
  Canvas c;
  c.height = 96, c.width = 192;
  return c;
}
inline TowerConfig default_tower() {
  TowerConfig t;
  t.canvas = default_canvas();
  t.arch = "deep", t.pool = "gap", t.batchnorm = true;
  return t;
}

struct TrainOptions {
  std::string data;
  std::string model = "signature_model.safetensors";
  std::string checkpoint;  // default: <model>.ckpt
  bool resume = false;
  bool overwrite = false;  // start afresh over an existing model and checkpoint
  SplitOptions split;
  int max_train_writers = 0;  // use only the first N training writers (0 = all)
  std::uint64_t seed = 1;
  TowerConfig tower = default_tower();
  int epochs = 6;
  int steps_per_epoch = 100;
  int batch_pairs = 32;
  double lr = 1e-3;
  double margin = 1.0;
  double weight_decay = 1e-4;
  bool augment = true;
  double skilled_fraction = 0.5;
  double hard_share = 0.5;      // share of random forgeries drawn from the nearest writers
  int hard_writers = 5;         // how many nearest writers (by mean embedding, each epoch)
  double augment_strength = 1.0;  // multiplies rotation, scale range and shift
  std::string batch = "pairs";  // or "writers": P writers x K genuine + their forgeries per step
  int batch_writers = 8, batch_genuine = 4, batch_forged = 4;
  double triplet_margin = 0.5;  // 0: soft margin
  std::string miner = "semihard";  // or "hard" (batch-hard, Hermans et al.)
  std::string writer_loss = "contrastive";  // or "triplet", on writer batches
  std::string score_norm = "none";  // the decision score (signature_model.hpp's ScoreNorm)
  std::string select = "pooled";    // epoch selection: EER over all forgeries, or "mean" of the skilled and random EERs
  int cohort_per_writer = 4;        // genuine signatures of each training writer in the cohort
  int cohort_top = 0;               // closest cohort rows that count (0: all)
  bool quiet = false;
  int stop_after_epochs = 0;  // testing aid: exit after this many epochs, as if interrupted
  double ema = 0;             // validate and keep an exponential moving average of the weights with this decay (0: the weights)
  int fit_writers = 0;        // diagnosis: also print the EERs on the first N training writers' pairs each epoch
};

struct EvalOptions {
  std::string data;
  std::string model = "signature_model.safetensors";
  std::string pairs;  // evaluate this pairs file instead of the test writers
  std::string json;   // also write the metrics here
  std::string report = "signature_report.html";
  SplitOptions split;  // default: the split stored in the model
  int references = 5;
  int examples = 24;
  std::string score_norm;  // another score than the model's (analysis; test writers only)
  std::uint64_t seed = 1;
};

struct VerifyOptions {
  std::string model = "signature_model.safetensors";
  std::string enrollments = "enrollments.json";
  std::string against;  // writer name: compare with its enrolled references
  std::vector<std::string> images;
  int repeat = 1;  // run the pair's whole path (decode, preprocess, embed) this often; report cold and warm times
  bool json = false;  // one JSON object on stdout instead of text
};

// verify's exit codes, for scripts: 0 the same writer (genuine), verify_different for a
// forgery or another writer, 1 for any error (as every subcommand).
inline constexpr int verify_same = 0;
inline constexpr int verify_different = 2;

struct EnrollOptions {
  std::string model = "signature_model.safetensors";
  std::string enrollments = "enrollments.json";
  std::string writer;
  std::vector<std::string> images;
  bool replace = false;  // replace the writer's references instead of adding to them
};

struct AuditOptions {
  std::string data;
  std::string json;
  SplitOptions split;
  Canvas canvas = default_canvas();
  std::uint64_t seed = 1;
};

// ---- The data ---------------------------------------------------------------------------

// --data DIR: DIR/cedar when it exists, else DIR itself; without --data, $TWIN_DATA/cedar
// or ../shared/data/cedar.
fs::path resolve_data(const std::string& option) {
  if (!option.empty()) {
    if (!fs::is_directory(option)) throw twin::io_error("data folder '" + option + "' (from --data) does not exist");
    if (fs::is_directory(fs::path(option) / "cedar")) return fs::path(option) / "cedar";
    return option;
  }
  return twin_examples::find_data_dir("", "cedar");
}

Split make_split(const Dataset& d, const SplitOptions& s) {
  return twin::data::split_writers(d, s.val_writers, s.test_writers, s.n_val, s.n_test, s.split_seed);
}

std::string join(const std::vector<std::string>& v, const std::string& sep = " ") {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

// Every file of `d`, as the network sees it (N, 1, height, width); see load_documents for
// `rejected`.
twin::Tensor<float> load_all(const Dataset& d, const Canvas& c, std::vector<std::string>* rejected = nullptr) {
  std::vector<fs::path> paths;
  for (const auto& f : d.files) paths.push_back(f.path);
  return twin::data::load_documents(paths, c, rejected);
}

// ---- train: writer-independent training with the contrastive loss -----------------------

// The training checkpoint (twin/io/checkpoint.hpp: weights, optimiser state, epoch) and what
// an interrupted run needs besides: the best validation result so far (whose weights are in
// the model file).
struct TrainState {
  int epoch = 0;  // epochs completed
  double best_val_eer = 2;
  float best_threshold = 0;
  int best_epoch = 0;
  double seconds = 0;
};

namespace {
using json = nlohmann::json;

// Doubles travel as the decimal of their bits, so a resumed run compares bit for bit.
std::string bits(double v) { return std::to_string(std::bit_cast<std::uint64_t>(v)); }
double unbits(const std::string& s, const fs::path& file, const char* key) {
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) throw twin::io_error("'" + file.string() + "': bad " + key);
  return std::bit_cast<double>(v);
}
}  // namespace

// `fingerprint` names the run's configuration; a checkpoint of another configuration is
// refused on resume.
void save_checkpoint(const fs::path& file, const twin::Graph<float>& net, twin::Adam<float>& opt,
                     const TrainState& st, const std::string& fingerprint) {
  // All randomness is drawn from (seed, step), so the checkpoint's own Rng is unused.
  twin::io::save_checkpoint(file, net, opt, twin::Rng(0), st.epoch,
                            {{"fingerprint", fingerprint},
                             {"best_val_eer", bits(st.best_val_eer)},
                             {"best_threshold", bits(st.best_threshold)},
                             {"best_epoch", std::to_string(st.best_epoch)},
                             {"seconds", bits(st.seconds)}});
}

TrainState load_checkpoint(const fs::path& file, twin::Graph<float>& net, twin::Adam<float>& opt,
                           const std::string& fingerprint) {
  twin::Rng unused;
  const auto info = twin::io::load_checkpoint(file, net, opt, unused);
  const std::string& fp = detail::entry(info.user, "fingerprint", file);
  if (fp != fingerprint)
    throw twin::io_error("checkpoint '" + file.string() + "' belongs to another configuration (" + fp +
                         "); this run is: " + fingerprint);
  TrainState st;
  st.epoch = static_cast<int>(info.epoch);
  st.best_val_eer = unbits(detail::entry(info.user, "best_val_eer", file), file, "best_val_eer");
  st.best_threshold = static_cast<float>(unbits(detail::entry(info.user, "best_threshold", file), file, "best_threshold"));
  st.best_epoch = std::stoi(detail::entry(info.user, "best_epoch", file));
  st.seconds = unbits(detail::entry(info.user, "seconds", file), file, "seconds");
  return st;
}

namespace {
using Clock = std::chrono::steady_clock;

std::string hms(double s) {
  const long t = std::lround(std::max(0.0, s));
  char b[32];
  if (t >= 3600) std::snprintf(b, sizeof b, "%ldh%02ldm", t / 3600, t / 60 % 60);
  else std::snprintf(b, sizeof b, "%ldm%02lds", t / 60, t % 60);
  return b;
}

// One line redrawn in place on a terminal; a line every 10% otherwise (logs, CI).
class Progress {
 public:
  Progress(long total, bool quiet) : total_(total), quiet_(quiet), tty_(isatty(fileno(stderr))) {}
  void update(long done, const char* epoch_label, double loss, double pairs_per_s, double eta_s) {
    if (quiet_) return;
    const bool report = tty_ || done == total_ || done * 10 / total_ != (done - 1) * 10 / total_;
    if (!report) return;
    const int width = 28, filled = static_cast<int>(width * done / std::max(1L, total_));
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "%s[%s] %ld/%ld %s loss %.4f  %.0f pairs/s  ETA %s   %s", tty_ ? "\r" : "", bar.c_str(), done,
                 total_, epoch_label, loss, pairs_per_s, hms(eta_s).c_str(), tty_ ? "" : "\n");
    std::fflush(stderr);
  }
  void newline() {
    if (!quiet_ && tty_) std::fprintf(stderr, "\n");
  }

 private:
  long total_;
  bool quiet_, tty_;
};

// Distances of all pairs from cached embeddings (N, D).
std::vector<double> pair_distances(const twin::Tensor<float, 2>& emb, const std::vector<PairRef>& pairs) {
  std::vector<double> d(pairs.size());
  const twin::Index D = emb.dim(1);
  for (std::size_t i = 0; i < pairs.size(); ++i)
    d[i] = euclidean.row(emb.data() + pairs[i].a * D, emb.data() + pairs[i].b * D, D);
  return d;
}

// Scores of all pairs: the distances, normalised when `norm` is on.
std::vector<double> pair_scores(const twin::Tensor<float, 2>& emb, const std::vector<PairRef>& pairs, const ScoreNorm& norm) {
  std::vector<double> d = pair_distances(emb, pairs);
  if (!norm.on()) return d;
  const auto st = norm.stats_all(emb);
  for (std::size_t i = 0; i < pairs.size(); ++i)
    d[i] = norm.score(d[i], st[static_cast<std::size_t>(pairs[i].a)], st[static_cast<std::size_t>(pairs[i].b)]);
  return d;
}

// For each training writer, the `k` other writers whose mean embedding (of their genuine
// signatures, un-augmented, current weights) is closest: the writers most easily confused.
std::vector<std::vector<int>> nearest_writers(const twin::Graph<float>& net, const twin::Tensor<float>& images,
                                              const Dataset& d, int k, twin::Workspace<float>& ws) {
  const auto emb = twin::embed_all(net, images.view(), embed_batch, ws);  // (N, D)
  const twin::Index D = emb.dim(1);
  const std::size_t n = d.writers.size();
  std::vector<std::vector<float>> mean(n, std::vector<float>(static_cast<std::size_t>(D), 0.0f));
  for (std::size_t w = 0; w < n; ++w) {
    const auto& g = d.genuine.at(d.writers[w]);
    for (int i : g)
      for (twin::Index j = 0; j < D; ++j) mean[w][static_cast<std::size_t>(j)] += emb(i, j) / static_cast<float>(g.size());
  }
  std::vector<std::vector<int>> out(n);
  for (std::size_t w = 0; w < n; ++w) {
    std::vector<std::pair<float, int>> by;
    for (std::size_t v = 0; v < n; ++v)
      if (v != w) by.emplace_back(euclidean.row(mean[w].data(), mean[v].data(), D), static_cast<int>(v));
    const auto m = std::min<std::size_t>(static_cast<std::size_t>(std::max(k, 1)), by.size());
    std::partial_sort(by.begin(), by.begin() + static_cast<std::ptrdiff_t>(m), by.end());
    for (std::size_t i = 0; i < m; ++i) out[w].push_back(by[i].second);
  }
  return out;
}

void print_split(const Split& s, const Dataset& d) {
  std::printf("data: %s (%s layout, %zu writers, %zu images)\n", d.root.string().c_str(), d.layout.c_str(),
              d.writers.size(), d.files.size());
  std::printf("split: %zu train / %zu validation / %zu test writers\n", s.train.size(), s.val.size(), s.test.size());
  std::printf("  validation: %s\n  test:       %s\n", join(s.val).c_str(), join(s.test).c_str());
  std::fflush(stdout);
}
}  // namespace


namespace {
// Drops the images load_all rejected as no signature (rejected[i] non-empty) from `d` and
// `images`, with one warning that counts them; a writer left without a genuine signature
// goes with all its files.
void drop_rejected(Dataset& d, twin::Tensor<float>& images, const std::vector<std::string>& rejected, const char* what) {
  std::size_t n = 0;
  for (const auto& r : rejected) n += !r.empty();
  if (n == 0) return;
  std::fprintf(stderr, "warning: skipped %zu of the %zu %s images: no signature in them (first: %s)\n", n,
               rejected.size(), what, std::find_if(rejected.begin(), rejected.end(), [](auto& r) { return !r.empty(); })->c_str());
  std::set<std::string> with_genuine;
  for (std::size_t i = 0; i < d.files.size(); ++i)
    if (rejected[i].empty() && d.files[i].genuine) with_genuine.insert(d.files[i].writer);
  Dataset kept;
  kept.root = d.root;
  kept.layout = d.layout;
  std::vector<std::size_t> from;
  for (std::size_t i = 0; i < d.files.size(); ++i)
    if (rejected[i].empty() && with_genuine.count(d.files[i].writer)) kept.files.push_back(d.files[i]), from.push_back(i);
  kept = twin::data::subset(kept, std::vector<std::string>(with_genuine.begin(), with_genuine.end()));  // rebuilds the indices
  const twin::Index plane = images.dim(2) * images.dim(3);
  twin::Tensor<float> out(twin::Shape{static_cast<twin::Index>(from.size()), 1, images.dim(2), images.dim(3)});
  for (std::size_t k = 0; k < from.size(); ++k)
    std::copy_n(images.data() + static_cast<twin::Index>(from[k]) * plane, plane, out.data() + static_cast<twin::Index>(k) * plane);
  d = std::move(kept);
  images = std::move(out);
}

// What a run will write, checked before the data are read: a fresh run must not replace an
// earlier run's model or checkpoint unless asked to, and the folders must exist.
void check_train_outputs(const TrainOptions& o, const fs::path& model, const fs::path& ckpt) {
  if (o.resume && o.overwrite) throw twin::error("--resume and --overwrite exclude each other");
  twin::io::check_output_folder(model, "--model");
  twin::io::check_output_folder(ckpt, "--checkpoint");
  if (fs::absolute(model).lexically_normal() == fs::absolute(ckpt).lexically_normal())
    throw twin::error("--model and --checkpoint name the same file '" + model.string() + "'");
  if (o.resume || o.overwrite) return;
  for (const fs::path& p : {model, ckpt})
    if (fs::exists(p))
      throw twin::io_error("'" + p.string() + "' exists (an earlier run's " + (p == model ? "model" : "checkpoint") +
                           "): pass --resume to continue that run, or --overwrite to start afresh over it");
}
}  // namespace

using twin_examples::Ranks;  // examples/common/ranks.hpp

namespace {
int train(const TrainOptions& o, Ranks& ranks) {
  if (!ranks.root()) {  // one rank reports
    [[maybe_unused]] std::FILE* quiet = std::freopen("/dev/null", "w", stdout);
  }
  const auto t_start = Clock::now();
  const fs::path ckpt = o.checkpoint.empty() ? fs::path(o.model + ".ckpt") : fs::path(o.checkpoint);
  check_train_outputs(o, o.model, ckpt);
  const Dataset all = twin::data::discover_signatures(resolve_data(o.data));
  const Split split = make_split(all, o.split);
  print_split(split, all);
  std::vector<std::string> train_writers = split.train;
  if (o.max_train_writers > 0 && o.max_train_writers < static_cast<int>(train_writers.size())) {
    train_writers.resize(static_cast<std::size_t>(o.max_train_writers));
    std::printf("  training on the first %d training writers only: %s\n", o.max_train_writers, join(train_writers).c_str());
  }
  Dataset train = twin::data::subset(all, train_writers), val = twin::data::subset(all, split.val);
  const TowerConfig& cfg = o.tower;

  auto t0 = Clock::now();
  std::vector<std::string> rejected;
  twin::Tensor<float> train_images = load_all(train, cfg.canvas, &rejected);
  drop_rejected(train, train_images, rejected, "training");
  twin::Tensor<float> val_images = load_all(val, cfg.canvas, &rejected);
  drop_rejected(val, val_images, rejected, "validation");
  std::printf("preprocessed %zu + %zu images to %tdx%td in %.1f s\n", train.files.size(), val.files.size(),
              cfg.canvas.height, cfg.canvas.width, std::chrono::duration<double>(Clock::now() - t0).count());
  const std::vector<PairRef> val_pairs = twin::data::evaluation_pairs(val, 100, o.seed + 7);
  // --fit-writers N: the same pairs of the first N training writers (no augmentation), to
  // tell overfitting (training EER far below validation) from underfitting.
  std::vector<std::string> fit_writers(train.writers.begin(),
                                       train.writers.begin() + std::min<std::ptrdiff_t>(o.fit_writers, std::ssize(train.writers)));
  Dataset fit;
  twin::Tensor<float> fit_images;
  std::vector<PairRef> fit_pairs;
  if (o.fit_writers > 0) {
    fit = twin::data::subset(train, fit_writers);
    fit_images = load_all(fit, cfg.canvas, &rejected);
    drop_rejected(fit, fit_images, rejected, "training (--fit-writers)");
    fit_pairs = twin::data::evaluation_pairs(fit, 100, o.seed + 7);
  }
  ScoreNorm norm;
  norm.mode = o.score_norm;
  norm.top_k = o.cohort_top;
  twin::Tensor<float> cohort_images;  // the first --cohort-per-writer genuine signatures of each training writer
  if (norm.on()) {
    std::vector<int> pick;
    for (const auto& w : train.writers) {
      const auto& g = train.genuine.at(w);
      pick.insert(pick.end(), g.begin(), g.begin() + std::min<std::ptrdiff_t>(o.cohort_per_writer, std::ssize(g)));
    }
    if (pick.size() < 2) throw twin::error("--score-norm needs a cohort of 2 or more training signatures");
    cohort_images = twin::Tensor<float>(twin::Shape{std::ssize(pick), 1, cfg.canvas.height, cfg.canvas.width});
    const twin::Index pl = cfg.canvas.height * cfg.canvas.width;
    for (std::size_t i = 0; i < pick.size(); ++i)
      std::copy_n(train_images.data() + pick[i] * pl, pl, cohort_images.data() + static_cast<twin::Index>(i) * pl);
    std::printf("score normalisation '%s' against a cohort of %zu training signatures%s\n", norm.mode.c_str(), pick.size(),
                norm.top_k ? twin::detail::concat(" (closest ", norm.top_k, ")").c_str() : "");
  }

  twin::Sequential<float> tower = make_tower(cfg);
  tower.init(o.seed);
  std::printf("tower: %s, %td parameters\n", cfg.describe().c_str(), tower.num_params());
  twin::SiameseModule<float> model(std::move(tower));
  twin::AdamW<float> opt({.lr = o.lr, .weight_decay = o.weight_decay});
  const twin::ContrastiveLoss loss_fn{.pos_margin = 0.0, .neg_margin = o.margin, .power = 2.0,
                                      .reduction = twin::Reduction::mean};
  const std::string fingerprint = twin::detail::concat(
      cfg.describe(), "; train ", join(train_writers, ","), "; seed ", o.seed, "; epochs ", o.epochs, "x",
      o.steps_per_epoch, "x", o.batch_pairs, "; lr ", o.lr, "; margin ", o.margin, "; wd ", o.weight_decay,
      "; augment ", o.augment, "; skilled ", o.skilled_fraction, o.select == "pooled" ? "" : "; select " + o.select,
      o.hard_share > 0 ? twin::detail::concat("; hard ", o.hard_share, "x", o.hard_writers) : std::string(),
      o.augment_strength != 1.0 ? twin::detail::concat("; augment strength ", o.augment_strength) : std::string(),
      o.ema > 0 ? twin::detail::concat("; weight average ", o.ema) : std::string(),
      o.batch != "pairs" ? twin::detail::concat("; batch ", o.batch, " ", o.batch_writers, "x", o.batch_genuine, "+",
                                                o.batch_forged, " ", o.writer_loss, " triplet margin ", o.triplet_margin, " ", o.miner) : std::string(),
      o.score_norm != "none" ? twin::detail::concat("; score norm ", o.score_norm, " cohort ", o.cohort_per_writer, " top ",
                                                    o.cohort_top) : std::string());

  TrainState st;
  if (o.resume) {
    if (!fs::exists(ckpt)) throw twin::io_error("--resume: no checkpoint '" + ckpt.string() + "'");
    if (o.ema > 0) throw twin::error("--resume: the checkpoint does not hold the weight average of --ema");
    st = load_checkpoint(ckpt, model.tower(), opt, fingerprint);
    std::printf("resumed from '%s' after epoch %d (best validation EER %.2f%% at epoch %d)\n", ckpt.string().c_str(),
                st.epoch, 100 * st.best_val_eer, st.best_epoch);
  }

  twin::data::SignaturePairSampler sampler(train, o.skilled_fraction);
  // --batch writers: batches of writers with their forgeries, the loss over every pair (or
  // mined triplet) of the whole batch, so one process.
  const bool writer_batches = o.batch == "writers";
  if (writer_batches && ranks.distributed()) throw twin::error("--batch writers runs on one process only");
  const twin::TripletMarginLoss triplet_fn{.margin = o.triplet_margin, .soft_margin = o.triplet_margin == 0};
  twin::MinerWorkspace<float> miner_ws;
  twin::LossWorkspace<float> triplet_ws;
  std::vector<int> batch_labels;
  std::vector<std::pair<twin::Index, twin::Index>> pos_pairs, neg_pairs;
  twin::Tensor<float, 2> pa(twin::Shape{0, 0}), pb(twin::Shape{0, 0}), dpa(twin::Shape{0, 0}), dpb(twin::Shape{0, 0});
  std::vector<twin::PairLabel> pair_labels;
  // The contrastive loss (mean) of the listed pairs of rows of emb, its gradient ADDED to dE.
  auto all_pairs_loss = [&](twin::TensorView<const float> emb, twin::TensorView<float> dE,
                            const std::vector<std::pair<twin::Index, twin::Index>>& pairs, twin::PairLabel label) {
    if (pairs.empty()) return 0.0;
    const twin::Index np = std::ssize(pairs), D = emb.dim(1);
    for (auto* t : {&pa, &pb, &dpa, &dpb}) t->resize(twin::Shape{np, D});
    for (twin::Index k = 0; k < np; ++k) {
      std::copy_n(emb.data() + pairs[static_cast<std::size_t>(k)].first * D, D, pa.data() + k * D);
      std::copy_n(emb.data() + pairs[static_cast<std::size_t>(k)].second * D, D, pb.data() + k * D);
    }
    pair_labels.assign(static_cast<std::size_t>(np), label);
    const auto r = loss_fn(twin::PairBatch<float>{.first = pa.view(), .second = pb.view(), .labels = pair_labels},
                           {.first = dpa.view(), .second = dpb.view()});
    for (twin::Index k = 0; k < np; ++k)
      for (twin::Index c = 0; c < D; ++c) {
        dE.data()[pairs[static_cast<std::size_t>(k)].first * D + c] += dpa.data()[k * D + c];
        dE.data()[pairs[static_cast<std::size_t>(k)].second * D + c] += dpb.data()[k * D + c];
      }
    return static_cast<double>(r.value);
  };
  const twin::Index P = writer_batches ? (o.batch_writers * (o.batch_genuine + o.batch_forged) + 1) / 2 : o.batch_pairs;
  const twin::Index H = cfg.canvas.height, W = cfg.canvas.width, plane = H * W;
  if (P < ranks.size())
    throw twin::error(twin::detail::concat("--batch-pairs ", P, " is fewer than the ", ranks.size(), " ranks"));
  // This rank's pairs of each step: [lo, lo + n) of the P drawn (all of them on one rank).
  const twin::Index lo = P * ranks.rank() / ranks.size(), n = P * (ranks.rank() + 1) / ranks.size() - lo;
  ranks.join(model);  // every rank starts from rank 0's weights
  if (ranks.distributed()) std::printf("data-parallel over %d ranks: %td of the %td pairs of a step each\n", ranks.size(), n, P);
  twin::Tensor<float, 4> xa(twin::Shape{P, 1, H, W}), xb(twin::Shape{P, 1, H, W});
  std::vector<twin::PairLabel> labels(static_cast<std::size_t>(P));
  twin::Context exec;  // one pool for the whole run: the tower's steps and the warps
  twin::SiameseWorkspace<float> ws;
  ws.set_context(&exec);
  twin::Workspace<float> eval_ws;  // embedding the training and validation writers between epochs
  const long total_steps = static_cast<long>(o.epochs) * o.steps_per_epoch;
  const twin::CosineAnnealingLR schedule{.t_max = total_steps, .eta_min = o.lr * 0.02};
  Progress bar(total_steps, o.quiet || !ranks.root());
  const double k = o.augment_strength;
  twin::data::AffineOptions aug{.max_shift = 0.04 * k, .max_rotation_deg = 4.0 * k,
                                .scale_range = {1.0 - 0.08 * k, 1.0 + 0.04 * k}, .fill = 0.0f};

  // A step's random draws (pairs, then each image's affine parameters) are made in order on
  // one thread; the warps themselves, a third of a step, run in parallel.
  struct Job {
    int file;
    float* dst;
    twin::data::Affine affine;
  };
  std::vector<Job> jobs(static_cast<std::size_t>(2 * P));
  const twin::data::Image shape_only(twin::Shape{H, W});  // draw_affine reads only its size
  auto warp_range = [&](twin::Index from, twin::Index to) {
    twin::data::Image img(twin::Shape{H, W});
    for (twin::Index j = from; j < to; ++j) {
      const Job& job = jobs[static_cast<std::size_t>(j)];
      const float* src = train_images.data() + job.file * plane;
      if (!o.augment) {
        std::copy(src, src + plane, job.dst);
        continue;
      }
      std::copy(src, src + plane, img.data());
      const auto a = twin::data::affine(img, job.affine, aug.fill);
      std::copy(a.begin(), a.end(), job.dst);
    }
  };
  auto warp_all = [&] { exec.parallel_for(2 * lo, 2 * (lo + n), 4, warp_range); };

  // --ema: the epochs are validated, chosen and saved on the moving average of the weights.
  twin::WeightAverage<float> avg;
  avg.decay = o.ema;
  if (o.ema > 0) avg.reset(model.tower().params(), model.tower().buffers());
  int epochs_this_run = 0;
  for (int epoch = st.epoch; epoch < o.epochs; ++epoch) {
    const auto te = Clock::now();
    if (o.hard_share > 0 && !writer_batches) sampler.set_nearest(nearest_writers(model.tower(), train_images, train, o.hard_writers, eval_ws), o.hard_share);
    double loss_avg = 0;
    for (int step = 0; step < o.steps_per_epoch; ++step) {
      const long global = static_cast<long>(epoch) * o.steps_per_epoch + step;
      // Every random draw of a step comes from (seed, step): a resumed run draws the same.
      twin::Rng rng = twin::Rng(o.seed).fork(static_cast<std::uint64_t>(global) + 1);
      if (writer_batches) {
        // One batch of writers (genuine + their forgeries), split in two halves only to run
        // through the Siamese module's two branches: e.all is the whole batch in order.
        const auto wb = twin::data::draw_writer_batch(train, o.batch_writers, o.batch_genuine, o.batch_forged, rng);
        const twin::Index m = std::ssize(wb.files) / 2 * 2, half = m / 2;
        batch_labels.assign(wb.labels.begin(), wb.labels.begin() + m);
        for (twin::Index j = 0; j < m; ++j) {
          Job& job = jobs[static_cast<std::size_t>(j)];
          job.file = wb.files[static_cast<std::size_t>(j)];
          job.dst = (j < half ? xa.data() + j * plane : xb.data() + (j - half) * plane);
          if (o.augment) job.affine = twin::data::draw_affine(shape_only, rng, aug);
        }
        exec.parallel_for(0, m, 4, [&](twin::Index from, twin::Index to) { warp_range(from, to); });
        opt.set_lr(schedule(o.lr, global));
        model.zero_grad();
        const auto e = model.forward({xa.view().slice(0, half), xb.view().slice(0, half)}, ws, twin::Mode::train);
        auto dE = ws.d_embeddings();
        double value = 0;
        if (o.writer_loss == "triplet") {
          const auto triplets = o.miner == "hard" ? twin::BatchHardMiner{}(e.all, batch_labels, miner_ws)
                                                  : twin::SemiHardMiner{.margin = o.triplet_margin}(e.all, batch_labels, miner_ws);
          value = triplet_fn(e.all, triplets, dE, triplet_ws).value;
        } else {
          // Every pair of the batch with a genuine signature in it: the same writer's genuine
          // pairs pulled together, all others (its forgeries, other writers) pushed past the
          // margin; the mean over each kind, so the many negatives do not drown the positives.
          std::fill(dE.begin(), dE.end(), 0.0f);
          pos_pairs.clear(), neg_pairs.clear();
          for (twin::Index i = 0; i < m; ++i)
            for (twin::Index j = i + 1; j < m; ++j) {
              const int li = batch_labels[static_cast<std::size_t>(i)], lj = batch_labels[static_cast<std::size_t>(j)];
              if (li < 0 && lj < 0) continue;
              (li == lj ? pos_pairs : neg_pairs).emplace_back(i, j);
            }
          value = all_pairs_loss(e.all, dE, pos_pairs, twin::PairLabel::same) +
                  all_pairs_loss(e.all, dE, neg_pairs, twin::PairLabel::different);
        }
        if (!std::isfinite(value)) throw twin::numeric_error(twin::detail::concat("loss is ", value, " at step ", global));
        model.backward(dE, ws);
        opt.step(model.params(), model.grads());
        loss_avg = step == 0 ? value : 0.95 * loss_avg + 0.05 * value;
        const double secs = std::chrono::duration<double>(Clock::now() - te).count();
        const double rate = (step + 1) * half / std::max(secs, 1e-9);
        char label[32];
        std::snprintf(label, sizeof label, "epoch %d/%d", epoch + 1, o.epochs);
        bar.update(global + 1, label, loss_avg, rate, (total_steps - global - 1) * half / std::max(rate, 1e-9));
        continue;
      }
      for (twin::Index i = 0; i < P; ++i) {
        const PairRef p = sampler.draw(rng);
        labels[static_cast<std::size_t>(i)] = twin::pair_label(p.same());
        for (int side = 0; side < 2; ++side) {
          Job& job = jobs[static_cast<std::size_t>(2 * i + side)];
          job.file = side == 0 ? p.a : p.b;
          job.dst = (side == 0 ? xa : xb).data() + i * plane;
          if (o.augment) job.affine = twin::data::draw_affine(shape_only, rng, aug);
        }
      }
      warp_all();
      opt.set_lr(schedule(o.lr, global));
      model.zero_grad();
      const auto e = model.forward({xa.view().slice(lo, n), xb.view().slice(lo, n)}, ws, twin::Mode::train);
      auto dE = ws.d_embeddings();
      const std::span<const twin::PairLabel> mine(labels.data() + lo, static_cast<std::size_t>(n));
      const auto r = loss_fn(twin::PairBatch<float>{.first = e.branch(0), .second = e.branch(1), .labels = mine},
                             {.first = dE.slice(0, n), .second = dE.slice(n, n)});
      if (!std::isfinite(r.value)) throw twin::numeric_error(twin::detail::concat("loss is ", r.value, " at step ", global));
      model.backward(dE, ws);
      // The gradient of the mean loss over all P pairs (and BatchNorm's running statistics),
      // on every rank.
      ranks.reduce(static_cast<double>(n) / static_cast<double>(P));
      opt.step(model.params(), model.grads());
      if (o.ema > 0) avg.update(model.tower().params(), model.tower().buffers());
      loss_avg = step == 0 ? r.value : 0.95 * loss_avg + 0.05 * r.value;
      const double secs = std::chrono::duration<double>(Clock::now() - te).count();
      const double rate = (step + 1) * P / std::max(secs, 1e-9);
      const long left = total_steps - global - 1;
      char label[32];
      std::snprintf(label, sizeof label, "epoch %d/%d", epoch + 1, o.epochs);
      bar.update(global + 1, label, loss_avg, rate, left * P / std::max(rate, 1e-9));
    }
    bar.newline();
    if (o.ema > 0) avg.swap(model.tower());  // the average in, the live weights kept aside
    // Validation: EER over genuine pairs vs all forgeries (skilled and random) of the
    // validation writers; the best epoch's weights and EER threshold are kept.
    // With a score normalisation the cohort is embedded with the current weights too, and
    // the scores (not the raw distances) choose the epoch and the threshold.
    const auto val_emb = twin::embed_all(model.tower(), val_images.view(), embed_batch, eval_ws);
    const auto raw = pair_distances(val_emb, val_pairs);
    if (norm.on()) norm.cohort = twin::embed_all(model.tower(), cohort_images.view(), embed_batch, eval_ws);
    const auto d = pair_scores(val_emb, val_pairs, norm);
    std::vector<twin::PairLabel> val_labels(val_pairs.size());
    for (std::size_t i = 0; i < d.size(); ++i) val_labels[i] = twin::pair_label(val_pairs[i].same());
    const auto eer = twin::metrics::eer_distance(d, val_labels);
    const double auc = twin::metrics::auc_distance(d, val_labels);
    const double raw_eer = twin::metrics::eer_distance(raw, val_labels).eer;
    // The two kinds of forgery apart (printed; the epoch is chosen on all of them).
    auto kind_eer_of = [&](const std::vector<PairRef>& pairs, const std::vector<double>& x, PairKind k) {
      std::vector<double> dk;
      std::vector<twin::PairLabel> lk;
      for (std::size_t i = 0; i < x.size(); ++i)
        if (pairs[i].kind == PairKind::genuine || pairs[i].kind == k) dk.push_back(x[i]), lk.push_back(twin::pair_label(pairs[i].same()));
      if (std::count(lk.begin(), lk.end(), twin::PairLabel::different) == 0) return std::nan("");  // e.g. one writer: no random pairs
      return twin::metrics::eer_distance(dk, lk).eer;
    };
    auto kind_eer = [&](const std::vector<double>& x, PairKind k) { return kind_eer_of(val_pairs, x, k); };
    const double val_skilled = kind_eer(d, PairKind::skilled), val_random = kind_eer(d, PairKind::random);
    if (!fit_pairs.empty()) {
      const auto fd = pair_distances(twin::embed_all(model.tower(), fit_images.view(), embed_batch, eval_ws), fit_pairs);
      std::printf("epoch %d: on %td training writers: skilled EER %.2f%%, random EER %.2f%%\n", epoch + 1, std::ssize(fit.writers),
                  100 * kind_eer_of(fit_pairs, fd, PairKind::skilled), 100 * kind_eer_of(fit_pairs, fd, PairKind::random));
    }
    st.epoch = epoch + 1;
    st.seconds += std::chrono::duration<double>(Clock::now() - te).count();
    // --select mean: the mean of the two kinds' EERs (the pooled list is mostly skilled
    // forgeries: 576 of 676 negative pairs per writer); pooled where a kind is missing.
    const double criterion = o.select == "mean" && std::isfinite(val_random) && std::isfinite(val_skilled)
                                 ? 0.5 * (val_skilled + val_random) : eer.eer;
    const bool best = criterion < st.best_val_eer;
    if (best) {
      st.best_val_eer = criterion;
      st.best_threshold = static_cast<float>(eer.threshold);
      st.best_epoch = epoch + 1;
      // The model file always holds the best epoch so far (atomic write).
      ModelInfo info;
      info.tower = cfg;
      info.norm = norm;
      info.threshold = st.best_threshold;
      info.train_writers = train_writers;
      info.val_writers = split.val;
      info.test_writers = split.test;
      info.data_layout = all.layout;
      info.val_eer = eer.eer;
      info.epochs = st.best_epoch;
      info.train_seconds = st.seconds;
      if (ranks.root()) save_model(o.model, model.tower(), info);
    }
    std::printf("epoch %d: loss %.4f, validation EER %.2f%% (skilled %.2f%%, random %.2f%%%s; AUC %.3f%s)%s, %.0f s\n",
                epoch + 1, loss_avg, 100 * eer.eer, 100 * val_skilled, 100 * val_random,
                o.select == "mean" ? twin::detail::concat(", mean ", std::round(10000 * criterion) / 100, "%").c_str() : "", auc,
                norm.on() ? twin::detail::concat("; raw distance EER ", std::round(10000 * raw_eer) / 100, "%, skilled ",
                                                 std::round(10000 * kind_eer(raw, PairKind::skilled)) / 100, "%, random ",
                                                 std::round(10000 * kind_eer(raw, PairKind::random)) / 100, "%").c_str() : "",
                best ? " *best*" : "", st.seconds);
    std::fflush(stdout);
    if (o.ema > 0) avg.swap(model.tower());  // the live weights back for training
    if (ranks.root()) save_checkpoint(ckpt, model.tower(), opt, st, fingerprint);
    ++epochs_this_run;
    if (o.stop_after_epochs > 0 && epochs_this_run >= o.stop_after_epochs && st.epoch < o.epochs) {
      std::printf("stopping after %d epochs as asked (--stop-after); continue with --resume\n", epochs_this_run);
      return 0;
    }
  }
  if (st.best_epoch == 0) throw twin::error("no epoch was trained (is --epochs 0?)");
  ranks.check_replicas();  // every rank ends with the same bits
  std::printf("model '%s': epoch %d, validation %s %.2f%%, threshold %.4f; training took %s (%.0f s, whole run %.0f s)\n",
              o.model.c_str(), st.best_epoch, o.select == "mean" ? "mean of skilled and random EER" : "EER", 100 * st.best_val_eer, st.best_threshold, hms(st.seconds).c_str(),
              st.seconds, std::chrono::duration<double>(Clock::now() - t_start).count());
  return 0;
}

}  // namespace

// Under mpirun (with twin::mpi) every rank runs this same command: the ranks read the same
// data, draw the same pairs from (seed, step), and each trains on its slice of the step's
// pairs; the gradients are averaged (twin/mpi/data_parallel.hpp), so every replica takes
// the same step. Rank 0 alone prints and writes the model and checkpoint.
int run_train(const TrainOptions& o) {
  return twin_examples::run_on_ranks([&](Ranks& ranks) { return train(o, ranks); });
}

// ---- eval, verify, enroll: using a trained model ------------------------------------------

namespace {
using json = nlohmann::json;
using Rows = std::vector<std::pair<std::string, std::string>>;
namespace report = twin::report;

struct Scored {
  double d;
  PairKind kind;
  int a, b;
};

std::string pct(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f%%", 100 * v);
  return b;
}
std::string num(double v, int prec = 4) {
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

// Distances and labels of `s`, of the pairs whose kind `keep` accepts.
template <class Keep>
std::pair<std::vector<double>, std::vector<twin::PairLabel>> labelled(const std::vector<Scored>& s, Keep keep) {
  std::pair<std::vector<double>, std::vector<twin::PairLabel>> out;
  for (const auto& p : s)
    if (keep(p.kind)) out.first.push_back(p.d), out.second.push_back(twin::pair_label(p.kind == PairKind::genuine));
  return out;
}

// The metrics of one list of scored pairs at `threshold` (twin/metrics/distance.hpp).
json metrics_of(const std::vector<Scored>& s, double threshold, Rows& rows, std::vector<report::Curve>& curves,
                const std::string& prefix) {
  namespace m = twin::metrics;
  std::size_t n[3] = {0, 0, 0};
  for (const auto& p : s) ++n[static_cast<int>(p.kind)];
  const auto [d, l] = labelled(s, [](PairKind) { return true; });
  json j;
  j["pairs"] = {{"genuine", n[0]}, {"skilled", n[1]}, {"random", n[2]}};
  j["threshold"] = threshold;
  j["accuracy"] = m::accuracy_at_distance(d, l, threshold);
  j["frr"] = m::far_frr_at_distance(d, l, threshold).frr;
  rows.emplace_back(prefix + "pairs (genuine / skilled / random)",
                    std::to_string(n[0]) + " / " + std::to_string(n[1]) + " / " + std::to_string(n[2]));
  rows.emplace_back(prefix + "accuracy at the validation threshold " + num(threshold), pct(j["accuracy"]));
  rows.emplace_back(prefix + "FRR (genuine rejected)", pct(j["frr"]));
  auto add = [&](const char* key, const char* label, const char* color, auto neg) {
    const auto [dk, lk] = labelled(s, [&](PairKind k) { return k == PairKind::genuine || neg(k); });
    if (std::count(lk.begin(), lk.end(), twin::PairLabel::different) == 0) return;
    const auto roc = m::roc_curve_distance(dk, lk);
    const auto e = m::eer_distance(dk, lk);
    const double auc = m::auc(roc), far = m::far_frr_at_distance(dk, lk, threshold).far;
    const report::Curve curve = report::roc_curve_points(prefix + label + " (EER " + pct(e.eer) + ")", color, roc);
    j[key] = {{"auc", auc}, {"eer", e.eer}, {"eer_threshold", e.threshold}, {"far", far}, {"roc", curve.points}};
    rows.emplace_back(prefix + label + ": EER / ROC AUC", pct(e.eer) + " / " + num(auc, 4));
    rows.emplace_back(prefix + label + ": FAR at the threshold", pct(far));
    curves.push_back(curve);
  };
  add("skilled", "skilled forgeries", "#c0392b", [](PairKind k) { return k == PairKind::skilled; });
  add("random", "random forgeries", "#2471a3", [](PairKind k) { return k == PairKind::random; });
  add("all", "all forgeries", "#7d3c98", [](PairKind k) { return k != PairKind::genuine; });
  return j;
}

void print_rows(const Rows& rows) {
  for (const auto& [k, v] : rows) std::printf("  %-58s %s\n", k.c_str(), v.c_str());
}

// Metrics need both classes: with no genuine pair there is no FRR, with no different pair
// no FAR, and EER and AUC need both. Refuse instead of printing 0 or NaN.
void require_both_classes(const std::vector<Scored>& s, const std::string& source) {
  std::size_t same = 0;
  for (const auto& p : s) same += p.kind == PairKind::genuine;
  if (s.empty()) throw twin::error(source + " gives no pairs to evaluate");
  if (same == 0 || same == s.size())
    throw twin::error(twin::detail::concat(source, " gives ", s.size(), " pairs, all ",
                                           same ? "genuine (same writer)" : "different (forgeries or other writers)",
                                           ": FAR, FRR, EER and AUC need both kinds"));
}

twin::Tensor<float, 2> plane(const twin::Tensor<float>& x, int i) {
  const twin::Index h = x.dim(2), w = x.dim(3);
  twin::Tensor<float, 2> out(twin::Shape{h, w});
  std::copy_n(x.data() + i * h * w, h * w, out.data());
  return out;
}
}  // namespace

int run_eval(const EvalOptions& o) {
  // Outputs are checked before any work: a mistyped --report must not replace the model.
  std::vector<fs::path> inputs = {o.model};
  if (!o.pairs.empty()) inputs.emplace_back(o.pairs);
  if (!o.json.empty()) twin::io::check_output(o.json, OutputKind::json, inputs, "--json");
  if (!o.report.empty()) twin::io::check_output(o.report, OutputKind::html, inputs, "--report");
  if (!o.json.empty() && !o.report.empty() && fs::absolute(o.json) == fs::absolute(o.report))
    throw twin::error("--json and --report name the same file '" + o.json + "'");
  ModelInfo info;
  const twin::Sequential<float> net = load_model(o.model, info);
  const double thr = info.threshold;
  Rows rows;
  std::vector<report::Curve> curves;
  twin::Workspace<float> ws;
  json out;
  out["model"] = o.model;
  out["val_eer"] = info.val_eer;
  report::Report rep{.images = {.ink = true}};
  rep.title = "Signature verification: " + (o.pairs.empty() ? std::string("held-out test writers") : o.pairs);
  std::vector<Scored> scored;
  twin::Tensor<float> images;  // (N, 1, H, W)
  std::vector<std::string> captions;

  if (!o.pairs.empty()) {
    const auto lines = twin::io::read_pairs_csv(o.pairs);
    std::map<fs::path, int> index;
    std::vector<fs::path> paths;
    std::vector<std::string> where;  // the first line naming each image
    for (const auto& l : lines)
      for (const auto* p : {&l.a, &l.b})
        if (index.emplace(*p, static_cast<int>(paths.size())).second) {
          paths.push_back(*p);
          where.push_back(o.pairs + ":" + std::to_string(l.line));
        }
    images = twin::data::load_documents(paths, info.tower.canvas, nullptr, where);
    const auto emb = twin::embed_all(net, images.view(), embed_batch, ws);
    const twin::Index D = emb.dim(1);
    const auto cst = info.norm.stats_all(emb);
    for (const auto& l : lines) {
      const int a = index[l.a], b = index[l.b];
      const double d = euclidean.row(emb.data() + a * D, emb.data() + b * D, D);
      scored.push_back({info.norm.score(d, cst[static_cast<std::size_t>(a)], cst[static_cast<std::size_t>(b)]),
                        l.same ? PairKind::genuine : PairKind::random, a, b});
    }
    require_both_classes(scored, "pairs file '" + o.pairs + "'");
    for (const auto& p : paths) captions.push_back(p.filename().string());
    rep.subtitle = std::to_string(lines.size()) + " pairs from " + o.pairs + " (label 0 counted as 'random forgeries').";
    std::printf("%zu pairs from '%s'\n", lines.size(), o.pairs.c_str());
    out["pairs_file"] = o.pairs;
    out["single_reference"] = metrics_of(scored, thr, rows, curves, "");
  } else {
    const Dataset all = twin::data::discover_signatures(resolve_data(o.data));
    std::vector<std::string> test = info.test_writers;
    if (!o.split.val_writers.empty() || !o.split.test_writers.empty() || test.empty())
      test = make_split(all, o.split).test;
    std::vector<std::string> missing;
    for (const auto& w : test) {
      if (std::find(info.train_writers.begin(), info.train_writers.end(), w) != info.train_writers.end())
        std::fprintf(stderr, "warning: test writer %s was a training writer of this model\n", w.c_str());
      if (!all.genuine.count(w)) missing.push_back(w);
    }
    if (!missing.empty())
      throw twin::error("the data set '" + all.root.string() + "' lacks " + std::to_string(missing.size()) + " of the " +
                        std::to_string(test.size()) + " test writers: " + join(missing) +
                        " (another data set? choose writers with --test-writers)");
    const Dataset ds = twin::data::subset(all, test);
    if (!o.score_norm.empty() && o.score_norm != info.norm.mode) {
      // Another score on the same weights (a comparison of the normalisations): a cohort of
      // the model's training writers, as train would store it. The model's threshold belongs
      // to its own score: only the EER and AUC compare.
      info.norm.mode = o.score_norm;
      if (info.norm.on()) {
        std::vector<fs::path> paths;
        for (const auto& w : info.train_writers) {
          if (!all.genuine.count(w)) throw twin::error("--score-norm: training writer " + w + " is not in the data");
          const auto& g = all.genuine.at(w);
          for (std::size_t i = 0; i < std::min<std::size_t>(g.size(), 4); ++i) paths.push_back(all.files[static_cast<std::size_t>(g[i])].path);
        }
        info.norm.cohort = twin::embed_all(net, twin::data::load_documents(paths, info.tower.canvas).view(), embed_batch, ws);
      }
      std::printf("score: %s on the model's weights (its threshold is for its own score; compare EER and AUC)\n",
                  o.score_norm.c_str());
    }
    std::printf("test writers (%zu): %s\n", test.size(), join(test).c_str());
    images = load_all(ds, info.tower.canvas);
    const auto t0 = std::chrono::steady_clock::now();
    const auto emb = twin::embed_all(net, images.view(), embed_batch, ws);
    const double embed_ms = 1000 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                            static_cast<double>(ds.files.size());
    const twin::Index D = emb.dim(1);
    const auto cst = info.norm.stats_all(emb);
    auto dist = [&](int a, int b) {
      return info.norm.score(euclidean.row(emb.data() + a * D, emb.data() + b * D, D), cst[static_cast<std::size_t>(a)],
                             cst[static_cast<std::size_t>(b)]);
    };
    for (const auto& p : twin::data::evaluation_pairs(ds, 276, o.seed)) scored.push_back({dist(p.a, p.b), p.kind, p.a, p.b});
    require_both_classes(scored, "test writers " + join(test));
    for (const auto& f : ds.files) captions.push_back(f.path.filename().string());
    rep.subtitle = "Writers " + join(test) + " (never seen in training). Model " + o.model + ", validation EER " +
                   pct(info.val_eer) + ", threshold " + num(thr) + ".";
    out["test_writers"] = test;
    out["embed_ms_per_image"] = embed_ms;
    out["single_reference"] = metrics_of(scored, thr, rows, curves, "");

    // Several references per writer: the questioned signature's mean distance to the first
    // R genuine signatures of the claimed writer.
    if (o.references > 1) {
      std::vector<Scored> multi;
      std::map<std::string, std::vector<int>> refs;
      std::set<int> is_ref;
      for (const auto& w : ds.writers) {
        const auto& g = ds.genuine.at(w);
        if (static_cast<int>(g.size()) <= o.references) continue;
        refs[w].assign(g.begin(), g.begin() + o.references);
        is_ref.insert(g.begin(), g.begin() + o.references);
      }
      auto mean_dist = [&](const std::string& w, int q) {
        double s = 0;
        for (int r : refs[w]) s += dist(r, q);
        return s / static_cast<double>(refs[w].size());
      };
      for (const auto& [w, r] : refs) {
        for (int q : ds.genuine.at(w))
          if (!is_ref.count(q)) multi.push_back({mean_dist(w, q), PairKind::genuine, r[0], q});
        if (auto f = ds.forged.find(w); f != ds.forged.end())
          for (int q : f->second) multi.push_back({mean_dist(w, q), PairKind::skilled, r[0], q});
        for (const auto& [w2, r2] : refs)
          if (w2 != w)
            for (int q : ds.genuine.at(w2))
              if (!is_ref.count(q)) multi.push_back({mean_dist(w, q), PairKind::random, r[0], q});
      }
      if (!multi.empty()) {
        std::vector<report::Curve> ignore;
        rows.emplace_back("", "");
        const std::string pre = std::to_string(o.references) + " refs: ";
        out["references"] = o.references;
        out["multi_reference"] = metrics_of(multi, thr, rows, ignore, pre);
        for (auto& c : ignore)
          if (c.name.find("all") == std::string::npos) curves.push_back({c.name, c.color == "#c0392b" ? "#e59866" : "#85c1e9", c.points});
      }
    }
    rows.emplace_back("embedding time per image", num(embed_ms, 2) + " ms");
  }

  std::printf("metrics (distance <= %.4f means same writer):\n", thr);
  print_rows(rows);
  if (!o.json.empty()) {
    twin::io::write_text_atomic(o.json, out.dump(2) + "\n");
    std::printf("wrote %s\n", o.json.c_str());
  }
  if (!o.report.empty()) {
    std::vector<report::Series> hist = {{"genuine pairs", "#27ae60", {}}, {"skilled forgeries", "#c0392b", {}},
                                        {o.pairs.empty() ? "random forgeries" : "different (label 0)", "#2471a3", {}}};
    for (const auto& p : scored) hist[static_cast<std::size_t>(p.kind)].values.push_back(p.d);
    std::erase_if(hist, [](const report::Series& h) { return h.values.empty(); });
    rep.metrics = rows;
    rep.figures = {{"ROC curve", report::svg_roc(curves)}, {"Distances", report::svg_histogram(hist, {.threshold = thr})}};
    rep.examples_note = "Preprocessed inputs (binarised, cropped, fitted to the canvas). Green: verdict correct; red: wrong.";
    twin::Rng rng(o.seed + 99);
    for (int k = 0; k < o.examples && !scored.empty(); ++k) {
      const PairKind want = k % 3 == 0 ? PairKind::genuine : k % 3 == 1 ? PairKind::skilled : PairKind::random;
      std::vector<const Scored*> c;
      for (const auto& p : scored)
        if (p.kind == want) c.push_back(&p);
      if (c.empty()) continue;
      const Scored& p = *c[rng.below(c.size())];
      const bool accept = p.d <= thr;
      rep.examples.push_back({plane(images, p.a), plane(images, p.b),
                              o.pairs.empty() ? twin::data::kind_name(p.kind) : (p.kind == PairKind::genuine ? "label 1" : "label 0"),
                              "d = " + num(p.d, 3) + (accept ? " accepted" : " rejected") + " | " +
                                  captions[static_cast<std::size_t>(p.a)] + " vs " + captions[static_cast<std::size_t>(p.b)],
                              accept == (p.kind == PairKind::genuine)});
    }
    rep.notes_html = "<h2>Protocol</h2><p>Inputs are binarised with Otsu's threshold (ink 1, paper exactly 0), cropped "
                     "to the ink and fitted into a fixed canvas keeping the aspect ratio, so paper brightness and scan "
                     "contrast (which differ between CEDAR's genuine and forged scans) cannot be used. The threshold was "
                     "chosen at the equal-error point on validation writers.</p>";
    report::write_html(o.report, rep);
    std::printf("wrote %s\n", o.report.c_str());
  }
  return 0;
}

int run_verify(const VerifyOptions& o) {
  ModelInfo info;
  const twin::Sequential<float> net = load_model(o.model, info);
  json out;
  out["model"] = o.model;
  out["threshold"] = info.threshold;
  twin::Workspace<float> ws;  // reused by every repeat: a warm verify allocates nothing in the tower
  twin::Tensor<float, 2> emb;
  float d = 0;
  if (o.against.empty()) {
    if (o.images.size() != 2) throw twin::error("verify needs two images (or one with --against WRITER)");
    std::vector<fs::path> paths(o.images.begin(), o.images.end());
    std::vector<double> ms;
    for (int r = 0; r < std::max(o.repeat, 1); ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      twin::embed_all(net, twin::data::load_documents(paths, info.tower.canvas).view(), embed_batch, ws, emb);
      ms.push_back(1000 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    const float raw = euclidean.row(emb.data(), emb.data() + emb.dim(1), emb.dim(1));
    d = static_cast<float>(info.norm.score(raw, info.norm.stats(emb.data()), info.norm.stats(emb.data() + emb.dim(1))));
    out["images"] = o.images;
    out["distance"] = d;
    if (info.norm.on()) out["raw_distance"] = raw;
    out["ms"] = ms[0];
    if (!o.json)
      std::printf("distance %.4f%s, threshold %.4f: %s (%.2f ms)\n", d, info.norm.on() ? " (cohort-normalised)" : "", info.threshold,
                  d <= info.threshold ? "SAME WRITER (genuine)" : "DIFFERENT (forgery or another writer)", ms[0]);
    if (ms.size() > 1) {
      std::vector<double> warm(ms.begin() + 1, ms.end());
      std::sort(warm.begin(), warm.end());
      out["warm_median_ms"] = warm[warm.size() / 2];
      if (!o.json)
        std::printf("time per pair (decode + preprocess + embed both): first %.2f ms, warm median %.2f ms, min %.2f ms "
                    "over %zu repeats\n", ms[0], warm[warm.size() / 2], warm.front(), warm.size());
    }
  } else {
    if (o.images.size() != 1) throw twin::error("verify --against takes exactly one questioned image");
    const twin::io::Gallery store = twin::io::read_gallery(o.enrollments);
    const auto it = store.people.find(o.against);
    if (it == store.people.end())
      throw twin::error("writer '" + o.against + "' is not enrolled in '" + o.enrollments + "'");
    const twin::io::GalleryEntry& e = it->second;
    const std::string hash = twin::io::weights_hash(net);
    if (e.model_hash != hash)
      throw twin::error("'" + o.enrollments + "': writer '" + o.against + "' was enrolled with another model (" +
                        e.model + ", " + e.model_hash + "); model '" + o.model + "' is " + hash +
                        ": enroll the writer again with this model");
    twin::embed_all(net, twin::data::load_documents({fs::path(o.images[0])}, info.tower.canvas).view(), embed_batch, ws, emb);
    std::vector<float> each;
    for (const auto& r : e.embeddings) {
      if (static_cast<twin::Index>(r.size()) != emb.dim(1))
        throw twin::error(twin::detail::concat("'", o.enrollments, "': writer '", o.against, "': a reference has ",
                                               r.size(), " values, the model's embedding ", emb.dim(1)));
      const auto q = info.norm.stats(emb.data());
      each.push_back(static_cast<float>(info.norm.score(euclidean.row(emb.data(), r.data(), emb.dim(1)), info.norm.stats(r.data()), q)));
      d += each.back() / static_cast<float>(e.embeddings.size());
    }
    out["against"] = o.against;
    out["image"] = o.images[0];
    out["reference_distances"] = each;
    out["distance"] = d;
    if (!o.json) {
      for (float r : each) std::printf("  reference distance %.4f\n", r);
      std::printf("mean distance%s to %zu references of '%s': %.4f, threshold %.4f: %s\n",
                  info.norm.on() ? " (cohort-normalised)" : "", each.size(), o.against.c_str(), d, info.threshold, d <= info.threshold ? "GENUINE" : "FORGERY (or another writer)");
    }
  }
  const bool same = d <= info.threshold;
  out["verdict"] = same ? "same" : "different";
  out["exit_code"] = same ? verify_same : verify_different;
  if (o.json) std::printf("%s\n", out.dump().c_str());
  return same ? verify_same : verify_different;
}

int run_enroll(const EnrollOptions& o) {
  std::vector<fs::path> inputs = {o.model};
  inputs.insert(inputs.end(), o.images.begin(), o.images.end());
  twin::io::check_output(o.enrollments, OutputKind::json, inputs, "--enrollments");
  ModelInfo info;
  const twin::Sequential<float> net = load_model(o.model, info);
  const std::string hash = twin::io::weights_hash(net);
  std::vector<fs::path> paths(o.images.begin(), o.images.end());
  twin::Workspace<float> ws;
  const auto emb = twin::embed_all(net, twin::data::load_documents(paths, info.tower.canvas).view(), embed_batch, ws);
  const auto D = static_cast<std::size_t>(emb.dim(1));
  std::size_t added = 0, again = 0, total = 0;
  bool replaced = false;
  twin::io::update_gallery(o.enrollments, [&](twin::io::Gallery& s) {
    auto [it, fresh] = s.people.try_emplace(o.writer);
    twin::io::GalleryEntry& e = it->second;
    if (!fresh && o.replace) {
      e = twin::io::GalleryEntry{};
      replaced = true;
    } else if (!fresh && e.model_hash != hash) {
      throw twin::error("'" + o.enrollments + "': writer '" + o.writer + "' is enrolled with another model (" + e.model +
                        ", " + e.model_hash + "); this model is " + hash + ": pass --replace to enrol it anew");
    }
    e.model = o.model;
    e.model_hash = hash;
    for (std::size_t i = 0; i < paths.size(); ++i) {
      std::vector<float> v(emb.data() + i * D, emb.data() + (i + 1) * D);
      // The same image enrolled twice would count twice in the mean distance.
      if (std::find(e.embeddings.begin(), e.embeddings.end(), v) != e.embeddings.end()) {
        ++again;
        continue;
      }
      e.files.push_back(o.images[i]);
      e.embeddings.push_back(std::move(v));
      ++added;
    }
    total = e.embeddings.size();
  });
  std::printf("enrolled %zu references of '%s' in %s (%s%zu in all)\n", added, o.writer.c_str(), o.enrollments.c_str(),
              replaced ? "replacing the previous ones; " : "", total);
  if (again) std::printf("  %zu image(s) already among the references were not added again\n", again);
  return 0;
}

// ---- audit: how much of the task can be solved without looking at the handwriting? -------
//  1. Brightness baseline: the difference of the mean grey levels of the two images of a
//     pair, used as a distance, on raw scans and on preprocessed inputs.
//  2. Single-image probe (twin/metrics/shortcut_probe.hpp): logistic regression on global
//     statistics of ONE image (twin/data/image_statistics.hpp) predicting genuine vs forged,
//     trained on the training writers' images and scored (ROC AUC) on the test writers'.
//     Near 0.5 means the preprocessing leaves no global scanner cue.
#include <algorithm>

int run_audit(const AuditOptions& o) {
  using json = nlohmann::json;
  using twin::data::ImageStatistics;
  if (!o.json.empty()) twin::io::check_output(o.json, OutputKind::json, {}, "--json");
  const Dataset all = twin::data::discover_signatures(resolve_data(o.data));
  const Split split = make_split(all, o.split);
  std::printf("audit of %s: %zu writers; probe trained on %zu training writers, scored on test writers %s\n",
              all.root.string().c_str(), all.writers.size(), split.train.size(), join(split.test).c_str());
  // Per file: the statistics of the raw scan and of the network's input.
  struct Stats {
    ImageStatistics raw, pre;
  };
  const auto stats = twin::data::prepare_all(static_cast<twin::Index>(all.files.size()), [&](twin::Index i) {
    const auto img = twin::io::load_image(all.files[static_cast<std::size_t>(i)].path);
    const auto x = twin::data::normalise_document(img.view(), o.canvas.height, o.canvas.width,
                                                  {.speck_share = o.canvas.speck_share, .stroke_radius = o.canvas.stroke_radius,
                                                   .fixed_scale = o.canvas.fixed_scale});
    return Stats{twin::data::scan_statistics(img.view()), twin::data::canvas_statistics(x.view())};
  });
  json out;
  out["test_writers"] = split.test;
  const std::pair<const char*, ImageStatistics Stats::*> kinds[] = {{"raw scans", &Stats::raw}, {"preprocessed", &Stats::pre}};

  // 1. Brightness-difference baseline on the test writers' pairs (statistic 0: the mean).
  const Dataset test = twin::data::subset(all, split.test);
  std::map<fs::path, std::size_t> where;
  for (std::size_t i = 0; i < all.files.size(); ++i) where[all.files[i].path] = i;
  const auto pairs = twin::data::evaluation_pairs(test, 276, o.seed);
  std::printf("\nbrightness-difference baseline (distance = |mean(a) - mean(b)|), %zu test pairs:\n", pairs.size());
  for (const auto& [name, field] : kinds) {
    auto mean = [&](int k) { return (stats[where[test.files[static_cast<std::size_t>(k)].path]].*field)[0]; };
    auto eer = [&](PairKind negative) {
      std::vector<double> d;
      std::vector<twin::PairLabel> l;
      for (const auto& p : pairs)
        if (p.kind == PairKind::genuine || p.kind == negative)
          d.push_back(std::abs(mean(p.a) - mean(p.b))), l.push_back(twin::pair_label(p.same()));
      return twin::metrics::eer_distance(d, l).eer;
    };
    const double skilled = eer(PairKind::skilled), random = eer(PairKind::random);
    std::printf("  %-13s skilled-forgery EER %6.2f%%   random-forgery EER %6.2f%%\n", name, 100 * skilled, 100 * random);
    out["brightness_baseline"][name] = {{"skilled_eer", skilled}, {"random_eer", random}};
  }

  // 2. Single-image genuine-vs-forged probe.
  std::printf("\nsingle-image probe (logistic regression on %zu global statistics; ROC AUC on test writers, 0.5 = "
              "no cue):\n", twin::data::n_image_statistics);
  for (const auto& [name, field] : kinds) {
    std::vector<ImageStatistics> xtr, xte;
    std::vector<int> ytr, yte;
    auto in = [](const std::vector<std::string>& ws, const std::string& w) { return std::find(ws.begin(), ws.end(), w) != ws.end(); };
    for (std::size_t i = 0; i < all.files.size(); ++i) {
      const auto& f = all.files[i];
      if (in(split.train, f.writer)) xtr.push_back(stats[i].*field), ytr.push_back(f.genuine);
      if (in(split.test, f.writer)) xte.push_back(stats[i].*field), yte.push_back(f.genuine);
    }
    if (std::count(ytr.begin(), ytr.end(), 0) == 0 || std::count(yte.begin(), yte.end(), 0) == 0) {
      std::printf("  %-13s no forgeries in the data: probe skipped\n", name);
      continue;
    }
    const auto probe = twin::metrics::shortcut_probe(xtr, ytr, xte, yte);
    const auto& names = field == &Stats::raw ? twin::data::scan_statistic_names : twin::data::canvas_statistic_names;
    // Which statistic carries the cue: each one alone as a score (AUC folded to >= 0.5).
    std::printf("  %-13s AUC %.3f   (single features:", name, probe.auc);
    for (std::size_t k = 0; k < names.size(); ++k) {
      std::printf(" %s %.2f", names[k], probe.feature_auc[k]);
      out["feature_auc"][name][names[k]] = probe.feature_auc[k];
    }
    std::printf(")\n");
    out["probe_auc"][name] = probe.auc;
  }
  if (!o.json.empty()) {
    twin::io::write_text_atomic(o.json, out.dump(2) + "\n");
    std::printf("wrote %s\n", o.json.c_str());
  }
  return 0;
}

}  // namespace sigver

// ---- The command line --------------------------------------------------------------------
namespace {
// "7 13 24", "7,13,24" or repeated flags all give {"7", "13", "24"}.
std::vector<std::string> split_list(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  for (std::string s : in) {
    for (char& c : s)
      if (c == ',') c = ' ';
    std::istringstream is(s);
    for (std::string w; is >> w;) out.push_back(w);
  }
  return out;
}
// A numeric option's allowed range, checked at parse time (CLI11's Range lets NaN through,
// and a bad value found after minutes of work is a bad value found too late).
CLI::Validator in_range(double lo, double hi, bool lo_open = false) {
  const std::string desc = (lo_open ? "(" : "[") + CLI::detail::to_string(lo) + " - " + CLI::detail::to_string(hi) + "]";
  return CLI::Validator(
      [=](std::string& in) -> std::string {
        double v = 0;
        try {
          std::size_t used = 0;
          v = std::stod(in, &used);
          if (used != in.size()) return "'" + in + "' is not a number";
        } catch (const std::exception&) {
          return "'" + in + "' is not a number";
        }
        if (!std::isfinite(v) || v < lo || v > hi || (lo_open && v == lo))
          return "value " + in + " not in range " + desc;
        return {};
      },
      desc);
}

void add_split_options(CLI::App* c, sigver::SplitOptions& s, std::vector<std::string>& val, std::vector<std::string>& test) {
  c->add_option("--val-writers", val, "validation writers, e.g. \"7 13 24 25 43\" (with --test-writers; the rest train)");
  c->add_option("--test-writers", test, "test writers, e.g. \"1 4 10 20 22 37 40 45 48 52\"");
  c->add_option("--n-val", s.n_val, "number of validation writers of the seeded split")->capture_default_str()
      ->check(in_range(1, 1e6));
  c->add_option("--n-test", s.n_test, "number of test writers of the seeded split")->capture_default_str()
      ->check(in_range(1, 1e6));
  c->add_option("--split-seed", s.split_seed, "seed of the writer split")->capture_default_str();
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Offline signature verification with a Siamese network (twin). Writers of the test set are never "
               "seen in training."};
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "threads for the network (default: TWIN_NUM_THREADS or all cores)")
      ->check(in_range(0, 1024));

  using sigver::limits::max_canvas, sigver::limits::min_canvas;
  namespace limits = sigver::limits;
  const CLI::Validator canvas = in_range(min_canvas, max_canvas), speck = in_range(0, limits::max_speck_share),
                       stroke = in_range(-1, limits::max_stroke_radius), fixed = in_range(0, limits::max_fixed_scale);
  sigver::TrainOptions tr;
  std::vector<std::string> tr_val, tr_test;
  bool quick = false;
  auto* train = app.add_subcommand("train", "train the Siamese network on the training writers; saves the model and "
                                            "the threshold chosen on the validation writers");
  train->add_option("--data", tr.data, "data folder: CEDAR (full_org/, full_forg/) or <writer>/genuine|forged/*.png");
  train->add_option("--model", tr.model, "model file to write")->capture_default_str();
  train->add_option("--checkpoint", tr.checkpoint, "checkpoint file (default: <model>.ckpt)");
  train->add_flag("--resume", tr.resume, "continue from the checkpoint of an interrupted run");
  train->add_flag("--overwrite", tr.overwrite, "start afresh even if the model or checkpoint file exists (replacing them)");
  add_split_options(train, tr.split, tr_val, tr_test);
  train->add_option("--train-writers", tr.max_train_writers, "use only the first N training writers (0: all)")
      ->check(in_range(0, 1e6));
  train->add_option("--seed", tr.seed, "seed of initialisation, pair sampling and augmentation")->capture_default_str();
  train->add_option("--epochs", tr.epochs, "epochs (a checkpoint and a validation after each)")->capture_default_str()
      ->check(in_range(1, 1e5));
  train->add_option("--steps", tr.steps_per_epoch, "optimiser steps per epoch")->capture_default_str()->check(in_range(1, 1e7));
  train->add_option("--batch-pairs", tr.batch_pairs, "pairs per step (2x images)")->capture_default_str()->check(in_range(1, 4096));
  train->add_option("--lr", tr.lr, "Adam learning rate (cosine decay to 0)")->capture_default_str()
      ->check(in_range(0, 10, true));
  train->add_option("--margin", tr.margin, "contrastive margin on the Euclidean distance")->capture_default_str()
      ->check(in_range(0, 1e3, true));
  train->add_option("--weight-decay", tr.weight_decay, "AdamW weight decay")->capture_default_str()->check(in_range(0, 1));
  train->add_option("--height", tr.tower.canvas.height, "canvas height")->capture_default_str()->check(canvas);
  train->add_option("--width", tr.tower.canvas.width, "canvas width")->capture_default_str()->check(canvas);
  train->add_option("--speck-share", tr.tower.canvas.speck_share, "remove ink components below this share of all "
                    "ink before cropping (0: none)")->capture_default_str()->check(speck);
  train->add_option("--stroke-radius", tr.tower.canvas.stroke_radius, "thin the strokes and redraw them with this "
                    "radius (1: 3 px wide; -1: keep the pen's width)")->capture_default_str()->check(stroke);
  train->add_option("--fixed-scale", tr.tower.canvas.fixed_scale, "every scan at this scale (canvas pixels per scan "
                    "pixel), only larger ones shrunk to fit, so relative size survives (0: each fills the canvas)")
      ->capture_default_str()->check(fixed);
  train->add_option("--select", tr.select, "epoch selection on the validation writers: pooled (EER over all "
                    "forgeries) or mean (of the skilled and the random EER)")->capture_default_str()
      ->check(CLI::IsMember({"pooled", "mean"}));
  train->add_option("--channels", tr.tower.width, "channels of the first convolution")->capture_default_str()
      ->check(in_range(1, limits::max_channels));
  train->add_option("--embed", tr.tower.embed, "embedding size")->capture_default_str()
      ->check(in_range(1, static_cast<double>(limits::max_embed)));
  train->add_option("--arch", tr.tower.arch, "tower: signet (4 strided convolutions) or deep (6, the last two "
                    "stages doubled, 8x channels at the end)")->capture_default_str()->check(CLI::IsMember(sigver::tower_archs));
  train->add_option("--pool", tr.tower.pool, "before the embedding layer: flatten the last map or gap (global "
                    "average per channel)")->capture_default_str()->check(CLI::IsMember(sigver::tower_pools));
  train->add_flag("--batchnorm,!--no-batchnorm", tr.tower.batchnorm, "BatchNorm after each convolution (default; "
                  "--no-batchnorm: none)");
  train->add_flag("--l2norm", tr.tower.l2norm, "L2-normalise the embeddings (then a margin below 2)");
  train->add_option("--skilled-fraction", tr.skilled_fraction, "share of negative training pairs that are skilled "
                    "forgeries (the rest: other writers)")->capture_default_str()->check(in_range(0, 1));
  train->add_option("--hard-share", tr.hard_share, "share of random-forgery training pairs whose other writer is "
                    "one of the --hard-writers nearest (by mean embedding, recomputed each epoch)")->capture_default_str()
      ->check(in_range(0, 1));
  train->add_option("--hard-writers", tr.hard_writers, "nearest writers for --hard-share")->capture_default_str()->check(in_range(1, 1e6));
  train->add_option("--augment-strength", tr.augment_strength, "multiplies the augmentation's rotation (4 deg), "
                    "scale range (0.92-1.04) and shift (4%)")->capture_default_str()->check(in_range(0, 5));
  train->add_option("--score-norm", tr.score_norm, "decision score: none (the distance), s (symmetric "
                    "normalisation against a cohort of training signatures, stored in the model) or z (the reference's "
                    "side only: the first image of a pair, the enrolled one)")->capture_default_str()
      ->check(CLI::IsMember(sigver::score_norms));
  train->add_option("--cohort-per-writer", tr.cohort_per_writer, "genuine signatures of each training writer in the "
                    "cohort")->capture_default_str()->check(in_range(1, 1000));
  train->add_option("--cohort-top", tr.cohort_top, "normalise with the closest N cohort rows only (0: all)")
      ->capture_default_str()->check(in_range(0, static_cast<double>(limits::max_cohort)));
  train->add_option("--batch", tr.batch, "pairs (drawn pairs, contrastive loss) or writers (batches of "
                    "--batch-writers writers x --batch-genuine genuine + --batch-forged of their forgeries, batch-hard "
                    "triplet loss)")->capture_default_str()->check(CLI::IsMember({"pairs", "writers"}));
  train->add_option("--batch-writers", tr.batch_writers, "writers per batch (--batch writers)")->capture_default_str()
      ->check(in_range(2, 1e4));
  train->add_option("--batch-genuine", tr.batch_genuine, "genuine signatures per writer (--batch writers)")
      ->capture_default_str()->check(in_range(2, 1e4));
  train->add_option("--batch-forged", tr.batch_forged, "forgeries per writer (--batch writers)")->capture_default_str()
      ->check(in_range(0, 1e4));
  train->add_option("--writer-loss", tr.writer_loss, "loss on writer batches: contrastive (every pair of the batch, "
                    "positives and negatives averaged apart) or triplet (mined)")->capture_default_str()
      ->check(CLI::IsMember({"contrastive", "triplet"}));
  train->add_option("--miner", tr.miner, "triplets of a writer batch: semihard (FaceNet) or hard (the farthest "
                    "positive and closest negative of each anchor)")->capture_default_str()
      ->check(CLI::IsMember({"semihard", "hard"}));
  train->add_option("--triplet-margin", tr.triplet_margin, "triplet margin (--batch writers; 0: soft margin)")
      ->capture_default_str()->check(in_range(0, 1e3));
  bool no_augment = false;
  train->add_flag("--no-augment", no_augment, "no random affine augmentation");
  train->add_flag("--quick", quick, "tiny budget (2 epochs of 5 steps): a smoke test");
  train->add_flag("--quiet", tr.quiet, "no progress bar");
  train->add_option("--ema", tr.ema, "validate, choose and save an exponential moving average of the weights and "
                    "BatchNorm statistics with this decay per step, e.g. 0.99 (0: the weights themselves)")
      ->capture_default_str()->check(in_range(0, 0.9999));
  train->add_option("--fit-writers", tr.fit_writers, "diagnosis: also print the skilled and random EER on the first N "
                    "training writers' pairs after each epoch (0: none)")->check(in_range(0, 1e6));
  train->add_option("--stop-after", tr.stop_after_epochs, "stop after N epochs as if interrupted (for tests)")
      ->check(in_range(0, 1e5));

  sigver::EvalOptions ev;
  std::vector<std::string> ev_val, ev_test;
  auto* eval = app.add_subcommand("eval", "evaluate on the test writers (or a pairs file): accuracy at the validation "
                                          "threshold, ROC AUC, EER, FAR, FRR; text, JSON and an HTML report");
  eval->add_option("--data", ev.data, "data folder (as for train)");
  eval->add_option("--model", ev.model, "model file")->capture_default_str();
  eval->add_option("--pairs", ev.pairs, "CSV of path1,path2,label (1 = same writer genuine, 0 = forgery/other)");
  eval->add_option("--json", ev.json, "write the metrics as JSON here");
  eval->add_option("--report", ev.report, "HTML report to write ('' for none)")->capture_default_str();
  add_split_options(eval, ev.split, ev_val, ev_test);
  eval->add_option("--references", ev.references, "enrolled references per writer for the multi-reference metrics")
      ->capture_default_str()->check(in_range(1, 1000));
  eval->add_option("--seed", ev.seed, "seed of the random-forgery pairs")->capture_default_str();
  eval->add_option("--score-norm", ev.score_norm, "score the test writers' pairs with none, s or z on the model's "
                   "weights (a comparison: the cohort is 4 genuine signatures of each training writer; the threshold "
                   "figures then do not apply)")->check(CLI::IsMember(sigver::score_norms));

  sigver::VerifyOptions ve;
  auto* verify = app.add_subcommand("verify", "verify A.png B.png (same writer?), or --against WRITER Q.png against "
                                              "the writer's enrolled references. Exit code: 0 same writer (genuine), 2 different "
                                              "(forgery or another writer), 1 error");
  verify->add_option("images", ve.images, "two images, or one with --against")->required();
  verify->add_option("--model", ve.model, "model file")->capture_default_str();
  verify->add_option("--against", ve.against, "enrolled writer to compare with");
  verify->add_option("--enrollments", ve.enrollments, "enrolment file")->capture_default_str();
  verify->add_option("--repeat", ve.repeat, "repeat the pair's verification (decode, preprocess, embed both) N times "
                     "and report the first (cold) and the median of the others (warm)")->capture_default_str()
      ->check(in_range(1, 1e5));
  verify->add_flag("--json", ve.json, "print one JSON object (verdict, distance, threshold) instead of text");

  sigver::EnrollOptions en;
  auto* enroll = app.add_subcommand("enroll", "store reference signatures of a writer for verify --against");
  enroll->add_option("--writer", en.writer, "writer name")->required();
  enroll->add_option("images", en.images, "reference signatures")->required();
  enroll->add_option("--model", en.model, "model file")->capture_default_str();
  enroll->add_option("--enrollments", en.enrollments, "enrolment file (created or updated)")->capture_default_str();
  enroll->add_flag("--replace", en.replace, "replace the writer's references (default: add to them; a writer "
                   "enrolled with another model needs --replace)");

  sigver::AuditOptions au;
  std::vector<std::string> au_val, au_test;
  auto* audit = app.add_subcommand("audit", "measure the data set's shortcuts: brightness-difference EER on raw and "
                                            "preprocessed pairs, single-image genuine-vs-forgery probe");
  audit->add_option("--data", au.data, "data folder (as for train)");
  audit->add_option("--json", au.json, "write the numbers as JSON here");
  add_split_options(audit, au.split, au_val, au_test);
  audit->add_option("--height", au.canvas.height, "canvas height")->capture_default_str()->check(canvas);
  audit->add_option("--width", au.canvas.width, "canvas width")->capture_default_str()->check(canvas);
  audit->add_option("--speck-share", au.canvas.speck_share, "as for train")->capture_default_str()->check(speck);
  audit->add_option("--stroke-radius", au.canvas.stroke_radius, "as for train")->capture_default_str()->check(stroke);
  audit->add_option("--fixed-scale", au.canvas.fixed_scale, "as for train")->capture_default_str()->check(fixed);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Usage errors exit 1 like every other error (--help and --version exit 0).
    return app.exit(e) == 0 ? 0 : 1;
  }
  try {
    if (threads > 0) twin::set_default_threads(threads);
    if (*train) {
      tr.split.val_writers = split_list(tr_val);
      tr.split.test_writers = split_list(tr_test);
      tr.augment = !no_augment;
      if (quick) tr.epochs = 2, tr.steps_per_epoch = 5;
      return sigver::run_train(tr);
    }
    if (*eval) {
      ev.split.val_writers = split_list(ev_val);
      ev.split.test_writers = split_list(ev_test);
      return sigver::run_eval(ev);
    }
    if (*verify) return sigver::run_verify(ve);
    if (*enroll) return sigver::run_enroll(en);
    if (*audit) {
      au.split.val_writers = split_list(au_val);
      au.split.test_writers = split_list(au_test);
      return sigver::run_audit(au);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "signature_verification: error: %s\n", e.what());
    return 1;
  }
  return 1;
}
