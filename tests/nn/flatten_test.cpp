#include "lowbit/nn/flatten.hpp"

#include <gtest/gtest.h>

#include "lowbit/core/error.hpp"
#include "nn/gradcheck.hpp"

namespace lowbit {
namespace {

TEST(Flatten, ShapesAndValues) {
  nn::Flatten f;
  EXPECT_EQ(f.output_shape({3, 4, 5}), (Shape{60}));
  EXPECT_EQ(f.output_shape({7}), (Shape{7}));
  Tensor x = lowbit::testing::random_tensor({2, 3, 4, 5}, 1), y, dx;
  f.forward(x, y, {});
  EXPECT_EQ(y.shape(), (Shape{2, 60}));
  for (int64_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], x[i]);
  Tensor dy = lowbit::testing::random_tensor(y.shape(), 2);
  f.backward(x, y, dy, &dx);
  EXPECT_EQ(dx.shape(), x.shape());
  for (int64_t i = 0; i < x.size(); ++i) EXPECT_EQ(dx[i], dy[i]);
  EXPECT_EQ(f.spec(), (nn::json{{"type", "flatten"}}));
}

TEST(Flatten, Gradients) {
  nn::Flatten f;
  lowbit::testing::check_gradients(f, lowbit::testing::random_tensor({3, 2, 3, 1}, 3));
  lowbit::testing::check_gradients(f, lowbit::testing::random_tensor({1, 5}, 4));
}

TEST(Flatten, BadGradientShapeNamesTheLayer) {
  nn::Flatten f;
  f.set_name("flat_0");
  Tensor x({2, 3, 2}, 0.f), y, dx;
  f.forward(x, y, {});
  try {
    f.backward(x, y, Tensor({2, 5}, 0.f), &dx);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("flat_0"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lowbit
