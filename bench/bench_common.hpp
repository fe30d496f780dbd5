#pragma once
// Pieces shared by twin's benchmark programs.
//  * Every benchmark takes the thread count as its one argument ("threads:1", "threads:2")
//    and runs on an execution context of that many threads (bench_context); times are
//    wall-clock (UseRealTime), since the work runs on pool threads that CPU time of the
//    main thread does not see.
//  * Counters: "FLOP/s" (useful floating-point operations of the textbook algorithm,
//    2 per multiply-add), "B/s" (bytes read + written once), "img/s".
#include <benchmark/benchmark.h>

#include <twin/testing/random.hpp>
#include <twin/twin.hpp>

#include <vector>

namespace twin::bench {

// A context with the benchmark's thread count, made outside the timed loop.
inline Context bench_context(const benchmark::State& state) { return Context(static_cast<int>(state.range(0))); }

inline void flops(benchmark::State& state, double per_iteration) {
  state.counters["FLOP/s"] = benchmark::Counter(per_iteration, benchmark::Counter::kIsIterationInvariantRate);
}
inline void bytes(benchmark::State& state, double per_iteration) {
  state.counters["B/s"] = benchmark::Counter(per_iteration, benchmark::Counter::kIsIterationInvariantRate);
}
inline void images(benchmark::State& state, double per_iteration) {
  state.counters["img/s"] = benchmark::Counter(per_iteration, benchmark::Counter::kIsIterationInvariantRate);
}

using twin::testing::random_tensor;

// Registers fn at 1 and 2 threads under `name`.
template <class F>
benchmark::internal::Benchmark* at_1_and_2_threads(const char* name, F fn) {
  return benchmark::RegisterBenchmark(name, fn)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(
      benchmark::kMillisecond);
}

// A layer with its own parameter and gradient blocks, outside a Sequential, so one layer
// can be timed alone.
template <class T>
struct BoundLayer {
  std::unique_ptr<Layer<T>> layer;
  Tensor<T> params, grads, buffers;
  template <class Options>
  explicit BoundLayer(const Options& o, std::uint64_t seed = 1)
      : layer(std::make_unique<typename Options::template layer<T>>(o)) {
    params = Tensor<T>(Shape{total_size(layer->params())}, T(0));
    grads = Tensor<T>(Shape{total_size(layer->params())}, T(0));
    buffers = Tensor<T>(Shape{total_size(layer->buffers())}, T(0));
    layer->bind(params.span(), grads.span(), buffers.span());
    Rng rng(seed);
    layer->init(rng);
  }
};

// The main() of every benchmark program: registers its benchmarks, parses Google
// Benchmark's flags and runs them, with twin's build_info() in the report's context.
inline int run_benchmarks(int argc, char** argv, void (*register_all)()) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("twin", build_info().str());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace twin::bench
