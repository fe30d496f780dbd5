#pragma once
// ONNX export: a twin Graph or Sequential, as it runs in eval mode, into an .onnx file
// that ONNX Runtime (or twin::onnx::import_model) runs.
//
//   twin::onnx::export_model(tower, "tower.onnx", twin::Shape{1, 155, 220});  // sample shape
//
// The batch axis is symbolic ("N"). Parameters and buffers become initializers under their
// twin names ("conv1.weight", "bn1.running_mean"); value names are the node names.
// Layer by layer (opset 13):
//   Conv2D -> Conv        Dense -> Gemm (transB)      BatchNorm1d/2d -> BatchNormalization
//   ReLU, LeakyReLU, Sigmoid, Tanh -> the op of the same name
//   MaxPool2D, AvgPool2D -> MaxPool, AveragePool    GlobalAvgPool -> GlobalAveragePool + Flatten
//   Add, Concat (axis 1), Flatten (axis 1), Identity, Dropout (eval: Identity)
//   LocalResponseNorm -> LRN    Pad2D, PadChannels -> Pad    Softmax -> Softmax (axis 1)
//   L2Normalize -> ReduceL2 + Max(eps) + Div, PyTorch's F.normalize exactly
//   BroadcastAffine -> Mul + Add with constant initializers;  Scale -> Mul by a scalar
//   Conv2DRect -> Conv with a rectangular kernel_shape
// Any other layer throws onnx_error naming the node and the layer.
// Options the layers do not expose are read back from describe(), whose format the
// layers' tests fix; an unexpected description is an error, not a guess.
#include <cstdint>
#include <filesystem>
#include <map>
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
#include "twin/version.hpp"

namespace twin::onnx {

namespace detail {

// The number that follows `key` in a layer description ("kernel 3, stride 2" -> 3 for
// "kernel "); throws when absent.
inline double number_after(const std::string& desc, const std::string& key, const std::string& node) {
  const auto p = desc.find(key);
  if (p == std::string::npos)
    throw onnx_error("onnx export: node \"" + node + "\": cannot read \"" + key + "\" from its description \"" + desc + "\"");
  return std::stod(desc.substr(p + key.size()));
}

template <class T>
class Exporter {
 public:
  Exporter(const Graph<T>& g, const Shape& sample) : g_(g), sample_(sample) {
    for (const auto& t : g.named_tensors()) tensors_[t.name] = t;
  }

  ::onnx::ModelProto run() {
    ::onnx::ModelProto m;
    m.set_ir_version(7);
    m.set_producer_name("twin");
    m.set_producer_version(std::to_string(TWIN_VERSION_MAJOR) + "." + std::to_string(TWIN_VERSION_MINOR) + "." + std::to_string(TWIN_VERSION_PATCH));
    auto* op = m.add_opset_import();
    op->set_domain("");
    op->set_version(export_opset);
    gp_ = m.mutable_graph();
    gp_->set_name("twin");
    if (g_.num_inputs() != 1) throw onnx_error("onnx export: graphs with one input only");
    add_io(gp_->add_input(), g_.value_name(0), sample_);
    for (Index k = 0; k < g_.size(); ++k) node(k);
    const Shape out = g_.output_shape(with_batch(sample_));
    Shape out_sample;
    for (int d = 1; d < out.rank(); ++d) out_sample.push_back(out[d]);
    add_io(gp_->add_output(), g_.value_name(g_.output_value()), out_sample);
    return m;
  }

 private:
  static Shape with_batch(const Shape& s) {
    Shape r{1};
    for (Index d : s) r.push_back(d);
    return r;
  }
  void add_io(::onnx::ValueInfoProto* v, const std::string& name, const Shape& sample) {
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(::onnx::TensorProto::FLOAT);
    auto* sh = tt->mutable_shape();
    sh->add_dim()->set_dim_param("N");
    for (Index d : sample) sh->add_dim()->set_dim_value(d);
  }
  ::onnx::NodeProto* make(const std::string& op, const std::string& name, std::vector<std::string> in, const std::string& out) {
    auto* n = gp_->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (auto& i : in) n->add_input(i);
    n->add_output(out);
    return n;
  }
  static void attr(::onnx::NodeProto* n, const std::string& k, std::int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(k);
    a->set_type(::onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(::onnx::NodeProto* n, const std::string& k, double v) {
    auto* a = n->add_attribute();
    a->set_name(k);
    a->set_type(::onnx::AttributeProto::FLOAT);
    a->set_f(static_cast<float>(v));
  }
  static void attr(::onnx::NodeProto* n, const std::string& k, std::vector<std::int64_t> v) {
    auto* a = n->add_attribute();
    a->set_name(k);
    a->set_type(::onnx::AttributeProto::INTS);
    for (auto x : v) a->add_ints(x);
  }
  // A float initializer from the model's tensor `name` (its shape, or `dims` if given).
  std::string initializer(const std::string& name, std::vector<std::int64_t> dims = {}) {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) throw onnx_error("onnx export: the model has no tensor \"" + name + "\"");
    const NamedTensor& t = it->second;
    const auto src = (t.trainable ? g_.params() : g_.buffers()).subspan(std::size_t(t.offset), std::size_t(t.shape.numel()));
    std::vector<float> v(src.begin(), src.end());
    if (dims.empty())
      for (Index d : t.shape) dims.push_back(d);
    return constant(name, dims, v);
  }
  std::string constant(const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<float>& v) {
    auto* t = gp_->add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::FLOAT);
    for (auto d : dims) t->add_dims(d);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
    return name;
  }
  std::string int_constant(const std::string& name, const std::vector<std::int64_t>& v) {
    auto* t = gp_->add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::INT64);
    t->add_dims(std::int64_t(v.size()));
    for (auto x : v) t->add_int64_data(x);
    return name;
  }

