#pragma once
// Lets a function template take a Tensor, a TensorView<T> or a TensorView<const T> for a
// read-only argument: `template <ViewLike V> f(const V& x)` then reads `cview(x)`.
// (A parameter of type TensorView<const T> would not deduce T from a TensorView<T>.)
#include <type_traits>
#include <utility>

#include "twin/tensor.hpp"

namespace twin {

template <class V>
concept ViewLike = requires(const V& v) {
  v.data();
  { v.shape() } -> std::convertible_to<Shape>;
};

template <ViewLike V>
using view_value_t = std::remove_cvref_t<decltype(*std::declval<const V&>().data())>;

template <ViewLike V>
TensorView<const view_value_t<V>> cview(const V& v) {
  return TensorView<const view_value_t<V>>(v.data(), v.shape());
}

}  // namespace twin
