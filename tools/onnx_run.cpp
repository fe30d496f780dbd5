// onnx_run: runs an ONNX model with twin (imported by twin::onnx::import_model) on a float32
// .npy batch (NCHW) and writes the output as .npy, so that an import can be checked against
// another runtime from the shell:
//   onnx_run model.onnx --input x.npy --output y.npy [--threads N] [--shape C,H,W] [--time 2]
// --time S also runs the batch for at least S seconds and prints ms per batch.
#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>

#include <twin/onnx/import.hpp>
#include <twin/onnx/npy.hpp>

int main(int argc, char** argv) {
  CLI::App app{"Run an ONNX model with twin on a float32 .npy batch"};
  std::string model, input, output;
  std::vector<long> shape;
  int threads = 1;
  double time = 0;
  app.add_option("model", model, "the .onnx file")->required();
  app.add_option("--input", input, "float32 .npy input, batch first (N, C, H, W)")->required();
  app.add_option("--output", output, "where to write the float32 .npy output");
  app.add_option("--threads", threads, "compute threads")->check(CLI::PositiveNumber);
  app.add_option("--shape", shape, "per-sample input shape for models with dynamic axes")->delimiter(',');
  app.add_option("--time", time, "also time inference for at least this many seconds");
  CLI11_PARSE(app, argc, argv);
  try {
    twin::onnx::ImportOptions o;
    for (long d : shape) o.input_shape.push_back(d);
    auto net = twin::onnx::import_model<float>(model, o);
    const auto x = twin::onnx::read_npy(input);
    twin::Context ctx(threads);
    twin::Workspace<float> ws;
    ws.set_context(&ctx);
    ws.set_forward_only(true);
    auto y = net.forward(x.view(), ws, twin::Mode::eval);
    if (!output.empty()) twin::onnx::write_npy(output, y);
    std::cout << "onnx_run: " << model << ": " << x.shape().str() << " -> " << y.shape().str() << "\n";
    if (time > 0) {
      using clock = std::chrono::steady_clock;
      for (int i = 0; i < 2; ++i) net.forward(x.view(), ws, twin::Mode::eval);
      int runs = 0;
      const auto t0 = clock::now();
      double dt = 0;
      do {
        net.forward(x.view(), ws, twin::Mode::eval);
        ++runs;
        dt = std::chrono::duration<double>(clock::now() - t0).count();
      } while (dt < time || runs < 3);
      std::cout << "{\"runs\": " << runs << ", \"seconds\": " << dt << ", \"ms_per_run\": " << 1000 * dt / runs
                << ", \"threads\": " << threads << "}\n";
    }
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
