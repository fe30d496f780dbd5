#pragma once
// The Model concept: what optimisers, model files, checkpoints, the gradient checker and
// data-parallel training need of a network. Graph, Sequential and SiameseModule (a tower,
// optionally with a head, in one parameter store) are models.
//
//   params(), grads(), buffers()   the three flat blocks (param_store.hpp)
//   named_tensors()                a stable name and place for every tensor in them
//   zero_grad(), init(seed)        gradients to 0; initial values from a seed
//   assign(params, buffers)        every value at once (a model file, a broadcast)
//   architecture()                 one line per node, stored in model files
#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "twin/param_store.hpp"

namespace twin {

template <class M>
concept Model = requires(M& m, const M& cm, std::uint64_t seed, std::span<const typename M::value_type> v) {
  typename M::value_type;
  { m.params() } -> std::convertible_to<std::span<typename M::value_type>>;
  { m.grads() } -> std::convertible_to<std::span<typename M::value_type>>;
  { m.buffers() } -> std::convertible_to<std::span<typename M::value_type>>;
  { cm.params() } -> std::convertible_to<std::span<const typename M::value_type>>;
  { cm.buffers() } -> std::convertible_to<std::span<const typename M::value_type>>;
  { cm.named_tensors() } -> std::convertible_to<std::vector<NamedTensor>>;
  { cm.architecture() } -> std::convertible_to<std::string>;
  m.zero_grad();
  m.init(seed);
  m.assign(v, v);
};

}  // namespace twin
