#pragma once
// The memory planner: where every activation and gradient of one step of a graph lives.
//
// It knows nothing of layers or tensors, only of values and their uses (ggml-alloc.c keeps
// its allocator apart from the graph in the same way). A step has 2K times for K nodes:
// node k runs forward at time k and backward at time 2K - 1 - k. Each value (a node's
// output) and each gradient gets a lifetime [birth, death]; buffers whose lifetimes do not
// overlap share memory in one arena. From the nodes' BackwardReads and Aliasing:
//   * a value lives until its last forward reader; one that a backward reads (the
//     producer's when it reads its output, a consumer's when it reads its input) lives to
//     the end of the step, so that backward may run twice on one forward;
//   * a view node's output is its input's memory; an in-place node writes over its input
//     when nothing reads the input's value after it (forward or backward);
//   * a gradient lives from the first consumer's backward (which ASSIGNS it) to the
//     producer's backward; every later consumer writes a buffer of its own for that time
//     only, which the graph adds in (the fan-out sum, layer.hpp); an in-place or view node
//     that is the only consumer writes its input gradient over its output gradient;
//   * the graph's output lives to the end of the step (valid after backward), and so do the
//     gradients of the graph's inputs.
// Placement is first-fit by birth time, deterministic. Sizes are rounded up to 64 bytes.
#include <algorithm>
#include <cstddef>
#include <numeric>
#include <vector>

#include "twin/layer.hpp"

namespace twin {

struct PlanNode {
  std::vector<int> inputs;  // value ids; values 0..I-1 are the graph's inputs, node k makes value I + k
  Index size = 0;           // elements of the node's output
  Aliasing aliasing = Aliasing::none;
  BackwardReads reads;
};

struct MemoryPlan {
  static constexpr Index external = -1;  // a graph input (or a view of one): not in the arena
  Index arena = 0;                       // elements
  std::vector<Index> value;              // value v's offset, or external
  std::vector<int> value_source;         // for external values: which graph input's memory
  std::vector<Index> grad;               // dL/dv's offset (training), -1 when none
  // dx[k][j]: where node k's backward writes the gradient of its j-th input; add[k][j]: the
  // graph adds that buffer into grad[input] after the backward (a later fan-out consumer).
  std::vector<std::vector<Index>> dx;
  std::vector<std::vector<char>> add;
};

namespace detail {
// First-fit placement of buffers with lifetimes; returns the arena size.
inline Index place_buffers(const std::vector<Index>& size, const std::vector<int>& birth, const std::vector<int>& death,
                           std::vector<Index>& offset) {
  const std::size_t n = size.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return birth[a] < birth[b]; });
  struct Live {
    Index begin, end;
    int death;
  };
  std::vector<Live> live;  // sorted by begin
  Index arena = 0;
  offset.assign(n, 0);
  for (const std::size_t b : order) {
    std::erase_if(live, [&](const Live& l) { return l.death < birth[b]; });
    Index at = 0;
    std::size_t pos = 0;
    for (; pos < live.size(); ++pos) {
      if (live[pos].begin - at >= size[b]) break;
      at = std::max(at, live[pos].end);
    }
    offset[b] = at;
    live.insert(live.begin() + static_cast<std::ptrdiff_t>(pos), Live{at, at + size[b], death[b]});
    std::sort(live.begin(), live.end(), [](const Live& x, const Live& y) { return x.begin < y.begin; });
    arena = std::max(arena, at + size[b]);
  }
  return arena;
}
inline Index round_up(Index n, Index align) { return (n + align - 1) / align * align; }
}  // namespace detail

