#pragma once
// Model files in the safetensors format (https://github.com/huggingface/safetensors):
//
//   8 bytes   N, the JSON header's length, unsigned little-endian
//   N bytes   JSON: {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
//                    ..., "__metadata__": {"<key>": "<string value>", ...}}
//   rest      the tensors' raw little-endian bytes; offsets are relative to its start
//
// Opt-in (not in twin.hpp; the JSON parser is heavy to compile): needs nlohmann_json, which
// the twin CMake target links. A model file can come from anywhere, so the reader enforces
// the format's own safety rules and names the file and the rule in every io_error: header
// length at most 100 MB and inside the file, header starts with '{', well-formed JSON
// nested at most a few levels, no duplicate keys at any level, only the known fields,
// dtype F32 or F64, shape a list of non-negative integers whose byte size does not
// overflow, data_offsets matching that size, tensors contiguous from offset 0 without gaps
// or overlaps, and no byte after the last tensor.
//
// The writer is deterministic (keys sorted, compact JSON padded with spaces to a multiple
// of 8 bytes as the reference implementation does) and atomic: it writes a temporary file
// in the same folder, flushes and fsyncs it, then renames it over the target, so a crash
// mid-save leaves the previous file intact.
//
//   twin::io::save_model(net, "model.safetensors", {{"dataset", "cedar"}});
//   twin::io::load_model(net, "model.safetensors");  // net built with the same layers
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "twin/error.hpp"
#include "twin/model.hpp"
#include "twin/tensor.hpp"
#include "twin/version.hpp"

namespace twin::io {

static_assert(std::endian::native == std::endian::little, "twin's safetensors reader assumes a little-endian host");

inline constexpr std::uint64_t safetensors_max_header_bytes = 100'000'000;
// Bumped when the meaning of twin's metadata or tensor names changes.
inline constexpr int model_format_version = 1;

enum class DType { f32, f64 };
inline const char* dtype_name(DType d) { return d == DType::f32 ? "F32" : "F64"; }
inline std::size_t dtype_size(DType d) { return d == DType::f32 ? 4 : 8; }
template <class T>
constexpr DType dtype_of() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "safetensors: T must be float or double");
  return std::is_same_v<T, float> ? DType::f32 : DType::f64;
}

// One tensor of a parsed file; its bytes are data[begin, end) of the data section.
struct SafeTensorInfo {
  DType dtype;
  Shape shape;
  std::size_t begin = 0, end = 0;
};

namespace detail {
using twin::detail::concat;

[[noreturn]] inline void st_fail(const std::string& name, const std::string& reason) {
  throw io_error(name + ": " + reason);
}

// Parses JSON rejecting duplicate keys in any object (nlohmann keeps the last silently)
// and nesting deeper than the format can use.
inline nlohmann::json parse_json_strict(std::string_view text, const std::string& name) {
  std::vector<std::set<std::string>> keys;
  int depth = 0;
  auto cb = [&](int, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    switch (ev) {
      case E::object_start:
      case E::array_start:
        if (++depth > 4) st_fail(name, "header JSON is nested deeper than the format allows");
        if (ev == E::object_start) keys.emplace_back();
        break;
      case E::object_end:
      case E::array_end:
        --depth;
        if (ev == E::object_end && !keys.empty()) keys.pop_back();
        break;
      case E::key: {
        const auto& k = parsed.get_ref<const std::string&>();
        if (!keys.empty() && !keys.back().insert(k).second) st_fail(name, "header has the duplicate key \"" + k + "\"");
        break;
      }
      case E::value:
        break;
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), cb);
  } catch (const nlohmann::json::exception& e) {
    st_fail(name, std::string("header is not valid JSON (") + e.what() + ")");
  }
}

inline std::uint64_t nonneg_integer(const nlohmann::json& v, const std::string& name, const std::string& what) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(v.get<std::int64_t>());
  st_fail(name, what + " is not a non-negative integer");
}

