// The signature_verification program end to end on CEDAR (when $TWIN_DATA/cedar or
// ../shared/data/cedar exists; SKIPPED otherwise): a tiny run of train, eval, verify, enroll
// and audit, plus checkpoint/resume and thread-count reproducibility. The library pieces it
// is made of are tested in tests/ (test_signature_dataset, test_document_loader, ...).
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <twin/io/safetensors.hpp>
#include <twin/testing/temp_dir.hpp>

#include "signature_model.hpp"

namespace test_signature_verification {

using namespace sigver;
using twin::testing::TempDir;
using twin::testing::write_file;

namespace {
// $TWIN_DATA/cedar when set (as the example itself looks), else TWIN_TEST_DATA/cedar.
fs::path cedar_dir() {
  if (const char* env = std::getenv("TWIN_DATA"); env && *env) return fs::path(env) / "cedar";
  return fs::path(TWIN_SHARED_DATA) / "cedar";
}

// Runs the example; returns its exit code and leaves stdout+stderr in `log`.
int run(const std::string& args, std::string& log) {
  const fs::path out = fs::temp_directory_path() / ("twin_sigver_run_" + std::to_string(::getpid()) + ".log");
  const std::string cmd = std::string("TWIN_NUM_THREADS=2 \"") + SIGNATURE_EXE + "\" " + args + " > \"" + out.string() + "\" 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  log = ss.str();
  fs::remove(out);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}
}  // namespace

TEST_CASE("end to end on CEDAR: train, eval, verify, enroll, audit; resume = uninterrupted") {
  if (!fs::is_directory(cedar_dir())) {
    // Exit code 77 is ctest's SKIP_RETURN_CODE for this case (registered alone, see
    // CMakeLists.txt): a run without the data must not count as a pass.
    std::fprintf(stderr, "SKIPPED: %s is absent (see ../shared/data/README.md)\n", cedar_dir().string().c_str());
    std::exit(77);
  }
  const TempDir d("sigver_e2e");
  const std::string data = " --data \"" + cedar_dir().string() + "\"";
  const std::string tiny = data +
                           " --val-writers 7,13 --test-writers 1,4 --train-writers 4 --height 32 --width 64 --channels 4"
                           " --embed 16 --epochs 2 --steps 3 --batch-pairs 8 --quiet --seed 5";
  const fs::path full = d.path / "full.safetensors", part = d.path / "part.safetensors";
  std::string log;
  REQUIRE_MESSAGE(run("train" + tiny + " --model \"" + full.string() + "\"", log) == 0, log);
  CHECK(log.find("validation: 7 13") != std::string::npos);
  CHECK(fs::exists(full));

  // Interrupted after one epoch, then resumed: the same weights and optimiser state.
  REQUIRE_MESSAGE(run("train" + tiny + " --model \"" + part.string() + "\" --stop-after 1", log) == 0, log);
  CHECK(log.find("--resume") != std::string::npos);
  REQUIRE_MESSAGE(run("train" + tiny + " --model \"" + part.string() + "\" --resume", log) == 0, log);
  CHECK(log.find("resumed from") != std::string::npos);
  {
    // Every weight and optimiser-state tensor of the two final checkpoints, bit for bit.
    const auto a = twin::io::SafeTensors::read(full.string() + ".ckpt");
    const auto b = twin::io::SafeTensors::read(part.string() + ".ckpt");
    CHECK(a.meta("epoch") == "2");
    CHECK(b.meta("epoch") == "2");
    REQUIRE(a.tensors().size() == b.tensors().size());
    int compared = 0;
    for (const auto& [key, info] : a.tensors()) {
      REQUIRE(b.contains(key));
      const auto ta = a.get<float>(key), tb = b.get<float>(key);
      REQUIRE(ta.size() == tb.size());
      CHECK_MESSAGE(std::equal(ta.begin(), ta.end(), tb.begin()), key);
      ++compared;
    }
    CHECK(compared > 4);
    ModelInfo ia, ib;
    auto ma = load_model(full, ia);
    auto mb = load_model(part, ib);
    CHECK(ia.threshold == ib.threshold);
    CHECK(std::equal(ma.params().begin(), ma.params().end(), mb.params().begin()));
  }

  // The thread count changes nothing: the same run on 1 thread (the others use 2) gives the
  // same weights and threshold.
  const fs::path one = d.path / "one.safetensors";
  REQUIRE_MESSAGE(run("--threads 1 train" + tiny + " --model \"" + one.string() + "\"", log) == 0, log);
  {
    ModelInfo ia, ib;
    auto ma = load_model(full, ia);
    auto mb = load_model(one, ib);
    CHECK(ia.threshold == ib.threshold);
    CHECK(std::equal(ma.params().begin(), ma.params().end(), mb.params().begin()));
  }

  // eval on the test writers (text, JSON, HTML), and on a pairs file.
  const fs::path json = d.path / "m.json", html = d.path / "r.html";
  REQUIRE_MESSAGE(run("eval" + data + " --model \"" + full.string() + "\" --json \"" + json.string() + "\" --report \"" +
                          html.string() + "\"",
                      log) == 0,
                  log);
  CHECK(log.find("skilled forgeries: EER") != std::string::npos);
  CHECK(log.find("test writers (2): 1 4") != std::string::npos);
  CHECK(fs::file_size(json) > 100);
  {
    std::ifstream in(html);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string h = ss.str();
    CHECK(h.find("<svg") != std::string::npos);
    CHECK(h.find("data:image/png;base64,") != std::string::npos);
    CHECK(h.find("http") == h.find("http://www.w3.org/2000/svg"));  // no network resource but the SVG namespace
  }
  const fs::path g1 = cedar_dir() / "full_org" / "original_1_1.png", g2 = cedar_dir() / "full_org" / "original_1_2.png",
                 f1 = cedar_dir() / "full_forg" / "forgeries_1_1.png";
  write_file(d.path / "pairs.csv", "path1,path2,label\n" + g1.string() + "," + g2.string() + ",1\n" + g1.string() + "," +
                                       f1.string() + ",0\n");
  REQUIRE_MESSAGE(run("eval --model \"" + full.string() + "\" --report '' --pairs \"" + (d.path / "pairs.csv").string() + "\"", log) == 0,
                  log);
  CHECK(log.find("2 pairs from") != std::string::npos);
  write_file(d.path / "bad.csv", g1.string() + "," + g2.string() + ",2\n");
  CHECK(run("eval --model \"" + full.string() + "\" --pairs \"" + (d.path / "bad.csv").string() + "\"", log) == 1);
  CHECK(log.find("bad.csv:1: label must be 1") != std::string::npos);

  // verify, enroll, verify --against.
  // verify exits 0 for "same writer", 2 for "different".
  const int pair_rc = run("verify --model \"" + full.string() + "\" \"" + g1.string() + "\" \"" + f1.string() + "\"", log);
  REQUIRE_MESSAGE((pair_rc == 0 || pair_rc == 2), log);
  CHECK(log.find("threshold") != std::string::npos);
  const std::string enr = " --enrollments \"" + (d.path / "enr.json").string() + "\"";
  REQUIRE_MESSAGE(run("enroll --model \"" + full.string() + "\"" + enr + " --writer 1 \"" + g1.string() + "\" \"" +
                          g2.string() + "\"",
                      log) == 0,
                  log);
  const int against_rc = run("verify --model \"" + full.string() + "\"" + enr + " --against 1 \"" + f1.string() + "\"", log);
  REQUIRE_MESSAGE((against_rc == 0 || against_rc == 2), log);
  CHECK(log.find("mean distance to 2 references of '1'") != std::string::npos);
  CHECK(run("verify --model \"" + full.string() + "\"" + enr + " --against 99 \"" + f1.string() + "\"", log) == 1);
  CHECK(log.find("'99' is not enrolled") != std::string::npos);

  // The other tower, a cohort-normalised score, writer batches: the model file keeps what
  // verify and verify --against need (the cohort), and the same image scores below a forgery.
  const fs::path normed = d.path / "normed.safetensors";
  REQUIRE_MESSAGE(run("train" + tiny + " --arch signet --pool flatten --score-norm s --cohort-per-writer 3 --batch writers"
                      " --batch-writers 3 --batch-genuine 3 --batch-forged 2 --model \"" + normed.string() + "\"", log) == 0, log);
  CHECK(log.find("cohort of 12 training signatures") != std::string::npos);
  {
    ModelInfo info;
    (void)load_model(normed, info);
    CHECK(info.norm.mode == "s");
    CHECK(info.norm.cohort.dim(0) == 12);
    CHECK(info.tower.arch == "signet");
  }
  const int normed_rc = run("verify --json --model \"" + normed.string() + "\" \"" + g1.string() + "\" \"" + f1.string() + "\"", log);
  REQUIRE_MESSAGE((normed_rc == 0 || normed_rc == 2), log);
  CHECK(log.find("\"raw_distance\"") != std::string::npos);
  REQUIRE_MESSAGE(run("enroll --replace --model \"" + normed.string() + "\"" + enr + " --writer 1 \"" + g1.string() + "\"", log) == 0, log);
  const int normed_against = run("verify --model \"" + normed.string() + "\"" + enr + " --against 1 \"" + f1.string() + "\"", log);
  REQUIRE_MESSAGE((normed_against == 0 || normed_against == 2), log);
  CHECK(log.find("(cohort-normalised)") != std::string::npos);
  REQUIRE_MESSAGE(run("eval" + data + " --report '' --model \"" + full.string() + "\" --score-norm z", log) == 0, log);
  CHECK(log.find("score: z on the model's weights") != std::string::npos);

  // Errors from the command line: one line, non-zero exit.
  CHECK(run("train --data \"" + (d.path / "nowhere").string() + "\" --quiet", log) == 1);
  CHECK(log.find("nowhere' (from --data) does not exist") != std::string::npos);
  CHECK(run("eval --model \"" + (d.path / "none.safetensors").string() + "\"", log) == 1);
  CHECK(log.find("does not exist") != std::string::npos);
  CHECK(run("train --val-writers 7 --test-writers 7" + data, log) == 1);
  CHECK(log.find("both a validation and a test group") != std::string::npos);
}

}  // namespace test_signature_verification
