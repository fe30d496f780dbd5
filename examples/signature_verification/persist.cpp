#include "persist.hpp"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include <twin/io/checkpoint.hpp>
#include <twin/io/safetensors.hpp>

namespace sigver {

namespace {
using json = nlohmann::json;

// Doubles travel as the decimal of their bits, so a resumed run compares bit for bit.
std::string bits(double v) { return std::to_string(std::bit_cast<std::uint64_t>(v)); }
double unbits(const std::string& s, const fs::path& file, const char* key) {
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) throw twin::io_error("'" + file.string() + "': bad " + key);
  return std::bit_cast<double>(v);
}
const std::string& get(const std::map<std::string, std::string>& m, const std::string& k, const fs::path& file) {
  const auto it = m.find(k);
  if (it == m.end())
    throw twin::io_error("'" + file.string() + "' has no \"" + k + "\" entry: not a signature_verification file");
  return it->second;
}
}  // namespace

void save_model(const fs::path& file, const twin::Graph<float>& net, const ModelInfo& info) {
  const json j = {{"height", info.tower.canvas.height},
                  {"width", info.tower.canvas.width},
                  {"speck_share", info.tower.canvas.speck_share},
                  {"stroke_radius", info.tower.canvas.stroke_radius},
                  {"channels", info.tower.width},
                  {"embed", info.tower.embed},
                  {"batchnorm", info.tower.batchnorm},
                  {"l2norm", info.tower.l2norm},
                  {"threshold", info.threshold},
                  {"train_writers", info.train_writers},
                  {"val_writers", info.val_writers},
                  {"test_writers", info.test_writers},
                  {"data_layout", info.data_layout},
                  {"val_eer", info.val_eer},
                  {"epochs", info.epochs},
                  {"train_seconds", info.train_seconds}};
  twin::io::save_model(net, file, {{"signature_verification", j.dump()}});
}

namespace {
[[noreturn]] void bad_meta(const fs::path& file, const std::string& key, const json& v, const std::string& why) {
  std::string shown = v.dump();
  if (shown.size() > 60) shown = shown.substr(0, 60) + "...";
  throw twin::io_error("model file '" + file.string() + "': metadata \"" + key + "\" = " + shown + " " + why);
}
const json& field(const json& j, const std::string& key, const fs::path& file) {
  if (!j.contains(key)) throw twin::io_error("model file '" + file.string() + "': metadata lacks \"" + key + "\"");
  return j[key];
}
double number_in(const json& j, const std::string& key, double lo, double hi, bool integer, const fs::path& file,
                 const json* fallback = nullptr) {
  const json& v = j.contains(key) || !fallback ? field(j, key, file) : *fallback;
  if (!v.is_number() || (integer && !v.is_number_integer()))
    bad_meta(file, key, v, integer ? "is not an integer" : "is not a number");
  const double d = v.get<double>();
  if (!std::isfinite(d) || d < lo || d > hi)
    bad_meta(file, key, v, twin::detail::concat("is out of range (", lo, " to ", hi, ")"));
  return d;
}
bool flag(const json& j, const std::string& key, const fs::path& file) {
  if (!j.contains(key)) return false;  // absent in the first model files
  if (!j[key].is_boolean()) bad_meta(file, key, j[key], "is not true or false");
  return j[key].get<bool>();
}
std::vector<std::string> strings(const json& j, const std::string& key, const fs::path& file) {
  const json& v = field(j, key, file);
  if (!v.is_array()) bad_meta(file, key, v, "is not a list of writer names");
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (!e.is_string()) bad_meta(file, key, v, "is not a list of writer names");
    out.push_back(e.get<std::string>());
  }
  return out;
}
}  // namespace

