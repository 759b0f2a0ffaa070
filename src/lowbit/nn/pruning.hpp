// Sparse ternary training and pruning on a model (Faraone's thesis, seed 003, chapter 3;
// the element maths is quant/pruning.hpp, docs/SPARSITY.md the user's page):
// how many of each layer's quantized weights are zero, the quantized L2 penalty's gradient,
// and quantization pruning (masks in nn::Param::mask that optimizers and checkpoints keep).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lowbit/nn/model.hpp"
#include "lowbit/quant/pruning.hpp"

namespace lowbit::nn {

// The zeros of one weighted layer's quantized weights.
struct LayerZeros {
  std::string layer;
  int64_t weights = 0;  // elements of the weight tensor
  int64_t zeros = 0;    // of Q(W) in evaluation (the deployed codes that are 0)
  int64_t masked = 0;   // held at 0 by a pruning mask (a subset of zeros)
  double fraction() const { return weights ? static_cast<double>(zeros) / static_cast<double>(weights) : 0.0; }
};

// Per weighted layer in execution order, from the latent weights now: the zeros of Q(W) as
// evaluation computes it (a layer without a weight quantizer counts its float zeros).
// Runs each weight quantizer's evaluation forward, so call it between training steps, not
// between a forward and its backward.
std::vector<LayerZeros> weight_zeros(Model& model);
// The totals over layers (layer "total").
LayerZeros total_zeros(const std::vector<LayerZeros>& layers);
// A table: one line per layer ("dense_1  784x1024  zeros 97.61%  (masked 95.02%)") and the total.
std::string zeros_table(const std::vector<LayerZeros>& layers);

// Why quantization pruning cannot act on `layer` (its quantized weights cannot be 0: a
// sign-family quantizer maps 0 to +1, so a pruned weight would not be a zero), or "" when
// it can: ternary (TWN or fixed threshold), syq:ternary, int:k:signed / unsigned.
std::string unprunable_reason(WeightedLayer& layer);
// The layer's fixed quantization threshold eta in latent units: ternary:T's T, else -1
// (TWN's and SYQ's thresholds move with the weights, int:k has none: give sigma).
float quantization_threshold(WeightedLayer& layer);

// g += lambda * Q(W) for every weighted layer whose lambda (config.quant_l2_of its name) is
// > 0, Q(W) being the weights the last forward used (thesis eq. 3.5). Call after
// Model::backward and before the optimizer step. Throws lowbit::Error for a lambda on a
// layer without a weight quantizer (plain L2 is --weight-decay).
void add_quantized_l2(Model& model, const quant::SparsityConfig& config);
// Throws lowbit::UsageError when a --quant-l2-layer or --prune-sigma-layer pattern matches
// no weighted layer (listing them), or a layer given lambda > 0 has no weight quantizer.
void check_sparsity_config(Model& model, const quant::SparsityConfig& config);

// Quantization pruning (thesis eq. 3.6-3.8) of every prunable layer whose name matches
// `match` (a glob; "*" = all): m = 1[|w| > sigma] AND the layer's existing mask, w *= m.
// sigma = config.prune_sigma_of(name), or the layer's threshold eta when that is < 0 (a
// layer without one needs an explicit sigma: lowbit::UsageError). Non-prunable layers are
// skipped (and listed in `skipped` when given) unless none is prunable: UsageError then.
// Callers holding an optimizer then call Optimizer::apply_masks() to clear its state.
// Returns each pruned layer's zeros after pruning.
std::vector<LayerZeros> quantization_prune(Model& model, const quant::SparsityConfig& config,
                                           const std::string& match = "*",
                                           std::vector<std::string>* skipped = nullptr);

}  // namespace lowbit::nn
