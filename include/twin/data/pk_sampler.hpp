#pragma once
// P-classes x K-samples batch sampler (Hermans et al. 2017, "In defense of the triplet
// loss"): each batch holds K items of each of P distinct classes, so every anchor has K - 1
// positives and (P - 1) K negatives for online mining (twin/siamese/mining.hpp).
//
//   twin::data::PKSampler sampler(labels, {.p = 8, .k = 4, .seed = 1});
//   for (const auto& batch : sampler.epoch()) ...   // batch: P K item indices, class-major
//   for (const auto& batch : sampler.steps(1000)) ... // exactly 1000 batches
//
// Within an epoch the classes are shuffled and visited P at a time; each class gives K
// distinct items when it has that many, else K draws with repetition (a class needs 2
// items to give a positive). Seeded: the same seed and epoch number give the same batches.
//
// An epoch is floor(classes / P) batches, which is few when there are few classes (7
// classes and P = 7: one batch). A training loop counted in steps takes steps(n): epochs
// 0, 1, 2, ... back to back, cut at n batches, so `steps(n)` is the first n batches of
// one endless, reshuffled stream and steps(n, first) continues it from batch `first`.
#include <algorithm>
#include <span>
#include <vector>

#include "twin/data/pairs.hpp"

namespace twin::data {

struct PKOptions {
  Index p = 8;
  Index k = 4;
  std::uint64_t seed = 0;
};

class PKSampler {
 public:
  PKSampler(std::span<const int> labels, PKOptions o) : ci_(labels, "PKSampler"), o_(o) {
    if (o.p < 2 || o.k < 2)
      throw error(twin::detail::concat("PKSampler: need p >= 2 classes and k >= 2 samples per batch, got p=", o.p,
                                       " k=", o.k));
    if (static_cast<std::size_t>(o.p) > ci_.multi().size())
      throw error(twin::detail::concat("PKSampler: p=", o.p, " classes per batch but only ", ci_.multi().size(),
                                       " classes have two or more items"));
  }
  Index batch_size() const { return o_.p * o_.k; }
  Index batches_per_epoch() const { return static_cast<Index>(ci_.multi().size()) / o_.p; }
  // Batches of one epoch: floor(classes / P) of them, each P K indices, class-major.
  std::vector<std::vector<Index>> epoch(std::uint64_t epoch_index = 0) const {
    Rng rng = Rng(o_.seed).fork(epoch_index);
    std::vector<std::size_t> classes = ci_.multi();
    rng.shuffle(std::span<std::size_t>(classes));
    std::vector<std::vector<Index>> out;
    for (std::size_t b = 0; b + static_cast<std::size_t>(o_.p) <= classes.size(); b += static_cast<std::size_t>(o_.p)) {
      std::vector<Index> batch;
      batch.reserve(static_cast<std::size_t>(batch_size()));
      for (Index j = 0; j < o_.p; ++j) {
        std::vector<Index> items = ci_.items(classes[b + static_cast<std::size_t>(j)]);
        if (static_cast<Index>(items.size()) >= o_.k) {
          rng.shuffle(std::span<Index>(items));
          batch.insert(batch.end(), items.begin(), items.begin() + o_.k);
        } else {
          for (Index t = 0; t < o_.k; ++t) batch.push_back(items[rng.below(items.size())]);
        }
      }
      out.push_back(std::move(batch));
    }
    return out;
  }

  // Batches first, first + 1, ..., first + n - 1 of the stream of epochs 0, 1, 2, ...
  std::vector<std::vector<Index>> steps(Index n, Index first = 0) const {
    if (n < 0 || first < 0)
      throw error(twin::detail::concat("PKSampler::steps: n and first must be >= 0, got n=", n, " first=", first));
    const Index per = batches_per_epoch();
    std::vector<std::vector<Index>> out;
    out.reserve(static_cast<std::size_t>(n));
    for (Index e = first / per; static_cast<Index>(out.size()) < n; ++e) {
      auto batches = epoch(static_cast<std::uint64_t>(e));
      for (Index b = e == first / per ? first % per : 0; b < per && static_cast<Index>(out.size()) < n; ++b)
        out.push_back(std::move(batches[static_cast<std::size_t>(b)]));
    }
    return out;
  }

 private:
  ClassIndex ci_;
  PKOptions o_;
};

}  // namespace twin::data
