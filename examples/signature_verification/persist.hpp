#pragma once
// The model file (safetensors: tower weights, plus in its metadata everything needed to use
// them: canvas, architecture, threshold, the writer split it was trained on) and the
// training checkpoint (twin/io/checkpoint.hpp: weights, optimiser state, epoch).
#include <string>
#include <vector>

#include <twin/optim/adam.hpp>
#include <twin/sequential.hpp>

#include "commands.hpp"

namespace sigver {

struct ModelInfo {
  TowerConfig tower;
  float threshold = 0;  // distance <= threshold: same writer
  std::vector<std::string> train_writers, val_writers, test_writers;
  std::string data_layout;
  double val_eer = 0;
  int epochs = 0;
  double train_seconds = 0;
};

void save_model(const fs::path& file, const twin::Graph<float>& net, const ModelInfo& info);
// The tower (built from the stored configuration, weights loaded) and its information. Every
// metadata field is checked against its range (model.hpp's limits) before anything is built,
// and the weights must be finite; errors name the file, the key and the value.
twin::Sequential<float> load_model(const fs::path& file, ModelInfo& info);

// A fingerprint of the weights: FNV-1a (64 bits) over every tensor's name, shape and values,
// as "fnv1a64:<16 hex digits>". Enrolments store it, so embeddings made with one model are
// never compared with another's (same architecture or not). It detects another model, not
// a forger: FNV is no cryptographic hash.
std::string weights_hash(const twin::Graph<float>& net);

// What an interrupted run needs besides the weights and the optimiser: the best validation
// result so far (whose weights are in the model file).
struct TrainState {
  int epoch = 0;  // epochs completed
  double best_val_eer = 2;
  float best_threshold = 0;
  int best_epoch = 0;
  double seconds = 0;
};
// `fingerprint` names the run's configuration; a checkpoint of another configuration is
// refused on resume.
void save_checkpoint(const fs::path& file, const twin::Graph<float>& net, twin::Adam<float>& opt,
                     const TrainState& st, const std::string& fingerprint);
TrainState load_checkpoint(const fs::path& file, twin::Graph<float>& net, twin::Adam<float>& opt,
                           const std::string& fingerprint);

}  // namespace sigver
