// A small end-to-end training demo: an MLP classifies MNIST digits; the loss goes down.
//   mnist_demo [--data DIR] [--epochs N]
#include <twin/io/idx.hpp>
#include <twin/twin.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include <data_dir.hpp>

namespace {
// Softmax cross-entropy over logits (N, 10); writes dlogits = (softmax - onehot) / N.
float softmax_xent(twin::TensorView<const float> z, const int* labels, twin::Tensor<float>& dz, int& correct) {
  const twin::Index n = z.dim(0), k = z.dim(1);
  dz.resize(z.shape());
  double loss = 0;
  for (twin::Index i = 0; i < n; ++i) {
    const float* row = z.data() + i * k;
    float mx = row[0];
    twin::Index arg = 0;
    for (twin::Index j = 1; j < k; ++j)
      if (row[j] > mx) mx = row[j], arg = j;
    correct += arg == labels[i];
    double s = 0;
    for (twin::Index j = 0; j < k; ++j) s += std::exp(row[j] - mx);
    loss += std::log(s) + mx - row[labels[i]];
    for (twin::Index j = 0; j < k; ++j)
      dz(i, j) = static_cast<float>((std::exp(row[j] - mx) / s - (j == labels[i])) / n);
  }
  return static_cast<float>(loss / n);
}
}  // namespace

int main(int argc, char** argv) try {
  std::string data;
  int epochs = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--data" && i + 1 < argc) data = argv[++i];
    else if (a == "--epochs" && i + 1 < argc) epochs = std::stoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: mnist_demo [--data DIR] [--epochs N]\n");
      return 2;
    }
  }
  const auto dir = twin_examples::find_data_dir(data, "mnist");
  auto images = twin::io::read_idx_images((dir / "train-images-idx3-ubyte.gz").string());
  auto labels = twin::io::read_idx_labels((dir / "train-labels-idx1-ubyte.gz").string());
  auto test_images = twin::io::read_idx_images((dir / "t10k-images-idx3-ubyte.gz").string());
  auto test_labels = twin::io::read_idx_labels((dir / "t10k-labels-idx1-ubyte.gz").string());

  twin::Sequential<float> net;
  net.add(twin::Flatten{})
      .add(twin::Dense{.in = 784, .out = 128, .init = twin::Init::he_uniform})
      .add(twin::ReLU{})
      .add(twin::Dense{.in = 128, .out = 10});
  net.init(42);
  std::printf("%s", net.summary(twin::Shape{64, 1, 28, 28}).c_str());
  twin::Adam<float> opt({.lr = 1e-3});
  twin::Workspace<float> ws;
  twin::Tensor<float> dz;
  const twin::Index batch = 64, n = images.dim(0);
  twin::Rng rng(1);
  std::vector<twin::Index> order(static_cast<std::size_t>(n));
  for (twin::Index i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  twin::Tensor<float> x(twin::Shape{batch, 1, 28, 28});
  std::vector<int> y(batch);
  for (int epoch = 0; epoch < epochs; ++epoch) {
    rng.shuffle(std::span<twin::Index>(order));
    const auto t0 = std::chrono::steady_clock::now();
    double running = 0;
    int seen = 0, correct = 0;
    for (twin::Index b = 0; b + batch <= n; b += batch) {
      for (twin::Index i = 0; i < batch; ++i) {
        const twin::Index src = order[static_cast<std::size_t>(b + i)];
        std::copy_n(images.data() + src * 784, 784, x.data() + i * 784);
        y[static_cast<std::size_t>(i)] = labels[static_cast<std::size_t>(src)];
      }
      net.zero_grad();
      running += softmax_xent(net.forward(x.view(), ws, twin::Mode::train), y.data(), dz, correct);
      seen += static_cast<int>(batch);
      net.backward(dz.view(), ws);
      opt.step(net.params(), net.grads());
      if ((b / batch) % 200 == 199) {
        std::printf("epoch %d  step %5td  loss %.4f  train acc %.3f\n", epoch + 1, b / batch + 1,
                    running / 200.0, double(correct) / seen);
        running = 0;
        seen = correct = 0;
      }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    int test_correct = 0;
    const float test_loss =
        softmax_xent(net.forward(test_images.view(), ws, twin::Mode::eval), test_labels.data(), dz, test_correct);
    std::printf("epoch %d done in %.1f s: test loss %.4f, test accuracy %.4f\n", epoch + 1, secs, test_loss,
                double(test_correct) / static_cast<double>(test_images.dim(0)));
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "mnist_demo: %s\n", e.what());
  return 1;
}
