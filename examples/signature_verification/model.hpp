#pragma once
// The embedding tower: a SigNet-style convolutional network (Dey et al. 2017) scaled down
// to train on two CPU cores in minutes. SigNet's 11x11/5x5/3x3 convolutions with pooling
// become strided 5x5/3x3 convolutions (same receptive field growth, a quarter of the work),
// followed by a dense embedding. Both branches of the Siamese pair run this one tower
// (stacked along the batch), so weights are shared by construction.
#include <string>

#include <twin/sequential.hpp>
#include <twin/siamese/distance.hpp>
#include <twin/siamese/embed.hpp>

#include "preprocess.hpp"

namespace sigver {

struct TowerConfig {
  Canvas canvas;
  int width = 16;           // channels of the first convolution; later ones 2x, 4x, 6x
  twin::Index embed = 128;  // embedding size
  bool batchnorm = false;   // BatchNorm2d after each convolution (slower to converge here)
  bool l2norm = false;      // unit-length embeddings
  std::string describe() const;
};

// The allowed range of every tower and canvas setting. The command line's options and a
// model file's metadata are both checked against these, so a file cannot ask for a canvas
// that blanks every image, a stroke radius that takes hours or an embedding that does not
// fit in memory.
namespace limits {
inline constexpr twin::Index min_canvas = 8, max_canvas = 2048;  // height and width, pixels
inline constexpr double max_speck_share = 0.1;                    // 0.1: specks below 10% of the ink
inline constexpr twin::Index max_stroke_radius = 16;              // -1 (keep the pen) to this
inline constexpr int max_channels = 256;
inline constexpr twin::Index max_embed = 4096;
inline constexpr double max_threshold = 1e4;  // a distance; unit embeddings are at most 2 apart
}  // namespace limits

// Parameters the tower of `c` holds at least (its convolutions and dense weights), computed
// without building it.
double tower_weight_count(const TowerConfig& c);

twin::Sequential<float> make_tower(const TowerConfig& c);

// The verification distance: Euclidean (twin/siamese/distance.hpp), the one the contrastive
// loss trains, between embeddings (N, embed) that twin::embed_all computes. Without the
// loss's guard under the root (eps): nothing is differentiated through it here, and an
// image compared with itself must be at distance 0, not sqrt(eps).
inline constexpr twin::LpDistance euclidean{.p = 2.0, .squared = false, .eps = 0.0};
inline constexpr twin::Index embed_batch = 128;  // images per forward pass when embedding a set

}  // namespace sigver