inline DType parse_dtype(const nlohmann::json& v, const std::string& name, const std::string& tensor) {
  if (!v.is_string()) st_fail(name, "tensor \"" + tensor + "\": dtype is not a string");
  const auto& s = v.get_ref<const std::string&>();
  if (s == "F32") return DType::f32;
  if (s == "F64") return DType::f64;
  static const std::set<std::string> known = {"BOOL", "U8",   "I8",   "I16",    "U16",    "F16", "BF16",
                                              "I32",  "U32",  "I64",  "U64",    "F8_E5M2", "F8_E4M3"};
  if (known.count(s))
    st_fail(name, "tensor \"" + tensor + "\": dtype " + s + " is not supported (twin reads F32 and F64)");
  st_fail(name, "tensor \"" + tensor + "\": unknown dtype \"" + s + "\"");
}
}  // namespace detail

// A parsed, fully validated safetensors file held in memory.
class SafeTensors {
 public:
  // Validates `bytes` (a whole file); `name` appears in every error.
  static SafeTensors parse(std::vector<std::uint8_t> bytes, const std::string& name) {
    using namespace detail;
    SafeTensors st;
    st.name_ = name;
    st.bytes_ = std::move(bytes);
    const auto& b = st.bytes_;
    if (b.size() < 8) st_fail(name, concat("truncated: ", b.size(), " bytes, shorter than the 8-byte header length"));
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | b[static_cast<std::size_t>(i)];
    if (n > safetensors_max_header_bytes)
      st_fail(name, concat("header length ", n, " exceeds the 100 MB limit"));
    if (n > b.size() - 8) st_fail(name, concat("truncated: header length ", n, " but only ", b.size() - 8, " bytes follow"));
    if (n < 2) st_fail(name, concat("header length ", n, " is too short for a JSON object"));
    if (b[8] != '{') st_fail(name, "header does not start with '{'");
    const std::string_view text(reinterpret_cast<const char*>(b.data() + 8), static_cast<std::size_t>(n));
    const nlohmann::json h = parse_json_strict(text, name);
    if (!h.is_object()) st_fail(name, "header is not a JSON object");
    st.data_begin_ = 8 + static_cast<std::size_t>(n);
    const std::size_t data_size = b.size() - st.data_begin_;

    for (const auto& [key, v] : h.items()) {
      if (key == "__metadata__") {
        if (!v.is_object()) st_fail(name, "__metadata__ is not an object");
        for (const auto& [mk, mv] : v.items()) {
          if (!mv.is_string()) st_fail(name, "__metadata__ value of \"" + mk + "\" is not a string");
          st.metadata_[mk] = mv.get<std::string>();
        }
        continue;
      }
      if (!v.is_object()) st_fail(name, "tensor \"" + key + "\": entry is not an object");
      for (auto f = v.begin(); f != v.end(); ++f)
        if (f.key() != "dtype" && f.key() != "shape" && f.key() != "data_offsets")
          st_fail(name, "tensor \"" + key + "\": unexpected field \"" + f.key() + "\"");
      if (!v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
        st_fail(name, "tensor \"" + key + "\": needs dtype, shape and data_offsets");
      SafeTensorInfo info{parse_dtype(v["dtype"], name, key), Shape{}, 0, 0};
      const auto& shape = v["shape"];
      if (!shape.is_array()) st_fail(name, "tensor \"" + key + "\": shape is not a list");
      if (shape.size() > static_cast<std::size_t>(max_rank))
        st_fail(name, concat("tensor \"", key, "\": rank ", shape.size(), " exceeds twin's maximum ", max_rank));
      // Byte size with overflow checks: every factor is bounded by the data size.
      std::uint64_t bytes_needed = dtype_size(info.dtype);
      bool zero = false;
      for (const auto& d : shape) {
        const std::uint64_t dim = nonneg_integer(d, name, "tensor \"" + key + "\": a shape entry");
        if (dim == 0) zero = true;
        if (dim > static_cast<std::uint64_t>(std::numeric_limits<Index>::max()))
          st_fail(name, "tensor \"" + key + "\": shape entry too large");
        if (!zero && dim != 0 && bytes_needed > std::numeric_limits<std::uint64_t>::max() / dim)
          st_fail(name, "tensor \"" + key + "\": shape " + shape.dump() + " overflows");
        bytes_needed = zero ? 0 : bytes_needed * dim;
        info.shape.push_back(static_cast<Index>(dim));
      }
      if (zero) bytes_needed = 0;
      const auto& off = v["data_offsets"];
      if (!off.is_array() || off.size() != 2) st_fail(name, "tensor \"" + key + "\": data_offsets is not a pair");
      const std::uint64_t begin = nonneg_integer(off[0], name, "tensor \"" + key + "\": data_offsets[0]");
      const std::uint64_t end = nonneg_integer(off[1], name, "tensor \"" + key + "\": data_offsets[1]");
      if (end < begin) st_fail(name, concat("tensor \"", key, "\": data_offsets [", begin, ", ", end, "] end before they begin"));
      if (end - begin != bytes_needed)
        st_fail(name, concat("tensor \"", key, "\": data_offsets [", begin, ", ", end, "] hold ", end - begin, " bytes but ",
                             dtype_name(info.dtype), " ", info.shape.str(), " needs ", bytes_needed));
      if (end > data_size)
        st_fail(name, concat("truncated: tensor \"", key, "\" ends at data byte ", end, " but the data section holds ",
                             data_size, " bytes"));
      info.begin = static_cast<std::size_t>(begin);
      info.end = static_cast<std::size_t>(end);
      st.tensors_.emplace(key, info);
    }
    // The tensors must tile the data section exactly: sorted by offset, each starts where
    // the previous ended, the first at 0 and the last at the end of the file.
    std::vector<std::pair<const std::string*, const SafeTensorInfo*>> order;
    for (const auto& [k, t] : st.tensors_) order.emplace_back(&k, &t);
    std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& c) {
      return a.second->begin != c.second->begin ? a.second->begin < c.second->begin : a.second->end < c.second->end;
    });
    std::size_t at = 0;
    for (const auto& [k, t] : order) {
      if (t->begin < at) st_fail(name, concat("tensor \"", *k, "\" overlaps the previous tensor (starts at ", t->begin,
                                              ", previous ends at ", at, ")"));
      if (t->begin > at) st_fail(name, concat("gap in the data section before tensor \"", *k, "\" (bytes ", at, " to ",
                                              t->begin, " belong to no tensor)"));
      at = t->end;
    }
    if (at != data_size) st_fail(name, concat(data_size - at, " trailing bytes after the last tensor"));
    return st;
  }

  static SafeTensors read(const std::filesystem::path& path) {
    namespace fs = std::filesystem;
    const std::string name = path.string();
    std::error_code ec;
    if (!fs::exists(path, ec)) detail::st_fail(name, "missing: no such file");
    if (!fs::is_regular_file(path, ec)) detail::st_fail(name, "not a regular file");
    const std::uintmax_t size = fs::file_size(path, ec);
    if (ec) detail::st_fail(name, "unreadable: " + ec.message());
    std::ifstream in(path, std::ios::binary);
    if (!in) detail::st_fail(name, "unreadable: cannot open");
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
    in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
    if (static_cast<std::uintmax_t>(in.gcount()) != size) detail::st_fail(name, "unreadable: short read (file changed?)");
    return parse(std::move(bytes), name);
  }

  const std::string& name() const { return name_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::map<std::string, SafeTensorInfo>& tensors() const { return tensors_; }
  bool contains(const std::string& key) const { return tensors_.count(key) != 0; }
  const SafeTensorInfo& info(const std::string& key) const {
    auto it = tensors_.find(key);
    if (it == tensors_.end()) detail::st_fail(name_, "has no tensor \"" + key + "\"");
    return it->second;
  }
  // The metadata value of `key`; io_error when absent.
  const std::string& meta(const std::string& key) const {
    auto it = metadata_.find(key);
    if (it == metadata_.end()) detail::st_fail(name_, "__metadata__ lacks \"" + key + "\"");
    return it->second;
  }

  // Copies tensor `key` into `out` (converting F32 <-> F64 if needed) after checking that
  // its shape is `want`.
  template <class T>
  void copy_to(const std::string& key, std::span<T> out, const Shape& want) const {
    const SafeTensorInfo& t = info(key);
    if (!(t.shape == want))
      detail::st_fail(name_, "tensor \"" + key + "\": expected shape " + want.str() + ", file holds " + t.shape.str());
    if (out.size() != static_cast<std::size_t>(want.numel()))
      throw shape_error(detail::concat("SafeTensors::copy_to \"", key, "\": output holds ", out.size(), " values"));
    const std::uint8_t* p = bytes_.data() + data_begin_ + t.begin;
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (t.dtype == DType::f32) {
        float v;
        std::memcpy(&v, p + 4 * i, 4);
        out[i] = static_cast<T>(v);
      } else {
        double v;
        std::memcpy(&v, p + 8 * i, 8);
        out[i] = static_cast<T>(v);
      }
    }
  }
  template <class T>
  Tensor<T> get(const std::string& key) const {
    Tensor<T> t(info(key).shape);
    copy_to<T>(key, t.span(), t.shape());
    return t;
  }

 private:
  std::string name_;
  std::vector<std::uint8_t> bytes_;
  std::size_t data_begin_ = 0;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, SafeTensorInfo> tensors_;
};

