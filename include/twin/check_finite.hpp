#pragma once
// Finiteness checks for training: a NaN or Inf in a loss, an activation or a gradient
// silently poisons every later step, so twin can stop at the first one and say where.
//
//   twin::check_finite(loss, "loss at step 120");
//   twin::check_finite(net.grads(), "gradients at step 120");
//   ws.set_check_finite(true);  // Sequential checks every layer's output and gradients
//
// Relies on IEEE semantics: the build refuses -ffast-math, under which std::isfinite may be
// folded to true.
#include <cmath>
#include <cstddef>
#include <span>
#include <string_view>
#include <type_traits>

#include "twin/error.hpp"

namespace twin {

// Index of the first NaN/Inf in v, or -1.
template <class T>
std::ptrdiff_t first_non_finite(std::span<const T> v) {
  static_assert(std::is_floating_point_v<T>);
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) return static_cast<std::ptrdiff_t>(i);
  return -1;
}

// Throws numeric_error "<what>: <k> of <n> values are NaN/Inf (first: <value> at index <i>)".
template <class T>
void check_finite(std::span<const T> v, std::string_view what) {
  const std::ptrdiff_t i = first_non_finite(v);
  if (i < 0) return;
  std::size_t bad = 0;
  for (const T x : v) bad += !std::isfinite(x);
  throw numeric_error(detail::concat(what, ": ", bad, " of ", v.size(), " values are NaN/Inf (first: ",
                                     v[static_cast<std::size_t>(i)], " at index ", i, ")"));
}
template <class T>
void check_finite(std::span<T> v, std::string_view what) {
  check_finite(std::span<const T>(v), what);
}
template <class T>
  requires std::is_floating_point_v<T>
void check_finite(T value, std::string_view what) {
  if (!std::isfinite(value)) throw numeric_error(detail::concat(what, " is ", value));
}

}  // namespace twin
