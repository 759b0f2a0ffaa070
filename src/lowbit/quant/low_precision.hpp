// Low-precision training (docs/NUMERICS.md): which tensors of training are rounded onto
// which number format (quant/number_format.hpp), as QPyTorch's Quantizer (activations in
// forward, errors in backward) and OptimLP (gradients, weights, optimizer state, an
// accumulator) do, and as PBNN (seed 001) trains in 8- and 16-bit fixed point.
//
// Where each format applies, in training only (evaluation and export compute in float32
// with the weights as stored, which are the weight format's values after any step):
//   acts    the output of every layer in forward (nn::Sequential; leaf layers and residual
//           sums, not nested Sequentials, whose output is their last layer's), logits included;
//   errors  the gradient at each of those outputs in backward, before the layer's own
//           backward uses it (dL/dlogits included);
//   grads   every parameter gradient, before the optimizer step;
//   state   every optimizer state tensor (momentum, Adam moments, Bop's average), after it;
//   weights every parameter (weights, biases, BatchNorm, learned quantizer scales), after
//           the step;
//   acc     with an accumulator, the optimizer updates a high-precision copy of every
//           parameter (held in `acc`, float32 = unrounded), and the parameters are that copy
//           rounded onto `weights` (QPyTorch's acc_quant; "master weights"). Without one the
//           optimizer updates the rounded weights themselves.
// Per-layer overrides (`layers`, the --lp-layer flag): the layers whose name matches a glob
// take other formats at the sites the override sets (the five above; the accumulator is
// model-wide: a copy of every parameter or of none). A parameter belongs to the layer named
// before the first '.' of its name ("dense_3.weight": dense_3; layer names are TYPE_N and
// hold no '.'). Later overrides win over earlier ones, all over the model-wide formats;
// "float32" at a site turns its rounding off for those layers (e.g. the first and last
// layers in higher precision, as fixed-point designs often keep them).
// The matrix products accumulate in float32 (or per --compute) whatever the formats say:
// the operands are the formats' values, the sums are not rounded until the next site.
// The step order (an optimizer-step golden test pins it): round grads -> optimizer update
// in float32 (on the accumulator when there is one) -> round state -> round the
// accumulator -> weights = round(accumulator or updated weights).
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lowbit/quant/number_format.hpp"

namespace lowbit::quant {

// The sites that take per-layer formats.
enum class Site { kActs, kErrors, kGrads, kWeights, kState };

// Formats for the layers whose name matches `match` (a glob as fnmatch(3) reads it without
// flags: '*' any run, '?' one character, [...] a set), at the sites it sets.
struct LayerNumerics {
  std::string match;
  std::optional<NumberFormat> acts, errors, grads, weights, state;

  // True when `layer` matches `match`.
  bool matches(const std::string& layer) const;
  // The override at a site (empty: the site is not set).
  const std::optional<NumberFormat>& at(Site site) const;
};

struct LowPrecisionConfig {
  NumberFormat acts, errors, grads, weights, state;
  bool accumulator = false;  // keep a high-precision copy of the parameters
  NumberFormat acc;          // its format (float32: unrounded)
  Rounding rounding = Rounding::kNearestEven;  // for formats without their own '@rounding'
  std::vector<LayerNumerics> layers;           // per-layer overrides, later ones winning

  // Any format set (model-wide or in an override), or an accumulator.
  bool active() const;
  // The model-wide format at a site.
  const NumberFormat& model_wide(Site site) const;
  // The format at `site` for the layer named `layer`: the last override matching the name
  // that sets the site, else the model-wide format. The reference lives as long as *this.
  const NumberFormat& format(Site site, const std::string& layer) const;
  // True when some layer may round at `site` (the model-wide format or an override is active).
  bool rounds(Site site) const;
  // "acts=bfp:8 errors=bfp:8 ... rounding=stochastic" (the rounding when a format uses it),
  // then each override as "; layer dense_1: weights=fixed:16,14", or "float32" when inactive.
  std::string str() const;
};

// Whether the formats round the parameter with this checkpoint name: every one but learned
// quantizer scales (names containing "quantizer.": SYQ, AddNet, LSQ-style), which stay float32.
bool rounds_parameter(const std::string& param_name);
// The layer a parameter belongs to for per-layer formats: its name before the first '.'.
std::string layer_of_parameter(const std::string& param_name);

// Appends the override of one --lp-layer value, "PATTERN/SITE=FORMAT" (e.g.
// "dense_1/weights=fixed:16,14", "conv2d_*/acts=float32"). Throws lowbit::Error naming what
// is wrong (no '/', no '=', an empty pattern, an unknown site, a bad format).
void add_layer_override(LowPrecisionConfig& c, const std::string& spec);

// {"acts": "bfp:8@stochastic", ..., "acc": "float32" ("none" or absent: no accumulator),
// "layers": [{"match": "dense_1", "weights": "fixed:16,14@nearest-even"}, ...]}: every
// active format with the rounding it uses, so equal configurations write equal JSON; a
// "rounding" key (the default for formats without '@') is read but not written; "layers" is
// written only when there are overrides, and an override's "float32" is kept (it turns a
// site off). Absent keys are float32. from_json throws lowbit::Error naming `where` and the key.
nlohmann::json to_json(const LowPrecisionConfig& c);
LowPrecisionConfig low_precision_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace lowbit::quant
