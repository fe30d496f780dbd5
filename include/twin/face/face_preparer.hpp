#pragma once
// From a photo to the recognition net's input: what face verification does before the
// descriptor. Find the faces (face-api's tiny face detector, or the whole image as one face);
// align each (68 landmarks, dlib's 150 x 150 chip with padding 0.25) or pad its box to a
// square and resize it; normalise as the recognition net expects (recognition_input).
//
//   twin::face::FacePreparer prep(&detector, &landmarks, {.detect = true, .align = true});
//   prep.add(twin::io::load_image_rgb("photo.jpg"), "photo.jpg");     // its best face
//   const auto d = twin::embed_all(recognition, prep.inputs(), 16, ws);  // (faces, 128)
//   prep.faces()[0].box                                               // where it was
//
// Bad input is an error naming the image: no face found; only faces smaller than min_face
// pixels (a descriptor of a few dozen pixels upsampled to 150 is not worth comparing); several
// faces where exactly one is asked for (FaceCount::one, as enrolment wants). Grey images are
// replicated to RGB. The preparer owns its buffers and the nets' workspaces and reuses them
// from call to call (clear() keeps their capacity); one per thread.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "twin/error.hpp"
#include "twin/face/align.hpp"
#include "twin/face/detection.hpp"
#include "twin/face/landmark_net.hpp"
#include "twin/face/recognition_net.hpp"
#include "twin/face/square_resize.hpp"
#include "twin/face/tiny_face_detector.hpp"
#include "twin/graph.hpp"
#include "twin/tensor.hpp"

namespace twin::face {

enum class FaceCount {
  best,  // the best-scoring face of each image
  all,   // every face found
  one,   // exactly one face per image, else an error
};

struct FacePrepOptions {
  bool detect = false;  // find faces with the detector; false: the whole image is the face
  bool align = false;   // dlib's chip from the 68 landmarks; false: the box padded to a square
  FaceCount faces = FaceCount::best;
  Index min_face = 40;  // pixels: a face box's shorter side must reach this
  bool mirror = false;  // flip every input left-right (test-time augmentation, training)
  TinyFaceDetectorOptions detector{};
};

// One prepared face: input row i of inputs() is faces()[i].
struct PreparedFace {
  std::size_t image = 0;  // which add() call it came from, counting from 0 after clear()
  PixelRect box;          // in the image's pixels
  double score = 1;       // the detector's score (1 for a whole image)
  Index found = 1;        // faces of at least min_face pixels found in that image
};

// Seconds spent in each step since the last clear().
struct FacePrepTimes {
  double detect = 0, landmarks = 0, chip = 0;
};

template <class T = float>
class FacePreparer {
 public:
  // The nets may be null where the options do not need them; they must outlive the preparer.
  FacePreparer(const Graph<T>* detector, const Graph<T>* landmarks, const FacePrepOptions& o = {})
      : detector_(detector), landmarks_(landmarks), o_(o) {
    if (o.detect && !detector) throw error("FacePreparer: detect is set but no detector net was given");
    if (o.align && !landmarks) throw error("FacePreparer: align is set but no landmark net was given");
    if (o.min_face < 1) throw error(twin::detail::concat("FacePreparer: min_face must be >= 1 pixel, got ", o.min_face));
    if (o.detect) check_detector_options(o.detector);
    landmark_ws_.set_forward_only(true);
  }

  const FacePrepOptions& options() const { return o_; }

  // Forgets the faces added so far; every buffer keeps its capacity.
  void clear() {
    faces_.clear();
    images_ = 0;
    times_ = {};
  }

  // Adds the faces of an h x w x channels image (channels 1: grey, 3: interleaved RGB) and
  // returns how many; `name` (a file name) is what errors speak of.
  Index add(const std::uint8_t* pixels, Index h, Index w, Index channels, const std::string& name) {
    if (h <= 0 || w <= 0 || (channels != 1 && channels != 3))
      throw shape_error(twin::detail::concat(name, ": expected an H x W x 1 or 3 image, got ", h, " x ", w, " x ", channels));
    const std::size_t image = images_++;
    const std::size_t first = faces_.size();
    candidates_.clear();
    if (o_.detect) {
      const auto t0 = Clock::now();
      for (const Box& b : detect_faces(*detector_, detector_ws_, pixels, h, w, channels, o_.detector)) {
        const PixelRect r = pixel_rect(b, h, w);
        if (!r.empty()) candidates_.push_back({image, r, b.score, 0});
      }
      times_.detect += seconds_since(t0);
    } else {
      candidates_.push_back({image, PixelRect{0, 0, w, h}, 1.0, 0});
    }
    select(name);
    for (std::size_t i = first; i < faces_.size(); ++i) prepare(pixels, h, w, channels, i);
    return static_cast<Index>(faces_.size() - first);
  }
  // A decoded image: Tensor<std::uint8_t, 2> (H, W) grey or Tensor<std::uint8_t, 3> (H, W, 3).
  template <int Rank>
  Index add(const Tensor<std::uint8_t, Rank>& img, const std::string& name) {
    if (img.rank() != 2 && !(img.rank() == 3 && (img.dim(2) == 1 || img.dim(2) == 3)))
      throw shape_error(name + ": expected an image (H, W) or (H, W, 3), got " + img.shape().str());
    return add(img.data(), img.dim(0), img.dim(1), img.rank() == 2 ? 1 : img.dim(2), name);
  }

