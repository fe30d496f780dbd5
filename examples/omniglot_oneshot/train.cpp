// train: the prototypical recipe (default) and Koch et al.'s pair recipe on the background
// alphabets that are not held out for validation, in one process or as N data-parallel
// ranks under mpirun (examples/common/ranks.hpp).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <unistd.h>

#include <twin/mpi/shard.hpp>
#include <twin/siamese/prototypical_loss.hpp>

#include <ranks.hpp>

#include "omniglot.hpp"

namespace omniglot {

using twin_examples::Ranks;

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// A training class: one character, possibly turned by quarter * 90 degrees (Snell et al.'s
// class augmentation: a rotated character is a new character).
struct Class {
  const Character* ch;
  int alphabet;
  int quarter;
};

// "[#####.....]  812/2000  loss 0.412  acc 88.1%  905 img/s  ETA 1m47s", redrawn in place
// on stderr at most twice a second.
class Progress {
 public:
  Progress(Index total, bool quiet) : total_(total), quiet_(quiet || !isatty(2)), t0_(Clock::now()) {}
  void update(Index done, double loss, double acc, double images_per_s, bool force = false) {
    if (quiet_) return;
    const double t = since(t0_);
    if (!force && t - last_ < 0.5) return;
    last_ = t;
    const int width = 30, fill = static_cast<int>(width * done / std::max<Index>(total_, 1));
    char bar[width + 1];
    for (int i = 0; i < width; ++i) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    const double eta = done > 0 ? t * double(total_ - done) / double(done) : 0.0;
    std::fprintf(stderr, "\r[%s] %5td/%td  loss %.3f  acc %5.1f%%  %4.0f img/s  ETA %dm%02ds ", bar, done, total_, loss,
                 100 * acc, images_per_s, int(eta) / 60, int(eta) % 60);
  }
  void finish() {
    if (!quiet_) std::fprintf(stderr, "\n");
  }

