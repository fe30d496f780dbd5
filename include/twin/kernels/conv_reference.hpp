#pragma once
// Naive direct-loop 2-D convolution (cross-correlation, as PyTorch's nn.Conv2d), the oracle
// the im2col + GEMM path in layers/conv2d.hpp is tested against. Slow on purpose: every
// output is one obvious sum, with no buffers, no blocking and no threads.
//
//   x (N, C, H, W), w (O, C, k, k), b (O) or null, y (N, O, Ho, Wo)
//   Ho = (H + 2 pad - k) / stride + 1   (likewise Wo)
//   y[n,o,i,j] = b[o] + sum_{c,p,q} w[o,c,p,q] x[n, c, i*stride - pad + p, j*stride - pad + q]
// with x read as 0 outside the image.
#include "twin/tensor.hpp"

namespace twin::kernels {

struct ConvGeometry {
  Index n = 0, c = 0, h = 0, w = 0;  // input (N, C, H, W)
  Index o = 0, k = 1, stride = 1, pad = 0;
  Index out_h() const { return (h + 2 * pad - k) / stride + 1; }
  Index out_w() const { return (w + 2 * pad - k) / stride + 1; }
};

template <class T>
void conv2d_reference_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  const Index ho = g.out_h(), wo = g.out_w();
  for (Index n = 0; n < g.n; ++n)
    for (Index o = 0; o < g.o; ++o)
      for (Index i = 0; i < ho; ++i)
        for (Index j = 0; j < wo; ++j) {
          T s = b ? b[o] : T(0);
          for (Index c = 0; c < g.c; ++c)
            for (Index p = 0; p < g.k; ++p)
              for (Index q = 0; q < g.k; ++q) {
                const Index r = i * g.stride - g.pad + p, s2 = j * g.stride - g.pad + q;
                if (r < 0 || r >= g.h || s2 < 0 || s2 >= g.w) continue;
                s += w[((o * g.c + c) * g.k + p) * g.k + q] * x[((n * g.c + c) * g.h + r) * g.w + s2];
              }
          y[((n * g.o + o) * ho + i) * wo + j] = s;
        }
}

// dx is assigned (when non-null); dw and db (when non-null) are accumulated, as the layer
// contract asks.
template <class T>
void conv2d_reference_backward(const ConvGeometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db) {
  const Index ho = g.out_h(), wo = g.out_w();
  if (dx)
    for (Index i = 0; i < g.n * g.c * g.h * g.w; ++i) dx[i] = T(0);
  for (Index n = 0; n < g.n; ++n)
    for (Index o = 0; o < g.o; ++o)
      for (Index i = 0; i < ho; ++i)
        for (Index j = 0; j < wo; ++j) {
          const T d = dy[((n * g.o + o) * ho + i) * wo + j];
          if (db) db[o] += d;
          for (Index c = 0; c < g.c; ++c)
            for (Index p = 0; p < g.k; ++p)
              for (Index q = 0; q < g.k; ++q) {
                const Index r = i * g.stride - g.pad + p, s = j * g.stride - g.pad + q;
                if (r < 0 || r >= g.h || s < 0 || s >= g.w) continue;
                const Index xi = ((n * g.c + c) * g.h + r) * g.w + s, wi = ((o * g.c + c) * g.k + p) * g.k + q;
                if (dw) dw[wi] += d * x[xi];
                if (dx) dx[xi] += d * w[wi];
              }
        }
}

}  // namespace twin::kernels
