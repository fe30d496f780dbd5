#pragma once
// PrototypicalLoss: the episodic metric loss of Snell, Swersky, Zemel 2017 ("Prototypical
// Networks for Few-shot Learning").
//
// One episode has C classes ("ways"), S support and Q query embeddings per class, laid out
// class-major: support row c S + s is shot s of class c, query row c Q + q is query q of
// class c.
//
//   support (C S, D), query (C Q, D)
//   p_c      = (1 / S) sum_s support[c S + s]               prototype of class c   (C, D)
//   z_{i,c}  = -|| query_i - p_c ||^2                       logits                 (C Q, C)
//   l        = (1 / (C Q)) sum_i [ logsumexp_c z_{i,c} - z_{i,y_i} ],   y_i = i / Q
//   g_{i,c}  = dl/dz_{i,c} = (softmax_c z_{i,c} - [c == y_i]) / (C Q)
//   dquery_i = sum_c g_{i,c} (-2) (query_i - p_c)
//   dp_c     = sum_i g_{i,c} ( 2) (query_i - p_c),      dsupport[c S + s] = dp_c / S
//
// Squared Euclidean, as in the paper: it makes the classifier linear in the query (a
// Bregman divergence), which the paper found better than cosine. With S = 1 the prototypes
// are the support embeddings themselves: one-shot nearest neighbour, trained end to end.
//
// Both gradients are ASSIGNED (every element written) when their view is non-empty. The
// workspace keeps the prototypes and logits between calls and only grows, so a training
// loop with a fixed episode shape allocates nothing after its first call.
#include <algorithm>
#include <cmath>

#include "twin/error.hpp"
#include "twin/siamese/view_arg.hpp"
#include "twin/tensor.hpp"

namespace twin {

template <class T>
struct PrototypicalWorkspace {
  Tensor<T> prototypes;  // (C, D)
  Tensor<T> prob;        // (C Q, C): softmax of the logits, then g
  Tensor<T> dproto;      // (C, D)
};

template <class T>
struct PrototypicalResult {
  T value = T(0);         // mean cross-entropy over the queries
  double accuracy = 0.0;  // share of queries whose nearest prototype is their own class
};

struct PrototypicalLoss {
  Index ways = 0;  // C; support and query rows must be multiples of it

  // support, query: a Tensor or a view (see view_arg.hpp).
  template <ViewLike VS, ViewLike VQ, class T = view_value_t<VS>>
  PrototypicalResult<T> operator()(const VS& support_in, const VQ& query_in, PrototypicalWorkspace<T>& ws,
                                   TensorView<T> dsupport = {}, TensorView<T> dquery = {}) const {
    const TensorView<const T> support = cview(support_in);
    const TensorView<const T> query = cview(query_in);
    const Index C = ways;
    if (C < 2) throw shape_error(detail::concat("PrototypicalLoss: ways must be at least 2, got ", C));
    if (support.rank() != 2 || query.rank() != 2 || support.dim(1) != query.dim(1))
      throw shape_error("PrototypicalLoss: support (C S, D) and query (C Q, D) must be 2-d with one D, got " +
                        support.shape().str() + " and " + query.shape().str());
    if (support.dim(0) % C != 0 || query.dim(0) % C != 0 || support.dim(0) == 0 || query.dim(0) == 0)
      throw shape_error(detail::concat("PrototypicalLoss: ", support.dim(0), " support and ", query.dim(0),
                                       " query rows are not positive multiples of ", C, " ways"));
    if (dsupport.data()) require_shape(dsupport.shape(), support.shape(), "PrototypicalLoss: dsupport");
    if (dquery.data()) require_shape(dquery.shape(), query.shape(), "PrototypicalLoss: dquery");
    const Index D = support.dim(1), S = support.dim(0) / C, Q = query.dim(0) / C, N = C * Q;

    ws.prototypes.resize(Shape{C, D});
    ws.prob.resize(Shape{N, C});
    T* proto = ws.prototypes.data();
    for (Index c = 0; c < C; ++c) {
      T* p = proto + c * D;
      std::fill(p, p + D, T(0));
      for (Index s = 0; s < S; ++s) {
        const T* x = support.data() + (c * S + s) * D;
        for (Index k = 0; k < D; ++k) p[k] += x[k];
      }
      for (Index k = 0; k < D; ++k) p[k] /= static_cast<T>(S);
    }

    // Logits, then a stable softmax per query row (subtract the row's max).
    PrototypicalResult<T> r;
    double loss = 0.0;
    Index right = 0;
    for (Index i = 0; i < N; ++i) {
      const T* x = query.data() + i * D;
      T* z = ws.prob.data() + i * C;
      for (Index c = 0; c < C; ++c) {
        const T* p = proto + c * D;
        T d = T(0);
        for (Index k = 0; k < D; ++k) d += (x[k] - p[k]) * (x[k] - p[k]);
        z[c] = -d;
      }
      const Index y = i / Q;
      const Index best = static_cast<Index>(std::max_element(z, z + C) - z);
      right += best == y;
      const T m = z[best];
      double sum = 0.0;
      for (Index c = 0; c < C; ++c) sum += std::exp(static_cast<double>(z[c] - m));
      loss += std::log(sum) + static_cast<double>(m - z[y]);
      for (Index c = 0; c < C; ++c) z[c] = static_cast<T>(std::exp(static_cast<double>(z[c] - m)) / sum);
    }
    r.value = static_cast<T>(loss / static_cast<double>(N));
    r.accuracy = static_cast<double>(right) / static_cast<double>(N);
    if (!dsupport.data() && !dquery.data()) return r;

    // g = (softmax - onehot) / N, in place.
    const T inv_n = T(1) / static_cast<T>(N);
    for (Index i = 0; i < N; ++i) {
      T* g = ws.prob.data() + i * C;
      g[i / Q] -= T(1);
      for (Index c = 0; c < C; ++c) g[c] *= inv_n;
    }
    if (dquery.data())
      for (Index i = 0; i < N; ++i) {
        const T* x = query.data() + i * D;
        const T* g = ws.prob.data() + i * C;
        T* dx = dquery.data() + i * D;
        std::fill(dx, dx + D, T(0));
        for (Index c = 0; c < C; ++c) {
          const T* p = proto + c * D;
          const T w = T(-2) * g[c];
          for (Index k = 0; k < D; ++k) dx[k] += w * (x[k] - p[k]);
        }
      }
    if (dsupport.data()) {
      ws.dproto.resize(Shape{C, D});
      T* dp = ws.dproto.data();
      std::fill(dp, dp + C * D, T(0));
      for (Index i = 0; i < N; ++i) {
        const T* x = query.data() + i * D;
        const T* g = ws.prob.data() + i * C;
        for (Index c = 0; c < C; ++c) {
          const T* p = proto + c * D;
          const T w = T(2) * g[c];
          T* d = dp + c * D;
          for (Index k = 0; k < D; ++k) d[k] += w * (x[k] - p[k]);
        }
      }
      for (Index c = 0; c < C; ++c)
        for (Index s = 0; s < S; ++s) {
          T* ds = dsupport.data() + (c * S + s) * D;
          for (Index k = 0; k < D; ++k) ds[k] = dp[c * D + k] / static_cast<T>(S);
        }
    }
    return r;
  }
};

}  // namespace twin
