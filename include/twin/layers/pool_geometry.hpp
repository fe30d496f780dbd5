#pragma once
// The window arithmetic MaxPool2D and AvgPool2D share (PyTorch, ceil_mode = false):
//   Ho = floor((H + 2 pad - k) / stride) + 1, likewise Wo
//   window of output (i, j): rows [i stride - pad, i stride - pad + k), cols likewise.
// PyTorch asks pad <= k / 2, which guarantees every window overlaps the image.
// pad_end (MaxPool2D only) adds that many more rows and columns after the image:
//   Ho = floor((H + 2 pad + pad_end - k) / stride) + 1
// TensorFlow's 'same' max pool with k = 2 is pad 0, pad_end 1 (Ho = ceil(H / stride)); the
// extra windows are clipped at the image's end like every other. pad + pad_end < k keeps
// every window overlapping the image.
#include <algorithm>
#include <string>

#include "twin/layer.hpp"

namespace twin::detail {

struct PoolWindow {
  Index kernel = 0, stride = 0, pad = 0, pad_end = 0;

  // Validates the options; stride 0 means "= kernel", as PyTorch's stride=None.
  static PoolWindow make(const char* layer, Index kernel, Index stride, Index pad, Index pad_end = 0) {
    if (stride == 0) stride = kernel;
    if (kernel <= 0 || stride <= 0 || pad < 0 || pad > kernel / 2)
      throw shape_error(concat(layer, ": need kernel > 0, stride > 0 and 0 <= pad <= kernel / 2, got kernel=", kernel,
                               " stride=", stride, " pad=", pad));
    if (pad_end < 0 || (pad_end > 0 && pad + pad_end >= kernel))
      throw shape_error(concat(layer, ": need 0 <= pad_end and pad + pad_end < kernel, got kernel=", kernel, " pad=", pad,
                               " pad_end=", pad_end));
    return {kernel, stride, pad, pad_end};
  }
  Index out(Index n) const { return (n + 2 * pad + pad_end - kernel) / stride + 1; }

  Shape output_shape(const char* layer, const Shape& in) const {
    require(in.rank() == 4, layer, "expected (N, C, H, W)", in);
    require(in[2] + 2 * pad + pad_end >= kernel && in[3] + 2 * pad + pad_end >= kernel, layer,
            [&] {
              return concat("padded image smaller than the kernel ", kernel, " (pad ", pad, ", pad_end ", pad_end, ")");
            },
            in);
    return Shape{in[0], in[1], out(in[2]), out(in[3])};
  }
  // The part of output i's window inside [0, n): [lo, hi); begin is lo before clipping.
  void range(Index i, Index n, Index& begin, Index& lo, Index& hi) const {
    begin = i * stride - pad;
    lo = std::max<Index>(begin, 0);
    hi = std::min(begin + kernel, n);
  }
  std::string describe(const char* layer) const {
    if (pad_end) return concat(layer, "(kernel ", kernel, ", stride ", stride, ", pad ", pad, ", pad_end ", pad_end, ")");
    return concat(layer, "(kernel ", kernel, ", stride ", stride, ", pad ", pad, ")");
  }
};

}  // namespace twin::detail
