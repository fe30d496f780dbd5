#include <doctest/doctest.h>

#include <twin/twin.hpp>

namespace test_tensor {  // file-local: the test files are compiled as unity batches

using namespace twin;

TEST_CASE("Tensor: shape, strides, alignment, indexing") {
  Tensor<float, 4> t(Shape{2, 3, 4, 5});
  CHECK(t.size() == 120);
  CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
  auto v = t.view();
  CHECK(v.stride(0) == 60);
  CHECK(v.stride(1) == 20);
  CHECK(v.stride(2) == 5);
  CHECK(v.stride(3) == 1);
  for (Index i = 0; i < t.size(); ++i) t[i] = static_cast<float>(i);
  CHECK(t(1, 2, 3, 4) == 119.0f);
  CHECK(t(1, 0, 0, 0) == 60.0f);
  CHECK(v(0, 1, 2, 3) == 33.0f);
}

TEST_CASE("Tensor: wrong rank or shape is a shape_error that names both") {
  CHECK_THROWS_AS((Tensor<float, 2>(Shape{1, 2, 3})), shape_error);
  Tensor<float> dyn(Shape{2, 3});
  CHECK_THROWS_AS((TensorView<float, 4>(dyn.view())), shape_error);
  CHECK_THROWS_WITH_AS(require_shape(Shape{2, 3}, Shape{2, 4}, "loss"), "loss: expected shape (2, 4), got (2, 3)",
                       shape_error);
  CHECK_THROWS_AS(dyn.view().reshape(Shape{7}), shape_error);
  CHECK_THROWS_AS(dyn.view().slice(1, 2), shape_error);
  static_assert(std::is_base_of_v<error, shape_error>);
  static_assert(std::is_base_of_v<std::runtime_error, error>);
}

TEST_CASE("TensorView: slices and reshapes share memory") {
  Tensor<double> t(Shape{4, 3}, 0.0);
  auto s = t.view().slice(1, 2);
  CHECK(s.shape() == Shape{2, 3});
  s(0, 0) = 7.0;
  CHECK(t(1, 0) == 7.0);
  auto r = t.view().reshape<2>(Shape{2, 6});
  CHECK(r(0, 3) == 7.0);
  TensorView<const double> c = t;  // const conversion
  CHECK(c(1, 0) == 7.0);
}

TEST_CASE("Tensor: Eigen maps are zero-copy") {
  Tensor<float, 2> t(Shape{2, 3});
  auto m = t.matrix();
  CHECK(m.data() == t.data());
  m << 1, 2, 3, 4, 5, 6;
  CHECK(t(1, 0) == 4.0f);
  CHECK(t.vec().sum() == doctest::Approx(21.0));
  Tensor<float> im(Shape{2, 1, 2, 2});
  CHECK(im.matrix().rows() == 2);
  CHECK(im.matrix().cols() == 4);
}

TEST_CASE("Tensor: resize reuses its allocation when the new shape fits") {
  Tensor<float> t(Shape{8, 8});
  const float* p = t.data();
  t.resize(Shape{4, 8});
  CHECK(t.data() == p);
  t.resize(Shape{8, 8});
  CHECK(t.data() == p);
  Tensor<float> copy = t;
  CHECK(copy.data() != t.data());
  CHECK(copy.shape() == t.shape());
}

TEST_CASE("Shape helpers") {
  Shape s{5, 3, 2};
  CHECK(s.numel() == 30);
  CHECK(s.sample_size() == 6);
  CHECK(s.with_batch(1) == Shape{1, 3, 2});
  CHECK(s.str() == "(5, 3, 2)");
  CHECK_THROWS_AS((Shape{1, 2, 3, 4, 5, 6, 7}), shape_error);
  CHECK_THROWS_AS((Shape{-1}), shape_error);
}

}  // namespace test_tensor
