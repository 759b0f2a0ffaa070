// Pruning masks (nn::Param::mask) through every optimizer: pruned elements stay exactly 0,
// and so does their optimizer state, whatever the gradient says (issue 17: "masked weights
// stay exactly zero through training").
#include <gtest/gtest.h>

#include <memory>

#include "lowbit/core/error.hpp"
#include "lowbit/optim/low_precision_update.hpp"
#include "lowbit/optim/optimizer.hpp"
#include "optim/optim_test_util.hpp"

namespace lowbit {
namespace {

nn::Param masked_param(int64_t n) {
  nn::Param p;
  p.name = "dense_1.weight";
  p.value = Tensor({n});
  p.grad = Tensor({n});
  p.mask = Tensor({n});
  for (int64_t i = 0; i < n; ++i) {
    p.value[i] = 0.3f + 0.001f * static_cast<float>(i);
    p.mask[i] = i % 3 == 0 ? 0.f : 1.f;
    if (p.mask[i] == 0.f) p.value[i] = 0.f;
  }
  return p;
}

void fill_grad(nn::Param& p, int step) {
  for (int64_t i = 0; i < p.grad.size(); ++i) p.grad[i] = (i % 2 ? 0.5f : -0.7f) * static_cast<float>(step + 1);
}

class MaskedOptimizer : public ::testing::TestWithParam<const char*> {};

TEST_P(MaskedOptimizer, PrunedWeightsAndTheirStateStayExactlyZero) {
  // 10000 elements: several slices and threads.
  nn::Param p = masked_param(10000);
  optim::OptimizerConfig c;
  c.name = GetParam();
  c.weight_decay = 0.01f;
  c.nesterov = std::string(GetParam()) == "sgd";
  auto opt = optim::make_optimizer(c, {&p});
  for (int s = 0; s < 5; ++s) {
    fill_grad(p, s);
    opt->step(0.05f);
  }
  int64_t kept_moved = 0;
  for (int64_t i = 0; i < p.value.size(); ++i) {
    if (p.mask[i] == 0.f) {
      ASSERT_EQ(p.value[i], 0.f) << i;
      for (auto& [name, t] : opt->state_tensors()) ASSERT_EQ((*t)[i], 0.f) << name << " at " << i;
    } else {
      kept_moved += p.value[i] != 0.3f + 0.001f * static_cast<float>(i);
    }
  }
  EXPECT_EQ(kept_moved, p.value.size() - (p.value.size() + 2) / 3);  // the kept ones trained
}

INSTANTIATE_TEST_SUITE_P(All, MaskedOptimizer, ::testing::Values("sgd", "adam", "adamw"));

TEST(MaskedOptimizer, ApplyMasksClearsStateBuiltBeforePruning) {
  nn::Param p = masked_param(64);
  const Tensor mask = p.mask;
  p.mask = Tensor();  // train unmasked first: momentum builds up everywhere
  auto opt = optim::make_optimizer(optim::OptimizerConfig{"adam"}, {&p});
  fill_grad(p, 0);
  opt->step(0.01f);
  for (int64_t i = 0; i < 64; ++i) ASSERT_NE(p.value[i], 0.f);  // every weight moved off its value, none is 0
  p.mask = mask;  // prune: mask 0 where i % 3 == 0
  opt->apply_masks();
  for (int64_t i = 0; i < 64; ++i)
    if (mask[i] == 0.f) {
      EXPECT_EQ(p.value[i], 0.f);
      for (auto& [name, t] : opt->state_tensors()) EXPECT_EQ((*t)[i], 0.f) << name;
    }
  fill_grad(p, 1);
  opt->step(0.01f);
  for (int64_t i = 0; i < 64; ++i)
    if (mask[i] == 0.f) {
      EXPECT_EQ(p.value[i], 0.f);
    }
}

TEST(MaskedOptimizer, LowPrecisionHooksKeepPrunedWeightsAtZero) {
  nn::Param p = masked_param(9000);
  quant::LowPrecisionConfig lp;
  lp.weights = quant::parse_number_format("fixed:8,6");
  lp.grads = quant::parse_number_format("fixed:8,6");
  lp.state = quant::parse_number_format("fixed:16,12");
  lp.rounding = quant::parse_rounding("stochastic");
  lp.accumulator = true;
  lp.acc = quant::parse_number_format("float32");
  auto opt = optim::make_optimizer(optim::OptimizerConfig{"adam"}, {&p});
  optim::LowPrecisionUpdate lpu(lp, {{p.name, &p}}, 7);
  lpu.reset_accumulator();
  for (int s = 0; s < 4; ++s) {
    fill_grad(p, s);
    std::vector<optim::Optimizer*> opts{opt.get()};
    lpu.step(static_cast<uint64_t>(s), 0.05f, opts);
  }
  for (int64_t i = 0; i < p.value.size(); ++i)
    if (p.mask[i] == 0.f) {
      ASSERT_EQ(p.value[i], 0.f) << i;
    }
}

TEST(MaskedOptimizer, AMaskOfAnotherSizeIsRefusedBeforeAnyUpdate) {
  nn::Param p = masked_param(10);
  p.mask = Tensor({9}, 1.f);
  auto opt = optim::make_optimizer(optim::OptimizerConfig{"sgd"}, {&p});
  const Tensor before = p.value;
  fill_grad(p, 0);
  EXPECT_THROW(opt->step(0.1f), Error);
  EXPECT_TRUE(testing::bitwise_equal(before, p.value));
}

}  // namespace
}  // namespace lowbit
