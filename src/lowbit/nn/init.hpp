// Weight initialisers. Spec strings: glorot_uniform, glorot_normal, he_uniform,
// he_normal, uniform:A (U(-A, A)), normal:S (N(0, S^2)), zeros, ones.
// Glorot & Bengio 2010: limit sqrt(6 / (fan_in + fan_out)); He et al. 2015: sqrt(6 / fan_in).
#pragma once
#include <string>

#include "lowbit/core/rng.hpp"
#include "lowbit/core/tensor.hpp"

namespace lowbit::nn {

struct Init {
  enum class Kind { GlorotUniform, GlorotNormal, HeUniform, HeNormal, Uniform, Normal, Constant };
  Kind kind = Kind::GlorotUniform;
  float arg = 0.f;  // A for uniform, sigma for normal, value for constant

  static Init parse(const std::string& spec);  // throws listing valid choices
  std::string str() const;
};

void init_tensor(Tensor& t, const Init& init, int64_t fan_in, int64_t fan_out, Rng& rng);

}  // namespace lowbit::nn