  // (faces, 3, 150, 150): the recognition net's input, row i for faces()[i].
  TensorView<const T> inputs() const {
    return TensorView<const T>(inputs_.data(), Shape{static_cast<Index>(faces_.size()), 3, side, side});
  }
  std::span<const PreparedFace> faces() const { return faces_; }
  const FacePrepTimes& times() const { return times_; }

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr Index side = recognition_side;
  static double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

  // Keeps the candidates of at least min_face pixels that the options ask for (best first, as
  // the detector sorts them), or throws naming the image.
  void select(const std::string& name) {
    Index largest = 0;
    std::size_t kept = 0;
    for (const auto& c : candidates_) {
      largest = std::max(largest, std::min(c.box.w, c.box.h));
      if (std::min(c.box.w, c.box.h) >= o_.min_face) candidates_[kept++] = c;
    }
    const Index found = static_cast<Index>(kept);
    if (found == 0) {
      if (candidates_.empty())
        throw error(twin::detail::concat("no face found in ", name, " (tiny face detector, input ", o_.detector.input_size,
                                   ", score > ", o_.detector.score_threshold,
                                   "; try another detector input size or a lower score threshold)"));
      throw error(twin::detail::concat(o_.detect ? "the face found in " : "the image ", name, " is too small for a face descriptor: ",
                                 largest, " pixels on its shorter side, below the minimum face size of ", o_.min_face,
                                 " (use a larger image, or a lower minimum face size at your own risk)"));
    }
    if (o_.faces == FaceCount::one && found > 1)
      throw error(twin::detail::concat(found, " faces found in ", name,
                                 "; one face per image is needed here (crop the image to the face)"));
    if (o_.faces != FaceCount::all) kept = 1;
    for (std::size_t i = 0; i < kept; ++i) {
      faces_.push_back(candidates_[i]);
      faces_.back().found = found;
    }
  }

  // Writes the input of faces_[i], cut from the image.
  void prepare(const std::uint8_t* pixels, Index h, Index w, Index channels, std::size_t i) {
    const PixelRect& r = faces_[i].box;
    const bool whole = r.x == 0 && r.y == 0 && r.w == w && r.h == h;
    if (!whole) crop_ = crop(pixels, h, w, channels, r);
    const std::uint8_t* face = whole ? pixels : crop_.data();
    if (o_.align) {
      auto t0 = Clock::now();
      Landmarks68 lm = detect_landmarks(*landmarks_, landmark_ws_, face, r.h, r.w, channels);
      times_.landmarks += seconds_since(t0);
      t0 = Clock::now();
      for (auto& p : lm) p = {p.x + double(r.x), p.y + double(r.y)};
      rgb_ = extract_chip(pixels, h, w, channels, face_chip_transform(lm, side, 0.25), side);
      finish(i);
      times_.chip += seconds_since(t0);
    } else {
      const auto t0 = Clock::now();
      square_resize_into(face, r.h, r.w, channels, side, SquarePad::centre, rgb_);
      finish(i);
      times_.chip += seconds_since(t0);
    }
  }

  // rgb_ (side, side, 3), mirrored if asked, normalised into input row i.
  void finish(std::size_t i) {
    if (o_.mirror)
      for (Index y = 0; y < side; ++y)
        for (Index a = 0, b = side - 1; a < b; ++a, --b)
          for (Index k = 0; k < 3; ++k)
            std::swap(rgb_[static_cast<std::size_t>((y * side + a) * 3 + k)], rgb_[static_cast<std::size_t>((y * side + b) * 3 + k)]);
    const Index rows = static_cast<Index>(i) + 1, per = 3 * side * side;
    if (rows > inputs_.capacity() / per) {  // grow by doubling, keeping the rows written
      Tensor<T> bigger(Shape{std::max<Index>(2 * rows, 4) * per});
      std::copy(inputs_.data(), inputs_.data() + static_cast<Index>(i) * per, bigger.data());
      inputs_ = std::move(bigger);
    }
    inputs_.resize(Shape{rows, 3, side, side});
    recognition_input(rgb_.data(), side, inputs_.view(), static_cast<Index>(i));
  }

  const Graph<T>* detector_;
  const Graph<T>* landmarks_;
  FacePrepOptions o_;
  FaceDetectorWorkspace<T> detector_ws_;
  Workspace<T> landmark_ws_;
  std::vector<PreparedFace> candidates_, faces_;
  std::vector<std::uint8_t> crop_;
  std::vector<float> rgb_;  // (side, side, 3)
  Tensor<T> inputs_{Shape{0}};
  std::size_t images_ = 0;
  FacePrepTimes times_;
};

}  // namespace twin::face
