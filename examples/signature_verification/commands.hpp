#pragma once
// The subcommands of `signature_verification` and their options (filled by the CLI in
// main.cpp; each run_* returns the process exit code and throws on error).
#include <cstdint>
#include <string>
#include <vector>

#include "model.hpp"

namespace sigver {

struct SplitOptions {
  std::vector<std::string> val_writers, test_writers;  // explicit split when given
  int n_val = 5, n_test = 10;                          // else a seeded split of this size
  std::uint64_t split_seed = 1;
};

struct TrainOptions {
  std::string data;
  std::string model = "signature_model.safetensors";
  std::string checkpoint;  // default: <model>.ckpt
  bool resume = false;
  bool overwrite = false;  // start afresh over an existing model and checkpoint
  SplitOptions split;
  int max_train_writers = 0;  // use only the first N training writers (0 = all)
  std::uint64_t seed = 1;
  TowerConfig tower;
  int epochs = 6;
  int steps_per_epoch = 100;
  int batch_pairs = 32;
  double lr = 1e-3;
  double margin = 1.0;
  double weight_decay = 1e-4;
  bool augment = true;
  double skilled_fraction = 0.5;
  double hard_share = 0.5;      // share of random forgeries drawn from the nearest writers
  int hard_writers = 5;         // how many nearest writers (by mean embedding, each epoch)
  double augment_strength = 1.0;  // multiplies rotation, scale range and shift
  bool quiet = false;
  int stop_after_epochs = 0;  // testing aid: exit after this many epochs, as if interrupted
};

struct EvalOptions {
  std::string data;
  std::string model = "signature_model.safetensors";
  std::string pairs;  // evaluate this pairs file instead of the test writers
  std::string json;   // also write the metrics here
  std::string report = "signature_report.html";
  SplitOptions split;  // default: the split stored in the model
  int references = 5;
  int examples = 24;
  std::uint64_t seed = 1;
};

struct VerifyOptions {
  std::string model = "signature_model.safetensors";
  std::string enrollments = "enrollments.json";
  std::string against;  // writer name: compare with its enrolled references
  std::vector<std::string> images;
  int repeat = 1;  // run the pair's whole path (decode, preprocess, embed) this often; report cold and warm times
  bool json = false;  // one JSON object on stdout instead of text
};

// verify's exit codes, for scripts: 0 the same writer (genuine), verify_different for a
// forgery or another writer, 1 for any error (as every subcommand).
inline constexpr int verify_same = 0;
inline constexpr int verify_different = 2;

struct EnrollOptions {
  std::string model = "signature_model.safetensors";
  std::string enrollments = "enrollments.json";
  std::string writer;
  std::vector<std::string> images;
  bool replace = false;  // replace the writer's references instead of adding to them
};

struct AuditOptions {
  std::string data;
  std::string json;
  SplitOptions split;
  Canvas canvas;
  std::uint64_t seed = 1;
};

int run_train(const TrainOptions& o);
int run_eval(const EvalOptions& o);
int run_verify(const VerifyOptions& o);
int run_enroll(const EnrollOptions& o);
int run_audit(const AuditOptions& o);

// --data DIR: DIR/cedar when it exists, else DIR itself; without --data, $TWIN_DATA/cedar
// or ../shared/data/cedar.
fs::path resolve_data(const std::string& option);

}  // namespace sigver
