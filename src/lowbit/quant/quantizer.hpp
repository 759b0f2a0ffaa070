// Quantizer objects: what a layer holds for its weights or its input. A Quantizer maps a
// tensor to its quantized value (forward) and maps the gradient with respect to that value
// back to the real-valued input (backward, the surrogate gradient), like Larq's quantizers
// and Brevitas' quant proxies. Some own learned parameters (SYQ scales, AddNet lambda) or
// state (int:k EMA ranges, the progressive scale v); those are exposed as Params and named
// buffers so optimizers and checkpoints see them.
//
// Roles: a weight quantizer sees a layer's weight tensor, whose dim 0 is the output channel
// (per-channel scales) and, for (out, in, kh, kw) convolutions, whose last two dims are the
// kernel rows/pixels (SYQ subgroups). An activation quantizer sees a batch (N, ...) and
// uses one scale for the whole tensor.
//
// Contract (as for layers): backward() is called right after forward() with the same x;
// it OVERWRITES dx (resized to x's shape) and the gradients of params(); dx must not alias dy.
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/core/parallel.hpp"
#include "lowbit/core/param.hpp"
#include "lowbit/quant/spec.hpp"

namespace lowbit::quant {

enum class Role { kWeight, kActivation };
const char* role_name(Role r);  // "weights" / "activations"

// The integer grid of a quantizer's last output: every value is code * step[g] with an
// integer code in [code_min, code_max]; g is the output channel (dim 0 of a weight tensor)
// when step has more than one entry, else the whole tensor. Layers use it to evaluate
// exactly (integer products, scaled once per channel) and export to fold the scales into
// thresholds (docs/DEPLOYMENT.md).
struct Grid {
  std::vector<float> step;  // > 0 and finite
  int32_t code_min = 0, code_max = 0;
  // Quantizer codes summed into one code: 1, or n for the averages of n values (average
  // pooling, averages_grid), whose codes are the window sums.
  int32_t count = 1;
  int32_t max_abs_code() const { return std::max(code_min < 0 ? -code_min : code_min, code_max < 0 ? -code_max : code_max); }
};

// Weights whose scale varies along each dot product in fixed groups of kernel taps (SYQ's
// row and pixel scaling, Faraone et al., CVPR 2018): integer codes code_min..code_max, the
// value of an element at kernel tap t = ky * kw + kx being code * step[tap_group[t]].
struct TapGroups {
  std::vector<float> step;           // per group, > 0 and finite
  std::vector<int32_t> tap_group;    // per kernel tap (kh * kw of them), its group
  int32_t code_min = 0, code_max = 0;
};

// The grid of the averages of n values on grid g (unpadded average pooling: every window
// has n = k * k taps). The average of code * step values is (c_1 + ... + c_n) * (step / n),
// so its codes are the window sums, n * code_min .. n * code_max, on step / n, rounded to
// float here, once: evaluation's codes and output scales, and through them export's, all
// come from this grid (docs/DEPLOYMENT.md). Whether evaluation's float averages round back
// to those sums exactly is AvgPool2d::map_grid's question.
inline Grid averages_grid(const Grid& g, int32_t n) {
  Grid out{{}, g.code_min * n, g.code_max * n, g.count * n};
  for (float s : g.step) out.step.push_back(s / static_cast<float>(n));
  return out;
}

class Quantizer {
 public:
  Quantizer(QuantSpec spec, Role role) : spec_(std::move(spec)), role_(role) {}
  virtual ~Quantizer() = default;
  Quantizer(const Quantizer&) = delete;
  Quantizer& operator=(const Quantizer&) = delete;

  const QuantSpec& spec() const { return spec_; }
  Role role() const { return role_; }
  int bits() const { return spec_.bits; }

  // y = Q(x); y is resized to x's shape and must not alias x.
  virtual void forward(const Tensor& x, Tensor& y, const Context& ctx) = 0;
  // dx = dQ/dx applied to dy (surrogate gradient); also overwrites params()' gradients.
  virtual void backward(const Tensor& x, const Tensor& dy, Tensor& dx) = 0;

  // Learned parameters, named relative to the quantizer ("alpha", "lambda").
  virtual std::vector<Param*> params() { return {}; }
  // State kept in checkpoints ("ema_min", "v", ...).
  virtual std::vector<std::pair<std::string, Tensor*>> buffers() { return {}; }
  // Called by the layer after it (re)initialises its latent weights (SYQ scales start at
  // the subgroup's mean|W|, AddNet's lambda from distribution matching).
  virtual void init(const Tensor& latent) {}
  // Fraction of training completed at the start of the current epoch, in [0, 1]
  // (the progressive quantizer's v schedule).
  virtual void set_progress(double t) {}
  // Scales applied to the integer levels by the last forward, for inspection and export:
  // per output channel (xnor, int:channel), per subgroup (syq), per tensor (xnor:tensor,
  // int, addnet lambda). nullptr when the values are the levels themselves.
  virtual const Tensor* scales() const { return nullptr; }
  // True when the last forward's surrogate gradient is the identity (an STE whose mask was
  // all ones: sign of latent weights already clipped to [-1, 1]). The layer then writes
  // dL/dW directly and skips backward(), saving a pass over the weights.
  virtual bool backward_is_identity() const { return false; }
  // Post-step clip for latent weights this quantizer expects (1 for the sign family, as
  // BinaryNet; 0 = none).
  virtual float latent_clip() const { return 0.f; }
  // The grid of the last forward's output (see Grid); false when it is not on one (float
  // values, an affine zero point, sub-channel scales, progressive while training...).
  virtual bool grid(Grid& out) const { return false; }
  // When grid() is false: why, in words a user can act on (export's error names it).
  // Weights on one grid per group of kernel taps (TapGroups), when grid() is false because
  // the scale varies along each dot product in such groups (SYQ row / pixel): evaluation then
  // computes one integer partial sum per group (nn::LayerQuantizers). False otherwise.
  virtual bool tap_groups(TapGroups& out) const { return false; }
  virtual std::string no_grid_reason() const {
    return cat("'", spec_.str(), "' gives values that are not integer codes times one scale");
  }

 protected:
  QuantSpec spec_;
  Role role_;
};

// Builds the quantizer for spec in role; throws lowbit::Error when the family does not
// support the role (e.g. "fixed:4,2" on weights, "xnor" on activations).
std::unique_ptr<Quantizer> make_quantizer(const QuantSpec& spec, Role role);
std::unique_ptr<Quantizer> make_quantizer(const std::string& spec, Role role);

// Parallelise element loops from this many elements on (core/parallel.hpp's grain).
inline constexpr int64_t kQuantParallelMin = Grain::kArithmetic;

}  // namespace lowbit::quant
