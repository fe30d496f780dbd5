// Where the time of one D4 step goes: runs the layers of dlib's face ResNet
// (twin/models/dlib_resnet.hpp) node by node, as Graph::forward / backward do, and prints
// each node's median time, its share of the total and, for Conv2D and Dense, its GFLOP/s.
//
//   profile_face_resnet [--batch 1] [--threads 1] [--reps 10] [--train] [--top 0]
//
// --train times Mode::train forward and backward (BatchNorm on batch statistics, every
// input gradient computed); otherwise Mode::eval forward only. Every value gets a buffer of
// its own (the graph's memory planner shares and aliases them), so the sum of the nodes can
// differ a little from an end-to-end step; the end-to-end time is printed below the table.
// With one thread the times are CPU time of the calling thread (which does all the work),
// which other load on a shared machine disturbs far less than wall time; with more threads
// they are wall time (the pool's threads do work the caller's CPU clock does not see).
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_common.hpp"

using namespace twin;

namespace {

// Milliseconds on the clock the table uses: the thread's CPU clock or the wall clock.
bool use_cpu_clock = false;
double now_ms() {
  timespec ts{};
  clock_gettime(use_cpu_clock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) * 1e-6;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// Multiply-adds x 2 of a Conv2D or Dense node (0 for the others): the weight is
// (out, in, k, k) or (out, in), and every output element takes in k k of them.
double node_flops(const Layer<float>& layer, const Shape& out) {
  if (layer.name() != "Conv2D" && layer.name() != "Dense") return 0.0;
  const Shape w = layer.params().at(0).shape;
  return 2.0 * double(out.numel()) * double(w.numel() / w[0]);
}

struct Args {
  Index batch = 1;
  int threads = 1;
  int reps = 10;
  bool train = false;
  int top = 0;  // print only the top N nodes (0: all)
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    auto value = [&](const char* flag) {
      if (i + 1 >= argc) throw error(std::string("profile_face_resnet: ") + flag + " needs a value");
      return std::atol(argv[++i]);
    };
    if (!std::strcmp(argv[i], "--batch")) a.batch = value("--batch");
    else if (!std::strcmp(argv[i], "--threads")) a.threads = static_cast<int>(value("--threads"));
    else if (!std::strcmp(argv[i], "--reps")) a.reps = static_cast<int>(value("--reps"));
    else if (!std::strcmp(argv[i], "--top")) a.top = static_cast<int>(value("--top"));
    else if (!std::strcmp(argv[i], "--train")) a.train = true;
    else throw error(std::string("profile_face_resnet: unknown argument ") + argv[i]);
  }
  if (a.batch < 1 || a.threads < 1 || a.reps < 1) throw error("profile_face_resnet: --batch, --threads, --reps must be >= 1");
  return a;
}

int run(const Args& a) {
  Context exec(a.threads);
  use_cpu_clock = a.threads == 1;
  Graph<float> g = models::dlib_face_resnet<float>();
  g.init(1);
  const Mode mode = a.train ? Mode::train : Mode::eval;
  const int inputs = g.num_inputs();  // 1
  const auto K = static_cast<std::size_t>(g.size());

  // One buffer per value (inputs first, then nodes in order) and per value gradient.
  std::vector<Shape> shape(static_cast<std::size_t>(inputs) + K);
  shape[0] = Shape{a.batch, 3, 150, 150};
  std::vector<Tensor<float>> value, grad;
  value.push_back(twin::testing::random_tensor(shape[0], 1));
  grad.emplace_back(shape[0], 0.0f);
  std::vector<std::vector<std::byte>> scratch(K);
  std::vector<Shape> in_shapes;
  for (std::size_t k = 0; k < K; ++k) {
    in_shapes.clear();
    for (int u : g.node_inputs(Index(k))) in_shapes.push_back(shape[std::size_t(u)]);
    const std::size_t v = std::size_t(inputs) + k;
    shape[v] = g[Index(k)].output_shape_n(in_shapes);
    value.emplace_back(shape[v], 0.0f);
    grad.emplace_back(shape[v], 0.0f);
    scratch[k].resize(g[Index(k)].scratch_bytes_n(in_shapes, mode) + 64);
  }
  const Tensor<float> dy_out = twin::testing::random_tensor(shape.back(), 2);

  std::vector<std::vector<double>> t_fwd(K), t_bwd(K);
  std::vector<double> t_total;
  std::vector<TensorView<const float>> xs;
  std::vector<TensorView<float>> dxs;
  Rng rng(3);
  for (int rep = 0; rep <= a.reps; ++rep) {  // rep 0 warms up (first touch of every page)
    const double step0 = now_ms();
    for (std::size_t k = 0; k < K; ++k) {
      xs.clear();
      for (int u : g.node_inputs(Index(k))) xs.push_back(value[std::size_t(u)].view());
      const std::size_t v = std::size_t(inputs) + k;
      // 64-byte aligned scratch, as the workspace hands it out.
      auto* p = scratch[k].data();
      const auto off = (64 - reinterpret_cast<std::uintptr_t>(p) % 64) % 64;
      const std::span<std::byte> s(p + off, scratch[k].size() - 64);
      const double t0 = now_ms();
      g[Index(k)].forward_n(xs, value[v].view(), {mode, s, &rng, &exec});
      if (rep > 0) t_fwd[k].push_back(now_ms() - t0);
    }
    if (a.train) {
      for (auto& d : grad) std::fill(d.data(), d.data() + d.view().size(), 0.0f);
      std::copy(dy_out.data(), dy_out.data() + dy_out.view().size(), grad.back().data());
      g.zero_grad();
      for (std::size_t k = K; k-- > 0;) {
        xs.clear();
        dxs.clear();
        std::vector<Tensor<float>> dx_own;  // a node's input gradients, added into grad[u] after
        for (int u : g.node_inputs(Index(k))) {
          xs.push_back(value[std::size_t(u)].view());
          dx_own.emplace_back(shape[std::size_t(u)], 0.0f);
        }
        // No gradient for the image (as Graph::backward without need_input_grad).
        std::size_t j = 0;
        for (int u : g.node_inputs(Index(k)))
          dxs.push_back(u < inputs ? TensorView<float>(nullptr, shape[std::size_t(u)]) : dx_own[j++].view());
        const std::size_t v = std::size_t(inputs) + k;
        auto* p = scratch[k].data();
        const auto off = (64 - reinterpret_cast<std::uintptr_t>(p) % 64) % 64;
        const std::span<std::byte> s(p + off, scratch[k].size() - 64);
        const double t0 = now_ms();
        g[Index(k)].backward_n(xs, value[v].view(), grad[v].view(), dxs, {mode, s, &rng, &exec});
        if (rep > 0) t_bwd[k].push_back(now_ms() - t0);
        j = 0;
        for (int u : g.node_inputs(Index(k))) {
          if (u < inputs) continue;
          auto dst = grad[std::size_t(u)].view();
          const auto src = dx_own[j++].view();
          for (Index i = 0; i < dst.size(); ++i) dst.data()[i] += src.data()[i];
        }
      }
    }
    if (rep > 0) t_total.push_back(now_ms() - step0);
  }

  struct Row {
    std::size_t k;
    double fwd, bwd, flops;
  };
  std::vector<Row> rows;
  double sum = 0, conv = 0, conv_flops = 0;
  for (std::size_t k = 0; k < K; ++k) {
    const double flops = node_flops(g[Index(k)], shape[std::size_t(inputs) + k]) * (a.train ? 3.0 : 1.0);
    Row r{k, median(t_fwd[k]), a.train ? median(t_bwd[k]) : 0.0, flops};
    sum += r.fwd + r.bwd;
    if (flops > 0) conv += r.fwd + r.bwd, conv_flops += flops;
    rows.push_back(r);
  }
  auto sorted = rows;
  if (a.top > 0) {
    std::sort(sorted.begin(), sorted.end(), [](const Row& x, const Row& y) { return x.fwd + x.bwd > y.fwd + y.bwd; });
    sorted.resize(std::min<std::size_t>(sorted.size(), std::size_t(a.top)));
  }
  std::printf("dlib face ResNet, batch %ld, %d thread(s), %s, median of %d, %s ms\n", long(a.batch), a.threads,
              a.train ? "train forward + backward" : "eval forward", a.reps, use_cpu_clock ? "thread CPU" : "wall");
  std::printf("%-22s %-34s %-18s %9s %9s %6s %8s\n", "node", "layer", "output", "fwd ms", "bwd ms", "%", "GFLOP/s");
  for (const Row& r : sorted) {
    const double t = r.fwd + r.bwd;
    std::string d = g[Index(r.k)].describe();
    if (d.size() > 34) d.resize(34);
    char gf[16] = "";
    if (r.flops > 0) std::snprintf(gf, sizeof gf, "%8.1f", r.flops / (t * 1e6));
    std::printf("%-22s %-34s %-18s %9.3f %9.3f %5.1f%% %8s\n", g.node_name(Index(r.k)).c_str(), d.c_str(),
                shape[std::size_t(inputs) + r.k].str().c_str(), r.fwd, r.bwd, 100.0 * t / sum, gf);
  }
  std::printf("sum of nodes %.2f ms (Conv2D + Dense %.2f ms = %.1f%%, %.1f GFLOP/s; the rest %.2f ms)\n", sum, conv,
              100.0 * conv / sum, conv_flops / (conv * 1e6), sum - conv);
  std::printf("Conv2D + Dense: %.3f GFLOP per image forward\n",
              conv_flops / (a.train ? 3.0 : 1.0) / double(a.batch) / 1e9);
  std::printf("step, node by node %.2f ms\n", median(t_total));

  // The same through Graph::forward (its planned arena), for comparison.
  Workspace<float> ws;
  ws.set_context(&exec);  // the table's threads (a workspace's own context would use every core)
  std::vector<double> t_graph;
  for (int rep = 0; rep <= a.reps; ++rep) {
    const double t0 = now_ms();
    g.forward(value[0].view(), ws, mode);
    if (a.train) g.backward(dy_out.view(), ws);
    if (rep > 0) t_graph.push_back(now_ms() - t0);
  }
  std::printf("step, Graph::forward%s %.2f ms; its workspace %.1f MiB, parameters %.1f MiB\n",
              a.train ? " + backward" : "", median(t_graph), double(ws.bytes()) / (1 << 20),
              double(g.num_params()) * sizeof(float) / (1 << 20));
  if (a.train) return 0;
  // Inference in forward-only workspaces, unfused and fused (Workspace::set_fusion), the
  // two alternated: what folding BatchNorm and fusing ReLU / Add into the convolutions buys.
  Workspace<float> plain, fused;
  plain.set_context(&exec);
  fused.set_context(&exec);
  plain.set_forward_only(true);
  plain.set_fusion(false);
  fused.set_forward_only(true);
  std::vector<double> t_plain, t_fused;
  for (int rep = 0; rep <= a.reps; ++rep) {
    double t0 = now_ms();
    g.forward(value[0].view(), plain, Mode::eval);
    if (rep > 0) t_plain.push_back(now_ms() - t0);
    t0 = now_ms();
    g.forward(value[0].view(), fused, Mode::eval);
    if (rep > 0) t_fused.push_back(now_ms() - t0);
  }
  std::printf("forward-only Graph::forward: unfused %.2f ms (workspace %.1f MiB), fused %.2f ms (workspace %.1f MiB)\n",
              median(t_plain), double(plain.bytes()) / (1 << 20), median(t_fused), double(fused.bytes()) / (1 << 20));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
}
