#pragma once
// TensorFlow.js weights (the format of tfjs-converter's "layers"/"graph" models and of
// face-api's models): a manifest, `<name>-weights_manifest.json`, and binary shards.
//
//   manifest  [{"paths": ["a.bin", "a2.bin"],
//               "weights": [{"name": "conv/filters", "shape": [3, 3, 3, 32], "dtype": "float32",
//                            "quantization": {"dtype": "uint8", "scale": s, "min": m}}, ...]},
//              ...]
//   shards    each group's weights stored back to back, little-endian, in the order listed,
//             across the concatenation of the group's paths (a tensor may span two shards)
//
// Stored element types: float32 and int32 as themselves; with "quantization", uint8 or
// uint16 codes q with value = min + scale * q (tfjs's affine quantisation; older writers give
// "offset" instead of "min": value = scale * (q + offset)), or float16 (IEEE half, no scale).
// Every value is returned as float.
//
// Weights come from anywhere, so every malformed input is an io_error naming the manifest,
// the shard or tensor, and the rule: a missing or unreadable shard, a shard group shorter
// than its tensors (truncated) or longer (size mismatch), an unknown dtype or quantisation,
// a negative or overflowing shape, a duplicate tensor name, JSON that is not a manifest.
// Opt-in (not in twin.hpp): needs nlohmann_json, which the twin target links.
//
//   auto w = twin::io::load_tfjs("model/face_recognition_model-weights_manifest.json");
//   const auto& f = w.at("conv32_down/conv/filters");   // f.shape {7, 7, 3, 32}, f.values
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "twin/error.hpp"
#include "twin/tensor.hpp"

namespace twin::io {

static_assert(std::endian::native == std::endian::little, "twin's tfjs reader assumes a little-endian host");

struct TfjsTensor {
  std::string name;
  std::vector<Index> shape;   // as tfjs lays it out (conv filters HWIO, dense (in, out))
  std::string stored;         // "float32", "int32", "uint8", "uint16", "float16"
  std::vector<float> values;  // decoded, row-major in `shape`
  Index numel() const {
    Index n = 1;
    for (Index d : shape) n *= d;
    return n;
  }
};

// The tensors of one manifest, by name, in manifest order.
class TfjsWeights {
 public:
  const TfjsTensor& at(const std::string& name) const {
    auto it = index_.find(name);
    if (it == index_.end()) throw io_error(detail::concat("tfjs weights ", source_, ": no tensor \"", name, "\""));
    return tensors_[it->second];
  }
  // at(name), and an io_error unless its shape is `shape`.
  const TfjsTensor& at(const std::string& name, const std::vector<Index>& shape) const {
    const TfjsTensor& t = at(name);
    if (t.shape != shape)
      throw io_error(detail::concat("tfjs weights ", source_, ": tensor \"", name, "\" has shape ", str(t.shape),
                                    ", expected ", str(shape)));
    return t;
  }
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  const std::vector<TfjsTensor>& tensors() const { return tensors_; }
  std::size_t size() const { return tensors_.size(); }
  Index num_values() const {
    Index n = 0;
    for (const auto& t : tensors_) n += t.numel();
    return n;
  }
  const std::string& source() const { return source_; }

  static std::string str(const std::vector<Index>& s) {
    std::string r = "[";
    for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
  }

 private:
  friend TfjsWeights load_tfjs(const std::filesystem::path& manifest);
  std::string source_;
  std::vector<TfjsTensor> tensors_;
  std::map<std::string, std::size_t> index_;
};

namespace detail {

inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: value = man * 2^-24
      const float v = std::ldexp(static_cast<float>(man), -24);
      return sign ? -v : v;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);  // Inf / NaN
  } else {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  }
  return std::bit_cast<float>(bits);
}

// Bytes per stored element, 0 for an unknown type.
inline std::size_t tfjs_element_bytes(const std::string& t) {
  if (t == "float32" || t == "int32") return 4;
  if (t == "uint16" || t == "float16") return 2;
  if (t == "uint8") return 1;
  return 0;
}

}  // namespace detail

