#pragma once
// From face-api's tfjs tensors to a twin graph's parameters: TensorFlow's layouts turned
// into twin's, and a filler that checks every graph tensor is filled exactly once.
//   conv filters      (kh, kw, C, O) HWIO -> (O, C, kh, kw) OIHW
//   depthwise filters (kh, kw, C, 1)      -> (C, 1, kh, kw)
//   dense weights     (in, out)           -> (out, in)
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "twin/error.hpp"
#include "twin/graph.hpp"
#include "twin/io/tfjs.hpp"

namespace twin::face {

inline std::vector<float> hwio_to_oihw(const io::TfjsTensor& f) {
  if (f.shape.size() != 4) throw io_error("tfjs tensor \"" + f.name + "\": expected (kh, kw, C, O), got " + io::TfjsWeights::str(f.shape));
  const Index kh = f.shape[0], kw = f.shape[1], c = f.shape[2], o = f.shape[3];
  std::vector<float> out(f.values.size());
  for (Index y = 0; y < kh; ++y)
    for (Index x = 0; x < kw; ++x)
      for (Index ci = 0; ci < c; ++ci)
        for (Index oi = 0; oi < o; ++oi)
          out[static_cast<std::size_t>(((oi * c + ci) * kh + y) * kw + x)] =
              f.values[static_cast<std::size_t>(((y * kw + x) * c + ci) * o + oi)];
  return out;
}

// A depthwise filter is HWIO with O = 1 and the channels as I: the same transpose.
inline std::vector<float> depthwise_to_c1hw(const io::TfjsTensor& f) {
  if (f.shape.size() != 4 || f.shape[3] != 1)
    throw io_error("tfjs tensor \"" + f.name + "\": expected (kh, kw, C, 1), got " + io::TfjsWeights::str(f.shape));
  const Index kh = f.shape[0], kw = f.shape[1], c = f.shape[2];
  std::vector<float> out(f.values.size());
  for (Index y = 0; y < kh; ++y)
    for (Index x = 0; x < kw; ++x)
      for (Index ci = 0; ci < c; ++ci)
        out[static_cast<std::size_t>((ci * kh + y) * kw + x)] = f.values[static_cast<std::size_t>((y * kw + x) * c + ci)];
  return out;
}

// Fills a graph's parameters by name; finish() checks every one was filled and every
// source tensor used, then assigns them to the graph. Errors name the net and the file.
template <class T>
class TfjsFiller {
 public:
  TfjsFiller(Graph<T>& g, const io::TfjsWeights& w, std::string net) : g_(g), w_(w), net_(std::move(net)) {
    for (const auto& t : g.named_tensors()) dst_[t.name] = t;
    params_.resize(static_cast<std::size_t>(g.num_params()));
  }
  void put(const std::string& name, const std::vector<float>& v) {
    auto it = dst_.find(name);
    if (it == dst_.end()) throw io_error(net_ + ": the graph has no tensor \"" + name + "\"");
    if (it->second.shape.numel() != static_cast<Index>(v.size()))
      throw io_error(twin::detail::concat(net_, ": ", w_.source(), " gives ", v.size(), " values for \"", name, "\" of shape ",
                                          it->second.shape.str()));
    if (filled_[name]) throw io_error(net_ + ": \"" + name + "\" filled twice");
    if (!it->second.trainable) throw io_error(net_ + ": \"" + name + "\" is a buffer, expected a parameter");
    filled_[name] = true;
    std::transform(v.begin(), v.end(), params_.begin() + it->second.offset, [](float a) { return static_cast<T>(a); });
  }
  // Source tensor `name` of `shape` (empty: any), counted as used.
  const io::TfjsTensor& take(const std::string& name, const std::vector<Index>& shape = {}) {
    ++used_;
    return shape.empty() ? w_.at(name) : w_.at(name, shape);
  }
  void finish() {
    if (used_ != w_.size())
      throw io_error(twin::detail::concat(net_, ": ", w_.source(), " holds ", w_.size(), " tensors, the net uses ", used_));
    for (const auto& [name, e] : dst_)
      if (!filled_[name]) throw io_error(net_ + ": nothing in " + w_.source() + " for \"" + name + "\"");
    g_.assign(params_, std::vector<T>(g_.buffers().size()));
  }

 private:
  Graph<T>& g_;
  const io::TfjsWeights& w_;
  std::string net_;
  std::map<std::string, NamedTensor> dst_;
  std::map<std::string, bool> filled_;
  std::vector<T> params_;
  std::size_t used_ = 0;
};

}  // namespace twin::face
