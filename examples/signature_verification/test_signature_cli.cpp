// The signature_verification commands on bad input: nothing lost, nothing silently wrong.
// Each case runs the built program (or its library) on images generated in a temporary
// folder, with tiny models made in-process; docs/robustness.md lists what each case covers.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include <twin/io/safetensors.hpp>
#include <twin/report/png.hpp>
#include <twin/testing/error_message.hpp>

#include <twin/io/gallery.hpp>
#include <twin/testing/temp_dir.hpp>

#include "signature_model.hpp"

namespace test_signature_cli {

using namespace sigver;
using json = nlohmann::json;

namespace {
using twin::testing::TempDir;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
using twin::testing::write_file;
bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A "signature" of `kind`: a slanted stroke and a loop, 40 x 80.
twin::Tensor<float, 2> signature(int kind) {
  twin::Tensor<float, 2> img(twin::Shape{40, 80}, 0.0f);
  for (twin::Index x = 6; x < 74; ++x) {
    const auto y = static_cast<twin::Index>(10 + (x * (kind + 1)) % 20);
    img(y, x) = img(y + 1, x) = 1.0f;
  }
  for (int a = 0; a < 60; ++a) {
    const double t = a * 6.2832 / 60;
    img(static_cast<twin::Index>(20 + 8 * std::sin(t)), static_cast<twin::Index>(20 + kind * 7 + 8 * std::cos(t))) = 1.0f;
  }
  return img;
}
void write_signature(const fs::path& p, int kind) { write_file(p, twin::report::encode_png(signature(kind).view(), {.ink = true})); }
// A binary PGM filled with `grey`.
void write_flat(const fs::path& p, int w, int h, int grey) {
  write_file(p, "P5\n" + std::to_string(w) + " " + std::to_string(h) + "\n255\n" +
                    std::string(static_cast<std::size_t>(w * h), static_cast<char>(grey)));
}
// RGBA PNG: black everywhere, the ink only in the alpha channel (opaque strokes on
// transparent paper), as signature pads export it.
void write_alpha_signature(const fs::path& p, int kind) {
  const auto ink = signature(kind);
  const auto h = static_cast<std::uint32_t>(ink.dim(0)), w = static_cast<std::uint32_t>(ink.dim(1));
  std::string raw;
  for (std::uint32_t y = 0; y < h; ++y) {
    raw.push_back(0);
    for (std::uint32_t x = 0; x < w; ++x) {
      raw += std::string(3, '\0');
      raw.push_back(ink(y, x) > 0 ? '\xff' : '\0');
    }
  }
  uLongf n = compressBound(static_cast<uLong>(raw.size()));
  std::string z(n, '\0');
  REQUIRE(compress2(reinterpret_cast<Bytef*>(z.data()), &n, reinterpret_cast<const Bytef*>(raw.data()),
                    static_cast<uLong>(raw.size()), 6) == Z_OK);
  z.resize(n);
  auto put32 = [](std::string& s, std::uint32_t v) {
    for (int k = 24; k >= 0; k -= 8) s.push_back(static_cast<char>(v >> k));
  };
  auto chunk = [&](std::string& png, const std::string& type, const std::string& data) {
    put32(png, static_cast<std::uint32_t>(data.size()));
    const std::string body = type + data;
    png += body;
    put32(png, static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()))));
  };
  std::string png = "\x89PNG\r\n\x1a\n", ihdr;
  put32(ihdr, w);
  put32(ihdr, h);
  ihdr += std::string("\x08\x06\x00\x00\x00", 5);  // 8-bit RGBA
  chunk(png, "IHDR", ihdr);
  chunk(png, "IDAT", z);
  chunk(png, "IEND", "");
  write_file(p, png);
}

const Canvas tiny_canvas{.height = 16, .width = 32, .speck_share = 0.0, .stroke_radius = 1};

// A small untrained tower saved as a model file; `threshold` decides every verdict.
void make_model(const fs::path& p, std::uint64_t seed, float threshold = 1.0f) {
  TowerConfig cfg;
  cfg.canvas = tiny_canvas;
  cfg.width = 2;
  cfg.embed = 4;
  auto net = make_tower(cfg);
  net.init(seed);
  ModelInfo info;
  info.tower = cfg;
  info.threshold = threshold;
  info.train_writers = {"1", "2"};
  info.val_writers = {"3"};
  info.test_writers = {"4"};
  info.data_layout = "generic";
  save_model(p, net, info);
}

