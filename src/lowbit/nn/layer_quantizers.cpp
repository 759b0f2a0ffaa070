#include "lowbit/nn/layer_quantizers.hpp"

#include <algorithm>
#include <cmath>

#include "lowbit/core/error.hpp"
#include "lowbit/format/semantics.hpp"
#include "lowbit/quant/parallel.hpp"

namespace lowbit::nn {

void LayerQuantizers::configure(const std::string& weight_spec, const std::string& input_spec, Param& weight,
                                float weight_clip) {
  weight_q_ = quant::make_quantizer(weight_spec, quant::Role::kWeight);
  input_q_ = quant::make_quantizer(input_spec, quant::Role::kActivation);
  clip_override_ = weight_clip;
  // Name the quantizers' own parameters once, relative to the layer ("weight_quantizer.alpha").
  for (auto* q : {weight_q_.get(), input_q_.get()})
    if (q)
      for (Param* p : q->params()) p->name = (q == weight_q_.get() ? "weight_quantizer." : "input_quantizer.") + p->name;
  weight.clip = weight_clip >= 0.f ? weight_clip : (weight_q_ ? weight_q_->latent_clip() : 0.f);
  for (Param* p : params()) p->decay = false;
  // Shape the quantizer's own parameters (SYQ scales per subgroup) now, so a model built
  // to load a checkpoint has them before any init(); the layer's init() sets real values.
  if (weight_q_) weight_q_->init(weight.value);
}

const Tensor& LayerQuantizers::weights(const Param& w, const Context& ctx) {
  if (!weight_q_) return w.value;
  weight_q_->forward(w.value, wq_, ctx);
  return wq_;
}

const Tensor& LayerQuantizers::input(const Tensor& x, const Context& ctx) {
  if (!input_q_) return x;
  input_q_->forward(x, xq_, ctx);
  return xq_;
}

Tensor& LayerQuantizers::weight_grad_target(Param& w) {
  if (!weight_q_ || weight_q_->backward_is_identity()) return w.grad;
  dwq_.resize(w.value.shape());
  return dwq_;
}

void LayerQuantizers::finish_weight_grad(Param& w) {
  if (weight_q_ && !weight_q_->backward_is_identity()) weight_q_->backward(w.value, dwq_, w.grad);
}

Tensor* LayerQuantizers::input_grad_target(const Tensor& x, Tensor* dx) {
  if (!dx) return nullptr;
  if (!input_q_) return dx;
  dxq_.resize(x.shape());
  return &dxq_;
}

void LayerQuantizers::finish_input_grad(const Tensor& x, Tensor* dx) {
  if (dx && input_q_) input_q_->backward(x, dxq_, *dx);
}

std::vector<Param*> LayerQuantizers::params() {
  std::vector<Param*> out;
  for (auto* q : {weight_q_.get(), input_q_.get()})
    if (q)
      for (Param* p : q->params()) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, Tensor*>> LayerQuantizers::buffers() {
  std::vector<std::pair<std::string, Tensor*>> out;
  if (weight_q_)
    for (auto& [n, t] : weight_q_->buffers()) out.emplace_back("weight_quantizer." + n, t);
  if (input_q_)
    for (auto& [n, t] : input_q_->buffers()) out.emplace_back("input_quantizer." + n, t);
  return out;
}

void LayerQuantizers::init(const Param& w) {
  if (weight_q_) weight_q_->init(w.value);
}

void LayerQuantizers::add_to_spec(json& spec) const {
  if (weight_q_) spec["weight_quantizer"] = weight_spec();
  if (input_q_) spec["input_quantizer"] = input_spec();
  if (clip_override_ >= 0.f) spec["weight_clip"] = clip_override_;
}

namespace {

// codes[i] = rnd(v[i] / step[g]) with g = i / group_len (step has one entry per group).
// With every step 1 the values are the codes already: returns &v, copying nothing (binary
// layers, whose evaluation would otherwise copy the weights every batch); else nullptr.
const Tensor* values_to_codes(const Tensor& v, const std::vector<float>& step, Tensor& codes) {
  if (std::all_of(step.begin(), step.end(), [](float s) { return s == 1.f; })) return &v;
  codes.resize(v.shape());
  const int64_t n = v.size(), groups = static_cast<int64_t>(step.size()), len = n / groups;
  const float* vp = v.data();
  float* cp = codes.data();
  quant::for_chunks(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) cp[i] = std::nearbyint(vp[i] / step[static_cast<size_t>(i / len)]);
  });
  return nullptr;
}

}  // namespace

