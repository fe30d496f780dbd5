// Checks of twin's face models against face-api's real weights (tests/face_api.cmake):
//
//   face_api_check load      [--models DIR]
//       the recognition net's weights load (117 tensors, 5,614,592 parameters, all finite)
//       and a descriptor comes out finite and non-zero
//   face_api_check reference [--models DIR] [--runner DIR] [--data DIR] [--count N] [--tol T]
//       descriptors of N AT&T faces (whole image padded to a square, 150 x 150) from twin and
//       from face-api itself in headless Chromium (tests/face_api/reference.mjs) agree to T
//   face_api_check speed [--models DIR] [--reps R]
//       descriptor latency of the recognition net at batch 1 and 16 on 1 and 2 threads, and
//       of the landmark net at batch 1 (median of R runs; a measurement, not a test)
//   face_api_check landmarks (the same options)
//       the 68 landmarks of N AT&T faces (whole image as the face box) agree to T pixels
//   face_api_check detect (the same options) [--input-size S] [--score-threshold P]
//       the tiny face detector finds the same faces in N AT&T images as face-api: as many
//       boxes (at least one an image), each box's x, y, w, h relative to the image's width
//       and height (0..1) and each score within T; the largest difference in pixels is
//       printed too
//
// Exit 77 (ctest's skip code), with the reason on stdout, when the weights cache, the runner
// (node, puppeteer-core, chromium) or the data are absent.
#include <twin/face/landmark_net.hpp>
#include <twin/face/recognition_net.hpp>
#include <twin/face/square_resize.hpp>
#include <twin/face/tiny_face_detector.hpp>
#include <twin/io/image.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

int skip(const std::string& why) {
  std::printf("SKIPPED: %s\n", why.c_str());
  return 77;
}

std::string arg(int argc, char** argv, const std::string& name, const std::string& fallback) {
  for (int i = 2; i + 1 < argc; ++i)
    if (argv[i] == "--" + name) return argv[i + 1];
  return fallback;
}

bool on_path(const std::string& tool) { return std::system(("command -v " + tool + " > /dev/null 2>&1").c_str()) == 0; }

// The 150 x 150 input of every image, as face-api makes it without a detection.
twin::Tensor<float> inputs(const std::vector<fs::path>& files) {
  twin::Tensor<float> x(twin::Shape{static_cast<twin::Index>(files.size()), 3, 150, 150});
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto img = twin::io::load_image(files[i]);
    const auto rgb = twin::face::square_resize(img.data(), img.dim(0), img.dim(1), 1, 150);
    twin::face::recognition_input(rgb.data(), 150, x.view(), static_cast<twin::Index>(i));
  }
  return x;
}

