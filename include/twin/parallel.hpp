#pragma once
// A small persistent thread pool and parallel_for.
//
// Threads are started once and reused: starting a thread per call costs more than the small
// kernels it would speed up. The calling thread takes part in the work. A parallel_for
// called from inside a task runs serially, so kernels may nest without oversubscription.
//
// Determinism: parallel_for hands out disjoint Index ranges, so any kernel in which each
// output element is written by exactly one task gives the same bits for any thread count.
// Reductions across tasks (e.g. weight gradients over a batch) must split the work into
// chunks whose boundaries do not depend on the thread count, reduce each chunk into its
// own buffer and add those buffers in chunk order: see fixed_chunks().
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "twin/tensor.hpp"

namespace twin {

class ThreadPool {
 public:
  explicit ThreadPool(int threads) { resize(threads); }
  ~ThreadPool() { stop(); }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int threads) {
    threads = std::max(1, threads);
    if (threads == size() && !workers_.empty()) return;
    stop();
    stopping_ = false;
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
  }

  // Calls task(i) for i in [0, n), spread over the pool; returns when all have finished.
  // The first exception thrown by a task is rethrown here.
  void run(Index n, const std::function<void(Index)>& task) {
    if (n <= 0) return;
    if (n == 1 || workers_.empty() || in_task_) {
      for (Index i = 0; i < n; ++i) task(i);
      return;
    }
    std::unique_lock lock(mutex_);
    task_ = &task;
    n_tasks_ = n;
    next_.store(0);
    pending_ = n;
    error_ = nullptr;
    ++generation_;
    lock.unlock();
    wake_.notify_all();
    work();
    lock.lock();
    done_.wait(lock, [this] { return pending_ == 0; });
    task_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void work() {
    in_task_ = true;
    for (Index i; (i = next_.fetch_add(1)) < n_tasks_;) {
      try {
        (*task_)(i);
      } catch (...) {
        std::lock_guard g(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      std::lock_guard g(mutex_);
      if (--pending_ == 0) done_.notify_all();
    }
    in_task_ = false;
  }
  void worker_loop() {
    std::size_t seen = 0;
    for (;;) {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || (generation_ != seen && task_ != nullptr); });
      if (stopping_) return;
      seen = generation_;
      lock.unlock();
      work();
    }
  }
  void stop() {
    {
      std::lock_guard g(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(Index)>* task_ = nullptr;
  Index n_tasks_ = 0;
  std::atomic<Index> next_{0};
  Index pending_ = 0;
  std::size_t generation_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
  static inline thread_local bool in_task_ = false;
};

namespace detail {
inline int default_threads() {
  if (const char* env = std::getenv("TWIN_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}
inline ThreadPool& global_pool() {
  static ThreadPool pool(default_threads());
  return pool;
}
}  // namespace detail

// Number of threads twin's kernels use (default: TWIN_NUM_THREADS, else all cores).
inline int num_threads() { return detail::global_pool().size(); }
inline void set_num_threads(int n) { detail::global_pool().resize(n); }

// Calls body(lo, hi) on disjoint ranges covering [begin, end), at most one range per thread,
// each at least `grain` long (except the last).
template <class F>
void parallel_for(Index begin, Index end, Index grain, F&& body) {
  const Index n = end - begin;
  if (n <= 0) return;
  const Index threads = num_threads();
  const Index chunks = std::clamp<Index>(n / std::max<Index>(grain, 1), 1, threads);
  if (chunks == 1) {
    body(begin, end);
    return;
  }
  detail::global_pool().run(chunks, [&](Index c) {
    const Index lo = begin + n * c / chunks, hi = begin + n * (c + 1) / chunks;
    body(lo, hi);
  });
}

// Calls body(chunk, lo, hi) for fixed chunks of `chunk_size` over [0, n), in parallel.
// The chunk boundaries do not depend on the thread count: use this for reductions.
template <class F>
void fixed_chunks(Index n, Index chunk_size, F&& body) {
  const Index chunks = (n + chunk_size - 1) / chunk_size;
  detail::global_pool().run(chunks, [&](Index c) { body(c, c * chunk_size, std::min(n, (c + 1) * chunk_size)); });
}

}  // namespace twin
