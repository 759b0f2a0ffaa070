#include "lowbit/optim/low_precision_update.hpp"

#include <atomic>
#include <cstring>
#include <memory>
#include <utility>

#include "lowbit/core/error.hpp"
#include "lowbit/kernels/number_round.hpp"

namespace lowbit::optim {

LowPrecisionUpdate::LowPrecisionUpdate(const quant::LowPrecisionConfig& config, std::vector<nn::NamedParam> params,
                                       uint64_t seed)
    : config_(config), seed_(seed) {
  for (nn::NamedParam& p : params) {
    LOWBIT_CHECK(p.param != nullptr, "low-precision update: null parameter");
    if (!quant::rounds_parameter(p.name)) continue;  // learned QAT scales stay float32
    index_of_[p.param] = params_.size();
    const std::string layer = quant::layer_of_parameter(p.name);
    formats_.push_back({&config_.format(quant::Site::kGrads, layer), &config_.format(quant::Site::kWeights, layer),
                        &config_.format(quant::Site::kState, layer)});
    params_.push_back(std::move(p));
  }
  if (config_.accumulator)
    for (const nn::NamedParam& p : params_) acc_.push_back(p.param->value);
}

void LowPrecisionUpdate::swap_accumulator() {
  for (size_t i = 0; i < acc_.size(); ++i) {
    Tensor& v = params_[i].param->value;
    LOWBIT_CHECK(v.shape() == acc_[i].shape(), "low-precision update: parameter ", params_[i].name,
                 " changed shape from ", shape_str(acc_[i].shape()), " to ", shape_str(v.shape()));
    std::swap(v, acc_[i]);
  }
}

void LowPrecisionUpdate::before_step(uint64_t step) {
  for (size_t i = 0; i < params_.size(); ++i)
    quant::round_tensor(params_[i].param->grad, *formats_[i].grads, config_.rounding,
                        {seed_, step, cat("grads/", params_[i].name)});
  if (config_.accumulator) swap_accumulator();
}

void LowPrecisionUpdate::after_step(uint64_t step, const std::vector<Optimizer*>& optimizers) {
  if (config_.rounds(quant::Site::kState))
    for (Optimizer* opt : optimizers)
      for (size_t j = 0; j < opt->params().size(); ++j) {
        const auto it = index_of_.find(opt->params()[j]);
        if (!opt->owns(j) || it == index_of_.end()) continue;
        for (auto& [name, t] : opt->state_of(j))
          quant::round_tensor(*t, *formats_[it->second].state, config_.rounding, {seed_, step, cat("state/", name)});
      }
  if (config_.accumulator) {
    swap_accumulator();  // the parameters hold their old rounded values again, acc_ the updated copies
    for (size_t i = 0; i < acc_.size(); ++i) {
      quant::round_tensor(acc_[i], config_.acc, config_.rounding, {seed_, step, cat("acc/", params_[i].name)});
      Tensor& v = params_[i].param->value;
      v = acc_[i];
      quant::round_tensor(v, *formats_[i].weights, config_.rounding, {seed_, step, cat("weights/", params_[i].name)});
    }
    return;
  }
  for (size_t i = 0; i < params_.size(); ++i)
    quant::round_tensor(params_[i].param->value, *formats_[i].weights, config_.rounding,
                        {seed_, step, cat("weights/", params_[i].name)});
}

namespace {

// The largest finite magnitude of a tensor, gathered from slices on any threads: the bits
// of non-negative floats order as the floats do.
class AtomicMax {
 public:
  void add(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    uint32_t cur = bits_.load(std::memory_order_relaxed);
    while (bits > cur && !bits_.compare_exchange_weak(cur, bits, std::memory_order_relaxed)) {
    }
  }
  float get() const {
    const uint32_t bits = bits_.load(std::memory_order_relaxed);
    float v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }

