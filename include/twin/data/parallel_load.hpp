#pragma once
// Loading and preparing many images on all of twin's threads, with results that do not
// depend on the thread count: item i is always written to slot i, and a preparation that
// draws random numbers gets its own stream Rng(seed).fork(i), whichever thread runs it.
//
//   auto imgs = twin::data::load_all(ds);                  // std::vector<Image>, ds.load(i) each
//   auto x = twin::data::load_images(ds);                 // (N, 1, H, W), ds resizes to H x W
//   auto y = twin::data::load_images(n, 64, 64, [&](Index i, Rng& rng) {   // any preparation
//     return twin::data::random_affine(decode(paths[i]), rng);
//   }, {.seed = 7});
//
// `prepare` is called as prepare(i) or prepare(i, rng) for i in [0, n) and returns an
// Image (H, W). Decoding (and an image loader's file I/O) happens on the pool's threads,
// so `prepare` must be safe to call concurrently for different i; the first exception any
// call throws is rethrown to the caller.
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "twin/data/image_dataset.hpp"
#include "twin/error.hpp"
#include "twin/context.hpp"
#include "twin/rng.hpp"

namespace twin::data {

struct ParallelLoadOptions {
  std::uint64_t seed = 0;  // item i draws from Rng(seed).fork(i)
  int threads = default_threads();  // of the context the loading runs on
};

namespace detail {
template <class F>
decltype(auto) prepare_one(F& prepare, Index i, std::uint64_t seed) {
  if constexpr (std::is_invocable_v<F&, Index, Rng&>) {
    Rng rng = Rng(seed).fork(static_cast<std::uint64_t>(i));
    return prepare(i, rng);
  } else {
    return prepare(i);
  }
}
}  // namespace detail

// out[i] = prepare(i [, rng_i]) for i in [0, n).
template <class F>
auto prepare_all(Index n, F&& prepare, ParallelLoadOptions o = {}) {
  using R = std::decay_t<decltype(detail::prepare_one(prepare, Index{0}, std::uint64_t{0}))>;
  if (n < 0) throw error(twin::detail::concat("prepare_all: n must be >= 0, got ", n));
  std::vector<R> out(static_cast<std::size_t>(n));
  Context exec(o.threads);
  exec.parallel_for(0, n, 1, [&](Index lo, Index hi) {
    for (Index i = lo; i < hi; ++i) out[static_cast<std::size_t>(i)] = detail::prepare_one(prepare, i, o.seed);
  });
  return out;
}

// out (n, 1, height, width): plane i = prepare(i [, rng_i]), which must be (height, width).
template <class F>
Tensor<float> load_images(Index n, Index height, Index width, F&& prepare, ParallelLoadOptions o = {}) {
  if (n < 1 || height < 1 || width < 1)
    throw error(twin::detail::concat("load_images: need n, height, width >= 1, got ", n, ", ", height, ", ", width));
  Tensor<float> out(Shape{n, 1, height, width});
  Context exec(o.threads);
  exec.parallel_for(0, n, 1, [&](Index lo, Index hi) {
    for (Index i = lo; i < hi; ++i) {
      const Image img = detail::prepare_one(prepare, i, o.seed);
      if (img.dim(0) != height || img.dim(1) != width)
        throw shape_error(twin::detail::concat("load_images: image ", i, " is ", img.shape().str(), ", expected (",
                                               height, ", ", width, ")"));
      copy_to_batch(img, out.view(), i);
    }
  });
  return out;
}

// Every image of ds, as ds.load(i) gives it.
inline std::vector<Image> load_all(const ImageDataset& ds) {
  return prepare_all(ds.size(), [&](Index i) { return ds.load(i); });
}

// Every image of ds stacked as (N, 1, H, W); ds must resize to one size (PrepareOptions).
inline Tensor<float> load_images(const ImageDataset& ds) {
  const auto& p = ds.prepare_options();
  if (p.height < 1 || p.width < 1)
    throw error("load_images: the dataset keeps each image's own size; set PrepareOptions height and width to stack them");
  return load_images(ds.size(), p.height, p.width, [&](Index i) { return ds.load(i); });
}

}  // namespace twin::data
