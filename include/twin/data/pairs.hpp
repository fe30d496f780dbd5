#pragma once
// Pair and triplet generation over a labelled collection (any dataset: only the labels are
// needed; items are referred to by index). All seeded through twin::Rng; never a pair of an
// item with itself.
//
//   anchor_pairs(labels, rng)        the Keras tutorial's scheme: every item is the first
//                                    element of one `same` pair (a random other item of its
//                                    class) and one `different` pair (a random item of a
//                                    random other class): 2 N pairs, exactly balanced.
//                                    Items whose class has no other member are skipped
//                                    (both of their pairs), keeping the balance.
//   balanced_pairs(labels, n, rng)   n pairs, n/2 same (rounded up) and n/2 different, classes
//                                    drawn uniformly among those that can give a same pair
//   random_triplets(labels, n, rng)  n (anchor, positive, negative) index triplets
//
// A collection with fewer than two classes, or without any class of two or more items, is
// a twin::error (no different pairs / no same pairs could exist).
#include <algorithm>
#include <map>
#include <span>
#include <vector>

#include "twin/error.hpp"
#include "twin/rng.hpp"
#include "twin/siamese/batch.hpp"
#include "twin/siamese/pair_label.hpp"

namespace twin::data {

struct IndexPair {
  Index first = 0, second = 0;
  PairLabel label = PairLabel::different;
};

// Item indices grouped by label, in label order.
class ClassIndex {
 public:
  explicit ClassIndex(std::span<const int> labels, const char* what = "dataset") {
    if (labels.empty()) throw error(twin::detail::concat(what, ": empty (no items)"));
    std::map<int, std::vector<Index>> by;
    for (std::size_t i = 0; i < labels.size(); ++i) by[labels[i]].push_back(static_cast<Index>(i));
    if (by.size() < 2)
      throw error(twin::detail::concat(what, ": only one class (label ", by.begin()->first, ", ", labels.size(),
                                       " items); pairs and triplets need at least two classes"));
    for (auto& [label, items] : by) {
      labels_.push_back(label);
      items_.push_back(std::move(items));
    }
    for (std::size_t c = 0; c < items_.size(); ++c)
      if (items_[c].size() >= 2) multi_.push_back(c);
    if (multi_.empty())
      throw error(twin::detail::concat(what, ": every class has a single item; same pairs need a class with two"));
    class_of_.resize(labels.size());
    for (std::size_t c = 0; c < items_.size(); ++c)
      for (Index i : items_[c]) class_of_[static_cast<std::size_t>(i)] = c;
  }
  std::size_t num_classes() const { return items_.size(); }
  const std::vector<Index>& items(std::size_t c) const { return items_[c]; }
  int label(std::size_t c) const { return labels_[c]; }
  std::size_t class_of(Index item) const { return class_of_[static_cast<std::size_t>(item)]; }
  // Classes with at least two items (those that can give a same pair).
  const std::vector<std::size_t>& multi() const { return multi_; }

  // A random item of class c other than `not_this`; the class must have another item.
  Index other_in_class(std::size_t c, Index not_this, Rng& rng) const {
    const auto& v = items_[c];
    const auto pos = std::find(v.begin(), v.end(), not_this);
    if (pos == v.end()) return v[rng.below(v.size())];
    // Draw among the size - 1 others by skipping not_this's slot.
    std::size_t k = rng.below(v.size() - 1);
    if (k >= static_cast<std::size_t>(pos - v.begin())) ++k;
    return v[k];
  }
  // A random class other than c.
  std::size_t other_class(std::size_t c, Rng& rng) const {
    std::size_t k = rng.below(items_.size() - 1);
    return k >= c ? k + 1 : k;
  }
  Index random_item(std::size_t c, Rng& rng) const { return items_[c][rng.below(items_[c].size())]; }

 private:
  std::vector<int> labels_;
  std::vector<std::vector<Index>> items_;
  std::vector<std::size_t> multi_;
  std::vector<std::size_t> class_of_;
};

inline std::vector<IndexPair> anchor_pairs(std::span<const int> labels, Rng& rng) {
  const ClassIndex ci(labels, "anchor_pairs");
  std::vector<IndexPair> out;
  out.reserve(2 * labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const auto a = static_cast<Index>(i);
    const std::size_t c = ci.class_of(a);
    if (ci.items(c).size() < 2) continue;
    out.push_back({a, ci.other_in_class(c, a, rng), PairLabel::same});
    out.push_back({a, ci.random_item(ci.other_class(c, rng), rng), PairLabel::different});
  }
  return out;
}

inline std::vector<IndexPair> balanced_pairs(std::span<const int> labels, Index n, Rng& rng) {
  const ClassIndex ci(labels, "balanced_pairs");
  std::vector<IndexPair> out;
  out.reserve(static_cast<std::size_t>(n));
  for (Index k = 0; k < n; ++k) {
    if (k % 2 == 0) {
      const std::size_t c = ci.multi()[rng.below(ci.multi().size())];
      const Index a = ci.random_item(c, rng);
      out.push_back({a, ci.other_in_class(c, a, rng), PairLabel::same});
    } else {
      const std::size_t c = rng.below(ci.num_classes());
      out.push_back({ci.random_item(c, rng), ci.random_item(ci.other_class(c, rng), rng), PairLabel::different});
    }
  }
  return out;
}

inline std::vector<Triplet> random_triplets(std::span<const int> labels, Index n, Rng& rng) {
  const ClassIndex ci(labels, "random_triplets");
  std::vector<Triplet> out;
  out.reserve(static_cast<std::size_t>(n));
  for (Index k = 0; k < n; ++k) {
    const std::size_t c = ci.multi()[rng.below(ci.multi().size())];
    const Index a = ci.random_item(c, rng);
    out.push_back({a, ci.other_in_class(c, a, rng), ci.random_item(ci.other_class(c, rng), rng)});
  }
  return out;
}

}  // namespace twin::data