 private:
  std::atomic<uint32_t> bits_{0};
};

// One rounding site of a fused step: its format, key and (per-tensor bfp) collected maximum.
struct Site {
  const quant::NumberFormat* format = nullptr;
  kernels::RoundStream key;
  std::string name;
  float block_max = 0.f;  // gradients: found before the update
  AtomicMax collected;    // state, accumulator, weights: found by the slices
};

}  // namespace

// The slice work of one optimizer's step (Optimizer::SliceHooks).
class LowPrecisionUpdate::Hooks : public Optimizer::SliceHooks {
 public:
  Hooks(LowPrecisionUpdate& lp, Optimizer& opt, uint64_t step) : lp_(lp), step_(step) {
    const quant::LowPrecisionConfig& c = lp.config_;
    const std::vector<nn::Param*>& ps = opt.params();
    for (size_t j = 0; j < ps.size(); ++j) {
      per_param_.push_back(std::make_unique<Slot>());
      if (!opt.owns(j)) continue;
      const auto it = lp.index_of_.find(ps[j]);
      if (it == lp.index_of_.end()) continue;  // a learned quantizer scale: float32
      Slot& pp = *per_param_[j];
      pp.lp_index = it->second;
      const std::string& name = lp.params_[pp.lp_index].name;
      const Formats& f = lp.formats_[pp.lp_index];
      init_site(pp.grads, *f.grads, cat("grads/", name));
      init_site(pp.acc, c.acc, cat("acc/", name));
      init_site(pp.weights, *f.weights, cat("weights/", name));
      for (auto& [state_name, t] : opt.state_of(j)) {
        pp.states.emplace_back(std::make_unique<Site>(), t);
        init_site(*pp.states.back().first, *f.state, cat("state/", state_name));
      }
      // Per-tensor bfp gradients: the block's maximum before any slice is rounded.
      if (f.grads->kind == quant::NumberFormat::Kind::kBfp && quant::sliceable(*f.grads)) {
        const Tensor& g = ps[j]->grad;
        pp.grads.block_max = quant::max_abs_finite_parallel(g.data(), g.size());
      }
    }
  }

  void before(size_t index, nn::Param& p, int64_t begin, int64_t end) override {
    const Slot& pp = *per_param_[index];
    if (pp.lp_index == SIZE_MAX) return;  // a learned quantizer scale: float32
    if (fused(pp.grads)) slice(p.grad, pp.grads, begin, end, pp.grads.block_max);
  }

  void after(size_t index, nn::Param& p, int64_t begin, int64_t end) override {
    Slot& pp = *per_param_[index];
    if (pp.lp_index == SIZE_MAX) return;  // a learned quantizer scale: float32
    const quant::LowPrecisionConfig& c = lp_.config_;
    for (auto& [site, t] : pp.states) settle(*t, *site, begin, end);
    if (!c.accumulator) {
      settle(p.value, pp.weights, begin, end);
      return;
    }
    // p.value holds the accumulator during the step; the parameter's own buffer waits in acc_.
    if (!settle(p.value, pp.acc, begin, end)) return;  // the accumulator's rounding waits: so do the weights
    Tensor& w = lp_.acc_[pp.lp_index];
    std::memcpy(w.data() + begin, p.value.data() + begin, sizeof(float) * static_cast<size_t>(end - begin));
    settle(w, pp.weights, begin, end);
  }

  // After the update: the roundings the slices could not do (bfp maxima, bfp along axes),
  // once the accumulator is swapped back (the parameters hold their own buffers again).
  void finish() {
    const quant::LowPrecisionConfig& c = lp_.config_;
    for (auto& slot : per_param_) {
      Slot& pp = *slot;
      if (pp.lp_index == SIZE_MAX) continue;
      for (auto& [site, t] : pp.states) finish_site(*t, *site);
      Tensor& value = lp_.params_[pp.lp_index].param->value;
      if (!c.accumulator) {
        finish_site(value, pp.weights);
        continue;
      }
      Tensor& acc = lp_.acc_[pp.lp_index];
      if (!waits(pp.acc)) {
        finish_site(value, pp.weights);  // the slices copied the rounded accumulator into value
        continue;
      }
      finish_site(acc, pp.acc);
      value = acc;
      quant::round_tensor(value, *pp.weights.format, c.rounding, {lp_.seed_, step_, pp.weights.name});
    }
  }

 private:
  struct Slot {                  // one per parameter of the optimizer's list
    size_t lp_index = SIZE_MAX;  // SIZE_MAX: not owned by this optimizer
    Site grads, acc, weights;
    std::vector<std::pair<std::unique_ptr<Site>, Tensor*>> states;
  };

