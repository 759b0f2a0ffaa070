// The optimizer side of low-precision training (issue 16): the optimizer-step
// golden, the accumulator against its negative control, and state rounding.
#include "lowbit/optim/low_precision_update.hpp"

#include <gtest/gtest.h>
#include <omp.h>

#include "lowbit/core/fp_env.hpp"
#include "lowbit/optim/adam.hpp"
#include "lowbit/optim/bop.hpp"
#include "lowbit/optim/sgd.hpp"
#include "optim/optim_test_util.hpp"

namespace lowbit {
namespace {

using testing::make_param;

quant::LowPrecisionConfig config(const std::string& weights, const std::string& grads, const std::string& acc = "none",
                                 const std::string& state = "float32") {
  quant::LowPrecisionConfig c;
  c.weights = quant::parse_number_format(weights);
  c.grads = quant::parse_number_format(grads);
  c.state = quant::parse_number_format(state);
  if (acc != "none") {
    c.accumulator = true;
    c.acc = quant::parse_number_format(acc);
  }
  return c;
}

std::vector<float> values(const Tensor& t) { return std::vector<float>(t.data(), t.data() + t.size()); }

// SGD lr 0.1, momentum 0.9, weights and gradients in float:5,2 nearest (no ties occur).
// Order: g rounded; v = 0.9 v + g (v = g on the first step); w = w - 0.1 v in float32; w rounded.
TEST(LowPrecisionUpdate, SgdStepGoldenInFloat52) {
  enter_fp_contract();
  nn::Param p = make_param({-0.1850f, 0.1250f, -0.1007f, -0.0862f, 0.3034f}, {0.1051f, 0.2755f, 0.0375f, 0.1643f, 0.1883f});
  optim::Sgd sgd({&p}, optim::SgdOptions{0.9f, false, 0.f});
  optim::LowPrecisionUpdate lp(config("float:5,2", "float:5,2"), {{"w", &p}}, 1);
  lp.before_step(0);
  EXPECT_EQ(values(p.grad), (std::vector<float>{0.109375f, 0.25f, 0.0390625f, 0.15625f, 0.1875f}));
  sgd.step(0.1f);
  lp.after_step(0, {&sgd});
  EXPECT_EQ(values(p.value), (std::vector<float>{-0.1875f, 0.09375f, -0.109375f, -0.109375f, 0.3125f}));
  EXPECT_TRUE(lp.state_tensors().empty());
}

// Updates smaller than half a step: rounded weights without an accumulator never move under
// nearest rounding (the negative control); with a float32 accumulator the sum of the updates
// crosses the step and the weight follows; stochastic rounding moves it in expectation.
TEST(LowPrecisionUpdate, AccumulatorKeepsUpdatesBelowTheStep) {
  enter_fp_contract();
  auto run = [](const std::string& acc, quant::Rounding r) {
    nn::Param p;
    p.name = "w";
    p.value = Tensor({1000}, 0.5f);
    p.grad = Tensor({1000}, 1.f);
    optim::Sgd sgd({&p}, optim::SgdOptions{0.f, false, 0.f});
    auto c = config("fixed:8,4", "float32", acc);
    c.rounding = r;
    optim::LowPrecisionUpdate lp(c, {{"w", &p}}, 3);
    for (uint64_t step = 0; step < 10; ++step) {  // 10 x 0.01 = 0.1, the step is 0.0625
      lp.before_step(step);
      sgd.step(0.01f);
      lp.after_step(step, {&sgd});
    }
    double mean = 0;
    for (int64_t i = 0; i < p.value.size(); ++i) mean += p.value[i];
    return std::make_pair(mean / 1000.0, lp.state_tensors().size());
  };
  EXPECT_EQ(run("none", quant::Rounding::kNearestEven).first, 0.5);                // stuck
  const auto acc = run("float32", quant::Rounding::kNearestEven);
  EXPECT_EQ(acc.first, 0.375);  // 0.4 rounded onto step 1/16
  EXPECT_EQ(acc.second, 1u);    // the accumulator is checkpointed
  EXPECT_NEAR(run("none", quant::Rounding::kStochastic).first, 0.4, 0.015);  // unbiased on average
}

// Adam's moments are rounded onto the state format after every step.
TEST(LowPrecisionUpdate, StateIsRounded) {
  enter_fp_contract();
  nn::Param p = make_param({0.3f, -0.2f}, {0.0123f, -0.0456f});
  optim::Adam adam({&p});
  optim::LowPrecisionUpdate lp(config("float32", "float32", "none", "fixed:8,10"), {{"w", &p}}, 1);
  lp.before_step(0);
  adam.step(0.01f);
  lp.after_step(0, {&adam});
  for (auto& [name, t] : adam.state_tensors())
    for (int64_t i = 0; i < t->size(); ++i) {
      const float code = (*t)[i] * 1024.f;
      EXPECT_EQ(code, std::nearbyint(code)) << name;
    }
  EXPECT_NE((*adam.state_tensors()[0].second)[0], 0.f);  // m = 0.1 g = 0.00123 -> 1/1024
}

// Each parameter takes its layer's formats: the layer named before the first '.'.
TEST(LowPrecisionUpdate, ParametersTakeTheirLayersFormats) {
  enter_fp_contract();
  auto c = config("fixed:4,2", "float32");  // model-wide: a coarse grid of step 0.25
  quant::add_layer_override(c, "dense_1/weights=float32");
  quant::add_layer_override(c, "dense_2/weights=fixed:8,6");
  nn::Param a = make_param({0.3f, -0.7f, 0.11f}, {0.01f, 0.02f, -0.03f});
  nn::Param b = make_param({0.3f, -0.7f, 0.11f}, {0.01f, 0.02f, -0.03f});
  nn::Param d = make_param({0.3f, -0.7f, 0.11f}, {0.01f, 0.02f, -0.03f});
  optim::Sgd sgd({&a, &b, &d}, optim::SgdOptions{0.f, false, 0.f});
  optim::LowPrecisionUpdate lp(c, {{"dense_1.weight", &a}, {"dense_2.weight", &b}, {"dense_3.weight", &d}}, 1);
  lp.step(0, 1.f, {&sgd});
  EXPECT_EQ(values(a.value), (std::vector<float>{0.3f - 0.01f, -0.7f - 0.02f, 0.11f + 0.03f}));  // float32
  EXPECT_EQ(values(b.value), (std::vector<float>{0.296875f, -0.71875f, 0.140625f}));  // fixed:8,6: step 1/64
  EXPECT_EQ(values(d.value), (std::vector<float>{0.25f, -0.75f, 0.25f}));  // model-wide fixed:4,2

  // Gradients and state: SGD with momentum, float32 weights; model-wide gradients and state
  // in fixed:8,4 (step 1/16), dense_1's gradients in float32, dense_2's state in fixed:8,2.
  quant::LowPrecisionConfig gs = config("float32", "fixed:8,4", "none", "fixed:8,4");
  quant::add_layer_override(gs, "dense_1/grads=float32");
  quant::add_layer_override(gs, "dense_2/state=fixed:8,2");
  nn::Param p1 = make_param({0.f, 0.f}, {0.05f, -0.2f}), p2 = make_param({0.f, 0.f}, {0.05f, -0.2f});
  optim::Sgd momentum({&p1, &p2}, optim::SgdOptions{0.9f, false, 0.f});
  optim::LowPrecisionUpdate lp2(gs, {{"dense_1.weight", &p1}, {"dense_2.weight", &p2}}, 1);
  lp2.step(0, 1.f, {&momentum});
  EXPECT_EQ(values(p1.grad), (std::vector<float>{0.05f, -0.2f}));       // float32: as given
  EXPECT_EQ(values(p2.grad), (std::vector<float>{0.0625f, -0.1875f}));  // fixed:8,4: 0.8 -> 1, -3.2 -> -3 steps
  // The state (the momentum buffer, v = g on the first step) in each layer's format.
  const auto state = momentum.state_tensors();
  ASSERT_EQ(state.size(), 2u);
  EXPECT_EQ(values(*state[0].second), (std::vector<float>{0.0625f, -0.1875f}));  // fixed:8,4 of [0.05, -0.2]
  EXPECT_EQ(values(*state[1].second), (std::vector<float>{0.f, -0.25f}));  // fixed:8,2 of [0.0625, -0.1875]
}

// The fused step (rounding inside the optimizer's slices) is bit for bit the whole-tensor
// passes, for every kind of format at every site, with and without an accumulator, on SGD,
// Adam and SGD + Bop, over tensors of many slices on 2 threads and of a few elements.
TEST(LowPrecisionUpdate, FusedStepEqualsTheWholeTensorPasses) {
  enter_fp_contract();
  const int saved_threads = omp_get_max_threads();
  omp_set_num_threads(2);  // slices on two threads: the collected maxima and chunk edges
  struct Case {
    const char *grads, *state, *weights, *acc;
    const char* optimizer;
    std::vector<std::string> layers = {};  // --lp-layer overrides (parameters p0..p3 are layers p0..p3)
  };
  const Case cases[] = {
      {"fixed:12,14", "fixed:12,10", "fixed:10,8", "none", "sgd"},
      {"bfp:8", "bfp:8", "bfp:8", "none", "sgd"},
      {"bfp:8", "bfp:6", "bfp:8", "float32", "sgd"},
      {"bfp:8,0", "bfp:8,1", "bfp:8,0", "bfp:10,0", "sgd"},
      {"float:5,2", "bf16", "float:4,3", "fixed:16,12", "adam"},
      {"bfp:6", "float:5,10", "fixed:8,6", "bfp:12", "adam"},
      {"float32", "float32", "bfp:8", "float:8,10", "adam"},
      {"bfp:8", "bfp:8", "fixed:8,6", "float32", "sgd+bop"},
      {"fixed:10,12@nearest", "bfp:8@toward-zero", "float:5,2@nearest-away", "none", "sgd"},
      // Per-layer formats: each parameter's own grads/state/weights sites, bfp beside elementwise.
      {"bfp:8", "bfp:8", "fixed:8,6", "none", "sgd", {"p0/grads=fixed:12,14", "p[13]/weights=bfp:8,0", "p3/state=float32"}},
      {"float32", "float32", "bfp:8", "float32", "adam", {"p0/weights=float32", "p*/grads=bf16", "p2/grads=bfp:6"}},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(cat(k.grads, " ", k.state, " ", k.weights, " acc ", k.acc, " ", k.optimizer));
    auto c = config(k.weights, k.grads, k.acc, k.state);
    c.rounding = quant::Rounding::kStochastic;
    for (const std::string& l : k.layers) quant::add_layer_override(c, l);
    struct Run {
      std::vector<nn::Param> params;
      std::unique_ptr<optim::Optimizer> main, bop;
    };
    auto make = [&](Run& r) {
      const std::vector<Shape> shapes = {{200, 230}, {5}, {3, 7}, {2, 4100}, {4}};
      Rng rng(11);
      r.params.resize(shapes.size());
      for (size_t i = 0; i < shapes.size(); ++i) {
        nn::Param& p = r.params[i];
        p.name = i == 4 ? "d.weight_quantizer.alpha" : cat("p", i);  // a learned scale: float32
        p.value = Tensor(shapes[i]);
        p.grad = Tensor(shapes[i]);
        for (int64_t j = 0; j < p.value.size(); ++j) p.value[j] = rng.uniform(-1.f, 1.f);
        p.clip = i == 0 ? 0.9f : 0.f;
        if (std::string(k.optimizer) == "sgd+bop" && i == 3) p.group = "binary";
      }
      std::vector<nn::Param*> ptrs;
      for (auto& p : r.params) ptrs.push_back(&p);
      if (std::string(k.optimizer) == "adam") r.main = std::make_unique<optim::Adam>(ptrs);
      else r.main = std::make_unique<optim::Sgd>(ptrs, optim::SgdOptions{0.9f, false, 1e-4f});
      if (std::string(k.optimizer) == "sgd+bop") r.bop = std::make_unique<optim::Bop>(ptrs);
    };
    Run fused, passes;
    make(fused);
    make(passes);
    auto named = [](Run& r) {
      std::vector<nn::NamedParam> out;
      for (auto& p : r.params) out.push_back({p.name, &p});
      return out;
    };
    optim::LowPrecisionUpdate lp_fused(c, named(fused), 5), lp_passes(c, named(passes), 5);
    auto optimizers = [](Run& r) {
      std::vector<optim::Optimizer*> o{r.main.get()};
      if (r.bop) o.push_back(r.bop.get());
      return o;
    };
    Rng grads(12);
    for (uint64_t step = 0; step < 3; ++step) {
      for (size_t i = 0; i < fused.params.size(); ++i)
        for (int64_t j = 0; j < fused.params[i].grad.size(); ++j)
          fused.params[i].grad[j] = passes.params[i].grad[j] = grads.uniform(-0.05f, 0.05f);
      lp_fused.step(step, 0.1f, optimizers(fused));
      lp_passes.before_step(step);
      for (optim::Optimizer* o : optimizers(passes)) o->step(0.1f);
      lp_passes.after_step(step, optimizers(passes));
    }
    for (size_t i = 0; i < fused.params.size(); ++i) {
      EXPECT_TRUE(testing::bitwise_equal(fused.params[i].value, passes.params[i].value)) << i;
      EXPECT_TRUE(testing::bitwise_equal(fused.params[i].grad, passes.params[i].grad)) << i;
    }
    auto states = [](Run& r, optim::LowPrecisionUpdate& lp) {
      std::vector<std::pair<std::string, Tensor*>> all = r.main->state_tensors();
      if (r.bop)
        for (auto& s : r.bop->state_tensors()) all.push_back(s);
      for (auto& s : lp.state_tensors()) all.push_back(s);
      return all;
    };
    const auto a = states(fused, lp_fused), b = states(passes, lp_passes);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_FALSE(a.empty());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(testing::bitwise_equal(*a[i].second, *b[i].second)) << a[i].first;
  }
  omp_set_num_threads(saved_threads);
  // The scale was left alone by both paths: not rounded, updated in float32.
}

}  // namespace
}  // namespace lowbit
