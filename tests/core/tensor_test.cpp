#include "lowbit/core/tensor.hpp"

#include <gtest/gtest.h>

#include <cstdint>

#include "lowbit/core/error.hpp"

namespace lowbit {
namespace {

TEST(Tensor, ShapeSizeAndAlignment) {
  Tensor t({2, 3, 5});
  EXPECT_EQ(t.size(), 30);
  EXPECT_EQ(t.rank(), 3);
  EXPECT_EQ(t.dim(-1), 5);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % kTensorAlignment, 0u);
  EXPECT_EQ(shape_str(t.shape()), "[2, 3, 5]");
}

TEST(Tensor, CopyIsDeepAndResizeKeepsCapacity) {
  Tensor a({4}, {1, 2, 3, 4});
  Tensor b = a;
  b[0] = 9;
  EXPECT_EQ(a[0], 1);
  const float* before = a.data();
  a.resize({2});
  EXPECT_EQ(a.data(), before);  // shrinking reuses the allocation
  EXPECT_EQ(a.size(), 2);
}

TEST(Tensor, ReshapeChecksCount) {
  Tensor t({2, 6});
  t.reshape({3, 4});
  EXPECT_EQ(t.shape(), (Shape{3, 4}));
  EXPECT_THROW(t.reshape({5}), Error);
  EXPECT_THROW(Tensor({2}, {1.f, 2.f, 3.f}), Error);
  EXPECT_THROW(Tensor(Shape{-1}), Error);
}

TEST(Tensor, EmptyShapes) {
  Tensor t({0, 5});
  EXPECT_EQ(t.size(), 0);
  Tensor u = t;
  EXPECT_TRUE(u.empty());
}

}  // namespace
}  // namespace lowbit
