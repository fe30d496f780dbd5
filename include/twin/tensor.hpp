#pragma once
// Tensor<T, Rank> and TensorView<T, Rank>: contiguous, row-major, 64-byte-aligned storage
// with a shape, strides, cheap non-owning views and zero-copy Eigen::Map interop.
//
// Rank is either a fixed number (checked whenever a tensor is made or converted) or
// `dynamic_rank`, which layers use so that a Sequential can chain a 4-d convolution into a
// 2-d dense layer at run time. Both share one implementation; a fixed Rank only adds checks
// and the arity of operator().
//
// Images are NCHW: (batch, channels, height, width). Dense activations are (batch, features).
#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <type_traits>

#include "twin/error.hpp"

namespace twin {

using Index = std::ptrdiff_t;
inline constexpr int dynamic_rank = -1;
inline constexpr int max_rank = 6;
inline constexpr std::size_t tensor_alignment = 64;

// A runtime shape of at most max_rank dimensions.
class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<Index> dims) {
    if (dims.size() > max_rank) throw shape_error(detail::concat("Shape: rank ", dims.size(), " exceeds max_rank ", max_rank));
    for (Index d : dims) push_back(d);
  }
  template <std::size_t N>
  explicit Shape(const std::array<Index, N>& dims) {
    static_assert(N <= max_rank);
    for (Index d : dims) push_back(d);
  }

  int rank() const { return rank_; }
  Index operator[](int i) const { return dims_[static_cast<std::size_t>(i)]; }
  Index& operator[](int i) { return dims_[static_cast<std::size_t>(i)]; }
  const Index* begin() const { return dims_.data(); }
  const Index* end() const { return dims_.data() + rank_; }

  void push_back(Index d) {
    if (rank_ == max_rank) throw shape_error("Shape: too many dimensions");
    if (d < 0) throw shape_error(detail::concat("Shape: negative dimension ", d));
    dims_[static_cast<std::size_t>(rank_++)] = d;
  }
  Index numel() const {
    Index n = 1;
    for (Index d : *this) n *= d;
    return n;
  }
  // Product of all dimensions but the first: the size of one sample of a batch.
  Index sample_size() const {
    Index n = 1;
    for (int i = 1; i < rank_; ++i) n *= dims_[static_cast<std::size_t>(i)];
    return n;
  }
  // The same shape with the first (batch) dimension replaced.
  Shape with_batch(Index n) const {
    Shape s = *this;
    if (s.rank_ == 0) throw shape_error("Shape::with_batch on a rank-0 shape");
    s.dims_[0] = n;
    return s;
  }

  friend bool operator==(const Shape& a, const Shape& b) {
    return a.rank_ == b.rank_ && std::equal(a.begin(), a.end(), b.begin());
  }
  std::string str() const {
    std::string s = "(";
    for (int i = 0; i < rank_; ++i) s += (i ? ", " : "") + std::to_string(dims_[static_cast<std::size_t>(i)]);
    return s + ")";
  }

 private:
  std::array<Index, max_rank> dims_{};
  int rank_ = 0;
};

inline std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.str(); }

namespace detail {
inline void check_rank(int want, const Shape& s, const char* what) {
  if (want != dynamic_rank && s.rank() != want)
    throw shape_error(concat(what, ": expected rank ", want, ", got shape ", s.str()));
}

// 64-byte aligned, uninitialised storage for trivially copyable T.
template <class T>
struct AlignedDelete {
  void operator()(T* p) const { ::operator delete[](p, std::align_val_t{tensor_alignment}); }
};
template <class T>
std::unique_ptr<T[], AlignedDelete<T>> aligned_alloc_array(Index n) {
  static_assert(std::is_trivially_copyable_v<T>);
  if (n == 0) return nullptr;
  auto* p = static_cast<T*>(::operator new[](static_cast<std::size_t>(n) * sizeof(T), std::align_val_t{tensor_alignment}));
  return std::unique_ptr<T[], AlignedDelete<T>>(p);
}
}  // namespace detail

template <class T, int Rank = dynamic_rank>
class TensorView {
 public:
  using value_type = std::remove_const_t<T>;
  using RowMajorMatrix = Eigen::Matrix<value_type, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using MatrixMap = Eigen::Map<std::conditional_t<std::is_const_v<T>, const RowMajorMatrix, RowMajorMatrix>>;
  using VectorMap = Eigen::Map<std::conditional_t<std::is_const_v<T>, const Eigen::Matrix<value_type, Eigen::Dynamic, 1>,
                                                  Eigen::Matrix<value_type, Eigen::Dynamic, 1>>>;

  TensorView() = default;
  TensorView(T* data, const Shape& shape) : data_(data), shape_(shape) {
    detail::check_rank(Rank, shape, "TensorView");
    Index s = 1;
    for (int i = shape.rank() - 1; i >= 0; --i) {
      strides_[static_cast<std::size_t>(i)] = s;
      s *= shape[i];
    }
  }
  // Views of other constness or rank convert when the rank matches (checked at run time
  // when one side is dynamic).
  template <class U, int R2>
    requires(std::is_convertible_v<U*, T*> && (Rank == dynamic_rank || R2 == dynamic_rank || R2 == Rank))
  TensorView(const TensorView<U, R2>& o) : TensorView(o.data(), o.shape()) {}