std::string LayerQuantizers::input_grid(quant::Grid& g) const {
  const quant::Quantizer* xs = input_grid_source();
  if (!xs)
    return "its input is float: no activation quantizer feeds it (train with --acts, or --input-bits for the first "
           "layer; in a JSON topology, a quant_act layer before it)";
  if (!xs->grid(g)) return "its input: " + xs->no_grid_reason();
  if (input_q_) return "";
  for (const Layer* l : input_path_) {
    const std::string why = l->map_grid(g);
    if (!why.empty()) return "its input is float: " + where(*l) + why;
  }
  return "";
}

std::string LayerQuantizers::exact_problem(const Tensor& w_used, int64_t k, quant::Grid& wg, quant::Grid& xg,
                                           quant::TapGroups* tg) const {
  const quant::Quantizer* xs = input_grid_source();
  if (!weight_q_) return "its weights are float (no weight quantizer): give it one, e.g. --weights binary";
  if (!xs) return input_grid(xg);
  bool grouped = false;
  if (!weight_q_->grid(wg)) {
    // One grid per group of kernel taps (SYQ row / pixel): exact per group.
    quant::TapGroups t;
    const int64_t taps = w_used.rank() == 4 ? w_used.dim(2) * w_used.dim(3) : 0;
    if (!tg || !weight_q_->tap_groups(t) || static_cast<int64_t>(t.tap_group.size()) != taps)
      return "its weights: " + weight_q_->no_grid_reason();
    wg = quant::Grid{t.step, t.code_min, t.code_max};
    *tg = std::move(t);
    grouped = true;
  }
  if (std::string why = input_grid(xg); !why.empty()) return why;
  if (xg.step.size() != 1) return "its input quantizer '" + xs->spec().str() + "' has several scales (one is needed)";
  const int64_t channels = w_used.rank() > 0 ? w_used.dim(0) : 0;
  if (channels == 0 || (!grouped && wg.step.size() != 1 && static_cast<int64_t>(wg.step.size()) != channels))
    return "its weight quantizer '" + weight_q_->spec().str() + "' has " + std::to_string(wg.step.size()) +
           " scales for " + std::to_string(channels) + " output channels (one per channel at most)";
  // Every partial sum of the GEMM must be an exactly representable integer: in float
  // below 2^24, beyond it in double (kernels::gemm_integers) below 2^53.
  const double bound = static_cast<double>(k) * wg.max_abs_code() * xg.max_abs_code();
  if (bound >= kExactDoubleBound)
    return cat("a dot product of ", k, " codes of up to ", wg.max_abs_code(), " (weights '", weight_q_->spec().str(),
               "') times ", xg.max_abs_code(), " (inputs '", xs->spec().str(), "'",
               xg.count > 1 ? cat(", window sums of ", xg.count) : std::string(), ") reaches ", bound,
               ", beyond 2^53, the largest range double computes exactly; use fewer weight or input bits");
  return "";
}

