#pragma once
// Embeds a whole data set in batches, in eval mode: what every evaluation does first.
//
//   twin::Workspace<float> ws;
//   auto emb = twin::embed_all(tower, test_images.view(), 256, ws);  // (N, D)
//
// `model` is anything with embed(x, ws) (SiameseModule) or forward(x, ws, Mode::eval)
// (Sequential): both are const and run the tower alone, so BatchNorm uses its running
// statistics and an image's embedding does not depend on the batch it was in. The batch
// size only bounds the workspace's memory; the result is the same for any batch size.
// The workspace is reused across batches (and across calls): after the first batch no
// allocation happens except the returned tensor. Each sample's output is flattened, so a
// tower ending in (B, D, 1, 1) gives (N, D) as well.
#include <algorithm>
#include <concepts>
#include <type_traits>

#include "twin/error.hpp"
#include "twin/sequential.hpp"  // Workspace, Mode
#include "twin/tensor.hpp"

namespace twin {

namespace detail {
template <class M, class T>
concept HasEmbed = requires(const M& m, TensorView<const T> x, Workspace<T>& ws) {
  { m.embed(x, ws) } -> std::convertible_to<TensorView<const T>>;
};
template <class M, class T>
concept HasEvalForward = requires(const M& m, TensorView<const T> x, Workspace<T>& ws) {
  { m.forward(x, ws, Mode::eval) } -> std::convertible_to<TensorView<const T>>;
};
}  // namespace detail

// T is taken from the workspace, so a Tensor<float>'s view() converts to the const view.
// out (N, D) = the embeddings of images (N, ...), batch_size samples per forward. `out` is
// resized, reusing its allocation when it is large enough.
template <class Model, class T>
  requires detail::HasEmbed<Model, T> || detail::HasEvalForward<Model, T>
void embed_all(const Model& model, std::type_identity_t<TensorView<const T>> images, Index batch_size, Workspace<T>& ws,
               Tensor<T, 2>& out) {
  if (images.rank() < 2)
    throw shape_error(detail::concat("embed_all: images need a batch dimension and a sample shape, got ",
                                     images.shape().str()));
  if (batch_size < 1) throw error(detail::concat("embed_all: batch_size must be >= 1, got ", batch_size));
  const Index n = images.dim(0);
  if (n == 0) throw error("embed_all: no images (batch dimension is 0)");
  for (Index lo = 0; lo < n; lo += batch_size) {
    const Index m = std::min(batch_size, n - lo);
    TensorView<const T> y;  // (m, D...)
    if constexpr (detail::HasEmbed<Model, T>) y = model.embed(images.slice(lo, m), ws);
    else y = model.forward(images.slice(lo, m), ws, Mode::eval);
    if (y.rank() < 1 || y.dim(0) != m || y.size() == 0)
      throw shape_error(detail::concat("embed_all: the model gave ", y.shape().str(), " for a batch of ", m));
    const Index d = y.size() / m;
    if (lo == 0) out.resize(Shape{n, d});
    else if (d != out.dim(1))
      throw shape_error(detail::concat("embed_all: embedding size changed from ", out.dim(1), " to ", d, " at sample ",
                                       lo));
    std::copy(y.begin(), y.end(), out.data() + lo * d);
  }
}

template <class Model, class T>
  requires detail::HasEmbed<Model, T> || detail::HasEvalForward<Model, T>
Tensor<T, 2> embed_all(const Model& model, std::type_identity_t<TensorView<const T>> images, Index batch_size, Workspace<T>& ws) {
  Tensor<T, 2> out;
  embed_all(model, images, batch_size, ws, out);
  return out;
}

}  // namespace twin
