// Execution contexts and the thread pool under concurrent callers: several request threads
// running inference on one const trained model (one workspace and context each) give the
// bits a single caller gets; two threads using one pool at once cover every index exactly
// once; nested calls run inline on the running worker. Also built and run under
// ThreadSanitizer (tests/tsan.cmake, preset `tsan`). Every wait has a deadline, so a hang
// fails the test instead of stalling the suite.
#include <doctest/doctest.h>

#include <twin/twin.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace test_concurrency {  // file-local: the test files are compiled as unity batches

using namespace twin;

namespace {

// Runs fn(t) on `threads` threads and joins them; aborts the process if they take longer
// than `limit` (a deadlock cannot be recovered from inside the test).
template <class F>
void run_threads(int threads, F fn, std::chrono::seconds limit = std::chrono::seconds(240)) {
  std::mutex m;
  std::condition_variable cv;
  int done = 0;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      fn(t);
      std::lock_guard g(m);
      ++done;
      cv.notify_all();
    });
  {
    std::unique_lock lock(m);
    if (!cv.wait_for(lock, limit, [&] { return done == threads; })) {
      std::fprintf(stderr, "test_concurrency: %d of %d threads did not finish within %lld s (deadlock?)\n",
                   threads - done, threads, static_cast<long long>(limit.count()));
      std::abort();
    }
  }
  for (auto& t : ts) t.join();
}

// A small convolutional tower with every kind of per-call kernel state: packed conv weights
// (shared by the workers), per-worker im2col/panel buffers, GEMM packing (Dense), BatchNorm.
Sequential<float> conv_tower() {
  Sequential<float> net;
  net.add(Conv2D{.in = 1, .out = 6, .kernel = 3, .pad = 1})
      .add(BatchNorm2d{.features = 6})
      .add(ReLU{})
      .add(MaxPool2D{.kernel = 2})
      .add(Conv2D{.in = 6, .out = 8, .kernel = 3, .stride = 2})
      .add(ReLU{})
      .add(Flatten{})
      .add(Dense{.in = 8 * 4 * 4, .out = 10})
      .add(L2Normalize{});
  return net;
}

// A few SGD steps, so the weights and BatchNorm statistics are a trained model's, not init's.
void train_a_little(Sequential<float>& net) {
  Context ctx(2);
  Workspace<float> ws(3);
  ws.set_context(&ctx);
  SGD<float> opt({.lr = 0.05});
  Rng rng(5);
  Tensor<float> x(Shape{6, 1, 18, 18});
  for (int step = 0; step < 3; ++step) {
    for (float& v : x) v = static_cast<float>(rng.uniform(-1, 1));
    net.zero_grad();
    auto y = net.forward(x.view(), ws, Mode::train);
    Tensor<float> dy(y.shape());
    for (float& v : dy) v = static_cast<float>(rng.uniform(-1, 1));
    net.backward(dy.view(), ws);
    opt.step(net.params(), net.grads(), &ctx);
  }
}

bool same_bits(TensorView<const float> a, const std::vector<float>& b) {
  return static_cast<std::size_t>(a.size()) == b.size() &&
         std::memcmp(a.data(), b.data(), b.size() * sizeof(float)) == 0;
}

// Request threads, each with its own workspace and context, run `calls` inferences each on
// one const model; every output is compared bit for bit with a single caller's. make_ctx(t)
// gives request thread t its context.
template <class MakeContext>
int mismatches_under_load(int requests, int calls, MakeContext make_ctx) {
  Sequential<float> trained = conv_tower();
  trained.init(11);
  train_a_little(trained);
  const Sequential<float>& model = trained;  // inference is const

  constexpr int inputs = 6;
  std::vector<Tensor<float>> x;
  Rng rng(7);
  for (int i = 0; i < inputs; ++i) {
    x.emplace_back(Shape{3 + i % 3, 1, 18, 18});  // batch sizes 3..5: uneven splits over workers
    for (float& v : x.back()) v = static_cast<float>(rng.uniform(-1, 1));
  }
  std::vector<std::vector<float>> want;
  {
    Context one(1);
    Workspace<float> ws;
    ws.set_context(&one);
    for (const auto& xi : x) {
      auto y = model.forward(xi.view(), ws, Mode::eval);
      want.emplace_back(y.begin(), y.end());
    }
  }
  std::atomic<int> bad{0};
  run_threads(requests, [&](int t) {
    std::unique_ptr<Context> ctx = make_ctx(t);
    Workspace<float> ws;
    ws.set_context(ctx.get());
    for (int k = 0; k < calls; ++k) {
      const int i = (t + k) % inputs;
      if (!same_bits(model.forward(x[static_cast<std::size_t>(i)].view(), ws, Mode::eval), want[std::size_t(i)])) ++bad;
    }
  });
  return bad.load();
}

}  // namespace

TEST_CASE("4 request threads, one const model, a 2-thread context each: a single caller's bits") {
  const int bad = mismatches_under_load(4, 150, [](int) { return std::make_unique<Context>(2); });
  CHECK(bad == 0);
}

TEST_CASE("4 request threads whose contexts share one 2-thread pool: a single caller's bits") {
  auto pool = std::make_shared<ThreadPool>(2);
  const int bad = mismatches_under_load(4, 150, [&](int) { return std::make_unique<Context>(pool); });
  CHECK(bad == 0);
}

