#pragma once
// The signature verifier's model: a SigNet-style convolutional tower (Dey et al. 2017) scaled
// down to train on two CPU cores in minutes, and its model file. SigNet's 11x11/5x5/3x3
// convolutions with pooling become strided 5x5/3x3 convolutions (same receptive field growth,
// a quarter of the work), followed by a dense embedding. Both branches of the Siamese pair
// run this one tower (stacked along the batch), so weights are shared by construction.
//
// The model file is safetensors (tower weights) with, in its metadata, everything needed to
// use them: canvas, architecture, threshold, the writer split it was trained on. main.cpp
// writes and reads it; the tests make small models with it.
#include <algorithm>
#include <bit>
#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <twin/data/document_loader.hpp>
#include <twin/io/safetensors.hpp>
#include <twin/layers/activation.hpp>
#include <twin/layers/batchnorm.hpp>
#include <twin/layers/conv2d.hpp>
#include <twin/layers/dense.hpp>
#include <twin/layers/flatten.hpp>
#include <twin/layers/global_avg_pool.hpp>
#include <twin/layers/l2_normalize.hpp>
#include <twin/metrics/cohort_norm.hpp>
#include <twin/sequential.hpp>
#include <twin/siamese/distance.hpp>

namespace sigver {

namespace fs = std::filesystem;
using Canvas = twin::data::DocumentCanvas;

// The towers: "signet", four strided convolutions (w, 2w, 4w, 6w channels); "deep", the
// same four with 8w channels at the last and a stride-1 3x3 convolution after the third and
// the fourth (six convolutions, w, 2w, 4w, 4w, 8w, 8w). Then either a dense layer over the
// flattened map ("flatten") or the global average of each channel ("gap") before it.
inline const std::vector<std::string> tower_archs = {"signet", "deep"}, tower_pools = {"flatten", "gap"};

struct ConvSpec {
  twin::Index in, out, kernel, stride;
};

struct TowerConfig {
  Canvas canvas;
  int width = 16;           // channels of the first convolution
  twin::Index embed = 128;  // embedding size
  bool batchnorm = false;   // BatchNorm2d after each convolution (slower to converge here)
  bool l2norm = false;      // unit-length embeddings
  std::string arch = "signet";
  std::string pool = "flatten";
  std::vector<ConvSpec> convs() const {
    const twin::Index w = width;
    if (arch == "deep") return {{1, w, 5, 2}, {w, 2 * w, 3, 2}, {2 * w, 4 * w, 3, 2}, {4 * w, 4 * w, 3, 1},
                                {4 * w, 8 * w, 3, 2}, {8 * w, 8 * w, 3, 1}};
    return {{1, w, 5, 2}, {w, 2 * w, 3, 2}, {2 * w, 4 * w, 3, 2}, {4 * w, 6 * w, 3, 2}};
  }
  std::string describe() const {
    return twin::detail::concat(arch == "signet" ? "conv" : arch, " tower width ", width, batchnorm ? " with BatchNorm" : "",
                                pool == "gap" ? ", global average pool" : "", ", embedding ", embed,
                                l2norm ? " (L2-normalised)" : "", ", input ", canvas.height, "x", canvas.width,
                                canvas.speck_share > 0 ? twin::detail::concat(", specks < ", canvas.speck_share, " removed") : "",
                                canvas.stroke_radius >= 0 ? twin::detail::concat(", strokes redrawn r=", canvas.stroke_radius) : "",
                                canvas.fixed_scale > 0 ? twin::detail::concat(", fixed scale ", canvas.fixed_scale) : "");
  }
};
// The allowed range of every tower and canvas setting. The command line's options and a
// model file's metadata are both checked against these, so a file cannot ask for a canvas
// that blanks every image, a stroke radius that takes hours or an embedding that does not
// fit in memory.
namespace limits {
inline constexpr twin::Index min_canvas = 8, max_canvas = 2048;  // height and width, pixels
inline constexpr double max_speck_share = 0.1;                    // 0.1: specks below 10% of the ink
inline constexpr twin::Index max_stroke_radius = 16;              // -1 (keep the pen) to this
inline constexpr double max_fixed_scale = 16;                     // canvas pixels per scan pixel (0: fill the canvas)
inline constexpr int max_channels = 256;
inline constexpr twin::Index max_embed = 4096;
inline constexpr double max_threshold = 1e4;  // a distance; unit embeddings are at most 2 apart
}  // namespace limits

// Parameters the tower of `c` holds at least (its convolutions and dense weights), computed
// without building it.
inline double tower_weight_count(const TowerConfig& c) {
  // A convolution of stride s with padding k/2 (k odd) maps n pixels to (n - 1) / s + 1.
  double h = static_cast<double>(c.canvas.height), w = static_cast<double>(c.canvas.width), conv = 0, last = 0;
  for (const ConvSpec& k : c.convs()) {
    const double s = static_cast<double>(k.stride);
    h = std::floor((h - 1) / s) + 1, w = std::floor((w - 1) / s) + 1;
    conv += static_cast<double>(k.in * k.out * k.kernel * k.kernel);
    last = static_cast<double>(k.out);
  }
  return conv + (c.pool == "gap" ? last : last * h * w) * static_cast<double>(c.embed);
}

inline twin::Sequential<float> make_tower(const TowerConfig& c) {
  using namespace twin;
  Sequential<float> net;
  for (const ConvSpec& k : c.convs()) {
    net.add(Conv2D{.in = k.in, .out = k.out, .kernel = k.kernel, .stride = k.stride, .pad = k.kernel / 2,
                   .bias = !c.batchnorm, .init = Init::he_uniform});
    if (c.batchnorm) net.add(BatchNorm2d{.features = k.out});
    net.add(ReLU{});
  }
  if (c.pool == "gap") net.add(GlobalAvgPool{});
  else net.add(Flatten{});
  const Shape s = net.output_shape(Shape{1, 1, c.canvas.height, c.canvas.width});
  net.add(Dense{.in = s[1], .out = c.embed});
  if (c.l2norm) net.add(L2Normalize{});
  return net;
}

// The verification distance: Euclidean (twin/siamese/distance.hpp), the one the contrastive
// loss trains, between embeddings (N, embed) that twin::embed_all computes. Without the
// loss's guard under the root (eps): nothing is differentiated through it here, and an
// image compared with itself must be at distance 0, not sqrt(eps).
inline constexpr twin::LpDistance euclidean{.p = 2.0, .squared = false, .eps = 0.0};
inline constexpr twin::Index embed_batch = 128;  // images per forward pass when embedding a set

// The decision score: the Euclidean distance ("none"), or its symmetric normalisation
// against a cohort of training writers' genuine signatures ("s": twin/metrics/cohort_norm.hpp,
// the mean of (d - mean) / std of each side's distances to the cohort; "z": the reference's
// side alone), which lets one
// threshold serve writers whose signatures vary more or less. Uses no label of the pair:
// only the two embeddings and the cohort, which the model file stores.
// "z": only the reference's side (the first image of a pair, the enrolled signature), so the
// ranking of the questioned signatures against one reference is the distance's own.
inline const std::vector<std::string> score_norms = {"none", "s", "z"};

struct ScoreNorm {
  std::string mode = "none";
  twin::Tensor<float, 2> cohort{twin::Shape{0, 0}};  // (C, embed), when mode != "none"
  twin::Index top_k = 0;          // only the k closest cohort rows count (0: all)
  bool on() const { return mode != "none"; }
  twin::metrics::CohortStats stats(const float* e) const {
    if (!on()) return {};
    return twin::metrics::cohort_stats(euclidean, e, twin::TensorView<const float>(cohort.view()), top_k);
  }
  // The stats of every row of emb (N, D).
  std::vector<twin::metrics::CohortStats> stats_all(const twin::Tensor<float, 2>& emb) const {
    std::vector<twin::metrics::CohortStats> out(static_cast<std::size_t>(emb.dim(0)));
    for (twin::Index i = 0; i < emb.dim(0); ++i) out[static_cast<std::size_t>(i)] = stats(emb.data() + i * emb.dim(1));
    return out;
  }
  double score(double d, const twin::metrics::CohortStats& a, const twin::metrics::CohortStats& b) const {
    if (mode == "z") return twin::metrics::z_norm(d, a);
    return on() ? twin::metrics::s_norm(d, a, b) : d;
  }
};
namespace limits {
inline constexpr twin::Index max_cohort = 100000;  // cohort rows in a model file
}

struct ModelInfo {
  TowerConfig tower;
  ScoreNorm norm;
  float threshold = 0;  // score <= threshold: same writer
  std::vector<std::string> train_writers, val_writers, test_writers;
  std::string data_layout;
  double val_eer = 0;
  int epochs = 0;
  double train_seconds = 0;
};

inline void save_model(const fs::path& file, const twin::Graph<float>& net, const ModelInfo& info) {
  using json = nlohmann::json;
  json j = {{"height", info.tower.canvas.height},
                  {"width", info.tower.canvas.width},
                  {"speck_share", info.tower.canvas.speck_share},
                  {"stroke_radius", info.tower.canvas.stroke_radius},
                  {"fixed_scale", info.tower.canvas.fixed_scale},
                  {"channels", info.tower.width},
                  {"embed", info.tower.embed},
                  {"batchnorm", info.tower.batchnorm},
                  {"l2norm", info.tower.l2norm},
                  {"arch", info.tower.arch},
                  {"pool", info.tower.pool},
                  {"threshold", info.threshold},
                  {"train_writers", info.train_writers},
                  {"val_writers", info.val_writers},
                  {"test_writers", info.test_writers},
                  {"data_layout", info.data_layout},
                  {"val_eer", info.val_eer},
                  {"epochs", info.epochs},
                  {"train_seconds", info.train_seconds},
                  {"score_norm", info.norm.mode}};
  if (info.norm.on()) {
    j["cohort_top"] = info.norm.top_k;
    json rows = json::array();
    const twin::Index C = info.norm.cohort.dim(0), D = info.norm.cohort.dim(1);
    for (twin::Index c = 0; c < C; ++c)
      rows.push_back(std::vector<float>(info.norm.cohort.data() + c * D, info.norm.cohort.data() + (c + 1) * D));
    j["cohort"] = std::move(rows);
  }
  twin::io::save_model(net, file, {{"signature_verification", j.dump()}});
}

namespace detail {
using json = nlohmann::json;
inline const std::string& entry(const std::map<std::string, std::string>& m, const std::string& k, const fs::path& file) {
  const auto it = m.find(k);
  if (it == m.end())
    throw twin::io_error("'" + file.string() + "' has no \"" + k + "\" entry: not a signature_verification file");
  return it->second;
}
[[noreturn]] inline void bad_meta(const fs::path& file, const std::string& key, const json& v, const std::string& why) {
  std::string shown = v.dump();
  if (shown.size() > 60) shown = shown.substr(0, 60) + "...";
  throw twin::io_error("model file '" + file.string() + "': metadata \"" + key + "\" = " + shown + " " + why);
}
inline const json& field(const json& j, const std::string& key, const fs::path& file) {
  if (!j.contains(key)) throw twin::io_error("model file '" + file.string() + "': metadata lacks \"" + key + "\"");
  return j[key];
}
inline double number_in(const json& j, const std::string& key, double lo, double hi, bool integer, const fs::path& file,
                 const json* fallback = nullptr) {
  const json& v = j.contains(key) || !fallback ? field(j, key, file) : *fallback;
  if (!v.is_number() || (integer && !v.is_number_integer()))
    bad_meta(file, key, v, integer ? "is not an integer" : "is not a number");
  const double d = v.get<double>();
  if (!std::isfinite(d) || d < lo || d > hi)
    bad_meta(file, key, v, twin::detail::concat("is out of range (", lo, " to ", hi, ")"));
  return d;
}
inline bool flag(const json& j, const std::string& key, const fs::path& file) {
  if (!j.contains(key)) return false;  // absent in the first model files
  if (!j[key].is_boolean()) bad_meta(file, key, j[key], "is not true or false");
  return j[key].get<bool>();
}
// A string field that must be one of `allowed`; absent (the first model files): allowed[0].
inline std::string one_of(const json& j, const std::string& key, const std::vector<std::string>& allowed,
                          const fs::path& file) {
  if (!j.contains(key)) return allowed.front();
  const json& v = j[key];
  if (!v.is_string() || std::find(allowed.begin(), allowed.end(), v.get<std::string>()) == allowed.end()) {
    std::string names;
    for (const auto& a : allowed) names += (names.empty() ? "" : ", ") + a;
    bad_meta(file, key, v, "is not one of " + names);
  }
  return v.get<std::string>();
}
inline std::vector<std::string> strings(const json& j, const std::string& key, const fs::path& file) {
  const json& v = field(j, key, file);
  if (!v.is_array()) bad_meta(file, key, v, "is not a list of writer names");
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (!e.is_string()) bad_meta(file, key, v, "is not a list of writer names");
    out.push_back(e.get<std::string>());
  }
  return out;
}
}  // namespace detail

