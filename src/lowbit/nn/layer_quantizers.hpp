// The weight and input quantizers of a Dense or Conv2d layer (Larq's kernel_quantizer and
// input_quantizer, Brevitas' QuantLinear), shared by both so the plumbing is written once.
//
// The layer keeps its real-valued latent weights in its Param; every forward computes the
// quantized weights Q(W) into a buffer (inspectable, and what export packs) and quantizes
// the input. The layer's math then runs on those, and its backward writes dL/dQ(W) and
// dL/dQ(x) into the buffers this class hands out, which finish_*() map back through the
// quantizers' surrogate gradients. With no quantizer the layer's own tensors are used
// directly, so a float layer pays nothing.
#pragma once
#include <memory>
#include <string>

#include "lowbit/nn/layer.hpp"
#include "lowbit/quant/quantizer.hpp"

namespace lowbit::nn {

// SYQ's grouped scales in exact evaluation (quant::TapGroups): the weights' scale varies
// along each dot product in groups of kernel taps, so evaluation computes one integer
// partial sum per group and combines them in float (format::group_first / group_next).
struct GroupedScales {
  std::vector<int32_t> tap_group;  // per kernel tap (ky * kw + kx): its group
  std::vector<float> scale;        // per group: w_step[g] * x_step
};

class LayerQuantizers {
 public:
  // Specs as in quant/spec.hpp ("none" = float). Sets weight.clip to the weight quantizer's
  // latent clip unless weight_clip >= 0 overrides it. Throws on a bad spec or role.
  void configure(const std::string& weight_spec, const std::string& input_spec, Param& weight, float weight_clip = -1.f);

  quant::Quantizer* weight_quantizer() const { return weight_q_.get(); }
  quant::Quantizer* input_quantizer() const { return input_q_.get(); }
  std::string weight_spec() const { return weight_q_ ? weight_q_->spec().str() : "none"; }
  std::string input_spec() const { return input_q_ ? input_q_->spec().str() : "none"; }

  // Forward: the weights and the input the layer should compute with (the originals when
  // unquantized, else the quantized copies owned here).
  const Tensor& weights(const Param& w, const Context& ctx);
  const Tensor& input(const Tensor& x, const Context& ctx);
  // The input the last forward computed with (for the layer's backward).
  const Tensor& last_input(const Tensor& x) const { return input_q_ ? xq_ : x; }
  // The weights the last forward computed with (Q(W), or W itself).
  const Tensor& last_weights(const Param& w) const { return weight_q_ ? wq_ : w.value; }

  // Backward: where the layer writes dL/d(weights it used); then finish_weight_grad
  // turns that into dL/dW (and the quantizer's own parameter gradients).
  Tensor& weight_grad_target(Param& w);
  void finish_weight_grad(Param& w);
  // Where the layer writes dL/d(input it used); nullptr when dx is nullptr. Then
  // finish_input_grad maps it through the input quantizer into *dx.
  Tensor* input_grad_target(const Tensor& x, Tensor* dx);
  void finish_input_grad(const Tensor& x, Tensor* dx);

