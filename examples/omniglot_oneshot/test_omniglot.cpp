// The Omniglot one-shot example on a tiny synthetic background set (no real data needed):
// make-runs -> train (both designs) -> eval with JSON and report, in seconds; and the runs
// reader's errors on bad input, each naming the file (and line).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include <twin/testing/error_message.hpp>
#include <twin/testing/random.hpp>

#include "omniglot.hpp"

namespace {
namespace fs = std::filesystem;
using omniglot::Index;

// A binary PGM under a .png name: twin's decoder goes by the signature, not the name.
void write_pgm(const fs::path& p, Index size, const std::vector<std::uint8_t>& px) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary);
  f << "P5\n" << size << " " << size << "\n255\n";
  f.write(reinterpret_cast<const char*>(px.data()), static_cast<std::streamsize>(px.size()));
}

// alphabets x characters x drawers images of size x size: each character is a few dark
// bars at seeded places on white, each drawer shifts them by a pixel or so.
// A tiny training budget on the generated background under root, writing root/model_file.
omniglot::TrainOptions tiny_training(const fs::path& root, const std::string& model_file) {
  omniglot::TrainOptions tr;
  tr.data = root.string();
  tr.model = (root / model_file).string();
  tr.n_val = 1;
  tr.steps = 3;
  tr.ways = 4;
  tr.queries = 2;
  tr.quiet = true;
  return tr;
}

fs::path make_background(const fs::path& root, int alphabets, int characters, int drawers, Index size = 28) {
  fs::remove_all(root);
  const fs::path bg = root / "omniglot" / "images_background";
  twin::Rng rng(7);
  int id = 0;
  for (int a = 0; a < alphabets; ++a)
    for (int c = 0; c < characters; ++c) {
      ++id;
      std::vector<std::array<Index, 3>> bars;  // row or column, position, horizontal?
      for (int b = 0; b < 3; ++b)
        bars.push_back({Index(rng.below(2)), Index(4 + rng.below(std::uint64_t(size - 8))), Index(rng.below(2))});
      for (int d = 0; d < drawers; ++d) {
        std::vector<std::uint8_t> px(static_cast<std::size_t>(size * size), 255);
        const Index jitter = Index(rng.below(3)) - 1;
        for (const auto& bar : bars)
          for (Index t = 3; t < size - 3; ++t) {
            const Index pos = std::clamp<Index>(bar[1] + jitter, 0, size - 1);
            const Index y = bar[2] ? pos : t, x = bar[2] ? t : pos;
            px[static_cast<std::size_t>(y * size + x)] = 0;
          }
        char name[64];
        std::snprintf(name, sizeof name, "character%02d/%04d_%02d.png", c + 1, id, d + 1);
        write_pgm(bg / ("Alpha" + std::to_string(a)) / name, size, px);
      }
    }
  return root;
}

using twin::testing::error_message;
}  // namespace

TEST_CASE("omniglot: make-runs, train and eval end to end on a tiny synthetic set") {
  const fs::path root = make_background(fs::temp_directory_path() / "twin_omniglot_smoke", 4, 6, 6);
  const fs::path runs = root / "runs";
  omniglot::MakeRunsOptions mr;
  mr.data = root.string();
  mr.out = runs.string();
  mr.n_val = 1;
  mr.runs = 3;
  mr.ways = 5;
  REQUIRE(omniglot::run_make_runs(mr) == 0);
  const auto rr = omniglot::read_runs(runs);
  REQUIRE(rr.size() == 3);
  CHECK(rr[0].name == "run01");
  CHECK(rr[0].candidates.size() == 5);
  CHECK(rr[0].queries.size() == 5);

  for (auto design : {omniglot::Design::proto, omniglot::Design::koch}) {
    CAPTURE(omniglot::design_name(design));
    omniglot::TrainOptions tr = tiny_training(root, std::string(omniglot::design_name(design)) + ".safetensors");
    tr.design = design;
    tr.batch_pairs = 4;
    tr.tower = {.size = 28, .channels = 4, .blocks = 2};
    REQUIRE(omniglot::run_train(tr) == 0);
    omniglot::EvalOptions ev;
    ev.model = tr.model;
    ev.runs = runs.string();
    ev.json = (root / "eval.json").string();
    ev.report = (root / "report.html").string();
    ev.tta = 1;
    REQUIRE(omniglot::run_eval(ev) == 0);
    std::ifstream jf(ev.json);
    const auto j = nlohmann::json::parse(jf);
    CHECK(j["runs"].size() == 3);
    CHECK(j["accuracy"].get<double>() >= 0.0);
    CHECK(j["accuracy"].get<double>() <= 1.0);
    CHECK(j["design"] == omniglot::design_name(design));
    std::ifstream hf(ev.report);
    const std::string html((std::istreambuf_iterator<char>(hf)), std::istreambuf_iterator<char>());
    CHECK(html.find("<svg") != std::string::npos);
    CHECK(html.find("data:image/png;base64,") != std::string::npos);
    // The saved model reloads and scores the same runs identically.
    const auto m = omniglot::load_model(tr.model);
    const auto a = omniglot::evaluate_runs(m, rr, 0, nullptr), b = omniglot::evaluate_runs(m, rr, 0, nullptr);
    CHECK(a[0].scores == b[0].scores);
  }
  fs::remove_all(root);
}

