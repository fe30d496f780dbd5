#pragma once
// Everything for Siamese networks: the weight-sharing module, distances, heads, losses,
// mining and diagnostics. (Data and metrics live in twin/data/ and twin/metrics/.)
#include "twin/siamese/batch.hpp"
#include "twin/siamese/bce_with_logits_loss.hpp"
#include "twin/siamese/contrastive_loss.hpp"
#include "twin/siamese/diagnostics.hpp"
#include "twin/siamese/distance.hpp"
#include "twin/siamese/mining.hpp"
#include "twin/siamese/pair_head.hpp"
#include "twin/siamese/pair_label.hpp"
#include "twin/siamese/pairwise_distance.hpp"
#include "twin/siamese/reduction.hpp"
#include "twin/siamese/siamese_module.hpp"
#include "twin/siamese/triplet_margin_loss.hpp"
#include "twin/siamese/view_arg.hpp"
