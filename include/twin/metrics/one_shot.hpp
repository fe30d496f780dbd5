#pragma once
// k-way one-shot accuracy (Koch et al. 2015, Omniglot; Lake et al. 2015): in each trial a
// query is compared with k candidates, exactly one of the query's class; the trial is right
// when that candidate gets the highest score. Scores are "higher = more similar".
// A tie for the top score between the right candidate and m others earns 1 / (m + 1), the
// expected accuracy of breaking the tie at random, so a constant scorer scores exactly 1/k.
#include <span>
#include <vector>

#include "twin/error.hpp"

namespace twin::metrics {

// One trial: the query's score against each of its k candidates ("higher = more similar",
// so a distance enters negated) and which candidate is of the query's class. Build trials
// by hand, or draw episodes from labels and score them by distance with
// metrics/one_shot_episodes.hpp (one_shot_episodes, one_shot_trials,
// one_shot_accuracy_distance).
//
//   std::vector<twin::metrics::OneShotTrial> trials{{.scores = {0.9, 0.2, 0.4}, .correct = 0}};
//   double acc = twin::metrics::one_shot_accuracy(trials);  // 1.0
struct OneShotTrial {
  std::vector<double> scores;  // (k): one per candidate
  std::size_t correct = 0;     // index into scores of the candidate of the query's class
};

// Mean over trials of 1 (the right candidate alone has the top score), 1 / (m + 1) (tied
// with m others at the top) or 0. Throws on no trials or a `correct` outside its scores.

inline double one_shot_accuracy(std::span<const OneShotTrial> trials) {
  if (trials.empty()) throw error("one_shot_accuracy: no trials");
  double total = 0;
  for (const auto& t : trials) {
    if (t.correct >= t.scores.size())
      throw shape_error(twin::detail::concat("one_shot_accuracy: correct index ", t.correct, " of a trial with ",
                                             t.scores.size(), " candidates"));
    const double s = t.scores[t.correct];
    std::size_t above = 0, equal = 0;
    for (double v : t.scores) {
      above += v > s;
      equal += v == s;
    }
    if (above == 0) total += 1.0 / static_cast<double>(equal);
  }
  return total / static_cast<double>(trials.size());
}

}  // namespace twin::metrics
