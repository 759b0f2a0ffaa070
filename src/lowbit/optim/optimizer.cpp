#include "lowbit/optim/optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>

#include "lowbit/core/error.hpp"
#include "lowbit/optim/adam.hpp"
#include "lowbit/optim/sgd.hpp"

namespace lowbit::optim {

Optimizer::Optimizer(std::vector<nn::Param*> params, std::string group)
    : params_(std::move(params)), group_(std::move(group)) {
  std::unordered_set<const nn::Param*> seen;
  for (size_t i = 0; i < params_.size(); ++i) {
    LOWBIT_CHECK(params_[i] != nullptr, "optimizer: parameter ", i, " is null");
    LOWBIT_CHECK(seen.insert(params_[i]).second, "optimizer: ", describe(i),
                 " appears twice in the parameter list");
  }
}

Optimizer::~Optimizer() = default;

std::string Optimizer::describe(size_t index) const {
  const std::string& n = params_[index]->name;
  return n.empty() ? cat("param ", index) : cat("param ", index, " (", n, ")");
}

void Optimizer::check_state_tensor(const Tensor& state, const char* what, size_t index,
                                   const nn::Param& p) const {
  LOWBIT_CHECK(state.size() == p.value.size(), name(), ": ", describe(index), " has ",
               p.value.size(), " elements but its ", what, " state has ", state.size(),
               " (was the parameter resized after the optimizer was built?)");
}

void Optimizer::step(float lr, SliceHooks* hooks) {
  LOWBIT_CHECK(std::isfinite(lr) && lr >= 0.f, name(), ": learning rate must be finite and >= 0, got ", lr);
  // Check everything first so that a failure leaves parameters and state untouched.
  for (size_t i = 0; i < params_.size(); ++i) {
    const nn::Param& p = *params_[i];
    if (!owns(i)) continue;
    LOWBIT_CHECK(p.grad.size() == p.value.size(), name(), ": ", describe(i), " has ", p.value.size(),
                 " values but ", p.grad.size(), " gradients");
    LOWBIT_CHECK(std::isfinite(p.lr_scale) && p.lr_scale >= 0.f, name(), ": ", describe(i),
                 " has lr_scale ", p.lr_scale, " (must be finite and >= 0)");
    LOWBIT_CHECK(std::isfinite(p.clip) && p.clip >= 0.f, name(), ": ", describe(i), " has clip ",
                 p.clip, " (must be finite and >= 0; 0 = none)");
    check_state(i, p);
    LOWBIT_CHECK(!p.masked() || p.mask.size() == p.value.size(), name(), ": ", describe(i), " has ", p.value.size(),
                 " values but a pruning mask of ", p.mask.size());
  }
  ++steps_;
  for (size_t i = 0; i < params_.size(); ++i) {
    nn::Param& p = *params_[i];
    if (!owns(i)) continue;
    const float plr = lr * p.lr_scale;
    std::vector<float*> state;  // elementwise partners the mask clears with the value
    if (p.masked())
      for (auto& st : state_of(i)) state.push_back(st.second->data());
    parallel_for(p.value.size(), kOptimParallelMin, [&](int64_t begin, int64_t end) {
      if (!hooks && !p.masked()) {
        update_range(i, p, plr, begin, end);
        return;
      }
      for (int64_t b = begin; b < end; b += kSlice) {
        const int64_t e = std::min(end, b + kSlice);
        if (p.masked()) mask_gradient(p, b, e);
        if (hooks) hooks->before(i, p, b, e);
        update_range(i, p, plr, b, e);
        if (hooks) hooks->after(i, p, b, e);
        if (p.masked()) apply_mask(p, state, b, e);
      }
    });
  }
}

void Optimizer::mask_gradient(nn::Param& p, int64_t begin, int64_t end) {
  const float* m = p.mask.data();
  float* g = p.grad.data();
  for (int64_t k = begin; k < end; ++k) g[k] = m[k] != 0.f ? g[k] : 0.f;
}

void Optimizer::apply_mask(nn::Param& p, const std::vector<float*>& state, int64_t begin, int64_t end) {
  const float* m = p.mask.data();
  float* w = p.value.data();
  for (int64_t k = begin; k < end; ++k) w[k] = m[k] != 0.f ? w[k] : 0.f;
  for (float* s : state)
    for (int64_t k = begin; k < end; ++k) s[k] = m[k] != 0.f ? s[k] : 0.f;
}

void Optimizer::apply_masks() {
  for (size_t i = 0; i < params_.size(); ++i) {
    nn::Param& p = *params_[i];
    if (!owns(i) || !p.masked()) continue;
    LOWBIT_CHECK(p.mask.size() == p.value.size(), name(), ": ", describe(i), " has ", p.value.size(),
                 " values but a pruning mask of ", p.mask.size());
    std::vector<float*> state;
    for (auto& st : state_of(i)) state.push_back(st.second->data());
    apply_mask(p, state, 0, p.value.size());
  }
}

std::vector<std::pair<std::string, Tensor*>> Optimizer::state_of(size_t index) {
  const std::string suffix = cat(".", index);
  std::vector<std::pair<std::string, Tensor*>> out;
  for (auto& st : state_tensors())
    if (st.first.size() > suffix.size() && st.first.compare(st.first.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(st);
  return out;
}

std::pair<float, float> Optimizer::clip_bounds(const nn::Param& p) {
  if (p.clip > 0.f) return {-p.clip, p.clip};
  return {-std::numeric_limits<float>::infinity(), std::numeric_limits<float>::infinity()};
}

std::vector<std::pair<std::string, Tensor*>> Optimizer::state_tensors() { return {}; }

json Optimizer::state_json() const {
  return json{{"optimizer", name()}, {"params", params_.size()}, {"steps", steps_}};
}

void Optimizer::load_state_json(const json& state) {
  LOWBIT_CHECK(state.is_object(), name(), ": optimizer state must be a JSON object, got ", state.dump());
  if (state.contains("optimizer")) {
    const json& n = state["optimizer"];
    LOWBIT_CHECK(n.is_string() && n.get<std::string>() == name(), "optimizer state is for ", n.dump(),
                 " but this run uses \"", name(), "\"");
  }
  if (state.contains("params")) {
    const json& n = state["params"];
    LOWBIT_CHECK(n.is_number_integer() && n.get<int64_t>() >= 0 &&
                     static_cast<uint64_t>(n.get<int64_t>()) == params_.size(),
                 name(),
                 ": optimizer state is for ", n.dump(), " parameters, this model has ", params_.size());
  }
  LOWBIT_CHECK(state.contains("steps") && state["steps"].is_number_integer() &&
                   state["steps"].get<int64_t>() >= 0,
               name(), ": optimizer state needs a non-negative integer \"steps\", got ", state.dump());
  steps_ = state["steps"].get<int64_t>();
}

const std::vector<std::string>& optimizer_names() {
  static const std::vector<std::string> names{"sgd", "adam", "adamw"};
  return names;
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& c, std::vector<nn::Param*> params) {
  if (c.name == "sgd") {
    return std::make_unique<Sgd>(std::move(params), SgdOptions{c.momentum, c.nesterov, c.weight_decay});
  }
  if (c.name == "adam" || c.name == "adamw") {
    AdamOptions o{c.beta1, c.beta2, c.eps, c.weight_decay};
    if (c.name == "adam") return std::make_unique<Adam>(std::move(params), o);
    return std::make_unique<AdamW>(std::move(params), o);
  }
  std::string valid;
  for (const std::string& n : optimizer_names()) valid += (valid.empty() ? "" : ", ") + n;
  fail("unknown optimizer '", c.name, "' (valid: ", valid, ")");
}

}  // namespace lowbit::optim
