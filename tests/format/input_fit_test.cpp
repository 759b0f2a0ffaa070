#include "lowbit/format/input_fit.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace lowbit {
namespace {

TEST(InputFit, ImageModelTakesItsChannelsAndUpToItsSize) {
  const std::vector<int64_t> cnv = {3, 32, 32};
  EXPECT_NO_THROW(format::check_images_fit(cnv, 3, 32, 32, "m"));
  EXPECT_NO_THROW(format::check_images_fit(cnv, 3, 28, 20, "m"));  // centre-padded
  testing::expect_error_naming([&] { format::check_images_fit(cnv, 1, 28, 28, "m.lbm"); },
                               "m.lbm: images of 1x28x28 (channels x height x width) do not fit the model input "
                               "3x32x32: 1 channels, the model takes 3");
  testing::expect_error_naming([&] { format::check_images_fit(cnv, 3, 33, 32, "m"); }, "height 33 exceeds the model's 32");
  testing::expect_error_naming([&] { format::check_images_fit(cnv, 3, 32, 40, "m"); }, "width 40 exceeds the model's 32");
  // Every mismatch at once, in one line.
  const std::string all = testing::error_of([&] { format::check_images_fit(cnv, 1, 40, 40, "m"); });
  EXPECT_NE(all.find("1 channels, the model takes 3; height 40 exceeds the model's 32; width 40 exceeds"),
            std::string::npos) << all;
  EXPECT_EQ(all.find('\n'), std::string::npos);
  testing::expect_error_naming([&] { format::check_images_fit(cnv, 3, 0, 32, "m"); }, "not a valid image size");
}

TEST(InputFit, FlatModelTakesItsValueCount) {
  const std::vector<int64_t> flat = {784};
  EXPECT_NO_THROW(format::check_images_fit(flat, 1, 28, 28, "m"));
  EXPECT_NO_THROW(format::check_images_fit(flat, 1, 1, 784, "m"));
  testing::expect_error_naming([&] { format::check_images_fit(flat, 3, 28, 28, "m"); },
                               "have 2352 values each, the model takes 784");
}

}  // namespace
}  // namespace lowbit