// Plans one step. `input_sizes`: elements of each graph input; `output`: the output value;
// `train`: whether backward will run (then gradients are planned too); `align`: elements per
// 64 bytes.
inline MemoryPlan plan_memory(const std::vector<Index>& input_sizes, const std::vector<PlanNode>& nodes, int output,
                              bool train, Index align) {
  const int inputs = static_cast<int>(input_sizes.size());
  const int K = static_cast<int>(nodes.size()), V = inputs + K;
  const int end = 2 * K;
  auto bwd = [&](int k) { return 2 * K - 1 - k; };
  std::vector<std::vector<std::pair<int, int>>> uses(static_cast<std::size_t>(V));  // (node, slot)
  for (int k = 0; k < K; ++k)
    for (std::size_t j = 0; j < nodes[static_cast<std::size_t>(k)].inputs.size(); ++j)
      uses[static_cast<std::size_t>(nodes[static_cast<std::size_t>(k)].inputs[j])].push_back({k, static_cast<int>(j)});

  // Each value's death, on its own.
  std::vector<int> death(static_cast<std::size_t>(V), -1);
  for (int v = inputs; v < V; ++v) {
    const int p = v - inputs;
    int d = p;
    for (const auto& [c, j] : uses[static_cast<std::size_t>(v)]) {
      d = std::max(d, c);
      if (train && nodes[static_cast<std::size_t>(c)].reads.input) d = std::max(d, bwd(c));
    }
    if (train && nodes[static_cast<std::size_t>(p)].reads.output) d = std::max(d, bwd(p));
    // What some backward reads stays to the end of the step, so backward may run again on
    // the same forward (gradients never reuse its memory).
    if (d >= K || v == output) d = end;
    death[static_cast<std::size_t>(v)] = d;
  }

  // Storages: values that share memory (views, in-place) are one storage.
  MemoryPlan plan;
  plan.value.assign(static_cast<std::size_t>(V), MemoryPlan::external);
  plan.value_source.assign(static_cast<std::size_t>(V), -1);
  std::vector<int> storage(static_cast<std::size_t>(V), -1);  // storage id of a value
  std::vector<Index> s_size;
  std::vector<int> s_birth, s_death, s_source;
  for (int v = 0; v < inputs; ++v) plan.value_source[static_cast<std::size_t>(v)] = v;
  for (int k = 0; k < K; ++k) {
    const PlanNode& n = nodes[static_cast<std::size_t>(k)];
    const int v = inputs + k;
    const int u = n.inputs.size() == 1 ? n.inputs[0] : -1;
    bool share = false;
    if (u >= 0 && n.aliasing == Aliasing::view) share = true;
    if (u >= 0 && n.aliasing == Aliasing::in_place && u >= inputs && !(train && n.reads.input)) {
      const int s = storage[static_cast<std::size_t>(u)];
      share = s >= 0 && plan.value_source[static_cast<std::size_t>(u)] < 0 && s_death[static_cast<std::size_t>(s)] <= k;
    }
    if (share && u < inputs) {  // a view of a graph input
      plan.value_source[static_cast<std::size_t>(v)] = u;
      continue;
    }
    if (share && plan.value_source[static_cast<std::size_t>(u)] >= 0) {  // a view of a view of an input
      plan.value_source[static_cast<std::size_t>(v)] = plan.value_source[static_cast<std::size_t>(u)];
      continue;
    }
    if (share) {
      const int s = storage[static_cast<std::size_t>(u)];
      storage[static_cast<std::size_t>(v)] = s;
      s_death[static_cast<std::size_t>(s)] = std::max(s_death[static_cast<std::size_t>(s)], death[static_cast<std::size_t>(v)]);
      s_size[static_cast<std::size_t>(s)] = std::max(s_size[static_cast<std::size_t>(s)], detail::round_up(n.size, align));
      continue;
    }
    storage[static_cast<std::size_t>(v)] = static_cast<int>(s_size.size());
    s_size.push_back(detail::round_up(std::max<Index>(n.size, 1), align));
    s_birth.push_back(k);
    s_death.push_back(death[static_cast<std::size_t>(v)]);
  }

  // Gradients (training only). grad storage of value v; -1: none or the caller's dy.
  std::vector<int> gstore(static_cast<std::size_t>(V), -1);
  std::vector<std::vector<int>> dx_store(static_cast<std::size_t>(K));
  plan.grad.assign(static_cast<std::size_t>(V), -1);
  plan.dx.assign(static_cast<std::size_t>(K), {});
  plan.add.assign(static_cast<std::size_t>(K), {});
  if (train) {
    std::vector<Index> vsize(static_cast<std::size_t>(V), 0);
    for (int k = 0; k < K; ++k) vsize[static_cast<std::size_t>(inputs + k)] = nodes[static_cast<std::size_t>(k)].size;
    auto new_storage = [&](Index size, int b, int d) {
      s_size.push_back(detail::round_up(std::max<Index>(size, 1), align));
      s_birth.push_back(b);
      s_death.push_back(d);
      return static_cast<int>(s_size.size() - 1);
    };
    // Backward order: node K-1 first. The first (node, slot) to write grad[u] assigns it.
    std::vector<char> written(static_cast<std::size_t>(V), 0);
    for (int k = K - 1; k >= 0; --k) {
      const PlanNode& n = nodes[static_cast<std::size_t>(k)];
      const int v = inputs + k;
      dx_store[static_cast<std::size_t>(k)].assign(n.inputs.size(), -1);
      plan.add[static_cast<std::size_t>(k)].assign(n.inputs.size(), 0);
      for (std::size_t j = 0; j < n.inputs.size(); ++j) {
        const int u = n.inputs[j];
        const Index usize = u < inputs ? input_sizes[static_cast<std::size_t>(u)] : vsize[static_cast<std::size_t>(u)];
        if (!written[static_cast<std::size_t>(u)]) {
          written[static_cast<std::size_t>(u)] = 1;
          const int d = u < inputs ? end : bwd(u - inputs);
          // dx over dy: the only use of u, and dy is ours (not the caller's) and dies here.
          const bool alone = uses[static_cast<std::size_t>(u)].size() == 1;
          if (alone && n.aliasing != Aliasing::none && n.inputs.size() == 1 && gstore[static_cast<std::size_t>(v)] >= 0 &&
              u >= inputs) {
            const int s = gstore[static_cast<std::size_t>(v)];
            s_death[static_cast<std::size_t>(s)] = std::max(s_death[static_cast<std::size_t>(s)], d);
            gstore[static_cast<std::size_t>(u)] = s;
          } else {
            gstore[static_cast<std::size_t>(u)] = new_storage(usize, bwd(k), d);
          }
          dx_store[static_cast<std::size_t>(k)][j] = gstore[static_cast<std::size_t>(u)];
        } else {
          dx_store[static_cast<std::size_t>(k)][j] = new_storage(usize, bwd(k), bwd(k));
          plan.add[static_cast<std::size_t>(k)][j] = 1;
        }
      }
    }
  }

  std::vector<Index> offset;
  plan.arena = detail::place_buffers(s_size, s_birth, s_death, offset);
  for (int v = 0; v < V; ++v) {
    if (storage[static_cast<std::size_t>(v)] >= 0) plan.value[static_cast<std::size_t>(v)] = offset[static_cast<std::size_t>(storage[static_cast<std::size_t>(v)])];
    if (gstore[static_cast<std::size_t>(v)] >= 0) plan.grad[static_cast<std::size_t>(v)] = offset[static_cast<std::size_t>(gstore[static_cast<std::size_t>(v)])];
  }
  for (int k = 0; k < K; ++k) {
    plan.dx[static_cast<std::size_t>(k)].resize(dx_store[static_cast<std::size_t>(k)].size());
    for (std::size_t j = 0; j < dx_store[static_cast<std::size_t>(k)].size(); ++j)
      plan.dx[static_cast<std::size_t>(k)][j] = offset[static_cast<std::size_t>(dx_store[static_cast<std::size_t>(k)][j])];
  }
  return plan;
}

}  // namespace twin