TEST_CASE("Two threads on one pool at once: every index covered exactly once") {
  auto pool = std::make_shared<ThreadPool>(3);
  std::atomic<int> failures{0};
  run_threads(2, [&](int t) {
    Context ctx(pool);
    Rng rng(100 + static_cast<std::uint64_t>(t));
    std::vector<std::atomic<int>> hits(3000);
    for (int rep = 0; rep < 300; ++rep) {
      const Index n = 1 + static_cast<Index>(rng.uniform() * 2999);
      for (Index i = 0; i < n; ++i) hits[std::size_t(i)].store(0, std::memory_order_relaxed);
      if (rep % 2 == 0) {
        ctx.parallel_for(0, n, 1, [&](Index lo, Index hi) {
          for (Index i = lo; i < hi; ++i) hits[std::size_t(i)].fetch_add(1, std::memory_order_relaxed);
        });
      } else {
        ctx.fixed_chunks(n, 37, [&](Index, Index lo, Index hi) {
          for (Index i = lo; i < hi; ++i) hits[std::size_t(i)].fetch_add(1, std::memory_order_relaxed);
        });
      }
      for (Index i = 0; i < n; ++i)
        if (hits[std::size_t(i)].load(std::memory_order_relaxed) != 1) {
          ++failures;
          break;
        }
    }
  });
  CHECK(failures.load() == 0);
}

TEST_CASE("ThreadPool::run from two threads at once: each task once, worker indices in range") {
  ThreadPool pool(2);
  std::atomic<int> failures{0};
  run_threads(2, [&](int) {
    std::vector<std::atomic<int>> hits(64);
    for (int rep = 0; rep < 500; ++rep) {
      for (auto& h : hits) h.store(0, std::memory_order_relaxed);
      pool.run(64, [&](Index i, int worker) {
        if (worker < 0 || worker >= pool.size()) ++failures;
        hits[std::size_t(i)].fetch_add(1, std::memory_order_relaxed);
      });
      for (auto& h : hits)
        if (h.load(std::memory_order_relaxed) != 1) ++failures;
    }
  });
  CHECK(failures.load() == 0);
}

TEST_CASE("Nested parallel_for runs inline on the running worker, with its buffers") {
  Context ctx(2);
  std::vector<std::atomic<int>> hits(40 * 50);
  std::atomic<int> wrong_buffers{0};
  ctx.parallel_for(0, 40, 1, [&](Index lo, Index hi, WorkBuffers& outer) {
    for (Index i = lo; i < hi; ++i)
      ctx.parallel_for(0, 50, 1, [&](Index a, Index b, WorkBuffers& inner) {
        if (&inner != &outer || &ctx.caller_buffers() != &outer) ++wrong_buffers;
        for (Index j = a; j < b; ++j) hits[std::size_t(i * 50 + j)].fetch_add(1, std::memory_order_relaxed);
      });
  });
  for (auto& h : hits) REQUIRE(h.load() == 1);
  CHECK(wrong_buffers.load() == 0);
  CHECK(&ctx.caller_buffers() == &ctx.buffers(0));  // outside any task: the caller's slot
}

TEST_CASE("A task's exception reaches the caller and the pool stays usable") {
  Context ctx(2);
  CHECK_THROWS_WITH_AS(ctx.parallel_for(0, 100, 1,
                                        [&](Index lo, Index) {
                                          if (lo >= 50) throw std::runtime_error("task failed");
                                        }),
                       "task failed", std::runtime_error);
  std::atomic<Index> sum{0};
  ctx.parallel_for(0, 100, 1, [&](Index lo, Index hi) {
    for (Index i = lo; i < hi; ++i) sum += i;
  });
  CHECK(sum.load() == 4950);
}

TEST_CASE("Context: thread count, buffers per worker, bad arguments named") {
  Context one(1), two(2);
  CHECK(one.threads() == 1);
  CHECK(two.threads() == 2);
  CHECK(&two.buffers(0) != &two.buffers(1));
  CHECK_THROWS_AS(two.buffers(2), error);
  CHECK_THROWS_AS(two.fixed_chunks(10, 0, [](Index, Index, Index) {}), error);
  CHECK_THROWS_AS(Context(std::shared_ptr<ThreadPool>()), error);
  float* p = two.buffers(1).get<float>(WorkBuffers::gemm_a, 100);
  CHECK(reinterpret_cast<std::uintptr_t>(p) % tensor_alignment == 0);
  CHECK(two.buffers(1).get<float>(WorkBuffers::gemm_a, 50) == p);  // grow-only: reused
  CHECK(two.bytes() >= 100 * sizeof(float));
  // fixed_chunks' chunks do not depend on the thread count.
  for (Context* c : {&one, &two}) {
    std::vector<Index> bounds(3 * 4, -1);
    c->fixed_chunks(10, 4, [&](Index k, Index lo, Index hi) {
      bounds[std::size_t(k * 4)] = lo;
      bounds[std::size_t(k * 4 + 1)] = hi;
    });
    CHECK(bounds[0] == 0);
    CHECK(bounds[1] == 4);
    CHECK(bounds[4] == 4);
    CHECK(bounds[9] == 10);
  }
}

TEST_CASE("A layer without an execution context says so; a Workspace without one makes its own") {
  Sequential<float> net;
  net.add(Dense{.in = 3, .out = 2});
  net.init(1);
  Tensor<float> x(Shape{2, 3}, 0.5f), y(Shape{2, 2});
  CHECK_THROWS_WITH_AS(net[0].forward(x.view(), y.view(), LayerContext{}), doctest::Contains("no execution context"),
                       error);
  Workspace<float> ws;
  const auto a = net.forward(x.view(), ws, Mode::eval);
  const std::vector<float> first(a.begin(), a.end());
  CHECK(ws.context().threads() == default_threads());
  Context mine(1);
  ws.set_context(&mine);
  CHECK(&ws.context() == &mine);
  CHECK(same_bits(net.forward(x.view(), ws, Mode::eval), first));
}

}  // namespace test_concurrency
