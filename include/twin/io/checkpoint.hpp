#pragma once
// Training checkpoints in the same safetensors format as model files (twin/io/safetensors.hpp):
//
//   tensors    "model.<name>"       every parameter and buffer ("model.3.weight")
//              "optimizer.<slot>"   the optimiser's flat state ("optimizer.exp_avg"), if any
//   metadata   format, twin_format_version, architecture, optimizer (name), optimizer.lr,
//              optimizer.steps, rng.s0..s3, rng.spare, rng.has_spare, epoch, and the
//              caller's own keys prefixed "user.".
// Numbers in metadata are exact: integers in decimal, doubles as the decimal of their bit
// pattern, so a resumed run continues bit-identically. Writes are atomic like save_model.
//
//   twin::io::save_checkpoint("ckpt.safetensors", net, adam, rng, epoch);
//   auto info = twin::io::load_checkpoint("ckpt.safetensors", net, adam, rng);  // info.epoch
#include <bit>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "twin/io/safetensors.hpp"
#include "twin/optim/optimizer.hpp"
#include "twin/rng.hpp"

namespace twin::io {

struct CheckpointInfo {
  long long epoch = 0;
  std::map<std::string, std::string> user;  // the caller's metadata, without "user."
};

namespace detail {
inline std::string u64_str(std::uint64_t v) { return std::to_string(v); }
inline std::string f64_str(double v) { return std::to_string(std::bit_cast<std::uint64_t>(v)); }
inline std::uint64_t meta_u64(const SafeTensors& st, const std::string& key) {
  const std::string& s = st.meta(key);
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || s.empty())
    st_fail(st.name(), "__metadata__ \"" + key + "\" is not an unsigned integer: \"" + s + "\"");
  return v;
}
inline long long meta_i64(const SafeTensors& st, const std::string& key) {
  const std::string& s = st.meta(key);
  long long v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || s.empty())
    st_fail(st.name(), "__metadata__ \"" + key + "\" is not an integer: \"" + s + "\"");
  return v;
}
}  // namespace detail

template <Model M, class T = typename M::value_type>
void save_checkpoint(const std::filesystem::path& path, const M& net, Optimizer<T>& opt, const Rng& rng,
                     long long epoch, const std::map<std::string, std::string>& user = {}) {
  using namespace detail;
  const Rng::State rs = rng.state();
  std::map<std::string, std::string> meta = {
      {"format", "twin-checkpoint"},
      {"twin_format_version", std::to_string(model_format_version)},
      {"twin_version", concat_version()},
      {"architecture", architecture_of(net)},
      {"optimizer", opt.name()},
      {"optimizer.lr", f64_str(opt.lr())},
      {"optimizer.steps", std::to_string(opt.steps())},
      {"rng.s0", u64_str(rs.s[0])},
      {"rng.s1", u64_str(rs.s[1])},
      {"rng.s2", u64_str(rs.s[2])},
      {"rng.s3", u64_str(rs.s[3])},
      {"rng.spare", f64_str(rs.spare)},
      {"rng.has_spare", rs.has_spare ? "1" : "0"},
      {"epoch", std::to_string(epoch)},
  };
  for (const auto& [k, v] : user) meta["user." + k] = v;
  std::vector<SafeTensorOut> tensors;
  append_model_tensors(net, "model.", tensors);
  for (auto& [slot, t] : opt.state()) tensors.push_back({"optimizer." + slot, dtype_of<T>(), t.shape(), t.data()});
  write_safetensors(path, std::move(tensors), meta);
}

// Restores the model, the optimiser (state, step count, learning rate) and the RNG saved by
// save_checkpoint. The model must have the saved architecture and the optimiser the saved
// type; otherwise io_error names the difference. Metadata and shapes are checked before
// anything is modified; the RNG is only set once everything else has loaded.
template <Model M, class T = typename M::value_type>
CheckpointInfo load_checkpoint(const std::filesystem::path& path, M& net, Optimizer<T>& opt, Rng& rng) {
  using namespace detail;
  const SafeTensors st = SafeTensors::read(path);
  if (st.meta("format") != "twin-checkpoint")
    st_fail(st.name(), "is not a twin checkpoint (format \"" + st.meta("format") + "\")");
  if (st.meta("twin_format_version") != std::to_string(model_format_version))
    st_fail(st.name(), "twin format version " + st.meta("twin_format_version") + " is not supported");
  if (st.meta("optimizer") != opt.name())
    st_fail(st.name(), "checkpoint was saved with optimizer " + st.meta("optimizer") + ", resuming with " + opt.name());

  // Read and check everything before touching any state.
  Rng::State rs{};
  for (int i = 0; i < 4; ++i) rs.s[static_cast<std::size_t>(i)] = meta_u64(st, "rng.s" + std::to_string(i));
  rs.spare = std::bit_cast<double>(meta_u64(st, "rng.spare"));
  rs.has_spare = meta_u64(st, "rng.has_spare") != 0;
  const double lr = std::bit_cast<double>(meta_u64(st, "optimizer.lr"));
  const long long steps = meta_i64(st, "optimizer.steps");
  CheckpointInfo info;
  info.epoch = meta_i64(st, "epoch");
  for (const auto& [k, v] : st.metadata())
    if (k.rfind("user.", 0) == 0) info.user[k.substr(5)] = v;
  std::vector<std::string> slots;
  for (const auto& kv : st.tensors())
    if (kv.first.rfind("optimizer.", 0) == 0) slots.push_back(kv.first);
  for (const auto& s : slots)
    if (!(st.info(s).shape == Shape{static_cast<Index>(net.params().size())}))
      st_fail(st.name(), "tensor \"" + s + "\" has shape " + st.info(s).shape.str() + ", the model has " +
                             std::to_string(net.params().size()) + " parameters");

  load_model_tensors(net, st, "model.");
  // A fresh, zeroed state of the right size, then every slot the optimiser has from the
  // file (an optimiser that never stepped saved none).
  opt.resize_state(static_cast<Index>(net.params().size()));
  std::size_t loaded = 0;
  for (auto& [slot, t] : opt.state()) {
    const std::string key = "optimizer." + slot;
    if (!st.contains(key)) {
      if (!slots.empty()) st_fail(st.name(), "optimizer state \"" + slot + "\" is missing");
      continue;
    }
    st.copy_to<T>(key, t.span(), t.shape());
    ++loaded;
  }
  if (loaded != slots.size())
    st_fail(st.name(), "checkpoint holds " + std::to_string(slots.size()) + " optimizer state tensors, " + opt.name() +
                           " uses " + std::to_string(opt.state().size()));
  opt.set_lr(lr);
  opt.set_steps(steps);
  rng.set_state(rs);
  return info;
}

}  // namespace twin::io
