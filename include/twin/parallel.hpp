#pragma once
// A small persistent thread pool, safe to share between callers.
//
// Threads are started once and reused: starting a thread per call costs more than the small
// kernels it would speed up. The calling thread takes part in the work as worker 0; the
// pool's own threads are workers 1 .. size() - 1. Kernels do not use a pool directly: they
// go through an execution context (twin/context.hpp), which owns or shares a pool and holds
// the per-worker scratch the worker index selects.
//
// Several callers at once: the pool runs one job at a time. A caller that finds it busy
// runs its own tasks on its own thread (as worker 0), so a second caller never waits for
// the first, never deadlocks and never touches the first's tasks. A call made from inside
// a task (of any pool) also runs inline, so nested kernels do not oversubscribe the cores:
// as the enclosing task's worker when that task is this pool's, else as worker 0. Within
// one run(), tasks that execute at the same time have distinct worker indices.
//
// Determinism: run() says nothing about which worker runs which task; a kernel stays
// bit-identical for any thread count when each output element is written by one task and
// reductions are split by the thread count-independent chunks of Context::fixed_chunks.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "twin/tensor.hpp"

namespace twin {

namespace detail {
// The pool task this thread is running: its pool and worker index (null, -1 outside any).
struct PoolTask {
  const void* pool = nullptr;
  int worker = -1;
};
inline thread_local PoolTask current_pool_task;
inline std::atomic<int>& default_threads_setting() {
  static std::atomic<int> n{0};
  return n;
}
}  // namespace detail

// The thread count a Context made without one gets: set_default_threads(n) if called with
// n > 0, else TWIN_NUM_THREADS, else all cores. Read when a context is made; changing it does
// not resize existing contexts.
inline int default_threads() {
  if (const int n = detail::default_threads_setting().load(); n > 0) return n;
  if (const char* env = std::getenv("TWIN_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}
// n <= 0 restores the default (TWIN_NUM_THREADS, else all cores).
inline void set_default_threads(int n) { detail::default_threads_setting().store(std::max(0, n)); }

class ThreadPool {
 public:
  // A pool of `threads` workers counting the caller: threads - 1 pool threads (none for 1).
  explicit ThreadPool(int threads) {
    for (int w = 1; w < std::max(1, threads); ++w) workers_.emplace_back([this, w] { worker_loop(w); });
  }
  ~ThreadPool() {
    {
      std::lock_guard g(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls task(i, worker) for every i in [0, n) exactly once, spread over the pool; returns
  // when all have finished. worker is in [0, size()). The first exception thrown by a task
  // is rethrown here (the remaining tasks are skipped).
  template <class F>
  void run(Index n, F&& task) {
    if (n <= 0) return;
    auto call = [](void* f, Index i, int w) { (*static_cast<std::remove_reference_t<F>*>(f))(i, w); };
    const TaskRef ref{const_cast<void*>(static_cast<const void*>(&task)), call};
    if (const auto& t = detail::current_pool_task; t.pool)  // nested
      return run_inline(n, ref, t.pool == this ? t.worker : 0);
    bool idle = false;
    if (n == 1 || workers_.empty() || !busy_.compare_exchange_strong(idle, true, std::memory_order_acquire))
      return run_inline(n, ref, 0);
    Job job;
    job.task = ref;
    job.n = n;
    {
      std::lock_guard g(mutex_);
      job_ = &job;
      ++generation_;
    }
    wake_.notify_all();
    work(job, 0);
    {
      // Workers that joined are still running tasks; those that did not join will find no
      // job (or a newer one) and never touch this one.
      std::unique_lock lock(mutex_);
      done_.wait(lock, [&] { return job.refs == 0; });
      job_ = nullptr;
    }
    busy_.store(false, std::memory_order_release);
    if (job.error) std::rethrow_exception(job.error);
  }

 private:
  struct TaskRef {  // a non-owning, non-allocating reference to the caller's task
    void* f;
    void (*call)(void*, Index, int);
  };
  struct Job {
    TaskRef task{};
    Index n = 0;
    std::atomic<Index> next{0};
    int refs = 0;  // pool threads inside work() for this job; guarded by mutex_
    std::exception_ptr error;  // guarded by mutex_
  };

  void run_inline(Index n, TaskRef task, int worker) {
    const detail::PoolTask saved = detail::current_pool_task;
    detail::current_pool_task = {this, worker};
    try {
      for (Index i = 0; i < n; ++i) task.call(task.f, i, worker);
    } catch (...) {
      detail::current_pool_task = saved;
      throw;
    }
    detail::current_pool_task = saved;
  }
  void work(Job& job, int worker) {
    detail::current_pool_task = {this, worker};
    for (Index i; (i = job.next.fetch_add(1, std::memory_order_relaxed)) < job.n;) {
      try {
        job.task.call(job.task.f, i, worker);
      } catch (...) {
        std::lock_guard g(mutex_);
        if (!job.error) job.error = std::current_exception();
        job.next.store(job.n, std::memory_order_relaxed);
      }
    }
    detail::current_pool_task = {};
  }
  void worker_loop(int worker) {
    std::uint64_t seen = 0;
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stopping_ || (generation_ != seen && job_ != nullptr); });
      if (stopping_) return;
      seen = generation_;
      Job* job = job_;
      // Join only while tasks remain: the caller waits for every joined worker to leave, and
      // one that woke after the caller had run them all would only add a round trip.
      if (job->next.load(std::memory_order_relaxed) >= job->n) continue;
      ++job->refs;
      lock.unlock();
      work(*job, worker);
      lock.lock();
      if (--job->refs == 0) done_.notify_all();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  Job* job_ = nullptr;  // the running job, guarded by mutex_
  std::uint64_t generation_ = 0;
  bool stopping_ = false;
  std::atomic<bool> busy_{false};  // a caller owns the pool's threads
};

}  // namespace twin
