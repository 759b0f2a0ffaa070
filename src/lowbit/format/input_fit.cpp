#include "lowbit/format/input_fit.hpp"

#include "lowbit/core/error.hpp"

namespace lowbit::format {

void check_images_fit(const std::vector<int64_t>& model_input, int64_t channels, int64_t height, int64_t width,
                      const std::string& what) {
  const std::string images = cat(what, ": images of ", channels, "x", height, "x", width, " (channels x height x width)");
  LOWBIT_CHECK(channels >= 1 && height >= 1 && width >= 1 && channels <= (1 << 16) && height <= (1 << 16) &&
                   width <= (1 << 16),
               images, " are not a valid image size");
  if (model_input.size() == 1) {
    const int64_t values = channels * height * width;
    LOWBIT_CHECK(values == model_input[0], images, " have ", values, " values each, the model takes ", model_input[0]);
    return;
  }
  LOWBIT_CHECK(model_input.size() == 3, what, ": the model input has ", model_input.size(),
               " dimensions (expected [C, H, W] or [features])");
  const int64_t C = model_input[0], H = model_input[1], W = model_input[2];
  std::string why;
  if (channels != C) why += cat("; ", channels, " channels, the model takes ", C);
  if (height > H) why += cat("; height ", height, " exceeds the model's ", H);
  if (width > W) why += cat("; width ", width, " exceeds the model's ", W);
  LOWBIT_CHECK(why.empty(), images, " do not fit the model input ", C, "x", H, "x", W, ": ", why.substr(2),
               " (smaller images are centre-padded; nothing is cropped)");
}

}  // namespace lowbit::format