TEST_CASE("omniglot: --norm-scale and the cl2n metric round-trip through the model file") {
  const fs::path root = make_background(fs::temp_directory_path() / "twin_omniglot_norm", 3, 5, 6);
  const auto all = omniglot::scan_background(root / "omniglot" / "images_background");
  const fs::path runs = root / "runs";
  omniglot::write_runs(all, runs, 2, 4, 1);
  const auto rr = omniglot::read_runs(runs);
  omniglot::TrainOptions tr = tiny_training(root, "norm.safetensors");
  tr.tower = {.size = 28, .channels = 4, .blocks = 2, .norm_scale = 2.5};
  tr.metric = omniglot::Metric::cl2n;
  REQUIRE(omniglot::run_train(tr) == 0);
  const auto m = omniglot::load_model(tr.model);
  CHECK(m.tower.norm_scale == doctest::Approx(2.5));
  CHECK(omniglot::model_metric(m) == omniglot::Metric::cl2n);
  // Every embedding has length norm_scale.
  twin::Workspace<float> ws;
  const twin::Tensor<float> x = twin::testing::random_tensor(twin::Shape{3, 1, 28, 28}, 5);
  const auto e = m.net.forward(x.view(), ws, twin::Mode::eval);  // (3, D)
  for (Index i = 0; i < 3; ++i) {
    double sq = 0;
    for (Index j = 0; j < e.dim(1); ++j) sq += double(e(i, j)) * double(e(i, j));
    CHECK(std::sqrt(sq) == doctest::Approx(2.5).epsilon(1e-4));
  }
  // cl2n scores are squared distances between unit vectors: in [-4, 0].
  const auto r = omniglot::evaluate_runs(m, rr, 0, nullptr, omniglot::Metric::cl2n);
  for (const auto& q : r[0].scores)
    for (double v : q) CHECK((v <= 1e-6 && v >= -4 - 1e-6));
  CHECK(error_message([] { omniglot::parse_metric("cosine"); }).find("'cosine'") != std::string::npos);
  fs::remove_all(root);
}

TEST_CASE("omniglot: --widths and --unpooled shape the tower and round-trip through the model file") {
  const fs::path root = make_background(fs::temp_directory_path() / "twin_omniglot_unpooled", 3, 5, 6);
  omniglot::TrainOptions tr = tiny_training(root, "unpooled.safetensors");
  tr.tower = {.size = 28, .blocks = 3, .norm_scale = 0, .unpooled = 1, .widths = {3, 4, 5}};
  REQUIRE(omniglot::run_train(tr) == 0);
  const auto m = omniglot::load_model(tr.model);
  CHECK(m.tower.unpooled == 1);
  CHECK(m.tower.widths == std::vector<Index>{3, 4, 5});
  CHECK(omniglot::block_widths(m.tower) == std::vector<Index>{3, 4, 5});
  // 28 -> 14 -> 7 pooled, then the last block keeps 7 x 7: 5 x 7 x 7 values.
  CHECK(m.net.output_shape(twin::Shape{2, 1, 28, 28}) == twin::Shape{2, 5 * 7 * 7});
  // The reloaded tower is the trained one: same weights, same embeddings.
  const twin::Tensor<float> x = twin::testing::random_tensor(twin::Shape{2, 1, 28, 28}, 3);
  const auto again = omniglot::load_model(tr.model);
  twin::Workspace<float> ws1, ws2;
  const auto e1 = m.net.forward(x.view(), ws1, twin::Mode::eval);
  const auto e2 = again.net.forward(x.view(), ws2, twin::Mode::eval);
  REQUIRE(e1.size() == e2.size());
  for (Index i = 0; i < e1.size(); ++i) CHECK(e1[i] == e2[i]);
  // The default tower: every block `channels` wide, all pooled, 64-d at 28 px.
  const auto d = omniglot::make_model(omniglot::Design::proto, {}, 1);
  CHECK(omniglot::block_widths(d.tower) == std::vector<Index>{64, 64, 64, 64});
  CHECK(d.net.output_shape(twin::Shape{1, 1, 28, 28}) == twin::Shape{1, 64});
  CHECK(omniglot::make_model(omniglot::Design::proto, {.unpooled = 1}, 1).net.output_shape(twin::Shape{1, 1, 28, 28}) ==
        twin::Shape{1, 64 * 3 * 3});
  // The training default: widths growing with depth, the last block unpooled, 256 x 3 x 3.
  const auto t = omniglot::make_model(omniglot::Design::proto, omniglot::TrainOptions{}.tower, 1);
  CHECK(omniglot::block_widths(t.tower) == std::vector<Index>{32, 64, 128, 256});
  CHECK(t.net.output_shape(twin::Shape{1, 1, 28, 28}) == twin::Shape{1, 256 * 3 * 3});
  // Bad towers name what is wrong.
  CHECK(error_message([] { omniglot::make_model(omniglot::Design::proto, {.blocks = 2, .unpooled = 3}, 1); })
            .find("unpooled 3") != std::string::npos);
  CHECK(error_message([] { omniglot::make_model(omniglot::Design::proto, {.blocks = 3, .widths = {8, 8}}, 1); })
            .find("widths 8,8") != std::string::npos);
  fs::remove_all(root);
}

