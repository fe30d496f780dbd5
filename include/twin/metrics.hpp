#pragma once
// Verification metrics: ROC, AUC, EER, FAR/FRR, accuracy and threshold choice, k-way
// one-shot accuracy. Scores are "higher = more likely same" throughout; distance.hpp and
// one_shot_episodes.hpp take distances ("lower = more likely same") directly.
#include "twin/metrics/cohort_norm.hpp"
#include "twin/metrics/distance.hpp"
#include "twin/metrics/one_shot.hpp"
#include "twin/metrics/one_shot_episodes.hpp"
#include "twin/metrics/roc.hpp"
#include "twin/metrics/threshold.hpp"
