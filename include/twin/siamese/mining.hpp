#pragma once
// Online triplet mining from one batch of (embeddings, labels). A miner only chooses
// Triplet indices; TripletMarginLoss (triplet_margin_loss.hpp) computes the loss and its
// gradient for them, on the same Distance:
//
//   const twin::TripletMarginLoss loss{.margin = 0.2};
//   auto triplets = twin::SemiHardMiner{.margin = 0.2}(emb, labels);
//   auto r = loss(emb, triplets, d_emb);
//
//   AllTripletsMiner   every (a, p, n) with label[a] == label[p], a != p, label[n] != label[a]
//   BatchHardMiner     per anchor (Hermans et al. 2017): the farthest positive and the
//                      closest negative; anchors lacking either are skipped
//   SemiHardMiner      per positive pair (a, p) (FaceNet, Schroff et al. 2015): the closest
//                      negative farther than the positive, 0 < farther_by(d_an, d_ap) < margin;
//                      when there is none, the hardest (closest) negative. (TensorFlow Addons'
//                      triplet_semihard_loss falls back to the farthest negative instead.)
//
// `.distance` is any Distance (distance.hpp; default Euclidean); "far" and "close" follow its
// inversion, so a similarity mines the same triplets as the matching distance would. The
// (N, N) matrix comes from Distance::matrix (one GEMM for Euclidean, cosine and dot).
// Ties are broken by the lowest index, so results are deterministic. A batch with no valid
// triplet (one class, or every class a singleton) gives an empty list.
//
// NaN: a miner never mines on NaN. A non-finite embedding (or a distance that overflows to
// NaN) throws numeric_error naming the miner and the row: every comparison with NaN is false,
// so mining on it would return arbitrary triplets and hide the fault the loss is about to report.
//
// Each miner has two forms: miner(emb, labels) returns a fresh vector; miner(emb, labels, ws)
// fills the caller's MinerWorkspace<T> (the distance matrix and the triplet list, grow-only) and
// returns a span into it, valid until the next call with ws: nothing is allocated after the
// first call of a training loop.
#include <cmath>
#include <span>
#include <vector>

#include "twin/siamese/batch.hpp"
#include "twin/siamese/distance.hpp"
#include "twin/siamese/view_arg.hpp"

namespace twin {

template <class T>
struct MinerWorkspace {
  Tensor<T, 2> distances;         // (N, N) of the last call
  std::vector<Triplet> triplets;  // what the last call returned
  WorkBuffers gemm;               // the distance GEMM's packing buffers
};

namespace detail {
template <class T>
void check_labels(TensorView<const T> emb, std::span<const int> labels, const char* what) {
  if (emb.rank() != 2 || emb.dim(0) != static_cast<Index>(labels.size()))
    throw shape_error(detail::concat(what, ": expected embeddings (N, D) with N = ", labels.size(), " labels, got ",
                                     emb.shape().str()));
}
// Throws numeric_error at the first non-finite embedding entry.
template <class T>
void check_finite_rows(TensorView<const T> emb, const char* what) {
  const Index N = emb.dim(0), D = emb.dim(1);
  for (Index i = 0; i < N; ++i)
    for (Index k = 0; k < D; ++k)
      if (!std::isfinite(emb(i, k)))
        throw numeric_error(detail::concat(what, ": embedding row ", i, " holds ", emb(i, k), " at column ", k,
                                           "; mining needs finite embeddings"));
}
// The checked (N, N) matrix of emb against itself, in ws.distances.
template <class T>
TensorView<const T> mining_distances(const Distance& dist, TensorView<const T> emb, std::span<const int> labels,
                                     MinerWorkspace<T>& ws, const char* what) {
  check_labels(emb, labels, what);
  check_finite_rows(emb, what);
  const Index N = emb.dim(0);
  ws.distances.resize(Shape{N, N});
  dist.matrix<T>(emb, emb, ws.distances.view(), &ws.gemm);
  for (Index i = 0; i < N; ++i)
    for (Index j = 0; j < N; ++j)
      if (std::isnan(ws.distances(i, j)))
        throw numeric_error(detail::concat(what, ": ", dist.name(), " between rows ", i, " and ", j,
                                           " is NaN (finite embeddings too large?)"));
  return ws.distances.view();
}
}  // namespace detail

struct AllTripletsMiner {
  std::vector<Triplet> operator()(std::span<const int> labels) const {
    std::vector<Triplet> out;
    fill(labels, out);
    return out;
  }
  // The embeddings only fix N and are checked like the other miners' (finite, N labels).
  template <ViewLike V, class T = view_value_t<V>>
  std::vector<Triplet> operator()(const V& emb, std::span<const int> labels) const {
    detail::check_labels(cview(emb), labels, "AllTripletsMiner");
    detail::check_finite_rows(cview(emb), "AllTripletsMiner");
    return (*this)(labels);
  }
  template <ViewLike V, class T = view_value_t<V>>
  std::span<const Triplet> operator()(const V& emb, std::span<const int> labels, MinerWorkspace<T>& ws) const {
    detail::check_labels(cview(emb), labels, "AllTripletsMiner");
    detail::check_finite_rows(cview(emb), "AllTripletsMiner");
    fill(labels, ws.triplets);
    return ws.triplets;
  }