  T* data() const { return data_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  Index dim(int i) const { return shape_[i]; }
  Index stride(int i) const { return strides_[static_cast<std::size_t>(i)]; }
  Index size() const { return shape_.numel(); }
  bool empty() const { return size() == 0; }
  std::span<T> span() const { return {data_, static_cast<std::size_t>(size())}; }
  T* begin() const { return data_; }
  T* end() const { return data_ + size(); }

  template <class... I>
  T& operator()(I... i) const {
    static_assert(Rank == dynamic_rank || sizeof...(I) == static_cast<std::size_t>(Rank), "wrong number of indices");
    Index off = 0;
    int k = 0;
    ((off += static_cast<Index>(i) * strides_[static_cast<std::size_t>(k++)]), ...);
    return data_[off];
  }
  T& operator[](Index i) const { return data_[i]; }

  // Samples [begin, begin + count) of the batch (first) dimension; still contiguous.
  TensorView slice(Index begin, Index count) const {
    if (begin < 0 || count < 0 || begin + count > shape_[0])
      throw shape_error(detail::concat("TensorView::slice [", begin, ", ", begin + count, ") of shape ", shape_.str()));
    return TensorView(data_ + begin * strides_[0], shape_.with_batch(count));
  }
  // The same elements under another shape of the same size.
  template <int R2 = dynamic_rank>
  TensorView<T, R2> reshape(const Shape& s) const {
    if (s.numel() != size()) throw shape_error(detail::concat("reshape ", shape_.str(), " -> ", s.str(), ": sizes differ"));
    return TensorView<T, R2>(data_, s);
  }

  // Zero-copy Eigen views: as a (dim0, rest) row-major matrix, or as one flat vector.
  MatrixMap matrix() const {
    const Index rows = rank() == 0 ? 1 : shape_[0];
    return MatrixMap(data_, rows, rows == 0 ? 0 : size() / rows);
  }
  MatrixMap matrix(Index rows, Index cols) const {
    if (rows * cols != size()) throw shape_error(detail::concat("matrix(", rows, ", ", cols, ") of shape ", shape_.str()));
    return MatrixMap(data_, rows, cols);
  }
  VectorMap vec() const { return VectorMap(data_, size()); }

 private:
  T* data_ = nullptr;
  Shape shape_;
  std::array<Index, max_rank> strides_{};
};

template <class T, int Rank = dynamic_rank>
class Tensor {
 public:
  using value_type = T;
  Tensor() = default;
  explicit Tensor(const Shape& shape) { resize(shape); }
  Tensor(const Shape& shape, T fill) : Tensor(shape) { std::fill(begin(), end(), fill); }
  Tensor(const Tensor& o) : Tensor(o.shape()) { std::copy(o.begin(), o.end(), begin()); }
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(const Tensor& o) {
    if (this != &o) {
      resize(o.shape());
      std::copy(o.begin(), o.end(), begin());
    }
    return *this;
  }
  Tensor& operator=(Tensor&&) noexcept = default;
  // A deep copy of any view with a compatible rank.
  template <class U, int R2>
  static Tensor from(const TensorView<U, R2>& v) {
    Tensor t(v.shape());
    std::copy(v.begin(), v.end(), t.begin());
    return t;
  }

  // Reuses the allocation when the new shape fits in it, so a workspace resized to the
  // same or a smaller shape every step never touches fresh memory. Contents are undefined.
  void resize(const Shape& shape) {
    detail::check_rank(Rank, shape, "Tensor");
    const Index n = shape.numel();
    if (n > capacity_) {
      data_ = detail::aligned_alloc_array<T>(n);
      capacity_ = n;
    }
    shape_ = shape;
  }
  void fill(T v) { std::fill(begin(), end(), v); }
  void zero() { fill(T(0)); }

  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  Index dim(int i) const { return shape_[i]; }
  Index size() const { return shape_.numel(); }
  Index capacity() const { return capacity_; }
  bool empty() const { return size() == 0; }
  T* begin() { return data(); }
  T* end() { return data() + size(); }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size(); }
  std::span<T> span() { return {data(), static_cast<std::size_t>(size())}; }
  std::span<const T> span() const { return {data(), static_cast<std::size_t>(size())}; }

  TensorView<T, Rank> view() { return TensorView<T, Rank>(data(), shape_); }
  TensorView<const T, Rank> view() const { return TensorView<const T, Rank>(data(), shape_); }
  operator TensorView<T, Rank>() { return view(); }
  operator TensorView<const T, Rank>() const { return view(); }
  template <int R2>
    requires(R2 != Rank && (R2 == dynamic_rank || Rank == dynamic_rank))
  operator TensorView<T, R2>() { return view(); }
  template <int R2>
    requires(R2 != Rank && (R2 == dynamic_rank || Rank == dynamic_rank))
  operator TensorView<const T, R2>() const { return view(); }

  template <class... I>
  T& operator()(I... i) { return view()(i...); }
  template <class... I>
  const T& operator()(I... i) const { return view()(i...); }
  T& operator[](Index i) { return data_[i]; }
  const T& operator[](Index i) const { return data_[i]; }

  auto matrix() { return view().matrix(); }
  auto matrix() const { return view().matrix(); }
  auto vec() { return view().vec(); }
  auto vec() const { return view().vec(); }

 private:
  std::unique_ptr<T[], detail::AlignedDelete<T>> data_;
  Index capacity_ = 0;
  Shape shape_;
};

// Throws shape_error naming `what` unless `got` equals `want`.
inline void require_shape(const Shape& got, const Shape& want, const char* what) {
  if (!(got == want)) throw shape_error(detail::concat(what, ": expected shape ", want.str(), ", got ", got.str()));
}

}  // namespace twin
