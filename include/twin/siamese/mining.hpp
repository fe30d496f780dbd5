#pragma once
// Online triplet mining from one batch of (embeddings, labels). A miner only chooses
// Triplet indices; TripletMarginLoss (triplet_margin_loss.hpp) computes the loss and its
// gradient for them:
//
//   auto triplets = twin::BatchHardMiner{}(emb, labels);
//   auto r = twin::TripletMarginLoss{.margin = 0.2}(emb, triplets, d_emb);
//
//   AllTripletsMiner   every (a, p, n) with label[a] == label[p], a != p, label[n] != label[a]
//   BatchHardMiner     per anchor (Hermans et al. 2017): the farthest positive and the
//                      nearest negative; anchors lacking either are skipped
//   SemiHardMiner      per positive pair (a, p) (FaceNet, Schroff et al. 2015): the nearest
//                      negative farther than the positive, d_ap < d_an < d_ap + margin; when
//                      there is none, the hardest (nearest) negative. (TensorFlow Addons'
//                      triplet_semihard_loss falls back to the farthest negative instead.)
//
// Distances are Euclidean (or squared, `.squared = true`) from the GEMM kernel in
// pairwise_distance.hpp. Ties are broken by the lowest index, so results are deterministic.
// A batch with no valid triplet (one class, or every class a singleton) gives an empty list.
#include <span>
#include <vector>

#include "twin/siamese/batch.hpp"
#include "twin/siamese/pairwise_distance.hpp"
#include "twin/siamese/view_arg.hpp"

namespace twin {

namespace detail {
template <class T>
void check_labels(TensorView<const T> emb, std::span<const int> labels, const char* what) {
  if (emb.rank() != 2 || emb.dim(0) != static_cast<Index>(labels.size()))
    throw shape_error(detail::concat(what, ": expected embeddings (N, D) with N = ", labels.size(), " labels, got ",
                                     emb.shape().str()));
}
}  // namespace detail

struct AllTripletsMiner {
  std::vector<Triplet> operator()(std::span<const int> labels) const {
    std::vector<Triplet> out;
    const auto N = static_cast<Index>(labels.size());
    for (Index a = 0; a < N; ++a)
      for (Index p = 0; p < N; ++p) {
        if (p == a || labels[static_cast<std::size_t>(p)] != labels[static_cast<std::size_t>(a)]) continue;
        for (Index n = 0; n < N; ++n)
          if (labels[static_cast<std::size_t>(n)] != labels[static_cast<std::size_t>(a)]) out.push_back({a, p, n});
      }
    return out;
  }
  template <ViewLike V>
  std::vector<Triplet> operator()(const V& emb, std::span<const int> labels) const {
    detail::check_labels(cview(emb), labels, "AllTripletsMiner");
    return (*this)(labels);
  }
};

struct BatchHardMiner {
  bool squared = false;
  template <ViewLike V, class T = view_value_t<V>>
  std::vector<Triplet> operator()(const V& emb_in, std::span<const int> labels) const {
    const TensorView<const T> emb = cview(emb_in);
    detail::check_labels(emb, labels, "BatchHardMiner");
    const auto dist = pairwise_distances(emb, squared);
    const Index N = emb.dim(0);
    std::vector<Triplet> out;
    for (Index a = 0; a < N; ++a) {
      Index hp = -1, hn = -1;
      for (Index j = 0; j < N; ++j) {
        if (j == a) continue;
        if (labels[static_cast<std::size_t>(j)] == labels[static_cast<std::size_t>(a)]) {
          if (hp < 0 || dist(a, j) > dist(a, hp)) hp = j;
        } else if (hn < 0 || dist(a, j) < dist(a, hn)) {
          hn = j;
        }
      }
      if (hp >= 0 && hn >= 0) out.push_back({a, hp, hn});
    }
    return out;
  }
};

struct SemiHardMiner {
  double margin = 1.0;
  bool squared = false;
  template <ViewLike V, class T = view_value_t<V>>
  std::vector<Triplet> operator()(const V& emb_in, std::span<const int> labels) const {
    const TensorView<const T> emb = cview(emb_in);
    detail::check_labels(emb, labels, "SemiHardMiner");
    const auto dist = pairwise_distances(emb, squared);
    const Index N = emb.dim(0);
    const T m = static_cast<T>(margin);
    std::vector<Triplet> out;
    for (Index a = 0; a < N; ++a)
      for (Index p = 0; p < N; ++p) {
        if (p == a || labels[static_cast<std::size_t>(p)] != labels[static_cast<std::size_t>(a)]) continue;
        const T dap = dist(a, p);
        Index semi = -1, hardest = -1;
        for (Index n = 0; n < N; ++n) {
          if (labels[static_cast<std::size_t>(n)] == labels[static_cast<std::size_t>(a)]) continue;
          const T dan = dist(a, n);
          if (hardest < 0 || dan < dist(a, hardest)) hardest = n;
          if (dan > dap && dan < dap + m && (semi < 0 || dan < dist(a, semi))) semi = n;
        }
        if (hardest < 0) continue;  // no negative in the batch
        out.push_back({a, p, semi >= 0 ? semi : hardest});
      }
    return out;
  }
};

}  // namespace twin
