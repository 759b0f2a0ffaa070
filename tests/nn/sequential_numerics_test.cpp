// Low-precision activations and errors in containers (issue 16): in training, every leaf
// layer's output is rounded in forward and the error at it in backward; evaluation is
// untouched.
#include <gtest/gtest.h>

#include <cmath>

#include "lowbit/core/fp_env.hpp"
#include "lowbit/nn/builder.hpp"
#include "lowbit/nn/dense.hpp"
#include "lowbit/nn/sequential.hpp"
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

// Per-layer overrides (--lp-layer): a layer's output takes the format of the last override
// matching its name, else the model-wide one; float32 turns it off.
TEST(SequentialNumerics, LayerOverridesChooseEachOutputsFormat) {
  enter_fp_contract();
  auto m = nn::build_model(topology());  // flatten_1, dense_1, relu_1, dense_2
  m->init(1);
  quant::LowPrecisionConfig lp;
  lp.acts = quant::parse_number_format("fixed:8,3");
  quant::add_layer_override(lp, "relu_*/acts=fixed:8,1");
  quant::add_layer_override(lp, "dense_2/acts=float32");
  Rng rng(1);
  Context train{true, &rng, &lp, 1, 0};
  const Tensor logits = m->forward(batch(), train);
  EXPECT_TRUE(on_grid(m->net().activation(1), 0.125f));   // dense_1: model-wide
  EXPECT_FALSE(on_grid(m->net().activation(1), 0.5f));
  EXPECT_TRUE(on_grid(m->net().activation(2), 0.5f));     // relu_1: its override
  EXPECT_FALSE(on_grid(logits, 0.125f));                   // dense_2: float32
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

// An identity layer that records the error it receives.
class Probe : public nn::Layer {
 public:
  std::string type() const override { return "probe"; }
  Shape output_shape(const Shape& in) const override { return in; }
  void forward(const Tensor& x, Tensor& y, const Context&) override { y = x; }
  void backward(const Tensor&, const Tensor&, const Tensor& dy, Tensor* dx) override {
    seen = dy;
    if (dx) *dx = dy;
  }
  nn::json spec() const override { return {{"type", "probe"}}; }
  Tensor seen;
};

// The error between two layers (here: dense_2's input gradient, at the probe's output) is
// rounded before the probe's backward reads it; without the format it is not on the grid.
TEST(SequentialNumerics, ErrorsBetweenLayersAreRounded) {
  enter_fp_contract();
  auto seen_with = [](const char* errors, const char* layer_override = nullptr) {
    nn::Sequential net;
    auto d1 = std::make_unique<nn::Dense>(16, 8);
    auto probe = std::make_unique<Probe>();
    auto d2 = std::make_unique<nn::Dense>(8, 3);
    d1->set_name("dense_1"), probe->set_name("probe_1"), d2->set_name("dense_2");
    Probe* p = probe.get();
    net.add(std::move(d1)), net.add(std::move(probe)), net.add(std::move(d2));
    Rng rng(3);
    net.init(rng);
    quant::LowPrecisionConfig lp;
    lp.errors = quant::parse_number_format(errors);
    if (layer_override) quant::add_layer_override(lp, layer_override);
    Context ctx{true, &rng, &lp, 1, 0};
    Tensor x({4, 16}), y, dy({4, 3});
    for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.uniform(-1.f, 1.f);
    for (int64_t i = 0; i < dy.size(); ++i) dy[i] = rng.uniform(-0.1f, 0.1f);
    net.forward(x, y, ctx);
    net.backward(x, y, dy, nullptr);
    return p->seen;
  };
  EXPECT_TRUE(on_grid(seen_with("fixed:12,10"), 0x1.0p-10f));
  EXPECT_FALSE(on_grid(seen_with("float32"), 0x1.0p-10f));
  // The error at probe_1's output is the probe's site: an override for it rounds it, one for
  // the dense layers does not, and one turning it off wins over the model-wide format.
  EXPECT_TRUE(on_grid(seen_with("float32", "probe_*/errors=fixed:12,10"), 0x1.0p-10f));
  EXPECT_FALSE(on_grid(seen_with("float32", "dense_*/errors=fixed:12,10"), 0x1.0p-10f));
  EXPECT_FALSE(on_grid(seen_with("fixed:12,10", "probe_1/errors=float32"), 0x1.0p-10f));
}

// A residual block's output is a new sum: it is rounded like a layer's output.
TEST(SequentialNumerics, ResidualSumsAreRounded) {
  enter_fp_contract();
  nn::json topo = {{"name", "res"},
                   {"input", {1, 4, 4}},
                   {"layers",
                    {{{"type", "flatten"}},
                     {{"type", "dense"}, {"units", 8}},
                     {{"type", "residual"}, {"body", {{{"type", "relu"}}, {{"type", "dense"}, {"units", 8}}}}},
                     {{"type", "dense"}, {"units", 3}}}}};
  auto m = nn::build_model(topo);
  m->init(1);
  quant::LowPrecisionConfig lp;
  lp.acts = quant::parse_number_format("fixed:8,3");
  Rng rng(1);
  Context train{true, &rng, &lp, 1, 0};
  m->forward(batch(), train);
  EXPECT_TRUE(on_grid(m->net().activation(2), 0.125f));  // the residual block's output
}

}  // namespace
}  // namespace lowbit
