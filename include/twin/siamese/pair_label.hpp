#pragma once
// THE PAIR LABEL CONVENTION, written down once for all of twin:
//
//   enum class PairLabel { different = 0, same = 1 };
//
// `same` means both inputs show the same class (the same writer, person, digit); `different`
// means they do not. Every pair loss, sampler and metric takes PairLabel (or its 0/1 value
// through to_target()), so "is 1 similar or dissimilar?" has one answer everywhere:
//   * BCEWithLogitsLoss on a similarity logit: target 1 = same (high logit = same).
//   * ContrastiveLoss on a distance: `same` pairs are pulled together, `different` pushed
//     beyond the margin.
//   * Metrics score pairs with "higher score = more likely same"; pass a negated distance
//     (or use the *_distance functions) when the score is a distance.
// The Keras contrastive tutorial labels matching pairs 1 but its loss treats label 1 as
// the "push apart" side; examples/mnist_contrastive shows how to reproduce it explicitly.
#include <cstdint>
#include <span>
#include <vector>

namespace twin {

enum class PairLabel : std::uint8_t { different = 0, same = 1 };

// 0 for different, 1 for same, as a float/double target (BCE) or int.
template <class T = float>
constexpr T to_target(PairLabel l) {
  return l == PairLabel::same ? T(1) : T(0);
}
constexpr PairLabel pair_label(bool same) { return same ? PairLabel::same : PairLabel::different; }
constexpr bool is_same(PairLabel l) { return l == PairLabel::same; }

}  // namespace twin