twin::Sequential<float> load_model(const fs::path& file, ModelInfo& info) {
  if (!fs::exists(file)) throw twin::io_error("model file '" + file.string() + "' does not exist (run train first)");
  // The metadata says which tower to build; read and check it first.
  const auto st = twin::io::SafeTensors::read(file);
  json j;
  try {
    j = json::parse(get(st.metadata(), "signature_verification", file));
  } catch (const json::exception& e) {
    throw twin::io_error("'" + file.string() + "': bad signature_verification metadata: " + e.what());
  }
  if (!j.is_object()) throw twin::io_error("'" + file.string() + "': signature_verification metadata is not an object");
  using namespace limits;
  const json no_specks = 0.0, pen_width = -1;  // absent in older model files
  TowerConfig& t = info.tower;
  t.canvas.height = static_cast<twin::Index>(number_in(j, "height", min_canvas, max_canvas, true, file));
  t.canvas.width = static_cast<twin::Index>(number_in(j, "width", min_canvas, max_canvas, true, file));
  t.canvas.speck_share = number_in(j, "speck_share", 0, max_speck_share, false, file, &no_specks);
  t.canvas.stroke_radius =
      static_cast<twin::Index>(number_in(j, "stroke_radius", -1, max_stroke_radius, true, file, &pen_width));
  t.width = static_cast<int>(number_in(j, "channels", 1, max_channels, true, file));
  t.embed = static_cast<twin::Index>(number_in(j, "embed", 1, max_embed, true, file));
  t.batchnorm = flag(j, "batchnorm", file);
  t.l2norm = flag(j, "l2norm", file);
  // A threshold of 0 rejects every pair and a huge one accepts every pair; unit-length
  // embeddings are never more than 2 apart.
  info.threshold = static_cast<float>(number_in(j, "threshold", 0, t.l2norm ? 2.0 : max_threshold, false, file));
  if (!(info.threshold > 0)) bad_meta(file, "threshold", j["threshold"], "must be above 0");
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

std::string weights_hash(const twin::Graph<float>& net) {
  std::uint64_t h = 14695981039346656037ull;
  auto mix = [&](const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  };
  for (const auto& nt : net.named_tensors()) {
    mix(nt.name.data(), nt.name.size() + 1);
    for (twin::Index d : nt.shape) mix(&d, sizeof d);
    const float* base = nt.trainable ? net.params().data() : net.buffers().data();
    mix(base + nt.offset, static_cast<std::size_t>(nt.shape.numel()) * sizeof(float));
  }
  char b[32];
  std::snprintf(b, sizeof b, "fnv1a64:%016llx", static_cast<unsigned long long>(h));
  return b;
}

void save_checkpoint(const fs::path& file, const twin::Graph<float>& net, twin::Adam<float>& opt,
                     const TrainState& st, const std::string& fingerprint) {
  // All randomness is drawn from (seed, step), so the checkpoint's own Rng is unused.
  twin::io::save_checkpoint(file, net, opt, twin::Rng(0), st.epoch,
                            {{"fingerprint", fingerprint},
                             {"best_val_eer", bits(st.best_val_eer)},
                             {"best_threshold", bits(st.best_threshold)},
                             {"best_epoch", std::to_string(st.best_epoch)},
                             {"seconds", bits(st.seconds)}});
}

TrainState load_checkpoint(const fs::path& file, twin::Graph<float>& net, twin::Adam<float>& opt,
                           const std::string& fingerprint) {
  twin::Rng unused;
  const auto info = twin::io::load_checkpoint(file, net, opt, unused);
  const std::string& fp = get(info.user, "fingerprint", file);
  if (fp != fingerprint)
    throw twin::io_error("checkpoint '" + file.string() + "' belongs to another configuration (" + fp +
                         "); this run is: " + fingerprint);
  TrainState st;
  st.epoch = static_cast<int>(info.epoch);
  st.best_val_eer = unbits(get(info.user, "best_val_eer", file), file, "best_val_eer");
  st.best_threshold = static_cast<float>(unbits(get(info.user, "best_threshold", file), file, "best_threshold"));
  st.best_epoch = std::stoi(get(info.user, "best_epoch", file));
  st.seconds = unbits(get(info.user, "seconds", file), file, "seconds");
  return st;
}

}  // namespace sigver