// One tensor to write: raw values of `dtype`, shape `shape`.
struct SafeTensorOut {
  std::string name;
  DType dtype;
  Shape shape;
  const void* data;
};

namespace testing {
// Test seam: called after the temporary file is written and fsynced, just before the
// rename. A test makes it throw to simulate a crash mid-save.
inline std::function<void(const std::filesystem::path& temp)> before_rename;
}  // namespace testing

namespace detail {
// Writes `bytes` to `path` atomically: temporary file in the same folder, write, fsync,
// rename, fsync the folder. On failure the temporary file is removed and `path` untouched.
inline void write_file_atomic(const std::filesystem::path& path, std::span<const std::uint8_t> bytes) {
  namespace fs = std::filesystem;
  const std::string name = path.string();
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  static std::atomic<unsigned> counter{0};
  const fs::path tmp = dir / concat(".", path.filename().string(), ".tmp-", ::getpid(), "-", counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) st_fail(name, concat("cannot create temporary file ", tmp.string(), ": ", std::strerror(errno)));
  auto fail = [&](const std::string& what) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    st_fail(name, what + ": " + std::strerror(err));
  };
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("write failed");
    done += static_cast<std::size_t>(w);
  }
  if (::fsync(fd) != 0) fail("fsync failed");
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    st_fail(name, std::string("close failed: ") + std::strerror(err));
  }
  try {
    if (testing::before_rename) testing::before_rename(tmp);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    st_fail(name, std::string("rename failed: ") + std::strerror(err));
  }
  // Make the rename itself durable.
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}
}  // namespace detail

