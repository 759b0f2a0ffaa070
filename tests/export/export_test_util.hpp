// Helpers of the export tests: trained-looking random models and the batches training
// evaluates, shared by export_runtime_test.cpp and export_residual_test.cpp.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "lowbit/core/rng.hpp"
#include "lowbit/data/batch.hpp"
#include "lowbit/nn/batchnorm.hpp"
#include "lowbit/nn/model.hpp"

namespace lowbit::testing {

// Running statistics on the scale of each layer's output, gammas of both signs and some 0.
inline void randomize_batchnorms(nn::Model& m, uint64_t seed) {
  Rng rng(seed);
  const Shape in = m.input_shape();
  double spread = std::sqrt(static_cast<double>(shape_numel(in)));
  for (nn::Layer* l : m.leaf_layers()) {
    if (auto* d = dynamic_cast<nn::WeightedLayer*>(l)) spread = std::sqrt(static_cast<double>(d->fan_in())) * 0.5;
    auto* bn = dynamic_cast<nn::BatchNorm*>(l);
    if (!bn) continue;
    for (int64_t c = 0; c < bn->channels(); ++c) {
      bn->running_mean()[c] = static_cast<float>(rng.uniform(-1.f, 1.f) * spread);
      bn->running_var()[c] = static_cast<float>(spread * spread * rng.uniform(0.2f, 2.f));
      const float g = rng.uniform(-1.5f, 1.5f);
      bn->gamma()->value[c] = c % 7 == 3 ? 0.f : g;
      bn->beta()->value[c] = rng.uniform(-0.5f, 0.5f);
    }
  }
}

// One training-mode forward on random inputs: what training leaves behind in quantizers with
// running state (the activation ranges of int:k), so evaluation is a fixed function.
inline void calibrate(nn::Model& m, uint64_t seed) {
  Shape batch = {8};
  batch.insert(batch.end(), m.input_shape().begin(), m.input_shape().end());
  Tensor x(batch);
  Rng rng(seed);
  for (float& v : x) v = rng.uniform(0.f, 1.f);
  m.forward(x, Context{true, &rng});
}

inline std::vector<uint8_t> random_images(int64_t n, int64_t size, uint64_t seed) {
  Rng rng(seed);
  std::vector<uint8_t> v(static_cast<size_t>(n * size));
  for (auto& p : v) p = static_cast<uint8_t>(rng.below(256));
  return v;
}

// The batch training evaluates: pixels normalized, centre-padded with pixel 0.
inline Tensor training_batch(const std::vector<uint8_t>& images, int64_t n, const Shape& image, const Shape& input,
                      data::Normalize norm) {
  Tensor x({n, input[0], input[1], input[2]});
  const int64_t top = (input[1] - image[1]) / 2, left = (input[2] - image[2]) / 2;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < input[0]; ++c)
      for (int64_t y = 0; y < input[1]; ++y)
        for (int64_t xx = 0; xx < input[2]; ++xx) {
          const int64_t sy = y - top, sx = xx - left;
          const bool in = sy >= 0 && sy < image[1] && sx >= 0 && sx < image[2];
          const uint8_t p = in ? images[static_cast<size_t>(((i * image[0] + c) * image[1] + sy) * image[2] + sx)] : 0;
          x[((i * input[0] + c) * input[1] + y) * input[2] + xx] = data::normalize_pixel(p, norm);
        }
  return x;
}

}  // namespace lowbit::testing
