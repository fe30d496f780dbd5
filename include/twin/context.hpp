#pragma once
// The execution context: the thread pool a call runs on and all per-call kernel scratch.
//
//   twin::Context ctx(2);              // owns a pool of 2 workers (the caller + 1 thread)
//   twin::Workspace<float> ws;
//   ws.set_context(&ctx);              // the model's layers run on ctx
//   net.forward(x, ws, twin::Mode::eval);
//
// Like ggml's cplan (ggml_graph_plan(graph, n_threads, threadpool) and its work_data), a
// context is passed to every kernel instead of living in process-wide state: the thread
// count is a property of the context, and kernel scratch (packing buffers of the GEMM,
// im2col and panel buffers of the convolution, gradient partials) belongs to the context,
// one WorkBuffers per worker slot, grown on demand and reused, so the hot path allocates
// nothing after the first call of the largest layer.
//
// Sharing and concurrency:
//  * A context is used by one caller at a time (like a Workspace). Several threads need
//    several contexts; contexts may share one pool (Context(std::shared_ptr<ThreadPool>)),
//    which is safe: a caller that finds the pool busy runs its tasks on its own thread.
//  * parallel_for / fixed_chunks called from inside one of their own tasks run inline on
//    the running worker, with that worker's buffers.
//
// Determinism: parallel_for cuts [begin, end) by the thread count, so use it only where each
// output element is written by one task (then any thread count gives the same bits).
// Reductions across tasks (e.g. weight gradients over a batch) use fixed_chunks, whose
// chunks do not depend on the thread count: reduce each chunk into its own buffer and add
// those buffers in chunk order.
#include <algorithm>
#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "twin/error.hpp"
#include "twin/parallel.hpp"
#include "twin/tensor.hpp"

namespace twin {

// One worker's scratch: a few named, 64-byte-aligned, grow-only buffers. Contents are
// unspecified on get() and valid until the next get() of the same slot on this worker: a
// kernel uses a slot only for the step it runs, and no two kernels that run nested inside
// one another use the same slot.
class WorkBuffers {
 public:
  enum Slot {
    gemm_a,         // packed A panels of the AVX2 GEMM (kernels/gemm.hpp)
    gemm_b,         // packed B panels of the AVX2 GEMM
    conv_cols,      // im2col columns / padded image of one convolution step (kernels/conv_gemm.hpp)
    conv_panel,     // packed B panels of the implicit-GEMM convolution
    conv_weights,   // packed convolution weights, made by the caller and read by all workers
    conv_partials,  // per-chunk weight/bias gradients of Conv2D's backward (the caller's)
    slots
  };
  template <class T>
  T* get(Slot s, Index n) {
    static_assert(std::is_trivially_copyable_v<T>);
    const std::size_t b = static_cast<std::size_t>(std::max<Index>(n, 1)) * sizeof(T);
    Buffer& buf = buf_[s];
    if (b > buf.capacity) {
      buf.data = detail::aligned_alloc_array<std::byte>(static_cast<Index>(b));
      buf.capacity = b;
    }
    return reinterpret_cast<T*>(buf.data.get());
  }
  // Bytes held (the capacity of all slots).
  std::size_t bytes() const {
    std::size_t b = 0;
    for (const auto& x : buf_) b += x.capacity;
    return b;
  }

 private:
  struct Buffer {
    std::unique_ptr<std::byte[], detail::AlignedDelete<std::byte>> data;
    std::size_t capacity = 0;
  };
  Buffer buf_[slots];
};

class Context {
 public:
  // Owns a new pool of `threads` workers (the calling thread counts as one; 1 runs
  // everything on the calling thread).
  explicit Context(int threads = default_threads())
      : Context(std::make_shared<ThreadPool>(std::max(1, threads))) {}
  // Shares `pool` (with other contexts, possibly used from other threads at the same time).
  explicit Context(std::shared_ptr<ThreadPool> pool) : pool_(std::move(pool)) {
    if (!pool_) throw error("Context: null thread pool");
    buffers_.resize(static_cast<std::size_t>(pool_->size()));
    for (auto& b : buffers_) b = std::make_unique<WorkBuffers>();  // one allocation each: no false sharing
  }
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  int threads() const { return pool_->size(); }
  const std::shared_ptr<ThreadPool>& pool() const { return pool_; }

  // The scratch of worker slot `worker` (in [0, threads())).
  WorkBuffers& buffers(int worker) {
    if (worker < 0 || worker >= threads())
      throw error(detail::concat("Context::buffers: worker ", worker, " outside [0, ", threads(), ")"));
    return *buffers_[static_cast<std::size_t>(worker)];
  }
  // The scratch of the calling thread: the running worker's inside one of this context's
  // tasks, else worker 0's (the caller's).
  WorkBuffers& caller_buffers() {
    const auto& t = detail::current_pool_task;
    return *buffers_[t.pool == pool_.get() ? static_cast<std::size_t>(t.worker) : 0];
  }
  // Bytes of scratch held by all workers.
  std::size_t bytes() const {
    std::size_t b = 0;
    for (const auto& w : buffers_) b += w->bytes();
    return b;
  }

  // Calls body(lo, hi) on disjoint ranges covering [begin, end), at most one range per
  // worker, each at least `grain` long (except the last). body may instead take
  // (lo, hi, WorkBuffers&): the buffers of the worker running the range.
  template <class F>
  void parallel_for(Index begin, Index end, Index grain, F&& body) {
    const Index n = end - begin;
    if (n <= 0) return;
    const Index chunks = std::clamp<Index>(n / std::max<Index>(grain, 1), 1, threads());
    run(chunks, [&](Index c, WorkBuffers& buf) {
      const Index lo = begin + n * c / chunks, hi = begin + n * (c + 1) / chunks;
      if constexpr (std::is_invocable_v<F&, Index, Index, WorkBuffers&>) body(lo, hi, buf);
      else body(lo, hi);
    });
  }

  // Calls body(chunk, lo, hi) for the chunks [c chunk_size, min(n, (c + 1) chunk_size)) of
  // [0, n), in parallel. The chunks do not depend on the thread count: use this for
  // reductions. body may instead take (chunk, lo, hi, WorkBuffers&).
  template <class F>
  void fixed_chunks(Index n, Index chunk_size, F&& body) {
    if (n <= 0) return;
    if (chunk_size <= 0)
      throw error(detail::concat("Context::fixed_chunks: chunk_size must be positive, got ", chunk_size));
    const Index chunks = (n + chunk_size - 1) / chunk_size;
    run(chunks, [&](Index c, WorkBuffers& buf) {
      const Index lo = c * chunk_size, hi = std::min(n, (c + 1) * chunk_size);
      if constexpr (std::is_invocable_v<F&, Index, Index, Index, WorkBuffers&>) body(c, lo, hi, buf);
      else body(c, lo, hi);
    });
  }

 private:
  // Worker indices are this pool's (ThreadPool::run): slot 0 for the caller, also when it
  // is inside a task of another pool (this context is then that task's to use).
  template <class F>
  void run(Index tasks, F&& f) {
    if (tasks == 1 && !detail::current_pool_task.pool) {  // the common small case: no pool round trip
      f(Index(0), *buffers_[0]);
      return;
    }
    pool_->run(tasks, [&](Index i, int worker) { f(i, *buffers_[static_cast<std::size_t>(worker)]); });
  }

  std::shared_ptr<ThreadPool> pool_;
  std::vector<std::unique_ptr<WorkBuffers>> buffers_;  // one per worker slot
};

}  // namespace twin