// The bytes of a safetensors file holding `tensors` (in name order) and `metadata`.
inline std::vector<std::uint8_t> encode_safetensors(std::vector<SafeTensorOut> tensors,
                                                    const std::map<std::string, std::string>& metadata) {
  std::sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  nlohmann::json h = nlohmann::json::object();  // std::map underneath: keys come out sorted
  std::uint64_t off = 0;
  for (const auto& t : tensors) {
    if (t.name == "__metadata__" || t.name.empty()) throw io_error("encode_safetensors: invalid tensor name \"" + t.name + "\"");
    if (h.contains(t.name)) throw io_error("encode_safetensors: duplicate tensor name \"" + t.name + "\"");
    const std::uint64_t n = static_cast<std::uint64_t>(t.shape.numel()) * dtype_size(t.dtype);
    auto shape = nlohmann::json::array();
    for (Index d : t.shape) shape.push_back(d);
    h[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", shape}, {"data_offsets", {off, off + n}}};
    off += n;
  }
  if (!metadata.empty()) h["__metadata__"] = metadata;
  std::string text = h.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::vector<std::uint8_t> out;
  out.reserve(8 + text.size() + off);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(text.size()) >> (8 * i)));
  out.insert(out.end(), text.begin(), text.end());
  for (const auto& t : tensors) {
    const auto* p = static_cast<const std::uint8_t*>(t.data);
    out.insert(out.end(), p, p + static_cast<std::size_t>(t.shape.numel()) * dtype_size(t.dtype));
  }
  return out;
}

inline void write_safetensors(const std::filesystem::path& path, std::vector<SafeTensorOut> tensors,
                              const std::map<std::string, std::string>& metadata) {
  const auto bytes = encode_safetensors(std::move(tensors), metadata);
  detail::write_file_atomic(path, bytes);
}

// ---- models (Graph, Sequential, SiameseModule: anything satisfying twin::Model) ---------

// The "architecture" metadata: one line per node (model.hpp).
template <Model M>
std::string architecture_of(const M& net) {
  return net.architecture();
}

