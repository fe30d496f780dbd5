#pragma once
// Reading and writing ONNX model files with the ONNX project's own protobuf classes
// (Debian libonnx-dev: onnx/onnx_pb.h, libonnx_proto), and turning their tensors and
// attributes into plain values. Part of the optional twin::onnx component.
//
// Every error names the model file, and the node and its op type where there is one:
//   onnx: model.onnx: node "Conv_3" (Conv): unsupported (group=32)
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "twin/error.hpp"

namespace twin::onnx {

// The operator-set versions of the default domain this importer and exporter understand:
// the semantics of every attribute it reads were checked against these.
inline constexpr std::int64_t min_opset = 9;
inline constexpr std::int64_t max_opset = 18;
// The opset export writes (ONNX Runtime 1.20 and later run it; onnx 1.12 checks it).
inline constexpr std::int64_t export_opset = 13;

struct onnx_error : io_error {
  using io_error::io_error;
};

inline std::string where(const std::string& file, const ::onnx::NodeProto& node) {
  return detail::concat("onnx: ", file, ": node \"", node.name(), "\" (",
                        node.domain().empty() ? "" : node.domain() + ".", node.op_type(), ")");
}

// Reads and parses `path`; throws onnx_error when it cannot be read or is not a model.
inline ::onnx::ModelProto read_model(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw onnx_error("onnx: cannot open " + path.string());
  ::onnx::ModelProto m;
  if (!m.ParseFromIstream(&in)) throw onnx_error("onnx: " + path.string() + ": not an ONNX model (protobuf parse failed)");
  if (!m.has_graph()) throw onnx_error("onnx: " + path.string() + ": the model has no graph");
  return m;
}

// Writes `m` to `path`, replacing it only once the whole file is written.
inline void write_model(const ::onnx::ModelProto& m, const std::filesystem::path& path) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out || !m.SerializeToOstream(&out)) throw onnx_error("onnx: cannot write " + tmp.string());
  }
  std::filesystem::rename(tmp, path);
}

// The default domain's opset of `m`; throws when it is outside [min_opset, max_opset].
inline std::int64_t default_opset(const ::onnx::ModelProto& m, const std::string& file) {
  std::int64_t v = -1;
  for (const auto& o : m.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") v = o.version();
  if (v < 0) throw onnx_error("onnx: " + file + ": the model imports no opset of the default domain");
  if (v < min_opset || v > max_opset)
    throw onnx_error(detail::concat("onnx: ", file, ": opset ", v, " of the default domain is not supported (", min_opset,
                                    " to ", max_opset, "); convert it with onnx.version_converter"));
  return v;
}

// A tensor's values as doubles (float, double, int32, int64 and int8/uint8 data, raw or typed).
inline std::vector<double> tensor_values(const ::onnx::TensorProto& t, const std::string& file) {
  if (t.data_location() == ::onnx::TensorProto::EXTERNAL)
    throw onnx_error("onnx: " + file + ": tensor \"" + t.name() +
                     "\" keeps its data in an external file; save the model with the weights inside "
                     "(onnx.save(model, path, save_as_external_data=False))");
  std::int64_t n = 1;
  for (auto d : t.dims()) n *= d;
  std::vector<double> v;
  v.reserve(static_cast<std::size_t>(n));
  const std::string& raw = t.raw_data();
  auto from_raw = [&](auto tag) {
    using U = decltype(tag);
    if (raw.size() != static_cast<std::size_t>(n) * sizeof(U))
      throw onnx_error(detail::concat("onnx: ", file, ": tensor \"", t.name(), "\" holds ", raw.size(), " bytes, expected ",
                                      n * std::int64_t(sizeof(U))));
    for (std::int64_t i = 0; i < n; ++i) {
      U x;
      std::memcpy(&x, raw.data() + i * std::int64_t(sizeof(U)), sizeof(U));
      v.push_back(static_cast<double>(x));
    }
  };
  switch (t.data_type()) {
    case ::onnx::TensorProto::FLOAT:
      if (!raw.empty()) from_raw(float{});
      else for (float x : t.float_data()) v.push_back(x);
      break;
    case ::onnx::TensorProto::DOUBLE:
      if (!raw.empty()) from_raw(double{});
      else for (double x : t.double_data()) v.push_back(x);
      break;
    case ::onnx::TensorProto::INT64:
      if (!raw.empty()) from_raw(std::int64_t{});
      else for (auto x : t.int64_data()) v.push_back(static_cast<double>(x));
      break;
    case ::onnx::TensorProto::INT32:
      if (!raw.empty()) from_raw(std::int32_t{});
      else for (auto x : t.int32_data()) v.push_back(x);
      break;
    case ::onnx::TensorProto::INT8:
      if (!raw.empty()) from_raw(std::int8_t{});
      else for (auto x : t.int32_data()) v.push_back(x);
      break;
    case ::onnx::TensorProto::UINT8:
    case ::onnx::TensorProto::BOOL:
      if (!raw.empty()) from_raw(std::uint8_t{});
      else for (auto x : t.int32_data()) v.push_back(x);
      break;
    default:
      throw onnx_error(detail::concat("onnx: ", file, ": tensor \"", t.name(), "\" has data type ", t.data_type(),
                                      ", which is not supported (float, double, int8/32/64, uint8, bool)"));
  }
  if (static_cast<std::int64_t>(v.size()) != n)
    throw onnx_error(detail::concat("onnx: ", file, ": tensor \"", t.name(), "\" holds ", v.size(), " values, its dims ", n));
  return v;
}

// Attribute access by name, with a default when absent.
inline const ::onnx::AttributeProto* find_attr(const ::onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}
inline std::int64_t attr_int(const ::onnx::NodeProto& n, const std::string& name, std::int64_t def) {
  const auto* a = find_attr(n, name);
  return a ? a->i() : def;
}
inline double attr_float(const ::onnx::NodeProto& n, const std::string& name, double def) {
  const auto* a = find_attr(n, name);
  return a ? a->f() : def;
}
inline std::string attr_string(const ::onnx::NodeProto& n, const std::string& name, const std::string& def) {
  const auto* a = find_attr(n, name);
  return a ? a->s() : def;
}
inline std::vector<std::int64_t> attr_ints(const ::onnx::NodeProto& n, const std::string& name,
                                           std::vector<std::int64_t> def = {}) {
  const auto* a = find_attr(n, name);
  if (!a) return def;
  return {a->ints().begin(), a->ints().end()};
}

}  // namespace twin::onnx