  template <class L>
  const L* as(const Layer<T>& l) const {
    return dynamic_cast<const L*>(&l);
  }

  void node(Index k) {
    const Layer<T>& l = g_[k];
    const std::string name = g_.node_name(k), desc = l.describe();
    std::vector<std::string> in;
    for (int u : g_.node_inputs(k)) in.push_back(g_.value_name(u));
    const std::string out = g_.value_name(g_.num_inputs() + int(k));
    auto num = [&](const std::string& key) { return number_after(desc, key, name); };
    auto pool_attrs = [&](::onnx::NodeProto* n) {
      const auto kk = std::int64_t(num("kernel ")), s = std::int64_t(num("stride ")), p = std::int64_t(num("pad "));
      attr(n, "kernel_shape", {kk, kk});
      attr(n, "strides", {s, s});
      // MaxPool2D's pad_end pads after the last row and column only (ONNX: begin..., end...)
      const auto e = desc.find("pad_end ") == std::string::npos ? std::int64_t(0) : std::int64_t(num("pad_end "));
      attr(n, "pads", {p, p, p + e, p + e});
    };
    if (const auto* c = as<Conv2DLayer<T>>(l)) {
      const Conv2D& o = c->options();
      in.push_back(initializer(name + ".weight"));
      if (o.bias) in.push_back(initializer(name + ".bias"));
      auto* n = make("Conv", name, in, out);
      attr(n, "kernel_shape", {o.kernel, o.kernel});
      attr(n, "strides", {o.stride, o.stride});
      attr(n, "pads", {o.pad, o.pad, o.pad, o.pad});
    } else if (const auto* cr = as<Conv2DRectLayer<T>>(l)) {
      const Conv2DRect& o = cr->options();
      in.push_back(initializer(name + ".weight"));
      if (o.bias) in.push_back(initializer(name + ".bias"));
      auto* n = make("Conv", name, in, out);
      attr(n, "kernel_shape", {o.kh, o.kw});
      attr(n, "strides", {o.stride, o.stride});
      attr(n, "pads", {o.pad_h, o.pad_w, o.pad_h, o.pad_w});
    } else if (const auto* sc = as<ScaleLayer<T>>(l)) {
      make("Mul", name, {in[0], constant(name + ".factor", {}, {float(sc->options().factor)})}, out);
    } else if (const auto* d = as<DenseLayer<T>>(l)) {
      in.push_back(initializer(name + ".weight"));
      if (d->options().bias) in.push_back(initializer(name + ".bias"));
      auto* n = make("Gemm", name, in, out);
      attr(n, "transB", std::int64_t(1));
    } else if (as<BatchNormLayer<T>>(l)) {
      if (desc.find("no affine") != std::string::npos) throw onnx_error("onnx export: node \"" + name + "\": BatchNorm without affine parameters is not supported");
      for (const char* t : {".weight", ".bias", ".running_mean", ".running_var"}) in.push_back(initializer(name + t));
      auto* n = make("BatchNormalization", name, in, out);
      attr(n, "epsilon", num("eps "));
      attr(n, "momentum", 1 - num("momentum "));
    } else if (as<ElementwiseLayer<T, ReLU>>(l)) {
      make("Relu", name, in, out);
    } else if (as<ElementwiseLayer<T, LeakyReLU>>(l)) {
      attr(make("LeakyRelu", name, in, out), "alpha", num("LeakyReLU("));
    } else if (as<ElementwiseLayer<T, Sigmoid>>(l)) {
      make("Sigmoid", name, in, out);
    } else if (as<ElementwiseLayer<T, Tanh>>(l)) {
      make("Tanh", name, in, out);
    } else if (as<MaxPool2DLayer<T>>(l)) {
      pool_attrs(make("MaxPool", name, in, out));
    } else if (as<AvgPool2DLayer<T>>(l)) {
      auto* n = make("AveragePool", name, in, out);
      pool_attrs(n);
      attr(n, "count_include_pad", std::int64_t(desc.find("excluding padding") == std::string::npos));
    } else if (as<GlobalAvgPoolLayer<T>>(l)) {
      make("GlobalAveragePool", name, in, name + ".pooled");
      attr(make("Flatten", name + ".flatten", {name + ".pooled"}, out), "axis", std::int64_t(1));
    } else if (as<AddLayer<T>>(l)) {
      if (in.size() == 2) {
        make("Add", name, in, out);
      } else {
        make("Sum", name, in, out);
      }
    } else if (as<ConcatLayer<T>>(l)) {
      attr(make("Concat", name, in, out), "axis", std::int64_t(1));
    } else if (as<FlattenLayer<T>>(l)) {
      attr(make("Flatten", name, in, out), "axis", std::int64_t(1));
    } else if (as<IdentityLayer<T>>(l) || as<DropoutLayer<T>>(l)) {
      make("Identity", name, in, out);
    } else if (as<LocalResponseNormLayer<T>>(l)) {
      auto* n = make("LRN", name, in, out);
      attr(n, "size", std::int64_t(num("size ")));
      attr(n, "alpha", num("alpha "));
      attr(n, "beta", num("beta "));
      attr(n, "bias", num(", k "));
    } else if (as<Pad2DLayer<T>>(l)) {
      const auto t = std::int64_t(num("top ")), b = std::int64_t(num("bottom ")), le = std::int64_t(num("left ")),
                 r = std::int64_t(num("right "));
      in.push_back(int_constant(name + ".pads", {0, 0, t, le, 0, 0, b, r}));
      make("Pad", name, in, out);
    } else if (as<PadChannelsLayer<T>>(l)) {
      const auto a = std::int64_t(num("after "));
      const Shape s = value_shape(g_.node_inputs(k)[0]);
      std::vector<std::int64_t> p(std::size_t(2 * s.rank()), 0);
      p[std::size_t(s.rank() + 1)] = a;
      in.push_back(int_constant(name + ".pads", p));
      make("Pad", name, in, out);
    } else if (as<SoftmaxLayer<T>>(l)) {
      attr(make("Softmax", name, in, out), "axis", std::int64_t(1));
    } else if (as<L2NormalizeLayer<T>>(l)) {
      // y = x / max(||x||, eps) over the sample, as F.normalize exports it.
      std::string x = in[0];
      const Shape s = value_shape(g_.node_inputs(k)[0]);
      if (s.rank() != 2) {
        attr(make("Flatten", name + ".flatten", {x}, name + ".flat"), "axis", std::int64_t(1));
        x = name + ".flat";
      }
      attr(attr_ret(make("ReduceL2", name + ".norm", {x}, name + ".norm"), "axes", std::vector<std::int64_t>{1}), "keepdims",
           std::int64_t(1));
      make("Max", name + ".clamp", {name + ".norm", constant(name + ".eps", {}, {float(num("eps="))})}, name + ".clamped");
      if (s.rank() != 2) {
        make("Div", name + ".div", {x, name + ".clamped"}, name + ".flatout");
        in.push_back(int_constant(name + ".shape", [&] {
          std::vector<std::int64_t> d{-1};
          for (int i = 1; i < s.rank(); ++i) d.push_back(s[i]);
          return d;
        }()));
        make("Reshape", name, {name + ".flatout", name + ".shape"}, out);
      } else {
        make("Div", name, {x, name + ".clamped"}, out);
      }
    } else if (const auto* a = as<BroadcastAffineLayer<T>>(l)) {
      std::vector<std::int64_t> dims;
      for (Index d : a->options().shape) dims.push_back(d);
      make("Mul", name + ".mul", {in[0], initializer(name + ".scale", dims)}, name + ".scaled");
      make("Add", name, {name + ".scaled", initializer(name + ".shift", dims)}, out);
    } else {
      throw onnx_error("onnx export: node \"" + name + "\" (" + desc + "): no ONNX counterpart for this layer (docs/onnx.md)");
    }
  }
  static ::onnx::NodeProto* attr_ret(::onnx::NodeProto* n, const std::string& k, std::vector<std::int64_t> v) {
    attr(n, k, std::move(v));
    return n;
  }
  Shape value_shape(int v) const {
    if (shapes_.empty()) {
      // Shapes of every value for a batch of 1: from each node's layer, in order.
      shapes_.push_back(with_batch(sample_));
      for (Index k = 0; k < g_.size(); ++k) {
        std::vector<Shape> in;
        for (int u : g_.node_inputs(k)) in.push_back(shapes_[std::size_t(u)]);
        shapes_.push_back(g_[k].output_shape_n(in));
      }
    }
    return shapes_[std::size_t(v)];
  }

  const Graph<T>& g_;
  Shape sample_;
  std::map<std::string, NamedTensor> tensors_;
  ::onnx::GraphProto* gp_ = nullptr;
  mutable std::vector<Shape> shapes_;
};

}  // namespace detail

// The model as an ONNX ModelProto; `sample_shape` is one input sample's shape (no batch axis).
template <class T>
::onnx::ModelProto to_onnx(const Graph<T>& model, const Shape& sample_shape) {
  return detail::Exporter<T>(model, sample_shape).run();
}

// Writes the model to `path` (atomically).
template <class T>
void export_model(const Graph<T>& model, const std::filesystem::path& path, const Shape& sample_shape) {
  write_model(to_onnx(model, sample_shape), path);
}

}  // namespace twin::onnx
