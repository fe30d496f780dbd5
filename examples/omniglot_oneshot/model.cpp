// The two designs, their files, and the augmentation warp shared by training and TTA.
#include <twin/io/safetensors.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "omniglot.hpp"

namespace omniglot {

namespace {
// Koch et al.'s embedding ends in a sigmoid-activated dense layer; ours is 128-d (theirs
// 4096-d at 105 x 105), so |e1 - e2| lies in [0, 1]^128 whatever the tower's scale.
constexpr Index koch_embed = 128;
}  // namespace

const char* design_name(Design d) { return d == Design::proto ? "proto" : "koch"; }
Design parse_design(const std::string& s) {
  if (s == "proto") return Design::proto;
  if (s == "koch") return Design::koch;
  throw twin::error("design must be 'proto' or 'koch', got '" + s + "'");
}

const char* metric_name(Metric m) { return m == Metric::l2 ? "l2" : "cl2n"; }
Metric parse_metric(const std::string& s) {
  if (s == "l2") return Metric::l2;
  if (s == "cl2n") return Metric::cl2n;
  throw twin::error("metric must be 'l2' or 'cl2n', got '" + s + "'");
}
Metric model_metric(const Model& m) {
  const auto it = m.meta.find("omniglot.metric");
  return it == m.meta.end() ? Metric::l2 : parse_metric(it->second);
}

std::vector<Index> block_widths(const TowerOptions& t) {
  return t.widths.empty() ? std::vector<Index>(static_cast<std::size_t>(std::max<Index>(t.blocks, 0)), t.channels)
                          : t.widths;
}

namespace {
std::string join(const std::vector<Index>& v) {
  std::string s;
  for (const Index x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}
std::vector<Index> split_indices(const std::string& s) {
  std::vector<Index> v;
  for (std::size_t b = 0; b < s.size();) {
    const std::size_t e = std::min(s.find(',', b), s.size());
    v.push_back(std::stoll(s.substr(b, e - b)));
    b = e + 1;
  }
  return v;
}
}  // namespace

Model make_model(Design design, const TowerOptions& t, std::uint64_t seed) {
  using namespace twin;
  const std::vector<Index> widths = block_widths(t);
  const bool widths_ok = std::all_of(widths.begin(), widths.end(), [](Index w) { return w >= 1; });
  if (t.size < 8 || t.blocks < 1 || static_cast<Index>(widths.size()) != t.blocks || !widths_ok ||
      !(t.norm_scale >= 0) || t.unpooled < 0 || t.unpooled > t.blocks)
    throw error(detail::concat("tower: size ", t.size, ", blocks ", t.blocks, ", widths ", join(widths), ", unpooled ",
                               t.unpooled, ", norm scale ", t.norm_scale,
                               " (size >= 8, at least one block, one width >= 1 per block, 0 <= unpooled <= blocks, "
                               "norm scale >= 0)"));
  Model m;
  m.design = design;
  m.tower = t;
  // conv3x3-BN-ReLU-maxpool2 blocks (the few-shot literature's "Conv-4"): 28 -> 14 -> 7 ->
  // 3 -> 1, so a 28 x 28 character becomes one 64-d vector. Blocks left unpooled keep the
  // layout of the strokes: with the last one unpooled (the default recipe) the embedding is
  // widths.back() x 3 x 3 (2304-d for the default widths), which paid on the validation
  // runs (docs/omniglot.md).
  Index in = 1;
  for (Index b = 0; b < t.blocks; ++b) {
    const Index out = widths[static_cast<std::size_t>(b)];
    m.net.add(Conv2D{.in = in, .out = out, .kernel = 3, .pad = 1, .bias = false, .init = Init::he_uniform})
        .add(BatchNorm2d{.features = out})
        .add(ReLU{});
    if (b < t.blocks - t.unpooled) m.net.add(MaxPool2D{.kernel = 2});
    in = out;
  }
  m.net.add(Flatten{});
  const Shape s = m.net.output_shape(Shape{1, 1, t.size, t.size});
  // Cosine prototypes with a temperature: on unit vectors ||a - b||^2 = 2 - 2 cos(a, b), so
  // the loss's logits become 2 s^2 (cos - 1) and s sets how peaked the softmax can get.
  if (design == Design::proto && t.norm_scale > 0) m.net.add(L2Normalize{}).add(Scale{.factor = t.norm_scale});
  if (design == Design::koch) {
    m.net.add(Dense{.in = s[1], .out = koch_embed}).add(Sigmoid{});
    m.head.emplace(make_similarity_head<float>(koch_embed, seed + 1));
  }
  m.net.init(seed);
  m.meta = {{"omniglot.design", design_name(design)},
            {"omniglot.size", std::to_string(t.size)},
            {"omniglot.channels", std::to_string(t.channels)},
            {"omniglot.blocks", std::to_string(t.blocks)},
            {"omniglot.widths", join(widths)},
            {"omniglot.unpooled", std::to_string(t.unpooled)},
            {"omniglot.norm_scale", detail::concat(design == Design::proto ? t.norm_scale : 0.0)}};
  return m;
}

void save_model(const Model& m, const fs::path& path) {
  twin::io::save_model(m.net, path, m.meta);
  if (m.head) twin::io::save_model(m.head->net(), fs::path(path.string() + ".head"), {{"omniglot.part", "pair head"}});
}

Model load_model(const fs::path& path) {
  if (!fs::is_regular_file(path)) throw twin::io_error("model file '" + path.string() + "' does not exist (run train first)");
  const auto st = twin::io::SafeTensors::read(path);
  const auto& meta = st.metadata();
  auto get = [&](const std::string& k) {
    auto it = meta.find(k);
    if (it == meta.end()) throw twin::io_error(path.string() + ": no '" + k + "' in the metadata (not an omniglot model)");
    return it->second;
  };
  TowerOptions t{.size = std::stoll(get("omniglot.size")), .channels = std::stoll(get("omniglot.channels")),
                 .blocks = std::stoll(get("omniglot.blocks"))};
  // Models saved before these options: a raw embedding, every block `channels` wide and pooled.
  if (auto it = meta.find("omniglot.norm_scale"); it != meta.end()) t.norm_scale = std::stod(it->second);
  if (auto it = meta.find("omniglot.widths"); it != meta.end()) t.widths = split_indices(it->second);
  if (auto it = meta.find("omniglot.unpooled"); it != meta.end()) t.unpooled = std::stoll(it->second);
  Model m = make_model(parse_design(get("omniglot.design")), t, 0);
  m.meta = twin::io::load_model(m.net, path);
  if (m.head) twin::io::load_model(m.head->net(), fs::path(path.string() + ".head"));
  return m;
}

void warp(const float* src, Index H, Index W, const twin::data::Affine& a, float* dst) {
  // The map of twin::data::affine (transform.hpp), written into a caller's buffer so the
  // training step allocates nothing: p = c + R^T (p' - c - t) / s, sampled bilinearly,
  // outside = 0 (background).
  const double cy = (static_cast<double>(H) - 1) / 2, cx = (static_cast<double>(W) - 1) / 2;
  const double th = a.angle_deg * std::numbers::pi / 180.0;
  const double c = std::cos(th), sn = std::sin(th), inv = 1.0 / a.scale;
  auto at = [&](Index y, Index x) -> float { return (y < 0 || y >= H || x < 0 || x >= W) ? 0.0f : src[y * W + x]; };
  for (Index y = 0; y < H; ++y)
    for (Index x = 0; x < W; ++x) {
      const double dy = static_cast<double>(y) - cy - a.shift_y, dx = static_cast<double>(x) - cx - a.shift_x;
      const double sx = cx + inv * (c * dx - sn * dy), sy = cy + inv * (sn * dx + c * dy);
      const double fy0 = std::floor(sy), fx0 = std::floor(sx);
      const auto y0 = static_cast<Index>(fy0), x0 = static_cast<Index>(fx0);
      const float fy = static_cast<float>(sy - fy0), fx = static_cast<float>(sx - fx0);
      dst[y * W + x] = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) +
                       fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
    }
}

}  // namespace omniglot
