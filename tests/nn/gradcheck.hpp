// Shared finite-difference gradient check for layers (in the spirit of Caffe's
// GradientChecker). The scalar loss is L = sum(y * r) for a fixed random r, so
// dL/dy = r; we compare the layer's analytic dx and parameter gradients with central
// differences (L(v + eps) - L(v - eps)) / (2 eps), summing L in double.
//
// Non-smooth layers (ReLU, max pool, clipping) are checked at inputs away from their
// kinks: the test chooses such inputs, or passes `skip` to leave out elements that lie
// within eps of a kink.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "lowbit/nn/layer.hpp"

namespace lowbit::testing {

struct GradCheckOptions {
  float eps = 1e-2f;
  double rtol = 2e-2;
  double atol = 2e-3;
  bool training = true;
  bool check_input = true;
  uint64_t seed = 7;
  int64_t max_elements = 400;  // per tensor; larger tensors are sampled evenly
};

inline Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  Tensor t(shape);
  Rng rng(seed);
  for (float& v : t) v = rng.uniform(lo, hi);
  return t;
}

namespace detail {
inline double loss_of(nn::Layer& layer, const Tensor& x, const Tensor& r, const GradCheckOptions& o) {
  Tensor y;
  Rng rng(o.seed ^ 0xABCDEFull);  // same randomness (dropout mask) on every evaluation
  nn::Context ctx{o.training, &rng};
  layer.forward(x, y, ctx);
  double l = 0;
  for (int64_t i = 0; i < y.size(); ++i) l += static_cast<double>(y[i]) * r[i];
  return l;
}

inline void compare(const char* what, int64_t index, double numeric, double analytic, const GradCheckOptions& o,
                    int& failures) {
  double tol = o.atol + o.rtol * std::max(std::abs(numeric), std::abs(analytic));
  if (std::abs(numeric - analytic) > tol && failures < 10) {
    ADD_FAILURE() << what << "[" << index << "]: numeric " << numeric << " vs analytic " << analytic;
    ++failures;
  }
}
}  // namespace detail

// skip(x_value) -> true leaves that input element out (near a kink).
inline void check_gradients(nn::Layer& layer, Tensor x, const GradCheckOptions& o = {},
                            const std::function<bool(int64_t)>& skip_input = nullptr) {
  Tensor y;
  Rng rng(o.seed ^ 0xABCDEFull);
  nn::Context ctx{o.training, &rng};
  layer.forward(x, y, ctx);
  Tensor r = random_tensor(y.shape(), o.seed + 1);
  Tensor dx;
  layer.backward(x, y, r, o.check_input ? &dx : nullptr);
  std::vector<Tensor> analytic;
  for (nn::Param* p : layer.params()) analytic.push_back(p->grad);

  int failures = 0;
  // Central differences of L with respect to every sampled element of v.
  auto check_tensor = [&](Tensor& v, const Tensor& analytic, const char* what,
                          const std::function<bool(int64_t)>& skip) {
    const int64_t step = std::max<int64_t>(1, v.size() / o.max_elements);
    for (int64_t i = 0; i < v.size(); i += step) {
      if (skip && skip(i)) continue;
      float keep = v[i];
      v[i] = keep + o.eps;
      double lp = detail::loss_of(layer, x, r, o);
      v[i] = keep - o.eps;
      double lm = detail::loss_of(layer, x, r, o);
      v[i] = keep;
      detail::compare(what, i, (lp - lm) / (2.0 * o.eps), analytic[i], o, failures);
    }
  };
  if (o.check_input) {
    ASSERT_EQ(dx.shape(), x.shape()) << "dx shape";
    check_tensor(x, dx, "dx", skip_input);
  }
  auto params = layer.params();
  for (size_t p = 0; p < params.size(); ++p) check_tensor(params[p]->value, analytic[p], params[p]->name.c_str(), nullptr);
}

}  // namespace lowbit::testing