// Writers 1..n with 3 genuine signatures and one forgery each.
void make_dataset(const fs::path& root, int n) {
  for (int w = 1; w <= n; ++w) {
    for (int i = 0; i < 3; ++i) write_signature(root / std::to_string(w) / "genuine" / ("g" + std::to_string(i) + ".png"), w + i);
    write_signature(root / std::to_string(w) / "forged" / "f0.png", w + 5);
  }
}

std::string q(const fs::path& p) { return "\"" + p.string() + "\""; }

// Runs the example with `args`; returns its exit code, stdout + stderr in `log`.
int run(const std::string& args, std::string& log) {
  static int counter = 0;
  const fs::path out = fs::temp_directory_path() / ("twin_sigcli_run_" + std::to_string(::getpid()) + "_" +
                                                    std::to_string(counter++) + ".log");
  const std::string cmd = std::string("TWIN_NUM_THREADS=1 \"") + SIGNATURE_EXE + "\" " + args + " > " + q(out) + " 2>&1";
  const int rc = std::system(cmd.c_str());
  log = slurp(out);
  fs::remove(out);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

using twin::testing::error_message;
}  // namespace

TEST_CASE("enroll: concurrent enrollers on one file lose no writer, and the file always parses") {
  const TempDir d("sigcli_concurrent");
  const fs::path model = d.path / "m.safetensors", store = d.path / "enr.json";
  make_model(model, 1);
  write_signature(d.path / "a.png", 1);
  write_signature(d.path / "b.png", 2);
  constexpr int writers = 12;
  // All enrollers start at once from one shell; the test reads the file while they run.
  std::string script;
  for (int i = 0; i < writers; ++i)
    script += std::string("\"") + SIGNATURE_EXE + "\" enroll --model " + q(model) + " --enrollments " + q(store) +
              " --writer w" + std::to_string(i) + " " + q(d.path / "a.png") + " " + q(d.path / "b.png") + " >/dev/null 2>&1 & ";
  script += "wait";
  int rc = -1;
  std::thread enrollers([&] { rc = std::system(("TWIN_NUM_THREADS=1 timeout 120 sh -c '" + script + "'").c_str()); });
  int reads = 0, bad_reads = 0;
  std::string bad;
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
       rc == -1 && std::chrono::steady_clock::now() < until;) {
    if (fs::exists(store)) {
      ++reads;
      const std::string text = slurp(store);
      try {
        (void)twin::io::parse_gallery(text, store.string());
      } catch (const std::exception& e) {
        ++bad_reads, bad = e.what();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  enrollers.join();
  CHECK(rc == 0);
  CHECK_MESSAGE(bad_reads == 0, bad);
  MESSAGE(reads << " reads of the store while it was written");
  const twin::io::Gallery s = twin::io::read_gallery(store);
  CHECK(s.people.size() == writers);
  for (const auto& [name, e] : s.people) CHECK(e.embeddings.size() == 2);
  // No temporary file is left behind.
  int files = 0;
  for (const auto& f : fs::directory_iterator(d.path)) files += has(f.path().filename().string(), ".tmp-");
  CHECK(files == 0);
}

TEST_CASE("enroll: a writer's references are added to, replaced only with --replace; another model is refused") {
  const TempDir d("sigcli_reenroll");
  const fs::path m1 = d.path / "m1.safetensors", m2 = d.path / "m2.safetensors", store = d.path / "enr.json";
  make_model(m1, 1);
  make_model(m2, 2);  // same architecture, other weights
  for (int i = 0; i < 4; ++i) write_signature(d.path / ("s" + std::to_string(i) + ".png"), i);
  const std::string e = " --enrollments " + q(store) + " --writer alice ";
  std::string log;
  REQUIRE_MESSAGE(run("enroll --model " + q(m1) + e + q(d.path / "s0.png") + " " + q(d.path / "s1.png"), log) == 0, log);
  REQUIRE_MESSAGE(run("enroll --model " + q(m1) + e + q(d.path / "s2.png") + " " + q(d.path / "s0.png"), log) == 0, log);
  CHECK(has(log, "(3 in all)"));
  CHECK(has(log, "1 image(s) already among the references"));
  CHECK(twin::io::read_gallery(store).people.at("alice").embeddings.size() == 3);
  // Another model's embeddings must not join these.
  CHECK(run("enroll --model " + q(m2) + e + q(d.path / "s3.png"), log) == 1);
  CHECK(has(log, "enrolled with another model"));
  CHECK(has(log, "--replace"));
  REQUIRE_MESSAGE(run("enroll --model " + q(m2) + e + "--replace " + q(d.path / "s3.png"), log) == 0, log);
  const auto alice = twin::io::read_gallery(store).people.at("alice");
  CHECK(alice.embeddings.size() == 1);
  CHECK(alice.files == std::vector<std::string>{(d.path / "s3.png").string()});

  // verify --against with the other model: refused, naming file, writer and both models.
  CHECK(run("verify --model " + q(m1) + " --enrollments " + q(store) + " --against alice " + q(d.path / "s0.png"), log) == 1);
  CHECK(has(log, "writer 'alice' was enrolled with another model"));
  CHECK(has(log, store.string()));
  CHECK(run("verify --model " + q(m2) + " --enrollments " + q(store) + " --against alice " + q(d.path / "s3.png"), log) == 0);
  // The enrolment file must not be an input of the command.
  CHECK(run("enroll --model " + q(m1) + " --enrollments " + q(m1) + " --writer x " + q(d.path / "s0.png"), log) == 1);
  CHECK(has(log, "is an input of this command"));
}

TEST_CASE("verify --against: an enrolment file's errors name the file and the writer") {
  // (The store's own checks: tests/test_gallery.cpp.)
  const std::string head = R"({"format": "twin-signature-enrollments", "version": 1, "writers": )";
  // Through the program: a writer with no references is an error, not GENUINE.
  const TempDir d("sigcli_enrfile");
  const fs::path model = d.path / "m.safetensors", store = d.path / "e.json";
  make_model(model, 1);
  write_signature(d.path / "q.png", 1);
  write_file(store, head + R"({"bob": {"model": "m", "model_hash": "h", "files": [], "embeddings": []}}})");
  std::string log;
  CHECK(run("verify --model " + q(model) + " --enrollments " + q(store) + " --against bob " + q(d.path / "q.png"), log) == 1);
  CHECK(has(log, store.string() + ": writer 'bob': has no references"));
  CHECK(!has(log, "GENUINE"));
}

TEST_CASE("eval and train refuse to overwrite what they should not") {
  const TempDir d("sigcli_outputs");
  const fs::path model = d.path / "m.safetensors";
  make_model(model, 1);
  make_dataset(d.path / "data", 4);
  const std::string before = slurp(model);
  write_signature(d.path / "a.png", 1);
  write_signature(d.path / "b.png", 2);
  write_file(d.path / "pairs.csv", "a.png,b.png,0\na.png,a.png,1\n");
  const std::string ev = "eval --model " + q(model) + " --pairs " + q(d.path / "pairs.csv");
  std::string log;
  // The model it has just read, the pairs file, a file that is no report.
  CHECK(run(ev + " --report " + q(model), log) == 1);
  CHECK(has(log, "--report '" + model.string() + "' is an input of this command"));
  CHECK(run(ev + " --report '' --json " + q(model), log) == 1);
  CHECK(has(log, "is an input of this command"));
  CHECK(run(ev + " --report '' --json " + q(d.path / "pairs.csv"), log) == 1);
  CHECK(slurp(model) == before);
  write_file(d.path / "notes.txt", "my notes\n");
  CHECK(run(ev + " --report " + q(d.path / "notes.txt"), log) == 1);
  CHECK(has(log, "exists and is not an HTML report"));
  CHECK(run(ev + " --report '' --json " + q(d.path / "notes.txt"), log) == 1);
  CHECK(has(log, "exists and is not a JSON file"));
  CHECK(slurp(d.path / "notes.txt") == "my notes\n");
  CHECK(run(ev + " --report " + q(d.path / "nowhere" / "r.html"), log) == 1);
  CHECK(has(log, "does not exist"));
  // Reports and JSON are written, and rewritten.
  for (int k = 0; k < 2; ++k) {
    REQUIRE_MESSAGE(run(ev + " --report " + q(d.path / "r.html") + " --json " + q(d.path / "r.json"), log) == 0, log);
    CHECK(json::parse(slurp(d.path / "r.json")).contains("single_reference"));
  }

  // train: a fresh run over an existing model or checkpoint needs --overwrite (or --resume).
  const std::string tr = "train --data " + q(d.path / "data") + " --n-val 1 --n-test 1 --height 16 --width 32 --channels 2"
                         " --embed 4 --epochs 1 --steps 1 --batch-pairs 2 --quiet --model ";
  const fs::path trained = d.path / "t.safetensors";
  REQUIRE_MESSAGE(run(tr + q(trained), log) == 0, log);
  const std::string first = slurp(trained);
  CHECK(run(tr + q(trained), log) == 1);
  CHECK(has(log, "'" + trained.string() + "' exists"));
  CHECK(has(log, "--overwrite"));
  CHECK(!has(log, "epoch 1"));
  CHECK(slurp(trained) == first);
  fs::remove(trained);  // the checkpoint alone is protected too
  CHECK(run(tr + q(trained), log) == 1);
  CHECK(has(log, trained.string() + ".ckpt' exists"));
  REQUIRE_MESSAGE(run(tr + q(trained) + " --overwrite", log) == 0, log);
  CHECK(run(tr + q(trained) + " --overwrite --resume", log) == 1);
  // A model in a missing folder fails before any training.
  CHECK(run(tr + q(d.path / "missing" / "m.safetensors"), log) == 1);
  CHECK(has(log, "the folder '" + (d.path / "missing").string() + "' does not exist"));
  CHECK(!has(log, "epoch 1"));
  CHECK(!has(log, "preprocessed"));
}

TEST_CASE("images that hold no signature are refused, naming the file; alpha-only ink is ink") {
  // (The rule itself: tests/test_document_loader.cpp.)
  const TempDir d("sigcli_blank");
  const fs::path model = d.path / "m.safetensors";
  make_model(model, 1, 10.0f);  // a threshold that accepts every real pair
  write_flat(d.path / "white.pgm", 120, 60, 255);
  write_flat(d.path / "black.pgm", 120, 60, 0);
  write_flat(d.path / "grey.pgm", 120, 60, 128);
  write_flat(d.path / "one.pgm", 1, 1, 0);
  write_flat(d.path / "two.pgm", 2, 2, 0);
  write_flat(d.path / "strip.pgm", 5000, 2, 0);
  write_signature(d.path / "sig.png", 1);
  std::string log;
  CHECK(run("verify --model " + q(model) + " " + q(d.path / "white.pgm") + " " + q(d.path / "black.pgm"), log) == 1);
  CHECK(has(log, "white.pgm: no signature: blank"));
  CHECK(!has(log, "SAME WRITER"));
  for (const char* f : {"black.pgm", "grey.pgm", "one.pgm", "two.pgm", "strip.pgm"}) {
    CAPTURE(f);
    CHECK(run("verify --model " + q(model) + " " + q(d.path / "sig.png") + " " + q(d.path / f), log) == 1);
    CHECK(has(log, std::string(f) + ": no signature"));
  }
  CHECK(run("enroll --model " + q(model) + " --enrollments " + q(d.path / "e.json") + " --writer w " + q(d.path / "sig.png") +
                " " + q(d.path / "grey.pgm"),
            log) == 1);
  CHECK(has(log, "grey.pgm: no signature"));
  CHECK(!fs::exists(d.path / "e.json"));
  // A pairs file naming a blank image: the error names the pairs file's line too.
  write_file(d.path / "pairs.csv", "sig.png,sig.png,1\nsig.png,white.pgm,0\n");
  CHECK(run("eval --model " + q(model) + " --report '' --pairs " + q(d.path / "pairs.csv"), log) == 1);
  CHECK(has(log, "pairs.csv:2: " + (d.path / "white.pgm").string() + ": no signature"));
  // Ink held only in the alpha channel is read as ink (it read as an all-black page).
  write_alpha_signature(d.path / "alpha.png", 1);
  CHECK_MESSAGE(run("verify --model " + q(model) + " " + q(d.path / "sig.png") + " " + q(d.path / "alpha.png"), log) == 0, log);
  {
    // ...and gives the same network input as the same strokes drawn in grey.
    const auto a = twin::data::load_document(d.path / "alpha.png", tiny_canvas), b = twin::data::load_document(d.path / "sig.png", tiny_canvas);
    CHECK(std::equal(a.begin(), a.end(), b.begin()));
  }
  // Training data: a blank image is skipped with a counted warning.
  make_dataset(d.path / "data", 4);
  write_flat(d.path / "data" / "1" / "genuine" / "blank.pgm", 120, 60, 255);
  REQUIRE_MESSAGE(run("train --data " + q(d.path / "data") + " --val-writers 4 --test-writers 3 --height 16 --width 32"
                      " --channels 2 --embed 4 --epochs 1 --steps 1 --batch-pairs 2 --quiet --model " + q(d.path / "t.safetensors"),
                      log) == 0,
                  log);
  CHECK_MESSAGE(has(log, "warning: skipped 1 of the 9 training images"), log);
  CHECK(has(log, "blank.pgm: no signature"));
}

TEST_CASE("model metadata out of range is refused, naming the file, the key and the value") {
  const TempDir d("sigcli_meta");
  const fs::path good = d.path / "good.safetensors";
  make_model(good, 1);
  const auto st = twin::io::SafeTensors::read(good);
  const json meta = json::parse(st.meta("signature_verification"));
  ModelInfo info;
  auto net = load_model(good, info);
  CHECK(info.tower.canvas.fixed_scale == 0.0);
  auto with = [&](const std::string& key, const json& value) {
    json m = meta;
    m[key] = value;
    const fs::path p = d.path / ("bad_" + key + ".safetensors");
    twin::io::save_model(net, p, {{"signature_verification", m.dump()}});
    return error_message([&] {
      ModelInfo i;
      (void)load_model(p, i);
    });
  };
  struct Bad {
    const char* key;
    json value;
    const char* shown;
  };
  const Bad bad[] = {{"threshold", 1e308, "1e+308"}, {"threshold", 0, "0"},         {"threshold", -1, "-1"},
                     {"speck_share", 2, "2"},        {"stroke_radius", 1000000, "1000000"}, {"fixed_scale", -0.5, "-0.5"},
                     {"embed", 1e12, "1000000000000.0"},       {"channels", 0, "0"},           {"height", -80, "-80"},
                     {"width", "wide", "\"wide\""},   {"val_eer", 3, "3"},            {"batchnorm", 1, "1"},
                     {"test_writers", "1 2", "\"1 2\""}, {"arch", "resnet", "\"resnet\""}, {"pool", 2, "2"},
                     {"score_norm", "t", "\"t\""}};
  // The fixed scale is kept (eval and verify preprocess as train did); a file without it fills the canvas.
  {
    json m = meta;
    m["fixed_scale"] = 0.5;
    twin::io::save_model(net, d.path / "fixed.safetensors", {{"signature_verification", m.dump()}});
    ModelInfo i;
    (void)load_model(d.path / "fixed.safetensors", i);
    CHECK(i.tower.canvas.fixed_scale == 0.5);
    m.erase("fixed_scale");
    twin::io::save_model(net, d.path / "old.safetensors", {{"signature_verification", m.dump()}});
    (void)load_model(d.path / "old.safetensors", i);
    CHECK(i.tower.canvas.fixed_scale == 0.0);
  }
  for (const auto& b : bad) {
    CAPTURE(b.key);
    const std::string e = with(b.key, b.value);
    CHECK(has(e, "bad_" + std::string(b.key) + ".safetensors"));
    CHECK_MESSAGE(has(e, "\"" + std::string(b.key) + "\" = " + b.shown), e);
  }
  // A cohort-normalised model: its cohort must be 2 or more finite rows of the embedding's
  // size; its threshold may be negative (in units of the cohort's std).
  {
    json m = meta;
    m["score_norm"] = "s";
    m["cohort_top"] = 0;
    m["threshold"] = -1.5;
    auto cohort_error = [&](const json& rows) {
      m["cohort"] = rows;
      const fs::path p = d.path / "bad_cohort.safetensors";
      twin::io::save_model(net, p, {{"signature_verification", m.dump()}});
      return error_message([&] {
        ModelInfo i;
        (void)load_model(p, i);
      });
    };
    const std::string fine = cohort_error(json::array({{0, 0, 0, 0}, {1, 1, 1, 1}}));
    CHECK_MESSAGE(fine == "(no error)", fine);
    CHECK(has(cohort_error(json::array({{0, 0, 0, 0}})), "is not a list of 2 to"));
    CHECK(has(cohort_error(json::array({{0, 0, 0}, {1, 1, 1}})), "not 4 numbers"));
    CHECK(has(cohort_error(json::array({{0, 0, 0, "x"}, {1, 1, 1, 1}})), "not a finite number"));
    CHECK(has(cohort_error(7), "\"cohort\" = 7"));
    m.erase("cohort");
    const fs::path p = d.path / "no_cohort.safetensors";
    twin::io::save_model(net, p, {{"signature_verification", m.dump()}});
    CHECK(has(error_message([&] {
                ModelInfo i;
                (void)load_model(p, i);
              }),
              "lacks \"cohort\""));
  }
  // In range but inconsistent with the weights: the tower would not fit the file.
  CHECK(has(with("embed", 4096), "the file holds"));
  // NaN or Inf weights: refused at load, naming the tensor (twin::io::load_model).
  net.params()[3] = std::numeric_limits<float>::quiet_NaN();
  save_model(d.path / "nan.safetensors", net, info);
  CHECK(has(error_message([&] {
              ModelInfo i;
              (void)load_model(d.path / "nan.safetensors", i);
            }),
            "tensor \"0.weight\" holds a non-finite value"));
  write_signature(d.path / "a.png", 1);
  std::string log;
  CHECK(run("verify --model " + q(d.path / "nan.safetensors") + " " + q(d.path / "a.png") + " " + q(d.path / "a.png"), log) == 1);
  CHECK(!has(log, "distance nan"));
}

TEST_CASE("eval exits non-zero when there is nothing to measure; numeric options are checked at parse time") {
  const TempDir d("sigcli_empty");
  const fs::path model = d.path / "m.safetensors";
  make_model(model, 1);  // its test writer is "4"
  make_dataset(d.path / "data", 3);
  std::string log;
  CHECK(run("eval --report '' --model " + q(model) + " --data " + q(d.path / "data"), log) == 1);
  CHECK(has(log, "lacks 1 of the 1 test writers: 4"));
  CHECK(!has(log, "nan"));
  write_signature(d.path / "a.png", 1);
  write_signature(d.path / "b.png", 2);
  write_file(d.path / "same.csv", "a.png,a.png,1\nb.png,b.png,1\n");
  CHECK(run("eval --report '' --model " + q(model) + " --pairs " + q(d.path / "same.csv"), log) == 1);
  CHECK(has(log, "2 pairs, all genuine"));
  CHECK(!has(log, "FRR (genuine rejected)"));

  const std::string tr = "train --data " + q(d.path / "data") + " --quiet --model " + q(d.path / "t.safetensors");
  for (const char* opt : {"--steps 0", "--batch-pairs 0", "--epochs 0", "--margin -1", "--lr nan", "--lr 0", "--channels 0",
                          "--embed 1000000000000", "--height -80", "--speck-share 2", "--stroke-radius 1000000",
                          "--fixed-scale -0.5", "--fixed-scale 100", "--select best",
                          "--skilled-fraction 1.5", "--weight-decay -1", "--hard-writers 0",
                          "--arch resnet", "--pool max", "--score-norm t", "--cohort-per-writer 0", "--batch triplets",
                          "--batch-writers 1", "--batch-genuine 1", "--triplet-margin -1"}) {
    CAPTURE(opt);
    CHECK(run(tr + " " + opt, log) == 1);
    CHECK(has(log, std::string(opt).substr(0, std::string(opt).find(' '))));
    CHECK(!fs::exists(d.path / "t.safetensors"));
  }
  CHECK(run("--threads 100000 verify " + q(d.path / "a.png") + " " + q(d.path / "b.png"), log) == 1);
  CHECK(has(log, "--threads"));
  CHECK(run("verify --repeat 0 --model " + q(model) + " " + q(d.path / "a.png") + " " + q(d.path / "b.png"), log) == 1);
  CHECK(run("eval --references -1 --model " + q(model), log) == 1);
}

TEST_CASE("eval --pairs: an image that does not decode is named with the pairs file's FILE:LINE") {
  // (The CSV reader itself: tests/test_pairs_csv.cpp.)
  const TempDir d("sigcli_csv");
  write_signature(d.path / "a.png", 1);
  const fs::path f = d.path / "p.csv";
  // An image that exists but does not decode: the error names CSV:LINE and the image.
  write_file(d.path / "broken.png", "\x89PNG\r\n\x1a\n garbage");
  write_file(f, "a.png,a.png,1\n\na.png,broken.png,0\n");
  const fs::path model = d.path / "m.safetensors";
  make_model(model, 1);
  std::string log;
  CHECK(run("eval --report '' --model " + q(model) + " --pairs " + q(f), log) == 1);
  CHECK(has(log, f.string() + ":3: " + (d.path / "broken.png").string() + ": truncated"));
}

TEST_CASE("verify: exit code 0 for the same writer, 2 for a different one, 1 for errors; --json") {
  const TempDir d("sigcli_verdict");
  const fs::path model = d.path / "m.safetensors";
  make_model(model, 1, 1e-6f);  // only identical inputs are "the same writer"
  write_signature(d.path / "a.png", 1);
  write_signature(d.path / "b.png", 4);
  std::string log;
  const std::string v = "verify --model " + q(model) + " ";
  CHECK(run(v + q(d.path / "a.png") + " " + q(d.path / "a.png"), log) == 0);
  CHECK(has(log, "SAME WRITER"));
  CHECK(run(v + q(d.path / "a.png") + " " + q(d.path / "b.png"), log) == 2);
  CHECK(has(log, "DIFFERENT"));
  CHECK(run(v + q(d.path / "a.png") + " " + q(d.path / "missing.png"), log) == 1);
  CHECK(run(v + "--json " + q(d.path / "a.png") + " " + q(d.path / "b.png"), log) == 2);
  const json j = json::parse(log);
  CHECK(j["verdict"] == "different");
  CHECK(j["exit_code"] == 2);
  CHECK(j["distance"].get<double>() > 1e-6);
  CHECK(run(v + "--json " + q(d.path / "a.png") + " " + q(d.path / "a.png"), log) == 0);
  CHECK(json::parse(log)["verdict"] == "same");
  // --against, by enrolment.
  REQUIRE(run("enroll --model " + q(model) + " --enrollments " + q(d.path / "e.json") + " --writer w " + q(d.path / "a.png"), log) == 0);
  CHECK(run(v + "--enrollments " + q(d.path / "e.json") + " --against w " + q(d.path / "a.png"), log) == 0);
  CHECK(run(v + "--enrollments " + q(d.path / "e.json") + " --against w --json " + q(d.path / "b.png"), log) == 2);
  CHECK(json::parse(log)["against"] == "w");
  CHECK(run("verify --bogus", log) == 1);  // usage errors are errors too
}

TEST_CASE("audit: brightness baseline and single-image probe on a small data set, as text and JSON") {
  const TempDir d("sigcli_audit");
  make_dataset(d.path / "data", 6);
  const fs::path out = d.path / "audit.json";
  std::string log;
  REQUIRE_MESSAGE(run("audit --data " + q(d.path / "data") + " --val-writers 1 --test-writers 2,3 --height 16 --width 32 --json " +
                          q(out),
                      log) == 0,
                  log);
  CHECK(has(log, "brightness-difference baseline"));
  CHECK(has(log, "single-image probe"));
  const json j = json::parse(slurp(out));
  CHECK(j["test_writers"] == json::array({"2", "3"}));
  for (const char* kind : {"raw scans", "preprocessed"}) {
    const double eer = j["brightness_baseline"][kind]["skilled_eer"].get<double>();
    CHECK(eer >= 0.0);
    CHECK(eer <= 1.0);
    const double auc = j["probe_auc"][kind].get<double>();
    CHECK(auc >= 0.0);
    CHECK(auc <= 1.0);
    CHECK(j["feature_auc"][kind].size() == 6);
  }
  CHECK(j["feature_auc"]["preprocessed"].contains("mass"));
  CHECK(j["feature_auc"]["raw scans"].contains("otsu"));
  // Outputs are guarded as for eval: an existing file that is not JSON is not replaced.
  write_file(d.path / "notes.txt", "keep me");
  CHECK(run("audit --data " + q(d.path / "data") + " --json " + q(d.path / "notes.txt"), log) == 1);
  CHECK(slurp(d.path / "notes.txt") == "keep me");
}

}  // namespace test_signature_cli
