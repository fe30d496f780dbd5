#include "persist.hpp"

#include <bit>
#include <charconv>

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

void save_model(const fs::path& file, const twin::Sequential<float>& net, const ModelInfo& info) {
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

twin::Sequential<float> load_model(const fs::path& file, ModelInfo& info) {
  if (!fs::exists(file)) throw twin::io_error("model file '" + file.string() + "' does not exist (run train first)");
  // The metadata says which tower to build; read it first.
  const auto st = twin::io::SafeTensors::read(file);
  json j;
  try {
    j = json::parse(get(st.metadata(), "signature_verification", file));
    info.tower.canvas.height = j.at("height");
    info.tower.canvas.width = j.at("width");
    info.tower.canvas.speck_share = j.value("speck_share", 0.0);  // absent in older model files
    info.tower.canvas.stroke_radius = j.value("stroke_radius", twin::Index{-1});
    info.tower.width = j.at("channels");
    info.tower.embed = j.at("embed");
    info.tower.batchnorm = j.value("batchnorm", false);  // absent in the first model files
    info.tower.l2norm = j.value("l2norm", false);
    info.threshold = j.at("threshold");
    info.train_writers = j.at("train_writers").get<std::vector<std::string>>();
    info.val_writers = j.at("val_writers").get<std::vector<std::string>>();
    info.test_writers = j.at("test_writers").get<std::vector<std::string>>();
    info.data_layout = j.at("data_layout");
    info.val_eer = j.at("val_eer");
    info.epochs = j.at("epochs");
    info.train_seconds = j.at("train_seconds");
  } catch (const json::exception& e) {
    throw twin::io_error("'" + file.string() + "': bad signature_verification metadata: " + e.what());
  }
  twin::Sequential<float> net = make_tower(info.tower);
  twin::io::load_model(net, file);
  return net;
}

void save_checkpoint(const fs::path& file, const twin::Sequential<float>& net, twin::Adam<float>& opt,
                     const TrainState& st, const std::string& fingerprint) {
  // All randomness is drawn from (seed, step), so the checkpoint's own Rng is unused.
  twin::io::save_checkpoint(file, net, opt, twin::Rng(0), st.epoch,
                            {{"fingerprint", fingerprint},
                             {"best_val_eer", bits(st.best_val_eer)},
                             {"best_threshold", bits(st.best_threshold)},
                             {"best_epoch", std::to_string(st.best_epoch)},
                             {"seconds", bits(st.seconds)}});
}

TrainState load_checkpoint(const fs::path& file, twin::Sequential<float>& net, twin::Adam<float>& opt,
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