// Reads a manifest and all its shards (paths relative to the manifest's folder).
inline TfjsWeights load_tfjs(const std::filesystem::path& manifest) {
  using nlohmann::json;
  const std::string src = manifest.string();
  auto fail = [&](const std::string& what) -> io_error { return io_error("tfjs manifest " + src + ": " + what); };
  std::ifstream in(manifest, std::ios::binary);
  if (!in) throw fail("cannot open it");
  json m;
  try {
    m = json::parse(in);
  } catch (const json::exception& e) {
    throw fail(std::string("not valid JSON (") + e.what() + ")");
  }
  if (!m.is_array()) throw fail("expected a JSON array of weight groups");
  TfjsWeights w;
  w.source_ = src;
  const auto folder = manifest.parent_path();
  for (std::size_t g = 0; g < m.size(); ++g) {
    const json& group = m[g];
    const std::string where = twin::detail::concat("group ", g);
    if (!group.is_object() || !group.contains("paths") || !group["paths"].is_array() || !group.contains("weights") ||
        !group["weights"].is_array())
      throw fail(where + ": expected an object with \"paths\" and \"weights\" arrays");
    // The group's shards, concatenated.
    std::vector<unsigned char> bytes;
    std::string shards;
    for (const json& p : group["paths"]) {
      if (!p.is_string()) throw fail(where + ": a path that is not a string");
      const auto path = folder / p.get<std::string>();
      std::ifstream s(path, std::ios::binary);
      if (!s) throw fail(where + ": shard " + path.string() + " is missing or unreadable");
      const std::size_t at = bytes.size();
      s.seekg(0, std::ios::end);
      const auto n = static_cast<std::size_t>(s.tellg());
      s.seekg(0);
      bytes.resize(at + n);
      if (n && !s.read(reinterpret_cast<char*>(bytes.data() + at), static_cast<std::streamsize>(n)))
        throw fail(where + ": cannot read shard " + path.string());
      shards += (shards.empty() ? "" : ", ") + path.string();
    }
    std::size_t offset = 0;
    for (const json& e : group["weights"]) {
      if (!e.is_object() || !e.contains("name") || !e["name"].is_string())
        throw fail(where + ": a weight entry without a \"name\" string");
      TfjsTensor t;
      t.name = e["name"].get<std::string>();
      const std::string tw = "tensor \"" + t.name + "\"";
      if (w.index_.count(t.name)) throw fail(tw + " is listed twice");
      if (!e.contains("shape") || !e["shape"].is_array()) throw fail(tw + ": no \"shape\" array");
      Index numel = 1;
      for (const json& d : e["shape"]) {
        if (!d.is_number_integer() || d.get<std::int64_t>() < 0) throw fail(tw + ": shape entries must be integers >= 0");
        const Index v = d.get<Index>();
        if (v > 0 && numel > (Index(1) << 40) / v) throw fail(tw + ": shape too large");
        numel *= v;
        t.shape.push_back(v);
      }
      const std::string dtype = e.value("dtype", std::string("float32"));
      if (dtype != "float32" && dtype != "int32") throw fail(tw + ": unknown dtype \"" + dtype + "\" (float32 or int32)");
      float scale = 1, min = 0;
      t.stored = dtype;
      if (e.contains("quantization")) {
        const json& q = e["quantization"];
        if (!q.is_object() || !q.contains("dtype") || !q["dtype"].is_string()) throw fail(tw + ": malformed \"quantization\"");
        t.stored = q["dtype"].get<std::string>();
        if (t.stored == "uint8" || t.stored == "uint16") {
          if (!q.contains("scale") || !q["scale"].is_number()) throw fail(tw + ": " + t.stored + " quantization without \"scale\"");
          scale = q["scale"].get<float>();
          if (q.contains("min") && q["min"].is_number()) min = q["min"].get<float>();
          else if (q.contains("offset") && q["offset"].is_number()) min = scale * q["offset"].get<float>();
          else throw fail(tw + ": " + t.stored + " quantization without \"min\"");
        } else if (t.stored != "float16") {
          throw fail(tw + ": unknown quantization dtype \"" + t.stored + "\" (uint8, uint16 or float16)");
        }
      }
      const std::size_t eb = detail::tfjs_element_bytes(t.stored);
      const std::size_t nbytes = static_cast<std::size_t>(numel) * eb;
      if (offset + nbytes > bytes.size())
        throw fail(twin::detail::concat(tw, " needs bytes [", offset, ", ", offset + nbytes, ") but the shards (", shards,
                                        ") hold ", bytes.size(), ": truncated"));
      const unsigned char* p = bytes.data() + offset;
      t.values.resize(static_cast<std::size_t>(numel));
      for (std::size_t i = 0; i < t.values.size(); ++i) {
        if (t.stored == "uint8") {
          t.values[i] = min + scale * static_cast<float>(p[i]);
        } else if (t.stored == "uint16") {
          std::uint16_t v;
          std::memcpy(&v, p + 2 * i, 2);
          t.values[i] = min + scale * static_cast<float>(v);
        } else if (t.stored == "float16") {
          std::uint16_t v;
          std::memcpy(&v, p + 2 * i, 2);
          t.values[i] = detail::half_to_float(v);
        } else if (t.stored == "int32") {
          std::int32_t v;
          std::memcpy(&v, p + 4 * i, 4);
          t.values[i] = static_cast<float>(v);
        } else {
          std::memcpy(&t.values[i], p + 4 * i, 4);
        }
      }
      offset += nbytes;
      w.index_[t.name] = w.tensors_.size();
      w.tensors_.push_back(std::move(t));
    }
    if (offset != bytes.size())
      throw fail(twin::detail::concat(where, ": the shards (", shards, ") hold ", bytes.size(), " bytes, the tensors use ",
                                      offset, ": size mismatch"));
  }
  return w;
}

}  // namespace twin::io