// The tower (built from the stored configuration, weights loaded) and its information. Every
// metadata field is checked against its range (limits above) before anything is built, and
// the weights must be finite; errors name the file, the key and the value.
inline twin::Sequential<float> load_model(const fs::path& file, ModelInfo& info) {
  using namespace detail;
  if (!fs::exists(file)) throw twin::io_error("model file '" + file.string() + "' does not exist (run train first)");
  // The metadata says which tower to build; read and check it first.
  const auto st = twin::io::SafeTensors::read(file);
  json j;
  try {
    j = json::parse(entry(st.metadata(), "signature_verification", file));
  } catch (const json::exception& e) {
    throw twin::io_error("'" + file.string() + "': bad signature_verification metadata: " + e.what());
  }
  if (!j.is_object()) throw twin::io_error("'" + file.string() + "': signature_verification metadata is not an object");
  using namespace limits;
  const json no_specks = 0.0, pen_width = -1, fill = 0.0;  // absent in older model files
  TowerConfig& t = info.tower;
  t.canvas.height = static_cast<twin::Index>(number_in(j, "height", min_canvas, max_canvas, true, file));
  t.canvas.width = static_cast<twin::Index>(number_in(j, "width", min_canvas, max_canvas, true, file));
  t.canvas.speck_share = number_in(j, "speck_share", 0, max_speck_share, false, file, &no_specks);
  t.canvas.stroke_radius =
      static_cast<twin::Index>(number_in(j, "stroke_radius", -1, max_stroke_radius, true, file, &pen_width));
  t.canvas.fixed_scale = number_in(j, "fixed_scale", 0, max_fixed_scale, false, file, &fill);
  t.width = static_cast<int>(number_in(j, "channels", 1, max_channels, true, file));
  t.embed = static_cast<twin::Index>(number_in(j, "embed", 1, max_embed, true, file));
  t.batchnorm = flag(j, "batchnorm", file);
  t.l2norm = flag(j, "l2norm", file);
  t.arch = one_of(j, "arch", tower_archs, file);
  t.pool = one_of(j, "pool", tower_pools, file);
  info.norm.mode = one_of(j, "score_norm", score_norms, file);
  if (info.norm.on()) {
    info.norm.top_k = static_cast<twin::Index>(number_in(j, "cohort_top", 0, max_cohort, true, file));
    const json& rows = field(j, "cohort", file);
    if (!rows.is_array() || rows.size() < 2 || rows.size() > static_cast<std::size_t>(max_cohort))
      bad_meta(file, "cohort", rows, twin::detail::concat("is not a list of 2 to ", max_cohort, " embeddings"));
    info.norm.cohort = twin::Tensor<float, 2>(twin::Shape{static_cast<twin::Index>(rows.size()), t.embed});
    float* out = info.norm.cohort.data();
    for (const auto& r : rows) {
      if (!r.is_array() || r.size() != static_cast<std::size_t>(t.embed))
        bad_meta(file, "cohort", r, twin::detail::concat("holds a row that is not ", t.embed, " numbers (the embedding)"));
      for (const auto& v : r) {
        if (!v.is_number() || !std::isfinite(v.get<double>())) bad_meta(file, "cohort", r, "holds a value that is not a finite number");
        *out++ = v.get<float>();
      }
    }
    // Normalised scores are in units of the cohort's std, negative for close pairs.
    info.threshold = static_cast<float>(number_in(j, "threshold", -max_threshold, max_threshold, false, file));
  } else {
    // A threshold of 0 rejects every pair and a huge one accepts every pair; unit-length
    // embeddings are never more than 2 apart.
    info.threshold = static_cast<float>(number_in(j, "threshold", 0, t.l2norm ? 2.0 : max_threshold, false, file));
    if (!(info.threshold > 0)) bad_meta(file, "threshold", j["threshold"], "must be above 0");
  }
  info.train_writers = strings(j, "train_writers", file);
  info.val_writers = strings(j, "val_writers", file);
  info.test_writers = strings(j, "test_writers", file);
  if (!field(j, "data_layout", file).is_string()) bad_meta(file, "data_layout", j["data_layout"], "is not a string");
  info.data_layout = j["data_layout"].get<std::string>();
  info.val_eer = number_in(j, "val_eer", 0, 1, false, file);
  info.epochs = static_cast<int>(number_in(j, "epochs", 0, 1e7, true, file));
  info.train_seconds = number_in(j, "train_seconds", 0, 1e9, false, file);
  // Building the tower allocates its weights: the metadata must not ask for more than the
  // file holds (an "embed" of 1e12 would otherwise end in std::bad_alloc).
  double held = 0;
  for (const auto& [name, ti] : st.tensors()) held += static_cast<double>(ti.shape.numel());
  if (tower_weight_count(t) > held)
    throw twin::io_error(twin::detail::concat("model file '", file.string(), "': its metadata describes a ",
                                              t.describe(), " of at least ", tower_weight_count(t),
                                              " weights, but the file holds ", held, " values"));
  twin::Sequential<float> net = make_tower(t);
  twin::io::load_model(net, file);
  return net;
}

}  // namespace sigver
