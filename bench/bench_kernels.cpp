// Kernel-level benchmarks: the machine's FMA peak, GEMM (twin's kernel vs Eigen's), the
// layer workloads C1-C5 (convolutions, dense layers and pooling of the D1-D3 towers) and the
// D4 face ResNet's convolutions in fused inference, at 1 and 2 threads.
#include "bench_common.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

using namespace twin;
using namespace twin::bench;
using kernels::Trans;

namespace {

// Peak fp32 FMA throughput: 12 independent accumulator chains per thread (more than
// latency x ports on current x86 cores), no memory traffic. Each thread runs its own loop.
void peak_fma(benchmark::State& state) {
  Context ctx = bench_context(state);
  const Index threads = state.range(0);
  constexpr Index iters = 1 << 16;
#if defined(__AVX2__) && defined(__FMA__)
  constexpr double flops_per_iter = 12 * 8 * 2;
  std::vector<float> sink(static_cast<std::size_t>(threads) * 16);
  for (auto _ : state) {
    ctx.pool()->run(threads, [&](Index t, int) {
      __m256 acc[12];
      for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(float(i + t));
      const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
      for (Index i = 0; i < iters; ++i)
        for (int j = 0; j < 12; ++j) acc[j] = _mm256_fmadd_ps(acc[j], m, a);
      __m256 s = acc[0];
      for (int j = 1; j < 12; ++j) s = _mm256_add_ps(s, acc[j]);
      sink[static_cast<std::size_t>(t * 16)] = _mm256_cvtss_f32(s);
    });
    benchmark::DoNotOptimize(sink.data());
  }
#else
  constexpr double flops_per_iter = 0;
#endif
  flops(state, flops_per_iter * double(iters) * double(threads));
}

// STREAM triad a = b + s c over arrays larger than the L3 cache; bytes counted as STREAM
// does (two reads, one write per element).
void stream_triad(benchmark::State& state) {
  Context ctx = bench_context(state);
  constexpr Index n = Index(1) << 23;  // 32 MiB per array
  std::vector<float> a(n, 0.0f), b(n, 1.0f), c(n, 2.0f);
  for (auto _ : state) {
    ctx.parallel_for(0, n, 1 << 16, [&](Index lo, Index hi) {
      for (Index i = lo; i < hi; ++i) a[std::size_t(i)] = b[std::size_t(i)] + 0.5f * c[std::size_t(i)];
    });
    benchmark::DoNotOptimize(a.data());
  }
  bytes(state, 3.0 * double(n) * sizeof(float));
}

// One GEMM C = A B, (M, K) x (K, N), with twin's kernel or Eigen's.
template <bool use_eigen>
void gemm_shape(benchmark::State& state) {
  Context ctx = bench_context(state);
  const Index M = state.range(1), N = state.range(2), K = state.range(3);
  const auto a = random_tensor(Shape{M, K}, 1), b = random_tensor(Shape{K, N}, 2);
  Tensor<float> c(Shape{M, N}, 0.0f);
  // The context is new: its packing buffers are allocated by this first call, untimed.
  kernels::gemm_parallel<float>(ctx, Trans::no, Trans::no, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, c.data(), N);
  for (auto _ : state) {
    if constexpr (use_eigen)
      kernels::detail::gemm_eigen<float>(Trans::no, Trans::no, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f,
                                         c.data(), N);
    else
      kernels::gemm_parallel<float>(ctx, Trans::no, Trans::no, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f,
                                    c.data(), N);
    benchmark::DoNotOptimize(c.data());
  }
  flops(state, 2.0 * double(M) * double(N) * double(K));
}

// C4: Dense layer forward, or forward + backward (dW, db and dx).
void dense(benchmark::State& state, Index batch, Index in, Index out, bool backward) {
  Context exec = bench_context(state);
  BoundLayer<float> l(Dense{.in = in, .out = out});
  const auto x = random_tensor(Shape{batch, in}, 3), dy = random_tensor(Shape{batch, out}, 4);
  Tensor<float> y(Shape{batch, out}), dx(Shape{batch, in});
  const LayerContext ctx{Mode::train, {}, nullptr, &exec};
  l.layer->forward(x.view(), y.view(), ctx);
  l.layer->backward(x.view(), y.view(), dy.view(), dx.view(), ctx);
  for (auto _ : state) {
    l.layer->forward(x.view(), y.view(), ctx);
    if (backward) l.layer->backward(x.view(), y.view(), dy.view(), dx.view(), ctx);
    benchmark::DoNotOptimize(dx.data());
  }
  flops(state, (backward ? 6.0 : 2.0) * double(batch) * double(in) * double(out));
}

// Runs one layer forward (and backward to input and weights) on a fixed batch, with its
// scratch allocated once outside the timed loop, as a Sequential's workspace would.
struct LayerRun {
  BoundLayer<float> l;
  Tensor<float> x, y, dy, dx;
  std::unique_ptr<std::byte[], detail::AlignedDelete<std::byte>> scratch;
  LayerContext ctx;
  template <class Options>
  LayerRun(const Options& o, const Shape& in, Context& exec) : l(o) {
    x = random_tensor(in, 5);
    const Shape out = l.layer->output_shape(in);
    y = Tensor<float>(out);
    dy = random_tensor(out, 6);
    dx = Tensor<float>(in);
    const std::size_t n = l.layer->scratch_bytes(in, Mode::train);
    scratch = detail::aligned_alloc_array<std::byte>(static_cast<Index>(std::max<std::size_t>(n, 1)));
    ctx = LayerContext{Mode::train, {scratch.get(), n}, nullptr, &exec};
  }
  void step(bool backward) {
    l.layer->forward(x.view(), y.view(), ctx);
    if (backward) l.layer->backward(x.view(), y.view(), dy.view(), dx.view(), ctx);
  }
};

// C1-C3: Conv2D forward, or forward + backward (dW, db and dx: three GEMMs' worth).
void conv(benchmark::State& state, Conv2D o, Shape in, bool backward) {
  Context exec = bench_context(state);
  LayerRun r(o, in, exec);
  r.step(backward);  // first touch of outputs and scratch happens outside the timing
  for (auto _ : state) {
    r.step(backward);
    benchmark::DoNotOptimize(r.dx.data());
  }
  const Shape out = r.y.shape();
  flops(state, (backward ? 6.0 : 2.0) * double(out.numel()) * double(o.in * o.kernel * o.kernel));
}

// The D4 face ResNet's convolutions as its fused inference runs them: weights folded and
// pre-packed once (Layer::fold), then forward_folded with the ReLU epilogue, optionally
// with a residual of the output's shape; batch 16. Set beside ONNX Runtime's own per-node
// times (bench/onnxruntime/profile_nodes.js).
void conv_folded(benchmark::State& state, Conv2D o, Shape in, bool residual) {
  Context exec = bench_context(state);
  LayerRun r(o, in, exec);
  Tensor<float> folded(Shape{r.l.layer->folded_size(in)});  // 64-byte aligned, as a workspace holds it
  r.l.layer->fold(in, {}, {}, folded.span());
  const Tensor<float> res = random_tensor(r.y.shape(), 7);
  const Epilogue<float> e{.residual = residual ? res.data() : nullptr, .relu = true};
  const LayerContext ctx{Mode::eval, r.ctx.scratch, nullptr, &exec};
  r.l.layer->forward_folded(r.x.view(), r.y.view(), folded.span(), e, ctx);  // first touch outside the timing
  for (auto _ : state) {
    r.l.layer->forward_folded(r.x.view(), r.y.view(), folded.span(), e, ctx);
    benchmark::DoNotOptimize(r.y.data());
  }
  flops(state, 2.0 * double(r.y.size()) * double(o.in * o.kernel * o.kernel));
}

// C5: pooling forward (bytes: x read, y written) or forward + backward (also dy read,
// dx written).
template <class Pool>
void pool(benchmark::State& state, Pool o, Shape in, bool backward) {
  Context exec = bench_context(state);
  LayerRun r(o, in, exec);
  r.step(backward);
  for (auto _ : state) {
    r.step(backward);
    benchmark::DoNotOptimize(r.dx.data());
  }
  bytes(state, double(in.numel() + r.y.size()) * sizeof(float) * (backward ? 2 : 1));
}

void register_all() {
  at_1_and_2_threads("peak_fma", peak_fma)->Unit(benchmark::kMicrosecond);
  at_1_and_2_threads("stream_triad", stream_triad);
  // conv C1 per image (Cout, H*W, Cin*9); square; Dense dW (out, in, batch).
  const std::array<Index, 3> shapes[] = {{64, 3136, 288}, {512, 512, 512}, {256, 4096, 64}};
  for (auto [m, n, k] : shapes) {
    for (int t : {1, 2}) {
      benchmark::RegisterBenchmark("gemm_twin", gemm_shape<false>)->Args({t, m, n, k})->ArgNames({"threads", "M", "N", "K"})->UseRealTime()->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark("gemm_eigen", gemm_shape<true>)->Args({t, m, n, k})->ArgNames({"threads", "M", "N", "K"})->UseRealTime()->Unit(benchmark::kMillisecond);
    }
  }
  const Conv2D c1{.in = 32, .out = 64, .kernel = 3, .stride = 1, .pad = 1};
  const Conv2D c2{.in = 1, .out = 4, .kernel = 5, .stride = 1, .pad = 0};
  const Conv2D c3{.in = 1, .out = 32, .kernel = 7, .stride = 2, .pad = 3};
  const Shape s1{32, 32, 56, 56}, s2{64, 1, 28, 28}, s3{32, 1, 96, 192};
  at_1_and_2_threads("C1_conv3x3_fwd", [=](benchmark::State& s) { conv(s, c1, s1, false); });
  at_1_and_2_threads("C1_conv3x3_fwdbwd", [=](benchmark::State& s) { conv(s, c1, s1, true); });
  at_1_and_2_threads("C2_conv5x5_fwd", [=](benchmark::State& s) { conv(s, c2, s2, false); });
  at_1_and_2_threads("C2_conv5x5_fwdbwd", [=](benchmark::State& s) { conv(s, c2, s2, true); });
  at_1_and_2_threads("C3_conv7x7s2_fwd", [=](benchmark::State& s) { conv(s, c3, s3, false); });
  at_1_and_2_threads("C3_conv7x7s2_fwdbwd", [=](benchmark::State& s) { conv(s, c3, s3, true); });
  struct D4Conv {
    const char* name;
    Conv2D o;
    Shape in;
    bool residual;
  };
  const D4Conv d4[] = {
      {"D4_conv_stem7x7s2", {.in = 3, .out = 32, .kernel = 7, .stride = 2}, Shape{16, 3, 150, 150}, false},
      {"D4_conv_l1_32x35", {.in = 32, .out = 32, .kernel = 3, .pad = 1}, Shape{16, 32, 35, 35}, true},
      {"D4_conv_l2down_s2", {.in = 32, .out = 64, .kernel = 3, .stride = 2}, Shape{16, 32, 35, 35}, false},
      {"D4_conv_l2_64x17", {.in = 64, .out = 64, .kernel = 3, .pad = 1}, Shape{16, 64, 17, 17}, true},
      {"D4_conv_l3down_s2", {.in = 64, .out = 128, .kernel = 3, .stride = 2}, Shape{16, 64, 17, 17}, false},
      {"D4_conv_l3_128x8", {.in = 128, .out = 128, .kernel = 3, .pad = 1}, Shape{16, 128, 8, 8}, true},
      {"D4_conv_l4down_s2", {.in = 128, .out = 256, .kernel = 3, .stride = 2}, Shape{16, 128, 8, 8}, false},
      {"D4_conv_l4down_3x3", {.in = 256, .out = 256, .kernel = 3, .pad = 1}, Shape{16, 256, 3, 3}, false},
      {"D4_conv_l4_256x4", {.in = 256, .out = 256, .kernel = 3, .pad = 1}, Shape{16, 256, 4, 4}, true},
      {"D4_conv_l5down_s2", {.in = 256, .out = 256, .kernel = 3, .stride = 2}, Shape{16, 256, 3, 3}, false},
      {"D4_conv_l5down_1x1", {.in = 256, .out = 256, .kernel = 3, .pad = 1}, Shape{16, 256, 1, 1}, false}};
  for (const D4Conv& c : d4)
    at_1_and_2_threads(c.name, [=](benchmark::State& s) { conv_folded(s, c.o, c.in, c.residual); })
        ->Unit(benchmark::kMillisecond);
  for (bool bwd : {false, true}) {
    at_1_and_2_threads(bwd ? "C5a_maxpool3s2_fwdbwd" : "C5a_maxpool3s2_fwd", [=](benchmark::State& s) {
      pool(s, MaxPool2D{.kernel = 3, .stride = 2}, Shape{32, 64, 48, 96}, bwd);
    });
    at_1_and_2_threads(bwd ? "C5b_avgpool2_fwdbwd" : "C5b_avgpool2_fwd",
                       [=](benchmark::State& s) { pool(s, AvgPool2D{.kernel = 2}, Shape{64, 4, 24, 24}, bwd); });
  }
  at_1_and_2_threads("C4a_dense_4096_256_fwd", [](benchmark::State& s) { dense(s, 64, 4096, 256, false); });
  at_1_and_2_threads("C4a_dense_4096_256_fwdbwd", [](benchmark::State& s) { dense(s, 64, 4096, 256, true); });
  at_1_and_2_threads("C4b_dense_256_128_fwd", [](benchmark::State& s) { dense(s, 64, 256, 128, false); });
  at_1_and_2_threads("C4b_dense_256_128_fwdbwd", [](benchmark::State& s) { dense(s, 64, 256, 128, true); });
}

}  // namespace

int main(int argc, char** argv) { return run_benchmarks(argc, argv, register_all); }
