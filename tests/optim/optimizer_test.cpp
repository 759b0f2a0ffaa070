#include "lowbit/optim/optimizer.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cmath>
#include <functional>
#include <map>
#include <string>

#include "lowbit/core/error.hpp"
#include "lowbit/core/threading.hpp"
#include "lowbit/optim/adam.hpp"
#include "lowbit/optim/schedule.hpp"
#include "lowbit/optim/sgd.hpp"
#include "optim/optim_test_util.hpp"

namespace lowbit {
namespace {

using optim::make_optimizer;
using optim::OptimizerConfig;
using testing::bitwise_equal;
using testing::make_param;

OptimizerConfig config(const std::string& name, float weight_decay = 0.f, bool nesterov = false) {
  OptimizerConfig c;
  c.name = name;
  c.weight_decay = weight_decay;
  c.nesterov = nesterov;
  return c;
}

using lowbit::testing::error_of;

TEST(OptimizerFactory, MakesEachNamedOptimizer) {
  nn::Param p = make_param({1.f}, {1.f});
  for (const std::string& name : optim::optimizer_names()) {
    auto opt = make_optimizer(config(name), {&p});
    EXPECT_EQ(opt->name(), name);
  }
  EXPECT_EQ(optim::optimizer_names(), (std::vector<std::string>{"sgd", "adam", "adamw"}));
}

TEST(OptimizerFactory, UnknownNameListsTheValidNames) {
  nn::Param p = make_param({1.f}, {1.f});
  std::string msg = error_of([&] { make_optimizer(config("rmsprop"), {&p}); });
  EXPECT_NE(msg.find("rmsprop"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sgd, adam, adamw"), std::string::npos) << msg;
}

TEST(OptimizerFactory, PassesHyperParameters) {
  OptimizerConfig c = config("sgd", 0.1f, true);
  c.momentum = 0.5f;
  nn::Param p = make_param({1.f}, {1.f});
  auto opt = make_optimizer(c, {&p});
  const auto& o = dynamic_cast<optim::Sgd&>(*opt).options();
  EXPECT_EQ(o.momentum, 0.5f);
  EXPECT_TRUE(o.nesterov);
  EXPECT_EQ(o.weight_decay, 0.1f);
  c = config("adamw", 0.01f);
  c.beta1 = 0.8f;
  c.beta2 = 0.99f;
  c.eps = 1e-6f;
  auto adamw = make_optimizer(c, {&p});
  const auto& a = dynamic_cast<optim::Adam&>(*adamw).options();
  EXPECT_EQ(a.beta1, 0.8f);
  EXPECT_EQ(a.beta2, 0.99f);
  EXPECT_EQ(a.eps, 1e-6f);
  EXPECT_EQ(a.weight_decay, 0.01f);
}

class OptimizerEach : public ::testing::TestWithParam<std::string> {};

// f(w) = 0.5 * sum a_i (w_i - c_i)^2, gradient a_i (w_i - c_i): each optimizer reaches c.
TEST_P(OptimizerEach, MinimisesAQuadratic) {
  const std::string name = GetParam();
  nn::Param p = make_param({3.f, -2.f, 0.5f, 10.f}, {0.f, 0.f, 0.f, 0.f});
  const float a[4] = {1.f, 4.f, 0.5f, 2.f}, c[4] = {-1.f, 2.f, 0.25f, 3.f};
  auto opt = make_optimizer(config(name), {&p});
  optim::ScheduleConfig sc;
  sc.kind = "cosine";
  sc.epochs = 10;
  sc.base_lr = name == "sgd" ? 0.1f : 0.2f;
  sc.min_lr = 0.f;
  optim::LrSchedule schedule(sc);
  for (int64_t epoch = 0; epoch < 10; ++epoch) {
    for (int64_t s = 0; s < 100; ++s) {
      for (int i = 0; i < 4; ++i) p.grad[i] = a[i] * (p.value[i] - c[i]);
      opt->step(schedule.at(epoch, s, 100));
    }
  }
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(p.value[i], c[i], 1e-3f) << name << " element " << i;
}

TEST_P(OptimizerEach, SkipsParametersOfAnotherGroup) {
  nn::Param mine = make_param({1.f, 2.f}, {1.f, 1.f});
  nn::Param bop = make_param({1.f, 2.f}, {1.f, 1.f});
  bop.group = "binary";
  bop.grad = Tensor({7}, 0.f);  // not even checked: Bop owns it
  auto opt = make_optimizer(config(GetParam(), 0.1f), {&mine, &bop});
  opt->step(0.1f);
  EXPECT_NE(mine.value[0], 1.f);
  EXPECT_EQ(bop.value[0], 1.f);
  EXPECT_EQ(bop.value[1], 2.f);
  for (auto& [name, t] : opt->state_tensors()) EXPECT_EQ(name.back(), '0') << name;  // none for index 1
}

TEST_P(OptimizerEach, LrScaleMultipliesTheLearningRate) {
  // The first step of each optimizer is linear in lr (no weight decay).
  nn::Param full = make_param({1.f, -1.f}, {0.5f, -2.f});
  nn::Param half = make_param({1.f, -1.f}, {0.5f, -2.f});
  nn::Param frozen = make_param({1.f, -1.f}, {0.5f, -2.f});
  half.lr_scale = 0.5f;
  frozen.lr_scale = 0.f;
  auto opt = make_optimizer(config(GetParam()), {&full, &half, &frozen});
  opt->step(0.1f);
  for (int i = 0; i < 2; ++i) {
    const float init = i == 0 ? 1.f : -1.f;
    EXPECT_NEAR(half.value[i] - init, 0.5f * (full.value[i] - init), 1e-6f);
    EXPECT_NE(full.value[i], init);
    EXPECT_EQ(frozen.value[i], init);
  }
}

TEST_P(OptimizerEach, ClipClampsTheValueAfterTheStep) {
  nn::Param p = make_param({0.99f, -0.99f, 0.2f, 5.f}, {-10.f, 10.f, 0.f, 0.f});
  p.clip = 1.f;
  nn::Param q = make_param({0.99f, 5.f}, {-10.f, 0.f});  // clip = 0: no clamping
  auto opt = make_optimizer(config(GetParam()), {&p, &q});
  opt->step(0.5f);
  EXPECT_EQ(p.value[0], 1.f);
  EXPECT_EQ(p.value[1], -1.f);
  EXPECT_EQ(p.value[2], 0.2f);
  EXPECT_EQ(p.value[3], 1.f);  // out of range before: clamped even without a gradient
  EXPECT_GT(q.value[0], 1.f);
  EXPECT_EQ(q.value[1], 5.f);
}

TEST_P(OptimizerEach, DecayFalseMatchesZeroWeightDecay) {
  nn::Param a = make_param({1.f, -2.f, 0.5f}, {0.3f, -0.1f, 0.f});
  nn::Param b = make_param({1.f, -2.f, 0.5f}, {0.3f, -0.1f, 0.f});
  nn::Param c = make_param({1.f, -2.f, 0.5f}, {0.3f, -0.1f, 0.f});
  a.decay = false;
  auto with_wd = make_optimizer(config(GetParam(), 0.3f), {&a, &c});
  auto without = make_optimizer(config(GetParam(), 0.f), {&b});
  for (int t = 0; t < 3; ++t) {
    with_wd->step(0.1f);
    without->step(0.1f);
  }
  EXPECT_TRUE(bitwise_equal(a.value, b.value));
  EXPECT_FALSE(bitwise_equal(c.value, b.value));  // decay on: it does change the path
}

// Deterministic, state-dependent gradients: the gradient of a quadratic plus a
// step-dependent perturbation, so every step differs.
void fill_grads(std::vector<nn::Param*>& ps, int64_t step) {
  for (size_t k = 0; k < ps.size(); ++k) {
    Tensor& w = ps[k]->value;
    Tensor& g = ps[k]->grad;
    for (int64_t i = 0; i < w.size(); ++i)
      g[i] = 0.7f * w[i] - 0.3f + 0.05f * std::sin(static_cast<float>(step * 31 + i * 7 + k));
  }
}

struct Model {
  nn::Param w, b, big, other;
  Model() {
    w = make_param({0.5f, -0.25f, 1.5f, -2.f, 0.1f, 0.9f}, {0, 0, 0, 0, 0, 0}, "w");
    w.clip = 1.f;
    b = make_param({0.f, 0.2f}, {0, 0}, "b");
    b.decay = false;
    b.lr_scale = 2.f;
    // Big enough to take the OpenMP-parallel path.
    big.name = "big";
    big.value = testing_random(optim::kOptimParallelMin + 123);
    big.grad = Tensor(big.value.shape(), 0.f);
    other = make_param({3.f}, {0.f}, "other");
    other.group = "binary";
  }
  static Tensor testing_random(int64_t n) {
    Tensor t({n});
    for (int64_t i = 0; i < n; ++i) t[i] = std::cos(static_cast<float>(i) * 0.37f);
    return t;
  }
  std::vector<nn::Param*> params() { return {&w, &b, &big, &other}; }
};

void run_steps(optim::Optimizer& opt, Model& m, const optim::LrSchedule& sched, int64_t from, int64_t to) {
  auto ps = m.params();
  for (int64_t s = from; s < to; ++s) {
    fill_grads(ps, s);
    opt.step(sched.at(s / 4, s % 4, 4));
  }
}

TEST_P(OptimizerEach, ResumingFromSavedStateIsBitForBitIdentical) {
  OptimizerConfig c = config(GetParam(), 0.01f, GetParam() == "sgd");
  optim::ScheduleConfig sc;
  sc.kind = "cosine";
  sc.base_lr = 0.05f;
  sc.epochs = 4;
  sc.warmup_epochs = 0.5f;
  optim::LrSchedule sched(sc);

  Model straight;
  auto opt_a = make_optimizer(c, straight.params());
  run_steps(*opt_a, straight, sched, 0, 12);

  Model resumed;
  std::map<std::string, Tensor> saved;
  std::string saved_json;
  {
    auto opt_b = make_optimizer(c, resumed.params());
    run_steps(*opt_b, resumed, sched, 0, 5);
    for (auto& [name, t] : opt_b->state_tensors()) saved[name] = *t;
    saved_json = opt_b->state_json().dump();
  }
  auto opt_c = make_optimizer(c, resumed.params());
  auto slots = opt_c->state_tensors();
  ASSERT_EQ(slots.size(), saved.size());
  for (auto& [name, t] : slots) {
    ASSERT_TRUE(saved.count(name)) << name;
    *t = saved.at(name);
  }
  opt_c->load_state_json(optim::json::parse(saved_json));
  EXPECT_EQ(opt_c->steps(), 5);
  run_steps(*opt_c, resumed, sched, 5, 12);

  EXPECT_EQ(opt_c->steps(), opt_a->steps());
  auto pa = straight.params(), pb = resumed.params();
  for (size_t k = 0; k < pa.size(); ++k) EXPECT_TRUE(bitwise_equal(pa[k]->value, pb[k]->value)) << pa[k]->name;
  auto sa = opt_a->state_tensors(), sb = opt_c->state_tensors();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t k = 0; k < sa.size(); ++k) EXPECT_TRUE(bitwise_equal(*sa[k].second, *sb[k].second)) << sa[k].first;
  EXPECT_FALSE(sa.empty());  // there was state to carry over
}

TEST_P(OptimizerEach, ResultDoesNotDependOnTheThreadCount) {
  OptimizerConfig c = config(GetParam(), 0.01f);
  optim::LrSchedule sched({});
  const int threads = num_threads();
  Model one, many;
  set_num_threads(1);
  auto opt1 = make_optimizer(c, one.params());
  run_steps(*opt1, one, sched, 0, 3);
  set_num_threads(4);
  auto opt4 = make_optimizer(c, many.params());
  run_steps(*opt4, many, sched, 0, 3);
  set_num_threads(threads);
  EXPECT_TRUE(bitwise_equal(one.big.value, many.big.value));
}

TEST_P(OptimizerEach, RejectsStateOfAnotherOptimizerOrModel) {
  nn::Param p = make_param({1.f}, {1.f});
  auto opt = make_optimizer(config(GetParam()), {&p});
  optim::json state = opt->state_json();
  EXPECT_EQ(state["optimizer"], GetParam());
  EXPECT_EQ(state["steps"], 0);
  state["optimizer"] = GetParam() == "sgd" ? "adam" : "sgd";
  std::string msg = error_of([&] { opt->load_state_json(state); });
  EXPECT_NE(msg.find(GetParam()), std::string::npos) << msg;
  state = opt->state_json();
  state["params"] = 2;
  EXPECT_THROW(opt->load_state_json(state), Error);
  state = opt->state_json();
  state["steps"] = -1;
  EXPECT_THROW(opt->load_state_json(state), Error);
  EXPECT_THROW(opt->load_state_json(optim::json::array()), Error);
  EXPECT_EQ(opt->steps(), 0);
}

TEST_P(OptimizerEach, BadInputsThrowAndLeaveEverythingUntouched) {
  nn::Param good = make_param({1.f, 2.f}, {1.f, 1.f}, "good");
  nn::Param bad = make_param({1.f, 2.f}, {1.f, 1.f}, "dense_1.weight");
  auto opt = make_optimizer(config(GetParam()), {&good, &bad});
  bad.grad = Tensor({3}, 1.f);
  std::string msg = error_of([&] { opt->step(0.1f); });
  EXPECT_NE(msg.find("dense_1.weight"), std::string::npos) << msg;
  EXPECT_EQ(good.value[0], 1.f);  // checked before any update
  EXPECT_EQ(opt->steps(), 0);
  bad.grad = Tensor({2}, 1.f);
  EXPECT_THROW(opt->step(-0.1f), Error);
  EXPECT_THROW(opt->step(std::nanf("")), Error);
  bad.lr_scale = -1.f;
  EXPECT_THROW(opt->step(0.1f), Error);
  bad.lr_scale = 1.f;
  bad.clip = -1.f;
  EXPECT_THROW(opt->step(0.1f), Error);
  bad.clip = 0.f;
  EXPECT_NO_THROW(opt->step(0.1f));

  // Resized after construction: the state (momentum or moments) no longer fits.
  bad.value = Tensor({4}, 0.f);
  bad.grad = Tensor({4}, 0.f);
  msg = error_of([&] { opt->step(0.1f); });
  EXPECT_NE(msg.find("dense_1.weight"), std::string::npos) << msg;
}

INSTANTIATE_TEST_SUITE_P(Optim, OptimizerEach, ::testing::Values("sgd", "adam", "adamw"),
                         [](const auto& info) { return info.param; });

TEST(OptimizerBase, RejectsNullAndDuplicateParameters) {
  nn::Param p = make_param({1.f}, {1.f});
  EXPECT_THROW(make_optimizer(config("adam"), {&p, nullptr}), Error);
  EXPECT_THROW(make_optimizer(config("sgd"), {&p, &p}), Error);
}

}  // namespace
}  // namespace lowbit
