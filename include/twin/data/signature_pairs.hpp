#pragma once
// Pairs of signatures (twin/data/signature_dataset.hpp): the fixed evaluation lists and the
// training sampler.
//
// Kinds: genuine (two genuine signatures of one writer: label same), skilled (a genuine
// signature and a skilled forgery of it: different), random (genuine signatures of two
// writers: different; "random forgery" in the literature).
//
//   const auto test_pairs = twin::data::evaluation_pairs(test, 276, /*seed=*/1);
//   twin::data::SignaturePairSampler sampler(train, /*skilled_fraction=*/0.5);
//   const auto p = sampler.draw(rng);   // p.a, p.b index train.files
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "twin/data/signature_dataset.hpp"
#include "twin/error.hpp"
#include "twin/rng.hpp"

namespace twin::data {

enum class PairKind { genuine, skilled, random };

inline const char* kind_name(PairKind k) {
  switch (k) {
    case PairKind::genuine: return "genuine";
    case PairKind::skilled: return "skilled forgery";
    case PairKind::random: return "random forgery";
  }
  return "?";
}

struct SignaturePair {
  int a = 0, b = 0;  // indices into SignatureDataset::files
  PairKind kind = PairKind::genuine;
  bool same() const { return kind == PairKind::genuine; }
};

// All genuine-genuine pairs of each writer, all genuine x skilled-forgery pairs, and
// `random_per_writer` genuine pairs with other writers' genuine signatures (seeded).
inline std::vector<SignaturePair> evaluation_pairs(const SignatureDataset& d, int random_per_writer, std::uint64_t seed) {
  std::vector<SignaturePair> out;
  Rng rng(seed);
  for (const auto& w : d.writers) {
    const auto& g = d.genuine.at(w);
    for (std::size_t i = 0; i < g.size(); ++i)
      for (std::size_t j = i + 1; j < g.size(); ++j) out.push_back({g[i], g[j], PairKind::genuine});
    if (auto f = d.forged.find(w); f != d.forged.end())
      for (int a : g)
        for (int b : f->second) out.push_back({a, b, PairKind::skilled});
    if (d.writers.size() < 2) continue;
    for (int k = 0; k < random_per_writer; ++k) {
      std::string other;
      do other = d.writers[rng.below(d.writers.size())];
      while (other == w);
      const auto& og = d.genuine.at(other);
      out.push_back({g[rng.below(g.size())], og[rng.below(og.size())], PairKind::random});
    }
  }
  return out;
}

// Draws training pairs: half genuine pairs; of the others, `skilled_fraction` skilled
// forgeries and the rest random forgeries (writers without forgeries give random forgeries).
class SignaturePairSampler {
 public:
  explicit SignaturePairSampler(const SignatureDataset& d, double skilled_fraction = 0.5)
      : d_(&d), writers_(d.writers), skilled_fraction_(skilled_fraction) {
    if (writers_.size() < 2) throw error("training needs at least 2 writers, got " + std::to_string(writers_.size()));
    for (const auto& w : writers_)
      if (d.genuine.at(w).size() < 2)
        throw error("writer '" + w + "' has fewer than 2 genuine signatures: no genuine pair can be made");
  }

  SignaturePair draw(Rng& rng) const {
    const std::size_t wi = rng.below(writers_.size());
    const std::string& w = writers_[wi];
    const auto& g = d_->genuine.at(w);
    const int a = g[rng.below(g.size())];
    if (rng.bernoulli(0.5)) {
      int b = a;
      while (b == a) b = g[rng.below(g.size())];
      return {a, b, PairKind::genuine};
    }
    const auto f = d_->forged.find(w);
    if (f != d_->forged.end() && !f->second.empty() && rng.bernoulli(skilled_fraction_))
      return {a, f->second[rng.below(f->second.size())], PairKind::skilled};
    std::string other = w;
    // (No draw at all when hard negatives are off: runs without them stay bit-identical.)
    if (hard_share_ > 0 && !nearest_[wi].empty() && rng.bernoulli(hard_share_))
      other = writers_[static_cast<std::size_t>(nearest_[wi][rng.below(nearest_[wi].size())])];
    while (other == w) other = writers_[rng.below(writers_.size())];
    const auto& og = d_->genuine.at(other);
    return {a, og[rng.below(og.size())], PairKind::random};
  }

