// Helpers shared by the optimizer tests: parameters with given values and gradients.
#pragma once
#include <cstring>
#include <initializer_list>
#include <string>

#include "lowbit/nn/layer.hpp"

namespace lowbit::testing {

inline nn::Param make_param(std::initializer_list<float> value, std::initializer_list<float> grad,
                            std::string name = "p") {
  nn::Param p;
  p.name = std::move(name);
  const int64_t n = static_cast<int64_t>(value.size());
  p.value = Tensor({n}, value);
  p.grad = Tensor({n}, grad);
  return p;
}

inline bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<size_t>(a.size())) == 0;
}

}  // namespace lowbit::testing
