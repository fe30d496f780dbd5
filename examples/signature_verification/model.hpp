#pragma once
// The embedding tower: a SigNet-style convolutional network (Dey et al. 2017) scaled down
// to train on two CPU cores in minutes. SigNet's 11x11/5x5/3x3 convolutions with pooling
// become strided 5x5/3x3 convolutions (same receptive field growth, a quarter of the work),
// followed by a dense embedding. Both branches of the Siamese pair run this one tower
// (stacked along the batch), so weights are shared by construction.
#include <string>

#include <twin/sequential.hpp>

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

twin::Sequential<float> make_tower(const TowerConfig& c);

// Embeddings (N, embed) of images (N, 1, H, W), computed in eval mode in batches.
twin::Tensor<float, 2> embed_all(const twin::Sequential<float>& net, const twin::Tensor<float, 4>& images,
                                 twin::Index batch = 128);

float euclidean(const float* a, const float* b, twin::Index d);

}  // namespace sigver