namespace detail {
inline std::string concat_version() {
  return concat(TWIN_VERSION_MAJOR, ".", TWIN_VERSION_MINOR, ".", TWIN_VERSION_PATCH);
}
inline void check_user_metadata(const std::map<std::string, std::string>& user, const std::map<std::string, std::string>& ours) {
  for (const auto& [k, v] : user)
    if (ours.count(k)) throw io_error("save: metadata key \"" + k + "\" is reserved by twin");
}
// The model's tensors (PyTorch-style names "3.weight"), each prefixed with `prefix`.
template <Model M>
void append_model_tensors(const M& net, const std::string& prefix, std::vector<SafeTensorOut>& out) {
  for (const auto& nt : net.named_tensors()) {
    using T = typename M::value_type;
    const T* base = nt.trainable ? net.params().data() : net.buffers().data();
    out.push_back({prefix + nt.name, dtype_of<T>(), nt.shape, base + nt.offset});
  }
}
// Loads the model's tensors from `st` (named `prefix` + name). Every model tensor must be
// there with its exact shape, and the file may hold no other tensor under `prefix`; the
// first mismatch in model order is named with both shapes.
template <Model M>
void load_model_tensors(M& net, const SafeTensors& st, const std::string& prefix) {
  using T = typename M::value_type;
  std::vector<T> params(net.params().size()), buffers(net.buffers().size());
  std::set<std::string> used;
  for (const auto& nt : net.named_tensors()) {
    const std::string key = prefix + nt.name;
    if (!st.contains(key))
      st_fail(st.name(), "model tensor \"" + nt.name + "\" " + nt.shape.str() + " is missing from the file");
    const Shape& got = st.info(key).shape;
    if (!(got == nt.shape))
      st_fail(st.name(), "tensor \"" + nt.name + "\": the model expects shape " + nt.shape.str() + ", the file holds " +
                             got.str() + " (saved from another architecture?)");
    std::vector<T>& dst = nt.trainable ? params : buffers;
    const auto values = std::span<T>(dst).subspan(static_cast<std::size_t>(nt.offset), static_cast<std::size_t>(nt.shape.numel()));
    st.copy_to<T>(key, values, nt.shape);
    // Values must be finite: a NaN or Inf weight makes every distance NaN, and NaN compares
    // false against any threshold, so the model would answer without error, and wrongly.
    for (std::size_t i = 0; i < values.size(); ++i)
      if (!std::isfinite(values[i]))
        st_fail(st.name(), concat("tensor \"", nt.name, "\" holds a non-finite value (", values[i], " at flat index ", i,
                                  "): refusing to load it"));
    used.insert(key);
  }
  for (const auto& kv : st.tensors())
    if (const std::string& k = kv.first; k.compare(0, prefix.size(), prefix) == 0 && !used.count(k))
      st_fail(st.name(), "the file holds tensor \"" + k.substr(prefix.size()) + "\" that the model lacks (saved from another architecture?)");
  net.assign(params, buffers);
}
}  // namespace detail

// Saves all parameters and buffers of `net`, with twin's format version, the architecture
// and `metadata` (user keys; twin's own keys are reserved) in __metadata__.
template <Model M>
void save_model(const M& net, const std::filesystem::path& path,
                const std::map<std::string, std::string>& metadata = {}) {
  std::map<std::string, std::string> meta = {{"format", "twin-model"},
                                             {"twin_format_version", std::to_string(model_format_version)},
                                             {"twin_version", detail::concat_version()},
                                             {"architecture", architecture_of(net)}};
  detail::check_user_metadata(metadata, meta);
  meta.insert(metadata.begin(), metadata.end());
  std::vector<SafeTensorOut> tensors;
  detail::append_model_tensors(net, "", tensors);
  write_safetensors(path, std::move(tensors), meta);
}

// Loads parameters and buffers into `net`, which must have the same tensors (names and
// shapes) as the saved model. Files written by PyTorch (state_dict of an equivalent model,
// F32 or F64) load too. Returns the file's metadata.
template <Model M>
std::map<std::string, std::string> load_model(M& net, const std::filesystem::path& path) {
  const SafeTensors st = SafeTensors::read(path);
  if (auto it = st.metadata().find("twin_format_version");
      it != st.metadata().end() && it->second != std::to_string(model_format_version))
    detail::st_fail(st.name(), "twin format version " + it->second + " is not supported (this twin reads version " +
                                   std::to_string(model_format_version) + ")");
  detail::load_model_tensors(net, st, "");
  return st.metadata();
}

}  // namespace twin::io