TEST_CASE("omniglot: the held-out alphabets never reach training") {
  const fs::path root = make_background(fs::temp_directory_path() / "twin_omniglot_split", 5, 3, 4);
  const auto all = omniglot::scan_background(root / "omniglot" / "images_background");
  const auto val = omniglot::pick_validation_alphabets(all, {}, 2, 2015);
  CHECK(val.size() == 2);
  CHECK(omniglot::pick_validation_alphabets(all, {}, 2, 2015) == val);  // seeded
  CHECK(error_message([&] { omniglot::pick_validation_alphabets(all, {"Klingon"}, 0, 0); }).find("'Klingon'") !=
        std::string::npos);
  fs::remove_all(root);
}

TEST_CASE("omniglot: bad runs give errors naming the file and line") {
  const fs::path root = make_background(fs::temp_directory_path() / "twin_omniglot_bad", 1, 5, 3);
  const auto all = omniglot::scan_background(root / "omniglot" / "images_background");
  const fs::path runs = root / "runs";
  auto fresh = [&] {
    fs::remove_all(runs);
    omniglot::write_runs(all, runs, 1, 4, 3);
    return runs / "run01";
  };

  SUBCASE("a missing class image") {
    fs::remove(fresh() / "training" / "class03.png");
    const std::string e = error_message([&] { omniglot::read_runs(runs); });
    CHECK_MESSAGE(e.find("missing class image class03.png") != std::string::npos, e);
    CHECK_MESSAGE(e.find("run01/training") != std::string::npos, e);
  }
  SUBCASE("a label line naming a file that is not there") {
    const fs::path rd = fresh();
    std::vector<std::string> lines;
    {
      std::ifstream in(rd / "class_labels.txt");
      for (std::string l; std::getline(in, l);) lines.push_back(l);
    }
    lines[1] = "run01/test/item02.png run01/training/class09.png";
    std::ofstream out(rd / "class_labels.txt");
    for (const auto& l : lines) out << l << "\n";
    out.close();
    const std::string e = error_message([&] { omniglot::read_runs(runs); });
    CHECK_MESSAGE(e.find("class_labels.txt:2:") != std::string::npos, e);
    CHECK_MESSAGE(e.find("run01/training/class09.png") != std::string::npos, e);
    CHECK_MESSAGE(e.find("not there") != std::string::npos, e);
  }
  SUBCASE("a malformed label line") {
    const fs::path rd = fresh();
    std::ofstream(rd / "class_labels.txt", std::ios::app) << "run01/test/item01.png\n";
    const std::string e = error_message([&] { omniglot::read_runs(runs); });
    CHECK_MESSAGE(e.find("class_labels.txt:5:") != std::string::npos, e);
  }
  SUBCASE("a run with fewer than 2 classes") {
    const fs::path rd = fresh();
    for (int k = 2; k <= 4; ++k) fs::remove(rd / "training" / ("class0" + std::to_string(k) + ".png"));
    const std::string e = error_message([&] { omniglot::read_runs(runs); });
    CHECK_MESSAGE(e.find("at least 2 classes") != std::string::npos, e);
  }
  SUBCASE("a non-image query") {
    const fs::path rd = fresh();
    std::ofstream(rd / "test" / "item03.png") << "not a picture\n";
    const auto rr = omniglot::read_runs(runs);
    const auto m = omniglot::make_model(omniglot::Design::proto, {.size = 28, .channels = 2, .blocks = 1}, 1);
    const std::string e = error_message([&] { omniglot::evaluate_runs(m, rr, 0, nullptr); });
    CHECK_MESSAGE(e.find("class_labels.txt:3:") != std::string::npos, e);
    CHECK_MESSAGE(e.find("item03.png") != std::string::npos, e);
    CHECK_MESSAGE(e.find("not an image") != std::string::npos, e);
  }
  SUBCASE("no runs at all") {
    fs::remove_all(runs);
    fs::create_directories(runs);
    CHECK(error_message([&] { omniglot::read_runs(runs); }).find("no runNN/") != std::string::npos);
  }
  fs::remove_all(root);
}