namespace {

// One step per output channel (a per-tensor step repeated).
std::vector<float> channel_steps(const quant::Grid& wg, int64_t channels) {
  std::vector<float> wstep = wg.step;
  if (wstep.size() == 1) wstep.assign(static_cast<size_t>(channels), wg.step[0]);
  return wstep;
}

// Grouped weights (quant::TapGroups): codes[j] = rnd(v[j] / step[g]) with g the group of
// element j's kernel tap (weights (out, in, kh, kw): tap = j mod kh kw); their scales.
void grouped_codes(const Tensor& w, const quant::TapGroups& tg, const quant::Grid& xg, Tensor& codes,
                   GroupedScales& out) {
  codes.resize(w.shape());
  const int64_t taps = static_cast<int64_t>(tg.tap_group.size());
  for (int64_t j = 0; j < w.size(); ++j)
    codes[j] = std::nearbyint(w[j] / tg.step[static_cast<size_t>(tg.tap_group[static_cast<size_t>(j % taps)])]);
  out.tap_group = tg.tap_group;
  out.scale.clear();
  for (float s : tg.step) out.scale.push_back(s * xg.step[0]);
}

}  // namespace

bool LayerQuantizers::to_codes(const Tensor& x_used, const Tensor& w_used, int64_t k) {
  last_exact_ = false;
  quant::Grid wg, xg;
  quant::TapGroups tg;
  inexact_reason_ = exact_problem(w_used, k, wg, xg, &tg);
  if (!inexact_reason_.empty()) return false;
  const int64_t channels = w_used.dim(0);
  grouped_ = !tg.tap_group.empty();
  if (grouped_) {
    x_values_ = values_to_codes(x_used, xg.step, xc_);
    grouped_codes(w_used, tg, xg, wc_, groups_);
    w_values_ = nullptr;
    out_scale_.clear();
    wide_ = static_cast<double>(k) * wg.max_abs_code() * xg.max_abs_code() >= kExactFloatBound;
    last_exact_ = true;
    return true;
  }
  x_values_ = values_to_codes(x_used, xg.step, xc_);
  const std::vector<float> wstep = channel_steps(wg, channels);
  w_values_ = values_to_codes(w_used, wstep, wc_);
  out_scale_.resize(static_cast<size_t>(channels));
  for (size_t c = 0; c < out_scale_.size(); ++c) out_scale_[c] = wstep[c] * xg.step[0];
  wide_ = static_cast<double>(k) * wg.max_abs_code() * xg.max_abs_code() >= kExactFloatBound;
  last_exact_ = true;
  return true;
}

std::string LayerQuantizers::exact_form(const Param& w, int64_t k, Tensor& codes, std::vector<float>& out_scale,
                                        GroupedScales* groups) {
  quant::Grid wg, xg;
  quant::TapGroups tg;
  if (!weight_q_) return exact_problem(w.value, k, wg, xg, nullptr);
  // The weights evaluation computes with (a quantizer's forward in evaluation mode is a
  // function of the latent weights and its own trained state; it may refresh caches such
  // as XNOR's per-channel means, which grid() then reports).
  Tensor wq;
  weight_q_->forward(w.value, wq, Context{false, nullptr});
  std::string why = exact_problem(wq, k, wg, xg, groups ? &tg : nullptr);
  if (!why.empty()) return why;
  const int64_t channels = wq.dim(0);
  out_scale.clear();
  if (!tg.tap_group.empty()) {
    grouped_codes(wq, tg, xg, codes, *groups);
    return "";
  }
  const std::vector<float> wstep = channel_steps(wg, channels);
  if (values_to_codes(wq, wstep, codes)) codes = wq;  // the values are the codes (every step 1)
  out_scale.resize(static_cast<size_t>(channels));
  for (size_t c = 0; c < out_scale.size(); ++c) out_scale[c] = wstep[c] * xg.step[0];
  return "";
}

void LayerQuantizers::scale_output(Tensor& y, const float* bias) const {
  const int64_t n = y.dim(0), C = static_cast<int64_t>(out_scale_.size());
  const int64_t S = (n * C) != 0 ? y.size() / (n * C) : 0;
  float* yp = y.data();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < C; ++c) {
      float* row = yp + (i * C + c) * S;
      const float s = out_scale_[static_cast<size_t>(c)], b = bias ? bias[c] : 0.f;
      for (int64_t j = 0; j < S; ++j) row[j] = bias ? format::scale_acc(row[j], s, b) : format::scale_acc(row[j], s);
    }
}

}  // namespace lowbit::nn
