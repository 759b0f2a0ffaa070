// Low-precision activations and errors in containers (issue 16): in training, every leaf
// layer's output is rounded in forward and the error at it in backward; evaluation is
// untouched.
#include <gtest/gtest.h>

#include <cmath>

#include "lowbit/core/fp_env.hpp"
#include "lowbit/nn/builder.hpp"
#include "lowbit/quant/low_precision.hpp"

namespace lowbit {
namespace {

nn::json topology() {
  return {{"name", "two_dense"},
          {"input", {1, 4, 4}},
          {"layers", {{{"type", "flatten"}}, {{"type", "dense"}, {"units", 8}}, {{"type", "relu"}}, {{"type", "dense"}, {"units", 3}}}}};
}

Tensor batch() {
  Tensor x({5, 1, 4, 4});
  Rng rng(2);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.uniform(-1.f, 1.f);
  return x;
}

bool on_grid(const Tensor& t, float step) {
  for (int64_t i = 0; i < t.size(); ++i)
    if (t[i] / step != std::nearbyint(t[i] / step)) return false;
  return true;
}

TEST(SequentialNumerics, ActivationsAreRoundedInTrainingOnly) {
  enter_fp_contract();
  auto m = nn::build_model(topology());
  m->init(1);
  quant::LowPrecisionConfig lp;
  lp.acts = quant::parse_number_format("fixed:8,3");
  Rng rng(1);
  Context train{true, &rng, &lp, 1, 0};
  const Tensor x = batch();
  const Tensor logits = m->forward(x, train);
  EXPECT_TRUE(on_grid(logits, 0.125f));
  for (size_t i = 0; i + 1 < m->net().size(); ++i) EXPECT_TRUE(on_grid(m->net().activation(i), 0.125f)) << i;
  Context eval{false, &rng, &lp, 1, 0};
  EXPECT_FALSE(on_grid(m->forward(x, eval), 0.125f));  // evaluation computes in float32
}

// Errors of magnitude below half a step round to 0 at the logits: every gradient vanishes.
// Without the errors format they do not; with a fine one they are close to float32's.
TEST(SequentialNumerics, ErrorsAreRoundedBeforeEachLayersBackward) {
  enter_fp_contract();
  auto grads_with = [](const char* errors) {
    auto m = nn::build_model(topology());
    m->init(1);
    quant::LowPrecisionConfig lp;
    lp.errors = quant::parse_number_format(errors);
    Rng rng(1);
    Context ctx{true, &rng, &lp, 1, 0};
    m->forward(batch(), ctx);
    Tensor dlogits({5, 3}, 0.2f);  // below half of fixed:4,0's step 1
    m->backward(dlogits);
    double sum = 0;
    for (nn::Param* p : m->params())
      for (int64_t i = 0; i < p->grad.size(); ++i) sum += std::fabs(p->grad[i]);
    return sum;
  };
  EXPECT_EQ(grads_with("fixed:4,0"), 0.0);
  const double f32 = grads_with("float32"), fine = grads_with("fixed:24,16");
  EXPECT_GT(f32, 0.0);
  EXPECT_NEAR(fine, f32, 1e-3 * f32);
}

}  // namespace
}  // namespace lowbit
