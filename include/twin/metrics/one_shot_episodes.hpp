#pragma once
// k-way one-shot episodes drawn from class labels, and their scoring by embedding distance
// (the protocol of Koch et al. 2015 on held-out classes).
//
//   auto episodes = twin::metrics::one_shot_episodes(labels, {.ways = 5, .episodes = 2000, .seed = 1});
//   auto d = twin::pairwise_distances(emb.view());                          // (N, N)
//   double acc = twin::metrics::one_shot_accuracy_distance(episodes, d.view());
//
// An episode draws the truth class (uniformly among the classes with two or more items)
// and two different items of it, the query and its reference; then k - 1 other distinct
// classes, one random item each. The reference sits at a uniform position (`correct`)
// among the k candidates. Seeded: the same labels and options give the same episodes on any machine, so two
// models (or a model and a baseline) can face the same episodes.
#include <algorithm>
#include <cstdint>
#include <map>
#include <span>
#include <type_traits>
#include <vector>

#include "twin/error.hpp"
#include "twin/metrics/one_shot.hpp"
#include "twin/rng.hpp"
#include "twin/tensor.hpp"

namespace twin::metrics {

struct OneShotOptions {
  Index ways = 5;           // k: candidates per episode, one per class
  Index episodes = 1000;
  std::uint64_t seed = 0;
};

struct OneShotEpisode {
  Index query = 0;               // item index into the labels
  std::vector<Index> candidates;  // k item indices, one per class
  std::size_t correct = 0;        // position in candidates of the query's class
};

inline std::vector<OneShotEpisode> one_shot_episodes(std::span<const int> labels, OneShotOptions o) {
  std::map<int, std::vector<Index>> by_class;
  for (std::size_t i = 0; i < labels.size(); ++i) by_class[labels[i]].push_back(static_cast<Index>(i));
  std::vector<const std::vector<Index>*> classes, pairable;
  for (const auto& kv : by_class) {
    classes.push_back(&kv.second);
    if (kv.second.size() >= 2) pairable.push_back(&kv.second);
  }
  if (o.ways < 2 || static_cast<std::size_t>(o.ways) > classes.size())
    throw error(twin::detail::concat("one_shot_episodes: ", o.ways, "-way episodes need between 2 and ",
                                     classes.size(), " ways (the number of classes)"));
  if (pairable.empty()) throw error("one_shot_episodes: no class has two items (a query and its reference)");
  if (o.episodes < 1) throw error(twin::detail::concat("one_shot_episodes: episodes must be >= 1, got ", o.episodes));
  Rng rng(o.seed);
  const auto k = static_cast<std::size_t>(o.ways);
  std::vector<OneShotEpisode> out(static_cast<std::size_t>(o.episodes));
  std::vector<const std::vector<Index>*> others;
  for (auto& e : out) {
    const auto* truth = pairable[rng.below(pairable.size())];
    // k - 1 other classes: a partial Fisher-Yates shuffle of every class but the truth.
    others.clear();
    for (const auto* c : classes)
      if (c != truth) others.push_back(c);
    for (std::size_t i = 0; i + 1 < k; ++i) std::swap(others[i], others[i + rng.below(others.size() - i)]);
    e.correct = rng.below(k);
    const std::size_t q = rng.below(truth->size());
    std::size_t ref = rng.below(truth->size() - 1);
    if (ref >= q) ++ref;
    e.query = (*truth)[q];
    e.candidates.resize(k);
    for (std::size_t c = 0, next_other = 0; c < k; ++c) {
      if (c == e.correct) {
        e.candidates[c] = (*truth)[ref];
      } else {
        const auto& items = *others[next_other++];
        e.candidates[c] = items[rng.below(items.size())];
      }
    }
  }
  return out;
}

// Trials scored by -distance(query, candidate); `distance(i, j)` is any callable on item
// indices (lower = more similar).
template <class F>
  requires std::is_invocable_r_v<double, F, Index, Index>
std::vector<OneShotTrial> one_shot_trials(std::span<const OneShotEpisode> episodes, F&& distance) {
  std::vector<OneShotTrial> trials(episodes.size());
  for (std::size_t e = 0; e < episodes.size(); ++e) {
    trials[e].correct = episodes[e].correct;
    for (Index c : episodes[e].candidates) trials[e].scores.push_back(-distance(episodes[e].query, c));
  }
  return trials;
}

// From a distance matrix d (N, N) over the items the labels describe.
template <class T, int R>
double one_shot_accuracy_distance(std::span<const OneShotEpisode> episodes, TensorView<T, R> d) {
  if (d.rank() != 2 || d.dim(0) != d.dim(1))
    throw shape_error(twin::detail::concat("one_shot_accuracy_distance: expected a square (N, N) distance matrix, got ",
                                           d.shape().str()));
  for (const auto& e : episodes) {
    bool ok = e.query >= 0 && e.query < d.dim(0);
    for (Index c : e.candidates) ok = ok && c >= 0 && c < d.dim(0);
    if (!ok)
      throw shape_error(twin::detail::concat("one_shot_accuracy_distance: an episode names an item outside the ",
                                             d.dim(0), " x ", d.dim(0), " distance matrix"));
  }
  return one_shot_accuracy(one_shot_trials(episodes, [&](Index i, Index j) { return static_cast<double>(d(i, j)); }));
}

}  // namespace twin::metrics