 private:
  static void fill(std::span<const int> labels, std::vector<Triplet>& out) {
    out.clear();
    const auto N = static_cast<Index>(labels.size());
    for (Index a = 0; a < N; ++a)
      for (Index p = 0; p < N; ++p) {
        if (p == a || labels[static_cast<std::size_t>(p)] != labels[static_cast<std::size_t>(a)]) continue;
        for (Index n = 0; n < N; ++n)
          if (labels[static_cast<std::size_t>(n)] != labels[static_cast<std::size_t>(a)]) out.push_back({a, p, n});
      }
  }
};

struct BatchHardMiner {
  Distance distance{};

  template <ViewLike V, class T = view_value_t<V>>
  std::span<const Triplet> operator()(const V& emb, std::span<const int> labels, MinerWorkspace<T>& ws) const {
    const TensorView<const T> d = detail::mining_distances(distance, cview(emb), labels, ws, "BatchHardMiner");
    const Index N = d.dim(0);
    ws.triplets.clear();
    for (Index a = 0; a < N; ++a) {
      Index hp = -1, hn = -1;
      for (Index j = 0; j < N; ++j) {
        if (j == a) continue;
        if (labels[static_cast<std::size_t>(j)] == labels[static_cast<std::size_t>(a)]) {
          if (hp < 0 || distance.closer(d(a, hp), d(a, j))) hp = j;  // farther positive
        } else if (hn < 0 || distance.closer(d(a, j), d(a, hn))) {
          hn = j;
        }
      }
      if (hp >= 0 && hn >= 0) ws.triplets.push_back({a, hp, hn});
    }
    return ws.triplets;
  }
  template <ViewLike V, class T = view_value_t<V>>
  std::vector<Triplet> operator()(const V& emb, std::span<const int> labels) const {
    MinerWorkspace<T> ws;
    (*this)(emb, labels, ws);
    return std::move(ws.triplets);
  }
};

struct SemiHardMiner {
  double margin = 1.0;  // the loss's margin, in the distance's units
  Distance distance{};

  template <ViewLike V, class T = view_value_t<V>>
  std::span<const Triplet> operator()(const V& emb, std::span<const int> labels, MinerWorkspace<T>& ws) const {
    const TensorView<const T> d = detail::mining_distances(distance, cview(emb), labels, ws, "SemiHardMiner");
    const Index N = d.dim(0);
    const T m = static_cast<T>(margin);
    ws.triplets.clear();
    for (Index a = 0; a < N; ++a)
      for (Index p = 0; p < N; ++p) {
        if (p == a || labels[static_cast<std::size_t>(p)] != labels[static_cast<std::size_t>(a)]) continue;
        const T dap = d(a, p);
        Index semi = -1, hardest = -1;
        for (Index n = 0; n < N; ++n) {
          if (labels[static_cast<std::size_t>(n)] == labels[static_cast<std::size_t>(a)]) continue;
          const T dan = d(a, n);
          if (hardest < 0 || distance.closer(dan, d(a, hardest))) hardest = n;
          const T beyond = distance.farther_by(dan, dap);
          if (beyond > T(0) && beyond < m && (semi < 0 || distance.closer(dan, d(a, semi)))) semi = n;
        }
        if (hardest < 0) continue;  // no negative in the batch
        ws.triplets.push_back({a, p, semi >= 0 ? semi : hardest});
      }
    return ws.triplets;
  }
  template <ViewLike V, class T = view_value_t<V>>
  std::vector<Triplet> operator()(const V& emb, std::span<const int> labels) const {
    MinerWorkspace<T> ws;
    (*this)(emb, labels, ws);
    return std::move(ws.triplets);
  }
};

}  // namespace twin
