#pragma once
// ONNX import: an .onnx file into a trainable twin::Graph with the file's weights.
//
//   auto tower = twin::onnx::import_model<float>("tower.onnx");
//   auto y = tower.forward(x.view());                  // eval mode, as the exporter ran it
//   // fine-tune: tower.forward(x, ws, Mode::train), backward(), an optimiser on params()
//
// Each ONNX node becomes a twin node (or none: Identity, Flatten of a flat tensor, a layout
// no-op Reshape/Transpose, arithmetic on constants). A node takes its name from its weight
// ("layer1.0.conv1.weight" -> node "layer1.0.conv1") where the exporter kept PyTorch's
// names, so named_tensors() match the PyTorch state_dict; else from the ONNX node name.
// The supported ops and their limits are listed in docs/onnx.md. Anything else (an op, an
// attribute value, an opset, external data, a dynamic shape) throws onnx_error naming the
// file, the node and its op type, e.g.
//   onnx: tower.onnx: node "Conv_12" (Conv): unsupported (group=2): grouped convolutions ...
//
// Shapes are fixed at import: the batch axis may be symbolic, every other input axis must be
// a number or be given in ImportOptions::input_shape.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "twin/graph.hpp"
#include "twin/layers/activation.hpp"
#include "twin/layers/add.hpp"
#include "twin/layers/avgpool2d.hpp"
#include "twin/layers/batchnorm.hpp"
#include "twin/layers/broadcast_affine.hpp"
#include "twin/layers/concat.hpp"
#include "twin/layers/conv2d.hpp"
#include "twin/layers/conv2d_rect.hpp"
#include "twin/layers/depthwise_conv2d.hpp"
#include "twin/layers/dense.hpp"
#include "twin/layers/dropout.hpp"
#include "twin/layers/flatten.hpp"
#include "twin/layers/global_avg_pool.hpp"
#include "twin/layers/identity.hpp"
#include "twin/layers/l2_normalize.hpp"
#include "twin/layers/local_response_norm.hpp"
#include "twin/layers/maxpool2d.hpp"
#include "twin/layers/pad.hpp"
#include "twin/layers/scale.hpp"
#include "twin/layers/softmax.hpp"
#include "twin/onnx/model_file.hpp"

