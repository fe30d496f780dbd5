// `train`: writer-independent training with the contrastive loss.
#include <unistd.h>

#include <cstdlib>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>

#include <twin/data/transform.hpp>
#include <data_dir.hpp>
#include <twin/optim/adam.hpp>
#include <twin/optim/schedule.hpp>
#include <twin/siamese/contrastive_loss.hpp>
#include <twin/siamese/siamese_module.hpp>
#ifdef SIGVER_MPI
#include <optional>

#include <twin/mpi/data_parallel.hpp>
#include <twin/mpi/shard.hpp>
#endif

#include <twin/context.hpp>
#include <twin/metrics/distance.hpp>

#include "commands.hpp"
#include "outputs.hpp"
#include "pairs.hpp"
#include "persist.hpp"

namespace sigver {

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

fs::path resolve_data(const std::string& option) {
  if (!option.empty()) {
    if (!fs::is_directory(option)) throw twin::io_error("data folder '" + option + "' (from --data) does not exist");
    if (fs::is_directory(fs::path(option) / "cedar")) return fs::path(option) / "cedar";
    return option;
  }
  return twin_examples::find_data_dir("", "cedar");
}

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
  kept = subset(kept, std::vector<std::string>(with_genuine.begin(), with_genuine.end()));  // rebuilds the indices
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
  check_output_folder(model, "--model");
  check_output_folder(ckpt, "--checkpoint");
  if (fs::absolute(model).lexically_normal() == fs::absolute(ckpt).lexically_normal())
    throw twin::error("--model and --checkpoint name the same file '" + model.string() + "'");
  if (o.resume || o.overwrite) return;
  for (const fs::path& p : {model, ckpt})
    if (fs::exists(p))
      throw twin::io_error("'" + p.string() + "' exists (an earlier run's " + (p == model ? "model" : "checkpoint") +
                           "): pass --resume to continue that run, or --overwrite to start afresh over it");
}
}  // namespace

namespace {
// The ranks of a data-parallel run (one of one without mpirun).
struct Ranks {
  int rank = 0, size = 1;
#ifdef SIGVER_MPI
  const twin::mpi::Communicator* comm = nullptr;
#endif
  bool root() const { return rank == 0; }
};

int train(const TrainOptions& o, const Ranks& ranks);
}  // namespace

// Under mpirun (with twin::mpi) every rank runs this same command: the ranks read the same
// data, draw the same pairs from (seed, step), and each trains on its slice of the step's
// pairs; the gradients are averaged (twin/mpi/data_parallel.hpp), so every replica takes
// the same step. Rank 0 alone prints and writes the model and checkpoint.
int run_train(const TrainOptions& o) {
#ifdef SIGVER_MPI
  if (twin::mpi::launched_by_mpirun()) {
    int argc = 0;
    char** argv = nullptr;
    twin::mpi::Environment env(argc, argv);
    const twin::mpi::Communicator comm = env.world();
    return twin::mpi::run_or_abort(comm, [&] { return train(o, Ranks{comm.rank(), comm.size(), &comm}); });
  }
#endif
  return train(o, Ranks{});
}

namespace {
int train(const TrainOptions& o, const Ranks& ranks) {
  if (!ranks.root()) {  // one rank reports
    [[maybe_unused]] std::FILE* quiet = std::freopen("/dev/null", "w", stdout);
  }
  const auto t_start = Clock::now();
  const fs::path ckpt = o.checkpoint.empty() ? fs::path(o.model + ".ckpt") : fs::path(o.checkpoint);
  check_train_outputs(o, o.model, ckpt);
  const Dataset all = discover(resolve_data(o.data));
  const Split split = make_split(all, o.split.val_writers, o.split.test_writers, o.split.n_val, o.split.n_test,
                                 o.split.split_seed);
  print_split(split, all);
  std::vector<std::string> train_writers = split.train;
  if (o.max_train_writers > 0 && o.max_train_writers < static_cast<int>(train_writers.size())) {
    train_writers.resize(static_cast<std::size_t>(o.max_train_writers));
    std::printf("  training on the first %d training writers only: %s\n", o.max_train_writers, join(train_writers).c_str());
  }
  Dataset train = subset(all, train_writers), val = subset(all, split.val);
  const TowerConfig& cfg = o.tower;

  auto t0 = Clock::now();
  std::vector<std::string> rejected;
  twin::Tensor<float> train_images = load_all(train, cfg.canvas, &rejected);
  drop_rejected(train, train_images, rejected, "training");
  twin::Tensor<float> val_images = load_all(val, cfg.canvas, &rejected);
  drop_rejected(val, val_images, rejected, "validation");
  std::printf("preprocessed %zu + %zu images to %tdx%td in %.1f s\n", train.files.size(), val.files.size(),
              cfg.canvas.height, cfg.canvas.width, std::chrono::duration<double>(Clock::now() - t0).count());
  const std::vector<PairRef> val_pairs = evaluation_pairs(val, 100, o.seed + 7);

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
      "; augment ", o.augment, "; skilled ", o.skilled_fraction,
      o.hard_share > 0 ? twin::detail::concat("; hard ", o.hard_share, "x", o.hard_writers) : std::string(),
      o.augment_strength != 1.0 ? twin::detail::concat("; augment strength ", o.augment_strength) : std::string());

  TrainState st;
  if (o.resume) {
    if (!fs::exists(ckpt)) throw twin::io_error("--resume: no checkpoint '" + ckpt.string() + "'");
    st = load_checkpoint(ckpt, model.tower(), opt, fingerprint);
    std::printf("resumed from '%s' after epoch %d (best validation EER %.2f%% at epoch %d)\n", ckpt.string().c_str(),
                st.epoch, 100 * st.best_val_eer, st.best_epoch);
  }