  // Hard random forgeries: with probability `share`, a random-forgery pair takes its other
  // writer from `nearest[w]` (indices into writers(), e.g. the writers whose mean embedding
  // is closest to writer w's) instead of from all writers.
  void set_nearest(std::vector<std::vector<int>> nearest, double share) {
    if (nearest.size() != writers_.size())
      throw error("SignaturePairSampler::set_nearest: " + std::to_string(nearest.size()) + " lists for " +
                  std::to_string(writers_.size()) + " writers");
    nearest_ = std::move(nearest);
    hard_share_ = share;
  }
  const std::vector<std::string>& writers() const { return writers_; }

 private:
  const SignatureDataset* d_;
  std::vector<std::string> writers_;
  double skilled_fraction_;
  std::vector<std::vector<int>> nearest_;
  double hard_share_ = 0;
};

// A batch for online mining (Hermans et al. 2017's P x K, with each writer's skilled
// forgeries as in-batch hard negatives): `writers` distinct writers, and of each `genuine`
// distinct genuine signatures and up to `forged` distinct forgeries (fewer when the writer
// has fewer). files index SignatureDataset::files; labels[i] is the writer's position in the
// batch (0 .. writers-1) for a genuine signature and -1 - i for a forgery, so a forgery is
// never anyone's positive, and the genuine signatures of one writer are each other's.
// Writer-major: writer 0's genuine, then its forgeries, then writer 1's, ...
struct WriterBatch {
  std::vector<int> files;
  std::vector<int> labels;
};

namespace detail {
// k distinct items of v (all of them when k >= v.size()), in a random order.
inline std::vector<int> draw_distinct(const std::vector<int>& v, std::size_t k, Rng& rng) {
  std::vector<int> pool = v;
  k = std::min(k, pool.size());
  for (std::size_t i = 0; i < k; ++i) std::swap(pool[i], pool[i + rng.below(pool.size() - i)]);
  pool.resize(k);
  return pool;
}
}  // namespace detail

inline WriterBatch draw_writer_batch(const SignatureDataset& d, int writers, int genuine, int forged, Rng& rng) {
  if (writers < 2 || genuine < 2 || forged < 0)
    throw error(twin::detail::concat("draw_writer_batch: need 2 or more writers and genuine signatures per writer, got ",
                               writers, " writers x ", genuine, " genuine (", forged, " forged)"));
  if (static_cast<std::size_t>(writers) > d.writers.size())
    throw error(twin::detail::concat("draw_writer_batch: ", writers, " writers per batch but the data hold ", d.writers.size()));
  std::vector<int> all(d.writers.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  WriterBatch b;
  const auto chosen = detail::draw_distinct(all, static_cast<std::size_t>(writers), rng);
  for (std::size_t k = 0; k < chosen.size(); ++k) {
    const std::string& w = d.writers[static_cast<std::size_t>(chosen[k])];
    const auto& g = d.genuine.at(w);
    if (g.size() < 2) throw error("draw_writer_batch: writer '" + w + "' has fewer than 2 genuine signatures");
    for (int f : detail::draw_distinct(g, static_cast<std::size_t>(genuine), rng))
      b.files.push_back(f), b.labels.push_back(static_cast<int>(k));
    if (auto f = d.forged.find(w); f != d.forged.end() && forged > 0)
      for (int x : detail::draw_distinct(f->second, static_cast<std::size_t>(forged), rng))
        b.files.push_back(x), b.labels.push_back(-1 - static_cast<int>(b.labels.size()));
  }
  return b;
}

}  // namespace twin::data
