#pragma once
// One-shot classification on Omniglot (docs/omniglot.md): the pieces the subcommands share.
//
//   data       the background set as alphabet -> character -> 20 drawings, shrunk to the
//              tower's input, ink = 1
//   runs       Lake's 20-way one-shot run format: read (with checks that name file and line)
//              and write (validation runs from held-out background alphabets)
//   models     "proto": a conv tower trained with prototypical episodes, scored by nearest
//              neighbour; "koch": Koch et al.'s siamese tower, |e1 - e2|, a logit, BCE
//   commands   train, eval, make-runs
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <twin/data/transform.hpp>
#include <twin/siamese.hpp>
#include <twin/twin.hpp>

namespace omniglot {

namespace fs = std::filesystem;
using twin::Index;
using Image = twin::Tensor<float, 2>;  // (H, W), ink = 1, background = 0

// The data set is not where --data, $TWIN_DATA or ../shared/data point (the message says
// where to get it); main exits 77 (ctest's skip code) on it with --skip-without-data.
struct DataMissing : twin::io_error {
  using twin::io_error::io_error;
};
// omniglot/images_background under --data, $TWIN_DATA or ../shared/data; throws DataMissing.
fs::path find_background(const std::string& data);

// ---- data ----------------------------------------------------------------------------
struct Character {
  std::string name;                    // "Latin/character07"
  std::vector<fs::path> files;         // one per drawer, sorted (drawer 01..20)
  std::vector<Image> images;           // the same, prepared (loaded on demand)
};
struct Alphabet {
  std::string name;
  std::vector<Character> characters;
};
// Every <alphabet>/<character>/*.png under `root`, sorted. Images are not loaded.
std::vector<Alphabet> scan_background(const fs::path& root);
// Loads, inverts (ink = 1) and resizes every image of `alphabets` to size x size.
void load_images(std::vector<Alphabet>& alphabets, Index size);
// One image file prepared as load_images does; errors name the file.
Image prepare_image(const fs::path& file, Index size);

// The held-out validation alphabets: the names given, or `count` drawn with `seed` from the
// sorted alphabet names. Throws when a name is not in `alphabets`.
std::vector<std::string> pick_validation_alphabets(const std::vector<Alphabet>& alphabets,
                                                   const std::vector<std::string>& names, Index count,
                                                   std::uint64_t seed);

// ---- runs ----------------------------------------------------------------------------
struct Run {
  std::string name;                  // "run01"
  std::vector<fs::path> candidates;  // training/classYY.png, one per class, sorted by YY
  std::vector<fs::path> queries;     // test/itemXX.png, in label-file order
  std::vector<Index> truth;          // truth[q]: index into candidates
  std::vector<Index> lines;          // lines[q]: line of class_labels.txt naming query q
};
// Every runNN/ folder under `dir` (sorted by NN), each checked: class_labels.txt present,
// every line "runNN/test/itemXX.png runNN/training/classYY.png" naming existing files, each
// query once, classes numbered 1..K without gaps, K >= 2. Throws twin::io_error naming the
// file (and line).
std::vector<Run> read_runs(const fs::path& dir);
Run read_run(const fs::path& dir, const std::string& name);

struct MakeRunsOptions {
  std::string data;                       // folder holding omniglot/images_background
  std::string out;                        // folder to write runNN/ into
  std::vector<std::string> val_alphabets; // empty: pick `n_val` with `split_seed`
  Index n_val = 5;
  std::uint64_t split_seed = 2015;
  Index runs = 200;
  Index ways = 20;
  std::uint64_t seed = 1;
};
int run_make_runs(const MakeRunsOptions& o);
// Writes runs from `alphabets` (images not needed: files are copied byte for byte). Each run:
// one alphabet with >= ways characters, `ways` characters of it, two different drawers, one
// for the training (candidate) images and one for the test (query) images, queries in a
// shuffled order. Returns the number of runs written.
Index write_runs(const std::vector<Alphabet>& alphabets, const fs::path& out, Index runs, Index ways,
                 std::uint64_t seed);

// ---- models --------------------------------------------------------------------------
enum class Design { proto, koch };
struct TowerOptions {
  Index size = 28;      // input size x size
  Index channels = 64;  // of every conv block (unless `widths` says otherwise)
  Index blocks = 4;     // conv3x3-BN-ReLU-maxpool2
  double norm_scale = 0;  // proto: > 0 ends the tower in L2Normalize and Scale(norm_scale); 0: raw
  Index unpooled = 0;   // the last `unpooled` blocks keep their spatial size (no max-pool)
  std::vector<Index> widths = {};  // output channels per block; empty: `channels` for each of `blocks`
};
// The output channels of every block: `widths`, or `channels` repeated `blocks` times.
std::vector<Index> block_widths(const TowerOptions& t);
// How eval compares a query with the candidates of a run (proto): "l2", squared Euclidean
// on the embeddings; "cl2n", the same after centring every embedding on the mean of the
// run's candidates (the one-shot support set only) and L2-normalising (SimpleShot's CL2N).
enum class Metric { l2, cl2n };
const char* metric_name(Metric m);
Metric parse_metric(const std::string& s);
struct Model {
  Design design = Design::proto;
  TowerOptions tower;
  twin::Sequential<float> net;                 // image -> embedding (N, D)
  std::optional<twin::PairHead<float>> head;   // koch only: |e1 - e2| -> Dense -> logit
  std::map<std::string, std::string> meta;     // saved with the model
};
const char* design_name(Design d);
Design parse_design(const std::string& s);
Model make_model(Design design, const TowerOptions& t, std::uint64_t seed);
// Files: `path` (the tower) and, for koch, `path` + ".head" (the pair head).
void save_model(const Model& m, const fs::path& path);
Model load_model(const fs::path& path);

struct TrainOptions {
  std::string data, model = "omniglot.safetensors";
  Design design = Design::proto;
  // The norm scale, the unpooled last block, the widths growing with depth (32 at 28 px,
  // 256 at 3 px: the cost of the all-64 tower, the capacity in the deep blocks), steps and
  // metric chosen on the validation runs.
  TowerOptions tower{.norm_scale = 3, .unpooled = 1, .widths = {32, 64, 128, 256}};
  std::vector<std::string> val_alphabets;
  Index n_val = 5;
  std::uint64_t split_seed = 2015;
  std::uint64_t seed = 1;
  Index steps = 2000;         // episodes (proto) or pair batches (koch)
  double max_minutes = 15;    // stop (with the learning rate annealed) after this long; 0: never
  Index ways = 60;            // proto: classes per episode (60 beat 30 at 30% more CPU)
  Index shots = 1;            // proto: support images per class
  Index queries = 5;          // proto: query images per class
  double within_alphabet = 0.8;  // share of episodes / different pairs from one alphabet (0.8 beat 0.5, 1.0)
  bool rotate_classes = true;    // characters turned by 90, 180, 270 degrees are new classes
  Index batch_pairs = 64;     // koch: pairs per step
  double lr = 2e-3;           // Adam; this and augment chosen on the validation runs (docs/omniglot.md)
  double augment = 0.5;       // multiplies the affine ranges; 0: none
  Metric metric = Metric::l2;  // stored in the model: eval's default for it (l2 won, see docs)
  std::string val_runs;       // evaluate on these runs after training
  Index tta = 4;
  Index max_characters = 0;   // use only the first N characters of each training alphabet (tests)
  bool quiet = false;
};
int run_train(const TrainOptions& o);

struct EvalOptions {
  std::string model = "omniglot.safetensors";
  std::string runs;
  std::string json;
  std::string report;         // HTML report to write ("" none)
  Index tta = 4;              // extra augmented views averaged per image (pays: see docs/omniglot.md)
  std::string metric;         // "l2" or "cl2n"; "": the model's (omniglot.metric, else l2)
  Index report_examples = 6;  // queries shown with their candidates
};
int run_eval(const EvalOptions& o);

struct RunResult {
  std::string name;
  double accuracy = 0;
  std::vector<Index> chosen;  // per query
  std::vector<std::vector<double>> scores;  // per query, per candidate (higher = more alike)
};
// Scores every run with `m`; `seconds` receives the wall time of all runs (load + embed +
// score).
std::vector<RunResult> evaluate_runs(const Model& m, const std::vector<Run>& runs, Index tta, double* seconds,
                                     Metric metric = Metric::l2);
// The model's metric (omniglot.metric in its metadata; l2 for models saved without one).
Metric model_metric(const Model& m);

// HTML report: per-run accuracy bars and a few queries with their candidates.
void write_report(const fs::path& path, const std::string& title, const std::vector<Run>& runs,
                  const std::vector<RunResult>& results, Index examples);

// dst (H, W) = src warped by `a` about the centre (twin::data::affine's map), bilinear,
// background 0 outside; writes into the caller's buffer.
void warp(const float* src, Index H, Index W, const twin::data::Affine& a, float* dst);

// Number of heap allocations so far (counted by the example's operator new).
std::uint64_t allocations();

}  // namespace omniglot