  void init_site(Site& s, const quant::NumberFormat& f, std::string name) {
    s.format = &f;
    s.key = kernels::round_stream_key(lp_.seed_, step_, quant::site_id(name));
    s.name = std::move(name);
  }
  static float max_abs(const float* x, int64_t n) { return kernels::max_abs_finite(x, n); }
  // Rounded inside the slices: elementwise formats and per-tensor bfp gradients.
  static bool fused(const Site& s) { return s.format->active() && quant::sliceable(*s.format); }
  // Rounded after the update, whole: bfp (its maximum is known only then).
  static bool waits(const Site& s) { return s.format->active() && !quant::elementwise(*s.format); }
  void slice(Tensor& t, const Site& s, int64_t begin, int64_t end, float block_max) const {
    quant::round_slice(t.data() + begin, end - begin, begin, *s.format, lp_.config_.rounding, s.key, block_max);
  }
  // Rounds t's slice onto an elementwise format now, or collects the slice's maximum for a
  // per-tensor bfp; true when the slice now holds its final values.
  bool settle(Tensor& t, Site& s, int64_t begin, int64_t end) {
    if (!s.format->active()) return true;
    if (quant::elementwise(*s.format)) {
      slice(t, s, begin, end, 0.f);
      return true;
    }
    if (quant::sliceable(*s.format)) s.collected.add(max_abs(t.data() + begin, end - begin));
    return false;
  }
  void finish_site(Tensor& t, Site& s) const {
    if (!waits(s)) return;
    if (quant::sliceable(*s.format))
      quant::round_values_given_max(t.data(), t.size(), *s.format, lp_.config_.rounding, {lp_.seed_, step_, s.name},
                                    s.collected.get());
    else
      quant::round_tensor(t, *s.format, lp_.config_.rounding, {lp_.seed_, step_, s.name});
  }

  LowPrecisionUpdate& lp_;
  uint64_t step_;
  std::vector<std::unique_ptr<Slot>> per_param_;
};

void LowPrecisionUpdate::step(uint64_t step, float lr, const std::vector<Optimizer*>& optimizers) {
  // Gradients in bfp along an axis: whole tensors, before the update.
  for (size_t i = 0; i < params_.size(); ++i)
    if (formats_[i].grads->active() && !quant::sliceable(*formats_[i].grads))
      quant::round_tensor(params_[i].param->grad, *formats_[i].grads, config_.rounding,
                          {seed_, step, cat("grads/", params_[i].name)});
  // Every rounded parameter has exactly one owner, as the whole-tensor passes assume (they
  // round each parameter once, after all updates).
  std::vector<int> owners(params_.size(), 0);
  for (Optimizer* opt : optimizers) {
    LOWBIT_CHECK(opt != nullptr, "low-precision update: null optimizer");
    for (size_t j = 0; j < opt->params().size(); ++j) {
      const auto it = index_of_.find(opt->params()[j]);
      if (opt->owns(j) && it != index_of_.end()) ++owners[it->second];
    }
  }
  for (size_t i = 0; i < params_.size(); ++i)
    LOWBIT_CHECK(owners[i] == 1, "low-precision update: parameter ", params_[i].name, " has ", owners[i],
                 " optimizers; it needs exactly one");
  std::vector<std::unique_ptr<Hooks>> hooks;
  for (Optimizer* opt : optimizers) hooks.push_back(std::make_unique<Hooks>(*this, *opt, step));
  if (config_.accumulator) swap_accumulator();
  for (size_t k = 0; k < optimizers.size(); ++k) optimizers[k]->step(lr, hooks[k].get());
  if (config_.accumulator) {
    // The slices wrote the rounded weights into acc_'s buffers and updated the accumulator in
    // the parameters'; swapping back puts each where it belongs.
    swap_accumulator();
  }
  for (auto& h : hooks) h->finish();
}

void LowPrecisionUpdate::reset_accumulator() {
  for (size_t i = 0; i < acc_.size(); ++i) acc_[i] = params_[i].param->value;
}

std::vector<std::pair<std::string, Tensor*>> LowPrecisionUpdate::state_tensors() {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (size_t i = 0; i < acc_.size(); ++i) out.emplace_back(cat("lp.acc.", params_[i].name), &acc_[i]);
  return out;
}

}  // namespace lowbit::optim