  PairSampler sampler(train, o.skilled_fraction);
  const twin::Index P = o.batch_pairs, H = cfg.canvas.height, W = cfg.canvas.width, plane = H * W;
  if (P < ranks.size)
    throw twin::error(twin::detail::concat("--batch-pairs ", P, " is fewer than the ", ranks.size, " ranks"));
  // This rank's pairs of each step: [lo, lo + n) of the P drawn (all of them on one rank).
  const twin::Index lo = P * ranks.rank / ranks.size, n = P * (ranks.rank + 1) / ranks.size - lo;
#ifdef SIGVER_MPI
  std::optional<twin::mpi::DataParallel<float>> dp;
  if (ranks.comm) {
    dp.emplace(*ranks.comm, model);
    dp->broadcast_from_root();
    std::printf("data-parallel over %d ranks: %td of the %td pairs of a step each\n", ranks.size, n, P);
  }
#endif
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
  auto warp_all = [&] {
    exec.parallel_for(2 * lo, 2 * (lo + n), 4, [&](twin::Index from, twin::Index to) {
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
    });
  };

  int epochs_this_run = 0;
  for (int epoch = st.epoch; epoch < o.epochs; ++epoch) {
    const auto te = Clock::now();
    if (o.hard_share > 0) sampler.set_nearest(nearest_writers(model.tower(), train_images, train, o.hard_writers, eval_ws), o.hard_share);
    double loss_avg = 0;
    for (int step = 0; step < o.steps_per_epoch; ++step) {
      const long global = static_cast<long>(epoch) * o.steps_per_epoch + step;
      // Every random draw of a step comes from (seed, step): a resumed run draws the same.
      twin::Rng rng = twin::Rng(o.seed).fork(static_cast<std::uint64_t>(global) + 1);
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
#ifdef SIGVER_MPI
      if (dp) {  // the gradient of the mean loss over all P pairs, on every rank
        const double w = static_cast<double>(n) / static_cast<double>(P);
        dp->all_reduce_gradients(w);
        dp->all_reduce_buffers(w);  // BatchNorm running statistics
      }
#endif
      opt.step(model.params(), model.grads());
      loss_avg = step == 0 ? r.value : 0.95 * loss_avg + 0.05 * r.value;
      const double secs = std::chrono::duration<double>(Clock::now() - te).count();
      const double rate = (step + 1) * P / std::max(secs, 1e-9);
      const long left = total_steps - global - 1;
      char label[32];
      std::snprintf(label, sizeof label, "epoch %d/%d", epoch + 1, o.epochs);
      bar.update(global + 1, label, loss_avg, rate, left * P / std::max(rate, 1e-9));
    }
    bar.newline();
    // Validation: EER over genuine pairs vs all forgeries (skilled and random) of the
    // validation writers; the best epoch's weights and EER threshold are kept.
    const auto d = pair_distances(twin::embed_all(model.tower(), val_images.view(), embed_batch, eval_ws), val_pairs);
    std::vector<twin::PairLabel> val_labels(val_pairs.size());
    for (std::size_t i = 0; i < d.size(); ++i) val_labels[i] = twin::pair_label(val_pairs[i].same());
    const auto eer = twin::metrics::eer_distance(d, val_labels);
    const double auc = twin::metrics::auc_distance(d, val_labels);
    st.epoch = epoch + 1;
    st.seconds += std::chrono::duration<double>(Clock::now() - te).count();
    const bool best = eer.eer < st.best_val_eer;
    if (best) {
      st.best_val_eer = eer.eer;
      st.best_threshold = static_cast<float>(eer.threshold);
      st.best_epoch = epoch + 1;
      // The model file always holds the best epoch so far (atomic write).
      ModelInfo info;
      info.tower = cfg;
      info.threshold = st.best_threshold;
      info.train_writers = train_writers;
      info.val_writers = split.val;
      info.test_writers = split.test;
      info.data_layout = all.layout;
      info.val_eer = st.best_val_eer;
      info.epochs = st.best_epoch;
      info.train_seconds = st.seconds;
      if (ranks.root()) save_model(o.model, model.tower(), info);
    }
    std::printf("epoch %d: loss %.4f, validation EER %.2f%% (AUC %.3f)%s, %.0f s\n", epoch + 1, loss_avg, 100 * eer.eer,
                auc, best ? " *best*" : "", st.seconds);
    std::fflush(stdout);
    if (ranks.root()) save_checkpoint(ckpt, model.tower(), opt, st, fingerprint);
    ++epochs_this_run;
    if (o.stop_after_epochs > 0 && epochs_this_run >= o.stop_after_epochs && st.epoch < o.epochs) {
      std::printf("stopping after %d epochs as asked (--stop-after); continue with --resume\n", epochs_this_run);
      return 0;
    }
  }
  if (st.best_epoch == 0) throw twin::error("no epoch was trained (is --epochs 0?)");
#ifdef SIGVER_MPI
  if (dp) dp->check_replicas();  // every rank ends with the same bits
#endif
  std::printf("model '%s': epoch %d, validation EER %.2f%%, threshold %.4f; training took %s (%.0f s, whole run %.0f s)\n",
              o.model.c_str(), st.best_epoch, 100 * st.best_val_eer, st.best_threshold, hms(st.seconds).c_str(),
              st.seconds, std::chrono::duration<double>(Clock::now() - t_start).count());
  return 0;
}

}  // namespace

}  // namespace sigver
