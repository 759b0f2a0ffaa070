// The element-level maths of sparse ternary training and pruning (Faraone's thesis, seed
// 003, chapters 3 and 4), on raw weight buffers; nn/pruning.hpp applies them to a model.
//
// - Quantized L2 (thesis eq. 3.3-3.5): the penalty lambda/2 * sum w_q^2 on the QUANTIZED
//   weights w_q adds lambda * w_q to dC/dw_r (Algorithm 2: g1 = dC/dw_q + lambda w_q), so a
//   latent weight whose quantized value is 0 is not decayed at all, and a nonzero one is
//   pulled towards the threshold with a constant force.
// - Quantization pruning (eq. 3.6-3.8): mask m = 1[|w_r| > sigma], sigma <= eta, and the
//   retrained weights start at w_r * m with the masked ones held at 0.
// - Filter ranking (chapter 4, eq. 4.8): MSQE_N = (1/n) sum_z (q_z - w_z)^2 over the n =
//   K*K*I weights of filter N. Filters with the HIGHEST error are pruned first: the thesis
//   holds that quantization error is what costs a bitwise network accuracy (4.5.3). For a
//   binary filter (q = sign w, |w| <= 1) the error is mean (1 - |w|)^2, so it ranks much as
//   the mean magnitude does, whose LOWEST filters go first; the thesis finds the two close
//   and both far better than random (Fig. 4.3).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace lowbit::quant {

// A value for the layers whose name matches `match` (a glob, fnmatch(3) without flags).
struct LayerValue {
  std::string match;
  float value = 0.f;
  bool matches(const std::string& layer) const;
};

// The sparsity settings of a training run (train::TrainConfig::sparsity).
struct SparsityConfig {
  // Quantized L2 strength lambda for every layer with a weight quantizer (0 = off), and
  // per-layer values (later entries win) -- `--quant-l2`, `--quant-l2-layer GLOB=L`.
  float quant_l2 = 0.f;
  std::vector<LayerValue> quant_l2_layers;
  // Quantization pruning after these epochs (1-based counts of finished epochs, ascending):
  // each prunes |w| <= sigma of every prunable layer (masks accumulate). `--prune-after`.
  std::vector<int64_t> prune_after;
  // sigma: < 0 = each layer's quantization threshold eta (sigma = eta, the thesis' choice);
  // else this value; per-layer values win (`--prune-sigma`, `--prune-sigma-layer GLOB=S`).
  float prune_sigma = -1.f;
  std::vector<LayerValue> prune_sigma_layers;

  // lambda of `layer` (0 = none).
  float quant_l2_of(const std::string& layer) const;
  // sigma of `layer`: the per-layer value, else prune_sigma (< 0: the layer's threshold).
  float prune_sigma_of(const std::string& layer) const;
  bool prunes() const { return !prune_after.empty(); }
  bool active() const;  // anything set
};

// JSON for checkpoints and configs: {"quant_l2": L, "quant_l2_layers": [{"match": G,
// "value": L}...], "prune_after": [E...], "prune_sigma": S, "prune_sigma_layers": [...]}.
// The reader checks every value (lowbit::Error naming `where` and the key).
nlohmann::json to_json(const SparsityConfig& c);
SparsityConfig sparsity_from_json(const nlohmann::json& j, const std::string& where);

// Parses "GLOB=VALUE" (the value a finite number >= 0); lowbit::Error naming `flag` otherwise.
LayerValue parse_layer_value(const std::string& text, const std::string& flag);

// grad[i] += lambda * q[i] (thesis eq. 3.5). n elements; grad and q must not alias.
void add_quantized_l2(float* grad, const float* q, int64_t n, float lambda);

// mask[i] = (|w[i]| > sigma) ? mask[i] : 0 -- the masks of repeated pruning accumulate
// (start from all ones); w[i] = 0 where the mask becomes 0. Returns the number of zeros in
// the mask afterwards. sigma >= 0.
int64_t quantization_prune(float* w, float* mask, int64_t n, float sigma);

// Per filter (row) f of `filters` rows of `fan` elements each: mean((q - w)^2) in double
// (thesis eq. 4.8). q are the quantized weights, w the latent ones.
std::vector<double> filter_msqe(const float* q, const float* w, int64_t filters, int64_t fan);
// Per filter: mean |w| (the "Real" ranking of thesis Fig. 4.3: magnitude of real weights).
std::vector<double> filter_magnitude(const float* w, int64_t filters, int64_t fan);

}  // namespace lowbit::quant