namespace twin::onnx {

struct ImportOptions {
  // The per-sample input shape (C, H, W) for a model whose input has symbolic axes other
  // than the batch; empty: take it from the file.
  Shape input_shape{};
};

namespace detail {

using Dims = std::vector<std::int64_t>;

inline std::string dims_str(const Dims& d) {
  std::string s = "(";
  for (std::size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + ")";
}
inline std::int64_t numel(const Dims& d) {
  std::int64_t n = 1;
  for (auto x : d) n *= x;
  return n;
}
// d without its size-1 axes: two layouts with the same squeezed dims hold the same order.
inline Dims squeezed(const Dims& d) {
  Dims s;
  for (auto x : d)
    if (x != 1) s.push_back(x);
  return s;
}

// What an ONNX tensor name stands for while importing.
struct Val {
  enum Kind { tensor, constant, norm } kind = tensor;
  int id = -1;       // tensor: the twin value
  Dims dims;         // ONNX shape, batch axis 1 for tensors
  Shape twin;        // tensor: twin's shape of the value (batch 1); equal to dims, or dims
                     // without trailing 1s (GlobalAvgPool gives (N, C) for ONNX's (N, C, 1, 1))
  std::vector<double> data;  // constant
  int source = -1;           // norm: the ONNX value whose L2 norm this is (ReduceL2 pattern)
  double eps = 0;            // norm: the clamp (Clip / Max) applied to it
};

template <class T>
class Importer {
 public:
  Importer(const std::filesystem::path& path, const ImportOptions& o) : file_(path.filename().string()), o_(o) {
    model_ = read_model(path);
    opset_ = default_opset(model_, file_);
  }

  Graph<T> run() {
    const auto& g = model_.graph();
    for (const auto& t : g.initializer()) {
      Val v;
      v.kind = Val::constant;
      v.dims.assign(t.dims().begin(), t.dims().end());
      v.data = tensor_values(t, file_);
      vals_[t.name()] = std::move(v);
    }
    for (const auto& in : g.input()) {
      if (vals_.count(in.name())) continue;  // an initializer listed as an input (old exporters)
      declare_input(in);
    }
    if (graph_.num_inputs() == 0) throw onnx_error("onnx: " + file_ + ": the graph has no input that is not a weight");
    for (const auto& n : g.node()) import_node(n);
    if (g.output_size() != 1)
      throw onnx_error(detail_concat("onnx: ", file_, ": the graph has ", g.output_size(),
                                     " outputs; a twin graph has one (remove the others with onnx.utils.extract_model)"));
    finish(g.output(0).name());
    return std::move(graph_);
  }

 private:
  template <class... A>
  static std::string detail_concat(A&&... a) {
    return twin::detail::concat(std::forward<A>(a)...);
  }
  [[noreturn]] void fail(const ::onnx::NodeProto& n, const std::string& msg) const {
    throw onnx_error(where(file_, n) + ": " + msg);
  }

  void declare_input(const ::onnx::ValueInfoProto& in) {
    const auto& tt = in.type().tensor_type();
    if (tt.elem_type() != ::onnx::TensorProto::FLOAT)
      throw onnx_error(detail_concat("onnx: ", file_, ": input \"", in.name(), "\" has element type ", tt.elem_type(),
                                     "; twin imports float inputs"));
    Dims d;
    const auto& sh = tt.shape();
    for (int i = 0; i < sh.dim_size(); ++i) {
      const auto& dim = sh.dim(i);
      if (i == 0) {
        d.push_back(1);  // the batch axis: fixed or symbolic, twin takes any batch
        continue;
      }
      if (o_.input_shape.rank() > 0) {
        if (o_.input_shape.rank() != sh.dim_size() - 1)
          throw onnx_error(detail_concat("onnx: ", file_, ": input \"", in.name(), "\" has rank ", sh.dim_size(),
                                         ", ImportOptions::input_shape ", o_.input_shape.str(), " (no batch axis) does not fit"));
        d.push_back(o_.input_shape[i - 1]);
      } else if (dim.has_dim_value() && dim.dim_value() > 0) {
        d.push_back(dim.dim_value());
      } else {
        throw onnx_error(detail_concat("onnx: ", file_, ": input \"", in.name(), "\" has a dynamic axis ", i, " (\"",
                                       dim.dim_param(), "\"); give the sample shape in ImportOptions::input_shape "
                                                        "(onnx_run --shape C,H,W)"));
      }
    }
    if (d.size() < 2) throw onnx_error("onnx: " + file_ + ": input \"" + in.name() + "\" needs a batch axis and a sample");
    Shape sample;
    for (std::size_t i = 1; i < d.size(); ++i) sample.push_back(d[i]);
    Val v;
    v.id = graph_.input(in.name(), sample).id;
    v.dims = d;
    v.twin = to_shape(d);
    vals_[in.name()] = v;
  }

  static Shape to_shape(const Dims& d) {
    Shape s;
    for (auto x : d) s.push_back(static_cast<Index>(x));
    return s;
  }

  // ---- inputs of a node ----
  bool has_input(const ::onnx::NodeProto& n, int i) const { return n.input_size() > i && !n.input(i).empty(); }
  const Val& in(const ::onnx::NodeProto& n, int i) const {
    if (!has_input(n, i)) fail(n, detail_concat("input ", i, " is missing"));
    auto it = vals_.find(n.input(i));
    if (it == vals_.end()) fail(n, "reads \"" + n.input(i) + "\", which no earlier node produced");
    return it->second;
  }
  const Val& tensor_in(const ::onnx::NodeProto& n, int i) const {
    const Val& v = in(n, i);
    if (v.kind != Val::tensor) fail(n, detail_concat("input ", i, " (\"", n.input(i), "\") must be a computed tensor, not a ",
                                                    v.kind == Val::constant ? "constant" : "norm"));
    return v;
  }
  const Val& const_in(const ::onnx::NodeProto& n, int i, const char* what) const {
    const Val& v = in(n, i);
    if (v.kind != Val::constant)
      fail(n, detail_concat("input ", i, " (", what, ", \"", n.input(i), "\") must be a constant (an initializer); ",
                            "computed weights are not supported"));
    return v;
  }
  std::vector<std::int64_t> ints_in(const ::onnx::NodeProto& n, int i, const char* what) const {
    const Val& v = const_in(n, i, what);
    std::vector<std::int64_t> r;
    for (double x : v.data) r.push_back(static_cast<std::int64_t>(std::llround(x)));
    return r;
  }
  // The node's only output that anything may read (a Dropout mask, MaxPool indices: no).
  void only_output(const ::onnx::NodeProto& n, const char* what) const {
    for (int i = 1; i < n.output_size(); ++i)
      if (!n.output(i).empty() && readers_of(n.output(i)))
        fail(n, detail_concat("its output ", i, " (", what, ") is read by another node; twin computes only output 0"));
  }
  int readers_of(const std::string& name) const {
    int r = 0;
    for (const auto& m : model_.graph().node())
      for (const auto& i : m.input()) r += i == name;
    for (const auto& o : model_.graph().output()) r += o.name() == name;
    return r;
  }

  // ---- outputs of a node ----
  void set_const(const ::onnx::NodeProto& n, Dims dims, std::vector<double> data) {
    Val v;
    v.kind = Val::constant;
    v.dims = std::move(dims);
    v.data = std::move(data);
    vals_[n.output(0)] = std::move(v);
  }
  void alias(const ::onnx::NodeProto& n, const Val& src, Dims dims) {
    Val v = src;
    v.dims = std::move(dims);
    vals_[n.output(0)] = v;
  }

  // A unique twin node name: the weight's PyTorch prefix when there is one, else the ONNX name.
  std::string node_name(const ::onnx::NodeProto& n, int weight_input = -1) {
    std::string s;
    if (weight_input >= 0 && has_input(n, weight_input)) {
      const std::string& w = n.input(weight_input);
      for (const char* suffix : {".weight", ".bias"})
        if (w.size() > std::string(suffix).size() && w.ends_with(suffix)) s = w.substr(0, w.size() - std::string(suffix).size());
    }
    if (s.empty()) s = n.name();
    if (s.empty()) s = n.op_type() + "_" + std::to_string(node_index_);
    std::string u = s;
    for (int k = 2; taken_.count(u); ++k) u = s + "_" + std::to_string(k);
    taken_.insert(u);
    return u;
  }

  struct Pending {
    std::string node;
    std::vector<std::pair<std::string, std::vector<double>>> tensors;  // "weight" -> values
  };

  // Adds a layer reading `inputs`; its output becomes n.output(0) with ONNX dims `dims`
  // (default: twin's output shape).
  template <class Options>
  Val add(const ::onnx::NodeProto& n, const std::string& name, const Options& opt, const std::vector<const Val*>& inputs,
          std::optional<Dims> dims = std::nullopt, Pending values = {}) {
    std::unique_ptr<Layer<T>> layer;
    std::vector<Shape> shapes;
    std::vector<ValueRef> refs;
    for (const Val* v : inputs) {
      shapes.push_back(v->twin);
      refs.push_back(Value{v->id});
    }
    Shape out;
    try {
      layer = std::make_unique<typename Options::template layer<T>>(opt);
      out = layer->output_shape_n(shapes);
    } catch (const error& e) {
      fail(n, e.what());
    }
    Val v;
    try {
      v.id = graph_.add_node(name, std::move(layer), refs).id;
    } catch (const error& e) {
      fail(n, e.what());
    }
    v.twin = out;
    if (dims) {
      v.dims = *dims;
    } else {
      for (Index x : out) v.dims.push_back(x);
    }
    values.node = name;
    if (!values.tensors.empty()) pending_.push_back(std::move(values));
    if (n.output_size() > 0) vals_[n.output(0)] = v;
    return v;
  }

  // ---- the ops ----
  void import_node(const ::onnx::NodeProto& n) {
    ++node_index_;
    if (!n.domain().empty() && n.domain() != "ai.onnx")
      fail(n, "unsupported op: twin imports the default ONNX domain only (docs/onnx.md lists the ops)");
    const std::string& op = n.op_type();
    if (n.output_size() < 1) fail(n, "the node has no output");
    if (op == "Constant") return constant(n);
    // Arithmetic on constants only (shape computations of exporters) is done here.
    if (all_const(n) && op != "Shape") return fold(n);
    if (op == "Conv") return conv(n);
    if (op == "Gemm") return gemm(n);
    if (op == "MatMul") return matmul(n);
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") return arith(n);
    if (op == "Relu") return unary(n, ReLU{});
    if (op == "LeakyRelu") return unary(n, LeakyReLU{.slope = attr_float(n, "alpha", 0.01)});
    if (op == "Sigmoid") return unary(n, Sigmoid{});
    if (op == "Tanh") return unary(n, Tanh{});
    if (op == "MaxPool" || op == "AveragePool") return pool(n);
    if (op == "GlobalAveragePool") return global_avg(n);
    if (op == "BatchNormalization") return batchnorm(n);
    if (op == "Concat") return concat(n);
    if (op == "Flatten") return flatten(n);
    if (op == "Reshape" || op == "Squeeze" || op == "Unsqueeze") return reshape(n);
    if (op == "Transpose") return transpose(n);
    if (op == "Pad") return pad(n);
    if (op == "Dropout") return dropout(n);
    if (op == "LRN") return lrn(n);
    if (op == "Softmax") return softmax(n);
    if (op == "Identity") return alias(n, in(n, 0), in(n, 0).dims);
    if (op == "LpNormalization") return lp_norm(n);
    if (op == "ReduceL2") return reduce_l2(n);
    if (op == "Clip" || op == "Max" || op == "Expand") return norm_step(n);
    if (op == "Shape") return shape_of(n);
    fail(n, "unsupported op (docs/onnx.md lists the supported ones)");
  }

  bool all_const(const ::onnx::NodeProto& n) const {
    for (const auto& i : n.input())
      if (!i.empty()) {
        auto it = vals_.find(i);
        if (it == vals_.end() || it->second.kind != Val::constant) return false;
      }
    return n.input_size() > 0;
  }

  void constant(const ::onnx::NodeProto& n) {
    if (const auto* a = find_attr(n, "value")) {
      Dims d(a->t().dims().begin(), a->t().dims().end());
      return set_const(n, d, tensor_values(a->t(), file_));
    }
    if (const auto* a = find_attr(n, "value_float")) return set_const(n, {}, {a->f()});
    if (const auto* a = find_attr(n, "value_int")) return set_const(n, {}, {double(a->i())});
    if (const auto* a = find_attr(n, "value_floats")) return set_const(n, {std::int64_t(a->floats_size())}, {a->floats().begin(), a->floats().end()});
    if (const auto* a = find_attr(n, "value_ints")) {
      std::vector<double> v;
      for (auto x : a->ints()) v.push_back(double(x));
      return set_const(n, {std::int64_t(v.size())}, v);
    }
    fail(n, "a Constant with a sparse or string value is not supported");
  }

  // Shape of a tensor: a constant (every axis is fixed at import; the batch axis reads 1).
  void shape_of(const ::onnx::NodeProto& n) {
    const Val& x = in(n, 0);
    std::vector<double> d;
    for (auto v : x.dims) d.push_back(double(v));
    const std::int64_t r = std::int64_t(d.size());
    std::int64_t start = attr_int(n, "start", 0), end = attr_int(n, "end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = std::clamp<std::int64_t>(start, 0, r);
    end = std::clamp<std::int64_t>(end, start, r);
    std::vector<double> s(d.begin() + start, d.begin() + end);
    set_const(n, {std::int64_t(s.size())}, s);
  }

  // Constant folding of the small integer arithmetic exporters emit around shapes.
  void fold(const ::onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    const Val& a = in(n, 0);
    if (op == "Identity" || op == "Cast") return set_const(n, a.dims, a.data);
    if (op == "Unsqueeze" || op == "Squeeze" || op == "Reshape" || op == "Flatten") {
      Dims d = reshaped_dims(n, a.dims);
      return set_const(n, d, a.data);
    }
    if (op == "Concat") {
      std::vector<double> v;
      for (int i = 0; i < n.input_size(); ++i) {
        const Val& c = in(n, i);
        if (c.dims.size() > 1) fail(n, "folding a Concat of constants of rank > 1 is not supported");
        v.insert(v.end(), c.data.begin(), c.data.end());
      }
      return set_const(n, {std::int64_t(v.size())}, v);
    }
    if (op == "Gather") {
      const Val& idx = in(n, 1);
      if (a.dims.size() != 1 || attr_int(n, "axis", 0) != 0) fail(n, "folding a Gather of constants beyond 1-D is not supported");
      std::vector<double> v;
      for (double i : idx.data) {
        auto k = static_cast<std::int64_t>(i);
        if (k < 0) k += std::int64_t(a.data.size());
        if (k < 0 || k >= std::int64_t(a.data.size())) fail(n, "index out of range");
        v.push_back(a.data[std::size_t(k)]);
      }
      return set_const(n, idx.dims, v);
    }
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
      const Val& b = in(n, 1);
      const bool sa = a.data.size() == 1, sb = b.data.size() == 1;
      if (!(sa || sb || a.data.size() == b.data.size())) fail(n, "folding needs equal shapes or a scalar");
      const std::size_t N = std::max(a.data.size(), b.data.size());
      std::vector<double> v(N);
      for (std::size_t i = 0; i < N; ++i) {
        const double x = a.data[sa ? 0 : i], y = b.data[sb ? 0 : i];
        v[i] = op == "Add" ? x + y : op == "Sub" ? x - y : op == "Mul" ? x * y : x / y;
      }
      return set_const(n, a.data.size() >= b.data.size() ? a.dims : b.dims, v);
    }
    fail(n, "unsupported op on constants (constant-fold the model first: onnx-simplifier, or torch.onnx.export "
            "with do_constant_folding=True)");
  }

  template <class Options>
  void unary(const ::onnx::NodeProto& n, const Options& opt) {
    const Val& x = tensor_in(n, 0);
    add(n, node_name(n), opt, {&x}, x.dims);
  }

  void conv(const ::onnx::NodeProto& n) {
    const Val& x = tensor_in(n, 0);
    const Val& w = const_in(n, 1, "weight");
    const std::int64_t group = attr_int(n, "group", 1);
    if (w.dims.size() != 4 || x.dims.size() != 4) fail(n, "only 2-D convolutions of (N, C, H, W) tensors are supported");
    const std::int64_t O = w.dims[0], C = w.dims[1] * group, kh = w.dims[2], kw = w.dims[3];
    // group = C with one filter per channel is a depthwise convolution (MobileNet's); other
    // groupings have no twin layer.
    const bool depthwise = group > 1 && group == x.dims[1] && O == group && w.dims[1] == 1;
    if (group != 1 && !depthwise)
      fail(n, detail_concat("unsupported (group=", group, "): grouped convolutions other than depthwise (group = ",
                            "input channels = output channels) are not supported"));
    if (C != x.dims[1]) fail(n, detail_concat("weight ", dims_str(w.dims), " does not fit input ", dims_str(x.dims)));
    Dims ks = attr_ints(n, "kernel_shape", {kh, kw});
    if (ks != Dims{kh, kw}) fail(n, "kernel_shape " + dims_str(ks) + " differs from the weight's " + dims_str(w.dims));
    const Dims dil = attr_ints(n, "dilations", {1, 1});
    if (dil != Dims{1, 1}) fail(n, "unsupported (dilations " + dims_str(dil) + "): only dilation 1");
    const Dims st = attr_ints(n, "strides", {1, 1});
    if (st.size() != 2 || st[0] != st[1]) fail(n, "unsupported (strides " + dims_str(st) + "): equal strides only");
    Dims p = pads_of(n, x.dims, kh, st[0]);
    if (kh != kw) {  // SAME padding for a rectangular kernel: per axis
      const Dims ph = pads_of(n, x.dims, kh, st[0]), pw = pads_of(n, x.dims, kw, st[0]);
      p = {ph[0], pw[1], ph[2], pw[3]};
    }
    const Val* src = &x;
    Val padded;
    const bool square = kh == kw && p[0] == p[1] && p[0] == p[2] && p[0] == p[3];
    const bool per_axis = p[0] == p[2] && p[1] == p[3];
    if (!square && !per_axis) {  // asymmetric: an explicit Pad2D first
      padded = add(n, node_name(n) + ".pad", Pad2D{.top = p[0], .bottom = p[2], .left = p[1], .right = p[3]}, {&x});
      src = &padded;
      p = {0, 0, 0, 0};
    }
    const bool bias = has_input(n, 2);
    Pending vals;
    vals.tensors.push_back({"weight", w.data});
    if (bias) vals.tensors.push_back({"bias", const_in(n, 2, "bias").data});
    if (depthwise) {
      if (kh != kw || p[0] != p[1]) fail(n, "unsupported: a depthwise convolution needs a square kernel and padding");
      add(n, node_name(n, 1), DepthwiseConv2D{.channels = C, .kernel = kh, .stride = st[0], .pad = p[0], .bias = bias},
          {src}, std::nullopt, std::move(vals));
    } else if (kh == kw && p[0] == p[1])
      add(n, node_name(n, 1), Conv2D{.in = C, .out = O, .kernel = kh, .stride = st[0], .pad = p[0], .bias = bias}, {src},
          std::nullopt, std::move(vals));
    else  // a rectangular kernel (Inception's 1x7, 7x1) or different pads per axis
      add(n, node_name(n, 1),
          Conv2DRect{.in = C, .out = O, .kh = kh, .kw = kw, .stride = st[0], .pad_h = p[0], .pad_w = p[1], .bias = bias},
          {src}, std::nullopt, std::move(vals));
  }

  // pads as [top, left, bottom, right] from pads or auto_pad.
  Dims pads_of(const ::onnx::NodeProto& n, const Dims& x, std::int64_t k, std::int64_t s) const {
    const std::string ap = attr_string(n, "auto_pad", "NOTSET");
    if (ap == "NOTSET") {
      Dims p = attr_ints(n, "pads", {0, 0, 0, 0});
      if (p.size() != 4) fail(n, "pads " + dims_str(p) + ": expected 4 values");
      for (auto v : p)
        if (v < 0) fail(n, "negative pads " + dims_str(p) + " are not supported");
      return p;
    }
    if (ap == "VALID") return {0, 0, 0, 0};
    if (ap != "SAME_UPPER" && ap != "SAME_LOWER") fail(n, "auto_pad \"" + ap + "\" is not supported");
    Dims p(4);
    for (int a = 0; a < 2; ++a) {
      const std::int64_t size = x[std::size_t(2 + a)], out = (size + s - 1) / s;
      const std::int64_t total = std::max<std::int64_t>(0, (out - 1) * s + k - size);
      const std::int64_t small = total / 2, big = total - small;
      p[std::size_t(a)] = ap == "SAME_UPPER" ? small : big;
      p[std::size_t(a + 2)] = ap == "SAME_UPPER" ? big : small;
    }
    return p;
  }

  void gemm(const ::onnx::NodeProto& n) {
    const Val& a = tensor_in(n, 0);
    const Val& b = const_in(n, 1, "B");
    if (attr_int(n, "transA", 0) != 0) fail(n, "transA=1 is not supported");
    if (a.twin.rank() != 2) fail(n, "input A must be (N, K), got " + dims_str(a.dims));
    if (b.dims.size() != 2) fail(n, "B must be a matrix, got " + dims_str(b.dims));
    const bool tb = attr_int(n, "transB", 0) != 0;
    const std::int64_t out = tb ? b.dims[0] : b.dims[1], K = tb ? b.dims[1] : b.dims[0];
    const double alpha = attr_float(n, "alpha", 1), beta = attr_float(n, "beta", 1);
    std::vector<double> w = tb ? b.data : transposed(b.data, b.dims[0], b.dims[1]);
    for (double& v : w) v *= alpha;
    Pending vals;
    vals.tensors.push_back({"weight", w});
    const bool bias = has_input(n, 2);
    if (bias) {
      const Val& c = const_in(n, 2, "C");
      if (numel(c.dims) != out && numel(c.dims) != 1) fail(n, "C " + dims_str(c.dims) + " must have one value per output");
      std::vector<double> bv(static_cast<std::size_t>(out));
      for (std::size_t i = 0; i < bv.size(); ++i) bv[i] = beta * c.data[c.data.size() == 1 ? 0 : i];
      vals.tensors.push_back({"bias", bv});
    }
    add(n, node_name(n, 1), Dense{.in = K, .out = out, .bias = bias}, {&a}, std::nullopt, std::move(vals));
  }

  void matmul(const ::onnx::NodeProto& n) {
    const Val& a = tensor_in(n, 0);
    const Val& b = const_in(n, 1, "B");
    if (a.twin.rank() != 2 || b.dims.size() != 2)
      fail(n, "only (N, K) x (K, M) with a constant right factor is supported, got " + dims_str(a.dims) + " x " + dims_str(b.dims));
    Pending vals;
    vals.tensors.push_back({"weight", transposed(b.data, b.dims[0], b.dims[1])});
    add(n, node_name(n, 1), Dense{.in = b.dims[0], .out = b.dims[1], .bias = false}, {&a}, std::nullopt, std::move(vals));
  }
  static std::vector<double> transposed(const std::vector<double>& m, std::int64_t r, std::int64_t c) {
    std::vector<double> t(m.size());
    for (std::int64_t i = 0; i < r; ++i)
      for (std::int64_t j = 0; j < c; ++j) t[std::size_t(j * r + i)] = m[std::size_t(i * c + j)];
    return t;
  }

  void arith(const ::onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    const Val& a = in(n, 0);
    const Val& b = in(n, 1);
    if (a.kind == Val::tensor && b.kind == Val::tensor) {
      if (op == "Add") {
        if (a.dims != b.dims) fail(n, "Add of " + dims_str(a.dims) + " and " + dims_str(b.dims) + ": broadcasting between two computed tensors is not supported");
        add(n, node_name(n), Add{}, {&a, &b}, a.dims);
        return;
      }
      fail(n, "unsupported: " + op + " of two computed tensors (only Add, or a constant operand)");
    }
    if (op == "Div" && b.kind == Val::norm) {
      if (b.source != a.id || a.kind != Val::tensor) fail(n, "divides by the norm of another tensor");
      add(n, node_name(n), L2Normalize{.eps = std::max(b.eps, 1e-12)}, {&a}, a.dims);
      return;
    }
    if (a.kind == Val::norm || b.kind == Val::norm)
      fail(n, "the norm of a ReduceL2 may only be clamped (Clip, Max), expanded and divided by: the L2-normalise pattern");
    const bool x_first = a.kind == Val::tensor;
    const Val& x = x_first ? a : b;
    const Val& c = x_first ? b : a;
    if (c.data.size() == 1 && (op == "Mul" || (op == "Div" && x_first))) {  // a scalar factor: no tensors
      add(n, node_name(n), Scale{.factor = op == "Mul" ? c.data[0] : 1 / c.data[0]}, {&x}, x.dims);
      return;
    }
    std::vector<double> scale(c.data.size(), 1.0), shift(c.data.size(), 0.0);
    for (std::size_t i = 0; i < c.data.size(); ++i) {
      const double v = c.data[i];
      if (op == "Add") shift[i] = v;
      else if (op == "Mul") scale[i] = v;
      else if (op == "Sub") {
        if (x_first) shift[i] = -v;
        else scale[i] = -1, shift[i] = v;
      } else {
        if (!x_first) fail(n, "a constant divided by a computed tensor is not supported");
        scale[i] = 1 / v;
      }
    }
    add(n, node_name(n), BroadcastAffine{.shape = broadcast_shape(n, x, c.dims), .scale = scale, .shift = shift}, {&x}, x.dims);
  }
  // The constant's shape as twin broadcasts it over x's twin sample (right-aligned).
  Shape broadcast_shape(const ::onnx::NodeProto& n, const Val& x, Dims c) const {
    if (c.size() > x.dims.size()) fail(n, "the constant " + dims_str(c) + " has a higher rank than the tensor " + dims_str(x.dims));
    while (c.size() < x.dims.size()) c.insert(c.begin(), 1);
    if (c[0] != 1) fail(n, "a constant " + dims_str(c) + " that varies along the batch axis is not supported");
    for (std::size_t i = 0; i < c.size(); ++i)
      if (c[i] != 1 && c[i] != x.dims[i]) fail(n, "the constant " + dims_str(c) + " does not broadcast to " + dims_str(x.dims));
    Shape s;
    if (to_shape(x.dims) == x.twin) {
      for (std::size_t i = 1; i < c.size(); ++i) s.push_back(c[i]);
    } else if (numel(c) == 1) {
      s.push_back(1);
    } else if (x.twin.rank() == 2 && c.size() >= 2 && c[1] == x.dims[1] && numel(c) == c[1] && x.twin[1] == x.dims[1]) {
      s.push_back(c[1]);  // per channel, on the (N, C) that twin holds for ONNX's (N, C, 1, 1)
    } else {
      fail(n, "the constant " + dims_str(c) + " does not broadcast over twin's layout " + x.twin.str() + " of " + dims_str(x.dims));
    }
    if (s.rank() == 0) s.push_back(1);
    return s;
  }

  void pool(const ::onnx::NodeProto& n) {
    const Val& x = tensor_in(n, 0);
    only_output(n, "the argmax indices");
    if (x.dims.size() != 4) fail(n, "only 2-D pooling of (N, C, H, W) tensors is supported");
    const Dims ks = attr_ints(n, "kernel_shape");
    if (ks.size() != 2 || ks[0] != ks[1]) fail(n, "unsupported (kernel_shape " + dims_str(ks) + "): square kernels only");
    const Dims st = attr_ints(n, "strides", {1, 1});
    if (st.size() != 2 || st[0] != st[1]) fail(n, "unsupported (strides " + dims_str(st) + "): equal strides only");
    if (attr_ints(n, "dilations", {1, 1}) != Dims{1, 1}) fail(n, "unsupported: dilations other than 1");
    if (attr_int(n, "storage_order", 0) != 0) fail(n, "unsupported: storage_order=1");
    const Dims p = pads_of(n, x.dims, ks[0], st[0]);  // (top, left, bottom, right)
    // MaxPool2D's pad_end: more padding after the last row and column than before the first.
    const bool more_at_end = n.op_type() == "MaxPool" && p[0] == p[1] && p[2] == p[3] && p[2] > p[0];
    if (!(p[0] == p[1] && p[0] == p[2] && p[0] == p[3]) && !more_at_end)
      fail(n, "unsupported (pads " + dims_str(p) + "): equal pads on every side only (MaxPool: or more at the end)");
    const std::int64_t k = ks[0], s = st[0], pad = p[0], pad_end = p[2] - p[0];
    if (attr_int(n, "ceil_mode", 0) != 0) {
      // Same output as floor mode when the windows fit exactly; otherwise not supported.
      for (int a = 2; a < 4; ++a) {
        const std::int64_t span = x.dims[std::size_t(a)] + 2 * pad + pad_end - k;
        if (span % s != 0) fail(n, "unsupported (ceil_mode=1 with a partial last window): twin pools in floor mode");
      }
    }
    if (n.op_type() == "MaxPool") {
      add(n, node_name(n), MaxPool2D{.kernel = k, .stride = s, .pad = pad, .pad_end = pad_end}, {&x});
    } else {
      const bool incl = attr_int(n, "count_include_pad", 0) != 0;
      add(n, node_name(n), AvgPool2D{.kernel = k, .stride = s, .pad = pad, .count_include_pad = incl}, {&x});
    }
  }

  void global_avg(const ::onnx::NodeProto& n) {
    const Val& x = tensor_in(n, 0);
    if (x.dims.size() != 4) fail(n, "only (N, C, H, W) inputs are supported");
    add(n, node_name(n), GlobalAvgPool{}, {&x}, Dims{1, x.dims[1], 1, 1});
  }

  void batchnorm(const ::onnx::NodeProto& n) {
    const Val& x = tensor_in(n, 0);
    only_output(n, "training statistics");
    if (attr_int(n, "training_mode", 0) != 0) fail(n, "unsupported: training_mode=1 (export the model in eval mode)");
    const std::int64_t C = x.dims.size() >= 2 ? x.dims[1] : 0;
    const char* names[] = {"scale", "B", "mean", "var"};
    std::vector<double> v[4];
    for (int i = 0; i < 4; ++i) {
      v[i] = const_in(n, i + 1, names[i]).data;
      if (std::int64_t(v[i].size()) != C) fail(n, detail_concat(names[i], " holds ", v[i].size(), " values for ", C, " channels"));
    }
    const double eps = attr_float(n, "epsilon", 1e-5), momentum = 1 - attr_float(n, "momentum", 0.9);
    Pending vals;
    vals.tensors = {{"weight", v[0]}, {"bias", v[1]}, {"running_mean", v[2]}, {"running_var", v[3]}};
    const std::string name = node_name(n, 1);
    if (x.twin.rank() == 4)
      add(n, name, BatchNorm2d{.features = C, .eps = eps, .momentum = momentum}, {&x}, x.dims, std::move(vals));
    else if (x.twin.rank() == 2)
      add(n, name, BatchNorm1d{.features = C, .eps = eps, .momentum = momentum}, {&x}, x.dims, std::move(vals));
    else
      fail(n, "only (N, C) and (N, C, H, W) inputs are supported, got " + dims_str(x.dims));
  }

  void concat(const ::onnx::NodeProto& n) {
    std::vector<const Val*> xs;
    for (int i = 0; i < n.input_size(); ++i) xs.push_back(&tensor_in(n, i));
    const std::int64_t r = std::int64_t(xs[0]->dims.size());
    std::int64_t axis = attr_int(n, "axis", 1);
    if (axis < 0) axis += r;
    if (axis != 1) fail(n, detail_concat("unsupported (axis=", axis, "): twin concatenates channels (axis 1)"));
    Dims d = xs[0]->dims;
    d[1] = 0;
    for (const Val* x : xs) d[1] += x->dims[1];
    if (xs.size() == 1) return alias(n, *xs[0], d);
    for (const Val* x : xs)
      if (x->twin.rank() != xs[0]->twin.rank()) fail(n, "inputs of different twin layouts");
    add(n, node_name(n), Concat{}, xs, d);
  }

  // The output dims of Flatten / Reshape / Squeeze / Unsqueeze for input dims d.
  Dims reshaped_dims(const ::onnx::NodeProto& n, const Dims& d) const {
    const std::string& op = n.op_type();
    const std::int64_t r = std::int64_t(d.size());
    if (op == "Flatten") {
      std::int64_t axis = attr_int(n, "axis", 1);
      if (axis < 0) axis += r;
      std::int64_t a = 1, b = 1;
      for (std::int64_t i = 0; i < r; ++i) (i < axis ? a : b) *= d[std::size_t(i)];
      return {a, b};
    }
    if (op == "Reshape") {
      Dims t = ints_in(n, 1, "shape");
      std::int64_t known = 1, minus = -1;
      for (std::size_t i = 0; i < t.size(); ++i) {
        if (t[i] == 0 && attr_int(n, "allowzero", 0) == 0) {
          if (i >= d.size()) fail(n, "shape " + dims_str(t) + " copies an axis the input lacks");
          t[i] = d[i];
        }
        if (t[i] == -1) {
          if (minus >= 0) fail(n, "shape " + dims_str(t) + " has two -1");
          minus = std::int64_t(i);
        } else {
          known *= t[i];
        }
      }
      if (minus >= 0) t[std::size_t(minus)] = known ? numel(d) / known : 0;
      if (numel(t) != numel(d)) fail(n, "shape " + dims_str(t) + " does not fit the input " + dims_str(d));
      return t;
    }
    Dims axes;
    if (opset_ >= 13 && has_input(n, 1)) axes = ints_in(n, 1, "axes");
    else axes = attr_ints(n, "axes");
    if (op == "Squeeze") {
      std::set<std::int64_t> drop;
      for (auto a : axes) drop.insert(a < 0 ? a + r : a);
      Dims t;
      for (std::int64_t i = 0; i < r; ++i) {
        const bool squeeze = axes.empty() ? d[std::size_t(i)] == 1 : drop.count(i) > 0;
        if (squeeze && d[std::size_t(i)] != 1) fail(n, detail_concat("axis ", i, " of ", dims_str(d), " is not 1"));
        if (!squeeze) t.push_back(d[std::size_t(i)]);
      }
      return t;
    }
    // Unsqueeze
    const std::int64_t outr = r + std::int64_t(axes.size());
    std::set<std::int64_t> ins;
    for (auto a : axes) ins.insert(a < 0 ? a + outr : a);
    Dims t;
    std::size_t j = 0;
    for (std::int64_t i = 0; i < outr; ++i) t.push_back(ins.count(i) ? 1 : d[j++]);
    return t;
  }

  void flatten(const ::onnx::NodeProto& n) { reshape(n); }

  // Reshapes that keep the batch axis: a flatten to (N, F), or a change of size-1 axes only.
  void reshape(const ::onnx::NodeProto& n) {
    const Val& x = tensor_in(n, 0);
    const Dims t = reshaped_dims(n, x.dims);
    if (t.empty() || t[0] != 1)
      fail(n, "reshapes to " + dims_str(t) + " mix the batch axis with the others; only (N, ...) -> (N, ...) is supported");
    // Adding or removing size-1 axes keeps the order of the values: no node.
    if (squeezed(t) == squeezed(x.dims) && (t.size() != 2 || x.twin.rank() == 2)) return alias(n, x, t);
    if (t.size() == 2) {
      if (x.twin.rank() == 2) return alias(n, x, t);
      add(n, node_name(n), Flatten{}, {&x}, t);
      return;
    }
    fail(n, "unsupported reshape " + dims_str(x.dims) + " -> " + dims_str(t) + ": only flattening to (N, F) or adding/removing size-1 axes");
  }

  void transpose(const ::onnx::NodeProto& n) {
    const Val& x = tensor_in(n, 0);
    Dims perm = attr_ints(n, "perm");
    if (perm.empty())
      for (std::int64_t i = std::int64_t(x.dims.size()) - 1; i >= 0; --i) perm.push_back(i);
    Dims t, order;
    for (auto p : perm) {
      t.push_back(x.dims[std::size_t(p)]);
      if (x.dims[std::size_t(p)] != 1) order.push_back(p);
    }
    if (!std::is_sorted(order.begin(), order.end()) || t[0] != 1 || x.dims[0] != 1 || perm[0] != 0)
      fail(n, "unsupported (perm " + dims_str(perm) + " of " + dims_str(x.dims) + "): only transposes that move size-1 axes (layout no-ops)");
    if (to_shape(t) != x.twin && squeezed(t) != squeezed(to_dims(x.twin)))
      fail(n, "unsupported transpose of a tensor twin holds in another layout");
    alias(n, x, t);
  }
  static Dims to_dims(const Shape& s) {
    Dims d;
    for (Index v : s) d.push_back(v);
    return d;
  }

  void pad(const ::onnx::NodeProto& n) {
    const Val& x = tensor_in(n, 0);
    const std::string mode = attr_string(n, "mode", "constant");
    if (mode != "constant") fail(n, "unsupported (mode=" + mode + "): zero padding only");
    Dims p;
    double value = 0;
    if (opset_ >= 11) {
      p = ints_in(n, 1, "pads");
      if (has_input(n, 2)) value = const_in(n, 2, "constant_value").data.at(0);
      if (has_input(n, 3)) fail(n, "unsupported: the axes input");
    } else {
      p = attr_ints(n, "pads");
      value = attr_float(n, "value", 0);
    }
    if (value != 0) fail(n, detail_concat("unsupported (value=", value, "): zero padding only"));
    if (x.dims.size() != 4 || p.size() != 8) fail(n, "only (N, C, H, W) tensors are supported");
    for (auto v : p)
      if (v < 0) fail(n, "negative pads (cropping) are not supported");
    if (p[0] || p[1] || p[4]) fail(n, "pads " + dims_str(p) + " pad the batch axis or before the channels; only height, width and after the channels");
    const Val* src = &x;
    Val chan;
    if (p[5]) {  // zero channels appended: a shortcut widened to the residual branch
      chan = add(n, node_name(n) + (p[2] || p[3] || p[6] || p[7] ? ".channels" : ""), PadChannels{.after = p[5]}, {&x});
      src = &chan;
      if (!(p[2] || p[3] || p[6] || p[7])) return;
    }
    add(n, node_name(n), Pad2D{.top = p[2], .bottom = p[6], .left = p[3], .right = p[7]}, {src});
  }

  void dropout(const ::onnx::NodeProto& n) {
    const Val& x = tensor_in(n, 0);
    only_output(n, "the mask");
    double ratio = attr_float(n, "ratio", 0.5);
    if (opset_ >= 12 && has_input(n, 1)) ratio = const_in(n, 1, "ratio").data.at(0);
    if (ratio <= 0) return alias(n, x, x.dims);
    add(n, node_name(n), Dropout{.p = ratio}, {&x}, x.dims);
  }

  void lrn(const ::onnx::NodeProto& n) {
    const Val& x = tensor_in(n, 0);
    const std::int64_t size = attr_int(n, "size", 0);
    // ONNX's window for an even size is one channel later than PyTorch's (and twin's).
    if (size <= 0 || size % 2 == 0) fail(n, detail_concat("unsupported (size=", size, "): odd window sizes only"));
    add(n, node_name(n),
        LocalResponseNorm{.size = size, .alpha = attr_float(n, "alpha", 1e-4), .beta = attr_float(n, "beta", 0.75),
                          .k = attr_float(n, "bias", 1.0)},
        {&x}, x.dims);
  }

  void softmax(const ::onnx::NodeProto& n) {
    const Val& x = tensor_in(n, 0);
    const std::int64_t r = std::int64_t(x.dims.size());
    std::int64_t axis = attr_int(n, "axis", opset_ >= 13 ? -1 : 1);
    if (axis < 0) axis += r;
    if (x.twin.rank() != 2 || axis != 1) fail(n, "only a softmax over the features of (N, F) is supported, got " + dims_str(x.dims));
    add(n, node_name(n), Softmax{}, {&x}, x.dims);
  }

  void lp_norm(const ::onnx::NodeProto& n) {
    const Val& x = tensor_in(n, 0);
    std::int64_t axis = attr_int(n, "axis", -1);
    if (axis < 0) axis += std::int64_t(x.dims.size());
    if (attr_int(n, "p", 2) != 2 || x.twin.rank() != 2 || axis != 1)
      fail(n, "only p=2 over the features of (N, F) is supported");
    add(n, node_name(n), L2Normalize{}, {&x}, x.dims);
  }

  // ReduceL2 over the features: the first step of the L2-normalise pattern
  // x / max(ReduceL2(x), eps) that torch.nn.functional.normalize exports.
  void reduce_l2(const ::onnx::NodeProto& n) {
    const Val& x = tensor_in(n, 0);
    Dims axes = opset_ >= 18 && has_input(n, 1) ? ints_in(n, 1, "axes") : attr_ints(n, "axes");
    for (auto& a : axes)
      if (a < 0) a += std::int64_t(x.dims.size());
    if (x.twin.rank() != 2 || axes != Dims{1} || attr_int(n, "keepdims", 1) != 1)
      fail(n, "ReduceL2 is supported only over the features of (N, F), keepdims=1, as the norm of an L2-normalise");
    Val v;
    v.kind = Val::norm;
    v.source = x.id;
    v.dims = {1, 1};
    vals_[n.output(0)] = v;
  }
  // Clip / Max (the eps clamp) and Expand of a norm; anything else here is unsupported.
  void norm_step(const ::onnx::NodeProto& n) {
    const Val& v = in(n, 0);
    if (v.kind != Val::norm) fail(n, "unsupported op outside the L2-normalise pattern (ReduceL2, Clip/Max, Expand, Div)");
    Val r = v;
    if (n.op_type() == "Clip") {
      double lo = attr_float(n, "min", 0);
      if (opset_ >= 11 && has_input(n, 1)) lo = const_in(n, 1, "min").data.at(0);
      if (has_input(n, 2) || find_attr(n, "max")) fail(n, "a Clip of the norm with a maximum is not supported");
      r.eps = std::max(r.eps, lo);
    } else if (n.op_type() == "Max") {
      for (int i = 1; i < n.input_size(); ++i) r.eps = std::max(r.eps, const_in(n, i, "eps").data.at(0));
    }
    vals_[n.output(0)] = r;
  }

  void finish(const std::string& out) {
    auto it = vals_.find(out);
    if (it == vals_.end()) throw onnx_error("onnx: " + file_ + ": the output \"" + out + "\" is produced by no node");
    if (it->second.kind != Val::tensor) throw onnx_error("onnx: " + file_ + ": the output \"" + out + "\" is a constant");
    int id = it->second.id;
    // An output that is an input, or that another node reads too, gets an Identity node.
    bool read = id < graph_.num_inputs();
    for (Index k = 0; !read && k < graph_.size(); ++k)
      for (int u : graph_.node_inputs(k)) read = read || u == id;
    if (read) {
      std::string name = "output";
      for (int k = 2; taken_.count(name); ++k) name = "output_" + std::to_string(k);
      id = graph_.add(name, Identity{}, Value{id}).id;
    }
    try {
      graph_.output(Value{id});
    } catch (const error& e) {
      throw onnx_error("onnx: " + file_ + ": " + e.what() + " (the model computes something its output does not use)");
    }
    graph_.init(0);
    // The file's weights, by name.
    std::map<std::string, NamedTensor> by_name;
    for (const auto& t : graph_.named_tensors()) by_name[t.name] = t;
    for (const auto& p : pending_)
      for (const auto& [tensor, data] : p.tensors) {
        const NamedTensor& t = by_name.at(p.node + "." + tensor);
        if (t.shape.numel() != Index(data.size()))
          throw onnx_error(detail_concat("onnx: ", file_, ": ", p.node, ".", tensor, " has ", data.size(), " values, expected ",
                                         t.shape.numel(), " for ", t.shape.str()));
        auto dst = (t.trainable ? graph_.params() : graph_.buffers()).subspan(std::size_t(t.offset), data.size());
        for (std::size_t i = 0; i < data.size(); ++i) dst[i] = static_cast<T>(data[i]);
      }
  }

  std::string file_;
  ImportOptions o_;
  ::onnx::ModelProto model_;
  std::int64_t opset_ = 0;
  Graph<T> graph_;
  std::map<std::string, Val> vals_;
  std::set<std::string> taken_;
  std::vector<Pending> pending_;
  int node_index_ = 0;
};

}  // namespace detail

// Reads `path` into a graph holding the file's weights (initialised, ready to run or train).
template <class T>
Graph<T> import_model(const std::filesystem::path& path, const ImportOptions& options = {}) {
  return detail::Importer<T>(path, options).run();
}

}  // namespace twin::onnx