int load(const fs::path& models) {
  twin::Graph<float> net = twin::face::load_recognition_net(models);
  const auto w = twin::io::load_tfjs(twin::face::model_manifest("face_recognition_model", models));
  std::printf("face_recognition_model: %zu tensors, %td values; twin graph %td parameters\n", w.size(), w.num_values(),
              net.num_params());
  bool ok = w.size() == 117 && w.num_values() == 5614592 && net.num_params() == 5614592;
  for (float v : net.params()) ok = ok && std::isfinite(v);
  twin::Tensor<float> x(twin::Shape{1, 3, 150, 150}, 0.f);
  const auto d = net.forward(x.view());
  double norm = 0;
  for (float v : d) norm += double(v) * v;
  std::printf("descriptor of a mean-grey image: |d| = %.4f\n", std::sqrt(norm));
  ok = ok && d.shape() == twin::Shape{1, 128} && std::isfinite(norm) && norm > 0;
  std::printf("%s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}

int reference(int argc, char** argv, const fs::path& models, const std::string& task) {
  const fs::path runner = arg(argc, argv, "runner", (models.parent_path() / "runner").string());
  const std::string chromium = arg(argc, argv, "chromium", "/usr/bin/chromium");
  // --data, else $TWIN_DATA (for a checkout whose ../shared/data is elsewhere)
  fs::path data = arg(argc, argv, "data", "");
  if (const char* env = std::getenv("TWIN_DATA"); env && *env && !fs::is_directory(data / "att_faces")) data = env;
  const int count = std::stoi(arg(argc, argv, "count", "24"));
  const double tol = std::stod(arg(argc, argv, "tol", task == "landmarks" ? "1e-3" : "1e-4"));
  if (!on_path("node")) return skip("node not found (Debian: apt-get install nodejs)");
  if (!fs::exists(chromium)) return skip(chromium + " not found (Debian: apt-get install chromium)");
  if (!fs::exists(runner / "node_modules" / "puppeteer-core") || !fs::exists(runner / "dist" / "face-api.esm.js"))
    return skip("no reference runner in " + runner.string() + "; install it with scripts/fetch-face-models.sh --runner");
  if (!fs::is_directory(data / "att_faces")) return skip("no AT&T faces in " + (data / "att_faces").string());
  // Subject s, image (3 s mod 10) + 1: every subject once, with a spread of poses.
  std::vector<fs::path> files;
  for (int s = 1; s <= count; ++s)
    files.push_back(data / "att_faces" / ("s" + std::to_string((s - 1) % 40 + 1)) / (std::to_string((3 * s) % 10 + 1) + ".pgm"));
  const fs::path tmp = fs::temp_directory_path() / ("twin_face_api_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  {
    std::ofstream list(tmp / "images.txt");
    for (const auto& f : files) list << f.string() << "\n";
  }
  twin::face::TinyFaceDetectorOptions detect_options{.input_size = std::stol(arg(argc, argv, "input-size", "416")),
                                                     .score_threshold = std::stod(arg(argc, argv, "score-threshold", "0.5"))};
  const std::string cmd = "node \"" + std::string(TWIN_SOURCE_DIR) + "/tests/face_api/reference.mjs\" --runner \"" +
                          runner.string() + "\" --models \"" + models.string() + "\" --chromium \"" + chromium +
                          "\" --task " + task + " --list \"" + (tmp / "images.txt").string() + "\" --out \"" +
                          (tmp / "ref.json").string() + "\" --input-size " + std::to_string(detect_options.input_size) +
                          " --score-threshold " + arg(argc, argv, "score-threshold", "0.5");
  std::fflush(stdout);
  if (std::system(cmd.c_str()) != 0) {
    fs::remove_all(tmp);
    std::printf("FAILED: the reference runner failed: %s\n", cmd.c_str());
    return 1;
  }
  nlohmann::json ref;
  std::ifstream(tmp / "ref.json") >> ref;
  fs::remove_all(tmp);

  double worst = 0, largest = 0;
  if (task == "detect") {
    const auto& r = ref.at("detections");
    if (r.size() != files.size()) {
      std::printf("FAILED: %zu reference detection lists for %zu images\n", r.size(), files.size());
      return 1;
    }
    twin::Graph<float> net = twin::face::load_tiny_face_detector(models);
    twin::face::FaceDetectorWorkspace<float> ws;  // reused: no buffer made per image
    double worst_score = 0, worst_px = 0;
    std::size_t faces = 0, mismatched = 0, faceless = 0;
    for (std::size_t i = 0; i < files.size(); ++i) {
      const auto img = twin::io::load_image(files[i]);
      const auto& boxes = twin::face::detect_faces(net, ws, img.data(), img.dim(0), img.dim(1), 1, detect_options);
      if (boxes.size() != r[i].size()) {
        std::printf("%s: twin finds %zu faces, face-api %zu\n", files[i].string().c_str(), boxes.size(), r[i].size());
        ++mismatched;
        continue;
      }
      faces += boxes.size();
      faceless += boxes.empty();
      const double side[4] = {double(img.dim(1)), double(img.dim(0)), double(img.dim(1)), double(img.dim(0))};
      for (std::size_t k = 0; k < boxes.size(); ++k) {
        const auto& b = boxes[k];
        const double mine[4] = {b.x, b.y, b.w, b.h};
        for (std::size_t j = 0; j < 4; ++j) {
          const double d = std::abs(mine[j] - r[i][k][j].get<double>());
          worst_px = std::max(worst_px, d);
          worst = std::max(worst, d / side[j]);
          largest = std::max(largest, std::abs(mine[j]));
        }
        worst_score = std::max(worst_score, std::abs(b.score - r[i][k][4].get<double>()));
      }
    }
    const bool ok = mismatched == 0 && faceless == 0 && worst <= tol && worst_score <= tol;
    std::printf("%d AT&T images (input %td, score > %.2f): %zu faces, %zu images without one, %zu with a different count; "
                "max |twin - face-api| = %.3g of the image's side (%.3g px, coordinates up to %.1f px) over the boxes, "
                "%.3g over the scores; tolerance %.0e: %s\n",
                count, detect_options.input_size, detect_options.score_threshold, faces, faceless, mismatched, worst,
                worst_px, largest, worst_score, tol, ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
  }
  if (task == "landmarks") {
    const auto& r = ref.at("landmarks");
    if (r.size() != files.size()) {
      std::printf("FAILED: %zu reference landmark sets for %zu images\n", r.size(), files.size());
      return 1;
    }
    twin::Graph<float> net = twin::face::load_landmark_net(models);
    twin::Workspace<float> ws;
    for (std::size_t i = 0; i < files.size(); ++i) {
      const auto img = twin::io::load_image(files[i]);
      const auto lm = twin::face::detect_landmarks(net, ws, img.data(), img.dim(0), img.dim(1), 1);
      for (std::size_t k = 0; k < 68; ++k) {
        worst = std::max({worst, std::abs(lm[k].x - r[i][k][0].get<double>()), std::abs(lm[k].y - r[i][k][1].get<double>())});
        largest = std::max({largest, std::abs(lm[k].x), std::abs(lm[k].y)});
      }
    }
    std::printf("%d AT&T faces: max |twin - face-api| = %.3g px over %d x 68 landmarks (coordinates up to %.1f px), "
                "tolerance %.0e px: %s\n",
                count, worst, count, largest, tol, worst <= tol ? "ok" : "FAILED");
    return worst <= tol ? 0 : 1;
  }
  twin::Graph<float> net = twin::face::load_recognition_net(models);
  const twin::Tensor<float> x = inputs(files);
  const auto d = net.forward(x.view());  // (N, 128)
  const auto& r = ref.at("descriptors");
  if (r.size() != files.size()) {
    std::printf("FAILED: %zu reference descriptors for %zu images\n", r.size(), files.size());
    return 1;
  }
  for (std::size_t i = 0; i < files.size(); ++i)
    for (std::size_t k = 0; k < 128; ++k) {
      const double a = d[static_cast<twin::Index>(i * 128 + k)], b = r[i][k].get<double>();
      worst = std::max(worst, std::abs(a - b));
      largest = std::max(largest, std::abs(b));
    }
  std::printf("%d AT&T faces: max |twin - face-api| = %.3g over %d x 128 descriptor values (largest |value| %.3f), "
              "tolerance %.0e: %s\n",
              count, worst, count, largest, tol, worst <= tol ? "ok" : "FAILED");
  return worst <= tol ? 0 : 1;
}

int speed(int argc, char** argv, const fs::path& models) {
  const int reps = std::stoi(arg(argc, argv, "reps", "5"));
  twin::Graph<float> net = twin::face::load_recognition_net(models);
  twin::Graph<float> lm = twin::face::load_landmark_net(models);
  auto median_ms = [&](const twin::Graph<float>& g, twin::Index batch, twin::Index side, int threads) {
    twin::Context ctx(threads);
    twin::Workspace<float> ws;
    ws.set_context(&ctx);
    ws.set_forward_only(true);
    twin::Tensor<float> x(twin::Shape{batch, 3, side, side});
    for (twin::Index i = 0; i < x.size(); ++i) x[i] = float((i * 7919) % 255) / 255.f - 0.5f;
    (void)g.forward(x.view(), ws, twin::Mode::eval);  // plan and warm up
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      (void)g.forward(x.view(), ws, twin::Mode::eval);
      t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / double(batch));
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  };
  std::printf("| net | batch | threads | ms per face (median of %d) |\n|---|---|---|---|\n", reps);
  for (twin::Index b : {1, 16})
    for (int th : {1, 2}) std::printf("| recognition 150x150 | %td | %d | %.1f |\n", b, th, median_ms(net, b, 150, th));
  for (int th : {1, 2}) std::printf("| landmarks 112x112 | 1 | %d | %.1f |\n", th, median_ms(lm, 1, 112, th));
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  const std::string mode = argc > 1 ? argv[1] : "";
  const fs::path models = arg(argc, argv, "models", twin::face::default_models_dir().string());
  if (!fs::exists(models / "face_recognition_model-weights_manifest.json"))
    return skip("no face-api weights in " + models.string() + "; fetch them with scripts/fetch-face-models.sh");
  if (mode == "load") return load(models);
  if (mode == "reference") return reference(argc, argv, models, "recognition");
  if (mode == "landmarks") return reference(argc, argv, models, "landmarks");
  if (mode == "detect") return reference(argc, argv, models, "detect");
  if (mode == "speed") return speed(argc, argv, models);
  std::fprintf(stderr, "usage: face_api_check load|reference|landmarks|detect|speed [--models DIR] ...\n");
  return 2;
} catch (const std::exception& e) {
  std::fprintf(stderr, "face_api_check: %s\n", e.what());
  return 1;
}
