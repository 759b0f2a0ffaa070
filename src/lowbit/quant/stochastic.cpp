#include "lowbit/quant/stochastic.hpp"

namespace lowbit::quant {

void stochastic_binary_forward(const float* x, float* y, int64_t n, Rng& rng) {
  for (int64_t i = 0; i < n; ++i) y[i] = rng.uniform() < hard_sigmoid(x[i]) ? 1.f : -1.f;
}

}  // namespace lowbit::quant