 private:
  Index total_;
  bool quiet_;
  Clock::time_point t0_;
  double last_ = -1;
};

// Draws one augmentation: the affine ranges of Koch et al. (rotation +-10 deg, scale
// 0.8-1.2 per their paper, shifts +-2 px at 105 px) shrunk to a light version that suits a
// 28 px character, times `strength`; plus the class's quarter turn.
twin::data::Affine draw_augment(twin::Rng& rng, double strength, int quarter, Index size) {
  twin::data::Affine a;
  a.angle_deg = 90.0 * quarter + strength * rng.uniform(-10.0, 10.0);
  a.scale = 1.0 + strength * rng.uniform(-0.1, 0.1);
  a.shift_y = strength * rng.uniform(-0.08, 0.08) * double(size);
  a.shift_x = strength * rng.uniform(-0.08, 0.08) * double(size);
  return a;
}

struct Split {
  std::vector<Alphabet> train;
  std::vector<std::string> val;
};
Split load_training(const TrainOptions& o, bool verbose) {
  const fs::path root = find_background(o.data);
  auto all = scan_background(root);
  Split s;
  s.val = pick_validation_alphabets(all, o.val_alphabets, o.n_val, o.split_seed);
  for (auto& a : all)
    if (std::find(s.val.begin(), s.val.end(), a.name) == s.val.end()) {
      if (o.max_characters > 0 && static_cast<Index>(a.characters.size()) > o.max_characters)
        a.characters.resize(static_cast<std::size_t>(o.max_characters));
      s.train.push_back(std::move(a));
    }
  const auto t0 = Clock::now();
  load_images(s.train, o.tower.size);
  Index n = 0, chars = 0;
  for (const auto& a : s.train)
    for (const auto& c : a.characters) n += static_cast<Index>(c.images.size()), ++chars;
  if (!verbose) return s;
  std::printf("training alphabets (%zu, background set): ", s.train.size());
  for (std::size_t i = 0; i < s.train.size(); ++i) std::printf("%s%s", i ? ", " : "", s.train[i].name.c_str());
  std::printf("\n  %td characters, %td images at %tdx%td, loaded in %.1f s from %s\nheld out for validation:", chars, n,
              o.tower.size, o.tower.size, since(t0), root.string().c_str());
  for (const auto& v : s.val) std::printf(" %s", v.c_str());
  std::printf("\n");
  return s;
}

std::vector<Class> make_classes(const std::vector<Alphabet>& train, bool rotate, std::vector<std::vector<Index>>& by_alphabet) {
  std::vector<Class> cls;
  by_alphabet.assign(train.size(), {});
  for (std::size_t a = 0; a < train.size(); ++a)
    for (const auto& c : train[a].characters)
      for (int q = 0; q < (rotate ? 4 : 1); ++q) {
        by_alphabet[a].push_back(static_cast<Index>(cls.size()));
        cls.push_back({&c, static_cast<int>(a), q});
      }
  return cls;
}

// How far training is, in [0, 1]: by steps, or by time when --max-minutes is set and comes
// first (a busy machine then trains fewer steps but still anneals the learning rate).
double progress(const TrainOptions& o, Index step, Clock::time_point t0) {
  double p = double(step) / double(std::max<Index>(o.steps, 1));
  if (o.max_minutes > 0) p = std::max(p, since(t0) / (60.0 * o.max_minutes));
  return std::min(p, 1.0);
}
// Cosine decay from lr to 2% of it over the whole run.
double cosine_lr(double lr, double progress) {
  constexpr long long resolution = 100000;
  const twin::CosineAnnealingLR c{.t_max = resolution, .eta_min = lr * 0.02};
  return c(lr, static_cast<long long>(progress * resolution));
}

struct Stats {
  double seconds = 0;
  Index images = 0, steps = 0;
  std::uint64_t allocations_after_first = 0;
};

// ---- prototypical episodes -----------------------------------------------------------
// On N ranks each rank embeds every support and its shard of the Q queries per class.
Stats train_proto(Model& m, const TrainOptions& o, const std::vector<Alphabet>& train, Ranks& ranks) {
  using namespace twin;
  std::vector<std::vector<Index>> by_alpha;
  const auto cls = make_classes(train, o.rotate_classes, by_alpha);
  const Index C = o.ways, S = o.shots, Q = o.queries, N = C * (S + Q), H = m.tower.size;
  if (C < 2 || S < 1 || Q < 1) throw error("--ways must be >= 2 and --shots, --queries >= 1");
  if (static_cast<Index>(cls.size()) < C)
    throw error(detail::concat("--ways ", C, " exceeds the ", cls.size(), " training classes"));
  std::vector<Index> big;  // alphabets with enough classes for a within-alphabet episode
  for (std::size_t a = 0; a < by_alpha.size(); ++a)
    if (static_cast<Index>(by_alpha[a].size()) >= C) big.push_back(static_cast<Index>(a));
  for (const auto& c : cls)
    if (static_cast<Index>(c.ch->images.size()) < S + Q)
      throw error(detail::concat(c.ch->name, " has ", c.ch->images.size(), " drawings; --shots + --queries is ", S + Q));

  const mpi::ShardRange mine = mpi::shard_range(Q, ranks.rank(), ranks.size());  // this rank's queries
  const Index Qr = mine.count;
  if (Qr < 1) throw error(detail::concat("--queries ", Q, " is fewer than the ", ranks.size(), " ranks"));
  const double weight = mpi::shard_weight(Q, ranks.rank(), ranks.size());
  ranks.join(m.net);
  Adam<float> opt({.lr = o.lr});
  const PrototypicalLoss loss{.ways = C};
  PrototypicalWorkspace<float> lws;
  Workspace<float> ws(o.seed);
  Rng rng = Rng(o.seed).fork(11);
  Tensor<float> x(Shape{C * (S + Qr), 1, H, H});  // all supports, then this rank's queries
  Tensor<float> de;                               // (C (S + Qr), D)
  std::vector<Index> pick(static_cast<std::size_t>(C)), all(cls.size()), drawers;
  std::iota(all.begin(), all.end(), 0);
  drawers.reserve(32);
  Progress bar(o.steps, o.quiet || !ranks.root());
  double run_loss = 0, run_acc = 0;
  Stats st;
  std::uint64_t alloc0 = 0;
  const auto t0 = Clock::now();
  for (Index step = 0; step < o.steps; ++step) {
    const double done = ranks.max(progress(o, step, t0));
    if (done >= 1.0) break;
    if (step == 1) alloc0 = allocations();
    // Classes: all from one alphabet (the evaluation's within-alphabet runs) or from any.
    std::vector<Index>& pool = (!big.empty() && rng.uniform() < o.within_alphabet)
                                   ? by_alpha[static_cast<std::size_t>(big[rng.below(big.size())])]
                                   : all;
    for (Index c = 0; c < C; ++c) {  // partial Fisher-Yates: C distinct classes
      const std::size_t j = static_cast<std::size_t>(c) + rng.below(pool.size() - static_cast<std::size_t>(c));
      std::swap(pool[static_cast<std::size_t>(c)], pool[j]);
      pick[static_cast<std::size_t>(c)] = pool[static_cast<std::size_t>(c)];
    }
    for (Index c = 0; c < C; ++c) {
      const Class& k = cls[static_cast<std::size_t>(pick[static_cast<std::size_t>(c)])];
      const std::size_t nd = k.ch->images.size();
      drawers.resize(nd);
      std::iota(drawers.begin(), drawers.end(), Index{0});
      for (Index j = 0; j < S + Q; ++j) {
        const std::size_t r = static_cast<std::size_t>(j) + rng.below(nd - static_cast<std::size_t>(j));
        std::swap(drawers[static_cast<std::size_t>(j)], drawers[r]);
        const twin::data::Affine a = draw_augment(rng, o.augment, k.quarter, H);  // drawn on every rank
        const Index q = j - S - mine.begin;  // this rank's query index
        if (j >= S && (q < 0 || q >= Qr)) continue;  // another rank's query
        const Index row = j < S ? c * S + j : C * S + c * Qr + q;
        warp(k.ch->images[static_cast<std::size_t>(drawers[static_cast<std::size_t>(j)])].data(), H, H, a,
             x.data() + row * H * H);
      }
    }
    opt.set_lr(cosine_lr(o.lr, done));
    m.net.zero_grad();
    const auto e = m.net.forward_borrowing_input(x.view(), ws, Mode::train);  // (N, D)
    de.resize(e.shape());
    const auto r = loss(e.slice(0, C * S), e.slice(C * S, C * Qr), lws, de.view().slice(0, C * S),
                        de.view().slice(C * S, C * Qr));
    m.net.backward(de.view(), ws);
    ranks.reduce(weight);  // the gradient of the mean loss over all C Q queries
    opt.step(m.net.params(), m.net.grads());
    run_loss = step == 0 ? double(r.value) : 0.98 * run_loss + 0.02 * double(r.value);
    run_acc = step == 0 ? r.accuracy : 0.98 * run_acc + 0.02 * r.accuracy;
    st.images += N;
    ++st.steps;
    bar.update(step + 1, run_loss, run_acc, double(st.images) / since(t0));
  }
  bar.finish();
  st.seconds = since(t0);
  st.allocations_after_first = allocations() - alloc0;
  if (ranks.root())
    std::printf("final running loss %.4f, episode accuracy %.1f%% (%td-way%s)\n", run_loss, 100 * run_acc, C,
                ranks.size() > 1 ? ", rank 0's queries" : "");
  return st;
}

// ---- Koch et al.: same/different pairs, BCE on the head's logit ------------------------
// On N ranks each rank trains on its shard of every batch of pairs.
Stats train_koch(Model& m, const TrainOptions& o, const std::vector<Alphabet>& train, Ranks& ranks) {
  using namespace twin;
  std::vector<std::vector<Index>> by_alpha;
  const auto cls = make_classes(train, o.rotate_classes, by_alpha);
  const Index B = o.batch_pairs, H = m.tower.size;
  if (B < 2) throw error("--batch-pairs must be at least 2");
  PairHead<float>& head = *m.head;
  const mpi::ShardRange mine = mpi::shard_range(B, ranks.rank(), ranks.size());  // this rank's pairs
  const Index Br = mine.count;
  if (Br < 1) throw error(detail::concat("--batch-pairs ", B, " is fewer than the ", ranks.size(), " ranks"));
  const double weight = mpi::shard_weight(B, ranks.rank(), ranks.size());
  ranks.join(m.net);
  ranks.join(head.net());
  Adam<float> opt({.lr = o.lr}), opt_head({.lr = o.lr});
  const BCEWithLogitsLoss bce{};
  Workspace<float> ws(o.seed);
  PairHeadWorkspace<float> hws;
  LossWorkspace<float> lws;  // the loss's targets and per-pair values, reused every step
  Rng rng = Rng(o.seed).fork(12);
  Tensor<float> x(Shape{2 * Br, 1, H, H});  // (2Br, 1, H, H): left images, then right images
  Tensor<float> de, dlogit(Shape{Br, 1});   // (2Br, D), (Br, 1)
  std::vector<PairLabel> y(static_cast<std::size_t>(Br));
  Progress bar(o.steps, o.quiet || !ranks.root());
  double run_loss = 0, run_acc = 0;
  Stats st;
  std::uint64_t alloc0 = 0;
  const auto t0 = Clock::now();
  for (Index step = 0; step < o.steps; ++step) {
    const double done = ranks.max(progress(o, step, t0));
    if (done >= 1.0) break;
    if (step == 1) alloc0 = allocations();
    for (Index i = 0; i < B; ++i) {  // every rank draws all B pairs and keeps its own
      const bool same = i % 2 == 0;  // balanced: half same, half different
      const Index a = static_cast<Index>(rng.below(cls.size()));
      Index b = a;
      if (!same) {
        // Different pairs from the same alphabet (hard, like the evaluation) or from any.
        const std::vector<Index>* pool =
            rng.uniform() < o.within_alphabet ? &by_alpha[static_cast<std::size_t>(cls[static_cast<std::size_t>(a)].alphabet)]
                                              : nullptr;
        do {
          b = pool ? (*pool)[rng.below(pool->size())] : static_cast<Index>(rng.below(cls.size()));
        } while (b == a);
      }
      const Class& ka = cls[static_cast<std::size_t>(a)];
      const Class& kb = cls[static_cast<std::size_t>(b)];
      const std::size_t da = rng.below(ka.ch->images.size());
      std::size_t db = rng.below(kb.ch->images.size() - (same ? 1 : 0));
      if (same && db >= da) ++db;  // two different drawers
      const twin::data::Affine aa = draw_augment(rng, o.augment, ka.quarter, H);
      const twin::data::Affine ab = draw_augment(rng, o.augment, kb.quarter, H);
      const Index p = i - mine.begin;
      if (p < 0 || p >= Br) continue;  // another rank's pair
      warp(ka.ch->images[da].data(), H, H, aa, x.data() + p * H * H);
      warp(kb.ch->images[db].data(), H, H, ab, x.data() + (Br + p) * H * H);
      y[static_cast<std::size_t>(p)] = pair_label(same);
    }
    opt.set_lr(cosine_lr(o.lr, done));
    opt_head.set_lr(cosine_lr(o.lr, done));
    m.net.zero_grad();
    head.net().zero_grad();
    const auto e = m.net.forward_borrowing_input(x.view(), ws, Mode::train);  // (2B, D)
    const auto logit = head.forward(e.slice(0, Br), e.slice(Br, Br), hws, Mode::train);  // (Br, 1)
    const auto& l = bce(logit, std::span<const PairLabel>(y), dlogit.view(), lws);
    de.resize(e.shape());
    head.backward(dlogit.view(), hws, de.view().slice(0, Br), de.view().slice(Br, Br));
    m.net.backward(de.view(), ws);
    ranks.reduce(weight);  // tower and head: the gradient of the mean loss over all B pairs
    opt.step(m.net.params(), m.net.grads());
    opt_head.step(head.net().params(), head.net().grads());
    Index right = 0;
    for (Index i = 0; i < Br; ++i) right += (logit[i] > 0) == (y[static_cast<std::size_t>(i)] == PairLabel::same);
    const double acc = double(right) / double(Br);
    run_loss = step == 0 ? double(l.value) : 0.98 * run_loss + 0.02 * double(l.value);
    run_acc = step == 0 ? acc : 0.98 * run_acc + 0.02 * acc;
    st.images += 2 * B;
    ++st.steps;
    bar.update(step + 1, run_loss, run_acc, double(st.images) / since(t0));
  }
  bar.finish();
  st.seconds = since(t0);
  st.allocations_after_first = allocations() - alloc0;
  if (ranks.root())
    std::printf("final running loss %.4f, pair accuracy %.1f%%%s\n", run_loss, 100 * run_acc,
                ranks.size() > 1 ? " (rank 0's pairs)" : "");
  return st;
}
}  // namespace

