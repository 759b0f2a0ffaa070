#include "lowbit/nn/dense.hpp"

#include <gtest/gtest.h>

#include "lowbit/core/error.hpp"
#include "nn/gradcheck.hpp"
#include "test_util.hpp"

namespace lowbit {
namespace {

TEST(Dense, ForwardMatchesHandComputed) {
  nn::Dense d(3, 2, true);
  d.weight().value = Tensor({2, 3}, {1, 2, 3, -1, 0, 1});
  d.bias()->value = Tensor({2}, {0.5f, -0.5f});
  Tensor x({1, 3}, {1, 1, 2}), y;
  d.forward(x, y, {});
  EXPECT_EQ(y.shape(), (Shape{1, 2}));
  EXPECT_FLOAT_EQ(y[0], 9.5f);
  EXPECT_FLOAT_EQ(y[1], 0.5f);
}

TEST(Dense, GradientsMatchFiniteDifferences) {
  for (auto [n, in, out, bias] : {std::tuple{1, 1, 1, true}, {3, 7, 5, true}, {4, 65, 3, false}, {2, 13, 17, true}}) {
    SCOPED_TRACE(::testing::Message() << n << "x" << in << "->" << out);
    nn::Dense d(in, out, bias);
    Rng rng(3);
    d.init(rng);
    if (bias) d.bias()->value = lowbit::testing::random_tensor({out}, 9);
    lowbit::testing::check_gradients(d, lowbit::testing::random_tensor({n, in}, 5));
  }
}

TEST(Dense, AcceptsImageShapedInputAsFlattened) {
  nn::Dense d(12, 4);
  EXPECT_EQ(d.output_shape({3, 2, 2}), (Shape{4}));
  lowbit::testing::check_gradients(d, lowbit::testing::random_tensor({2, 3, 2, 2}, 1));
}

TEST(Dense, WrongInputSizeNamesTheLayer) {
  nn::Dense d(10, 4);
  d.set_name("dense_1");
  Tensor x({2, 9}), y;
  lowbit::testing::expect_error_naming([&] { d.forward(x, y, {}); }, "dense_1");
}

}  // namespace
}  // namespace lowbit