  // Exact evaluation (docs/DEPLOYMENT.md). When the weights and the input are both on
  // integer grids (quant::Grid) -- the input's grid comes from the input quantizer or,
  // without one, from the quantizer upstream that the model wired in with
  // set_input_grid_source, mapped through the layers between (input_grid) -- evaluation
  // multiplies the integer codes and scales each output channel once:
  // y = float(acc) * (w_step[c] * x_step) + b. acc is exact whatever the summation order:
  // in float while every dot product of codes stays below 2^24 in magnitude, else (wide())
  // through kernels::gemm_integers, in double, below 2^53; either way float(acc) is the
  // exact integer rounded once. This is the arithmetic the deployment runtime reproduces
  // bit for bit. Weights on one grid per group of kernel taps (SYQ row / pixel on a
  // convolution, quant::TapGroups) take the exact path too, as grouped(): the layer computes
  // one integer partial sum per group and combines them in group order,
  //   y = P_0 * s_0 + P_1 * s_1 + ... (+ b),   s_g = w_step[g] * x_step,
  // each product and sum rounded (format::group_first / group_next).
  static constexpr double kExactFloatBound = 16777216.0;          // 2^24
  static constexpr double kExactDoubleBound = 9007199254740992.0;  // 2^53
  // `between`: the layers from quantizer `q` to this one that do not keep_grid() (their
  // map_grid() is asked at each evaluation: average pooling sums windows, others leave the
  // grid); the model owns them. Both are ignored when the layer has an input quantizer.
  void set_input_grid_source(const quant::Quantizer* q, std::vector<const Layer*> between = {}) {
    input_source_ = q;
    input_path_ = std::move(between);
  }
  // The quantizer whose codes the input's grid counts: the input quantizer, else the wired
  // one (null: float input).
  const quant::Quantizer* input_grid_source() const { return input_q_ ? input_q_.get() : input_source_; }
  // The grid of the input values in evaluation, now: "" and `g` (the source's grid, mapped
  // by the layers between), else why the input is on none.
  std::string input_grid(quant::Grid& g) const;
  // After weights() and input() of an evaluation forward: converts them to codes (held
  // here) and the per-channel output scales. `k` is the dot-product length (in features,
  // or in*kh*kw). False, changing nothing, when the exact path does not apply.
  bool to_codes(const Tensor& x_used, const Tensor& w_used, int64_t k);
  // The exact integer form of this layer's evaluation, computed now from the latent weights
  // `w` and the quantizers' state, with no forward pass and nothing left behind: `codes` the
  // weight codes (w's shape, the quantized weights divided by their step) and `out_scale`
  // one scale per output channel (w_step[c] * x_step). What export folds. Returns "" on
  // success, else why the exact path does not apply (inexact_reason()'s words).
  // Grouped weights (SYQ row / pixel): `out_scale` is left empty and `groups` (required then:
  // null gives the reason instead) receives the tap groups and their scales.
  std::string exact_form(const Param& w, int64_t k, Tensor& codes, std::vector<float>& out_scale,
                         GroupedScales* groups);
  // The last to_codes() took the grouped path: its groups (the layer computes partial sums
  // per group, and scale_output does not apply); null otherwise.
  const GroupedScales* grouped() const { return last_exact_ && grouped_ ? &groups_ : nullptr; }
  bool last_exact() const { return last_exact_; }  // the last to_codes() succeeded
  // The last to_codes()' products reach 2^24: the layer multiplies with gemm_integers.
  bool wide() const { return wide_; }
  // Why the last to_codes() failed, in words naming the quantizer and what to change
  // ("its weights: float (no weight quantizer)...", the 2^53 bound with its numbers); ""
  // after a success.
  const std::string& inexact_reason() const { return inexact_reason_; }
  // For a layer that cannot take the exact path for a reason of its own (a pad value off
  // the grid): last_exact() false, with that reason.
  void set_inexact(std::string why) {
    last_exact_ = false;
    inexact_reason_ = std::move(why);
  }
  // The codes of the last to_codes() (the values themselves when the step is 1).
  const Tensor& input_codes() const { return x_values_ ? *x_values_ : xc_; }
  const Tensor& weight_codes() const { return w_values_ ? *w_values_ : wc_; }
  // y[n][c][s] = y * out_scale[c] (+ bias[c]) for y of shape (N, C, S...); after to_codes.
  void scale_output(Tensor& y, const float* bias) const;
  const std::vector<float>& output_scales() const { return out_scale_; }

  // Quantizer parameters and state, named "weight_quantizer.alpha", "input_quantizer.ema_min"...
  std::vector<Param*> params();
  std::vector<std::pair<std::string, Tensor*>> buffers();
  void init(const Param& w);  // after the layer initialised w
  // Adds "weight_quantizer"/"input_quantizer" keys (only when not none) to a layer spec.
  void add_to_spec(json& spec) const;

 private:
  std::unique_ptr<quant::Quantizer> weight_q_, input_q_;
  float clip_override_ = -1.f;
  Tensor wq_, dwq_, xq_, dxq_;
  const quant::Quantizer* input_source_ = nullptr;
  std::vector<const Layer*> input_path_;
  Tensor xc_, wc_;                     // codes, when they differ from the values
  const Tensor* x_values_ = nullptr;    // else the tensors to_codes() was given
  const Tensor* w_values_ = nullptr;
  std::vector<float> out_scale_;
  GroupedScales groups_;
  bool grouped_ = false;
  bool last_exact_ = false;
  bool wide_ = false;
  std::string inexact_reason_;
  // "" when weights `w_used` (out x ...) with dot products of length k take the exact path,
  // the grids filled in; else why not.
  // Grouped weights fill `tg` (when given; without it they are a problem).
  std::string exact_problem(const Tensor& w_used, int64_t k, quant::Grid& wg, quant::Grid& xg,
                            quant::TapGroups* tg) const;
};

}  // namespace lowbit::nn