namespace {
int train(const TrainOptions& o, Ranks& ranks) {
  const Split split = load_training(o, ranks.root());
  Model m = make_model(o.design, o.tower, o.seed);
  if (ranks.root()) std::printf("%s", m.net.summary(twin::Shape{1, 1, o.tower.size, o.tower.size}).c_str());
  if (ranks.size() > 1 && ranks.root())
    std::printf("data-parallel: %d ranks x %d threads, each on its shard of every step\n", ranks.size(),
                twin::default_threads());
  if (ranks.root() && o.design == Design::proto)
    std::printf("design proto: %td episodes of %td-way %td-shot %td-query, %.0f%% within one alphabet, rotations as "
                "classes %s, Adam lr %.1e (cosine), augment x%.2f, last %td blocks unpooled, norm scale %g, eval metric "
                "%s, %d threads, seed %llu\n",
                o.steps, o.ways, o.shots, o.queries, 100 * o.within_alphabet, o.rotate_classes ? "on" : "off", o.lr,
                o.augment, o.tower.unpooled, o.tower.norm_scale, metric_name(o.metric), twin::default_threads(),
                static_cast<unsigned long long>(o.seed));
  else if (ranks.root())
    std::printf("design koch: %td steps of %td pairs (half same), different pairs %.0f%% within one alphabet, "
                "rotations as classes %s, |e1-e2| -> Dense -> logit, BCE, Adam lr %.1e (cosine), augment x%.2f, %d "
                "threads, seed %llu\n",
                o.steps, o.batch_pairs, 100 * o.within_alphabet, o.rotate_classes ? "on" : "off", o.lr, o.augment,
                twin::default_threads(), static_cast<unsigned long long>(o.seed));
  std::fflush(stdout);
  const Stats st = o.design == Design::proto ? train_proto(m, o, split.train, ranks) : train_koch(m, o, split.train, ranks);
  ranks.check_replicas();
  if (!ranks.root()) return 0;  // rank 0 reports, saves and evaluates
  std::printf("training took %.1f s for %td steps, %.0f images/s, %llu heap allocations after the first step\n",
              st.seconds, st.steps, double(st.images) / st.seconds,
              static_cast<unsigned long long>(st.allocations_after_first));
  std::string alphabets;
  for (const auto& a : split.train) alphabets += (alphabets.empty() ? "" : ",") + a.name;
  std::string val;
  for (const auto& v : split.val) val += (val.empty() ? "" : ",") + v;
  m.meta["omniglot.train_alphabets"] = alphabets;
  m.meta["omniglot.val_alphabets"] = val;
  m.meta["omniglot.steps"] = std::to_string(st.steps);
  m.meta["omniglot.images_per_s"] = std::to_string(double(st.images) / st.seconds);
  m.meta["omniglot.seed"] = std::to_string(o.seed);
  m.meta["omniglot.metric"] = metric_name(o.metric);
  m.meta["omniglot.ways"] = std::to_string(o.ways);
  m.meta["omniglot.ranks"] = std::to_string(ranks.size());
  m.meta["omniglot.train_seconds"] = std::to_string(st.seconds);
  save_model(m, o.model);
  std::printf("model saved to %s%s\n", o.model.c_str(), m.head ? " (and its pair head to <model>.head)" : "");
  if (!o.val_runs.empty()) {
    EvalOptions e;
    e.model = o.model;
    e.runs = o.val_runs;
    e.tta = o.tta;
    e.report.clear();
    return run_eval(e);
  }
  return 0;
}
}  // namespace

int run_train(const TrainOptions& o) {
  // Missing data is found before MPI starts, so that every rank reports it (and a test can
  // skip) instead of one rank aborting the job.
  (void)find_background(o.data);
  return twin_examples::run_on_ranks([&](Ranks& ranks) { return train(o, ranks); });
}

}  // namespace omniglot
