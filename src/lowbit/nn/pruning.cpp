#include "lowbit/nn/pruning.hpp"

#include <cstdio>

#include "lowbit/core/error.hpp"
#include "lowbit/quant/sign_quantizers.hpp"

namespace lowbit::nn {

namespace {

int64_t count_zeros(const Tensor& t) {
  int64_t z = 0;
  for (int64_t i = 0; i < t.size(); ++i) z += t[i] == 0.f;
  return z;
}

std::string layer_names(Model& model, bool quantized_only) {
  std::string names;
  for (WeightedLayer* l : model.weighted_layers())
    if (!quantized_only || l->quant().weight_quantizer()) names += (names.empty() ? "" : ", ") + l->name();
  return names.empty() ? std::string("none") : names;
}

}  // namespace

std::vector<LayerZeros> weight_zeros(Model& model) {
  std::vector<LayerZeros> out;
  const Context eval{};
  for (WeightedLayer* l : model.weighted_layers()) {
    LayerZeros z;
    z.layer = l->name();
    const Param& w = l->weight();
    z.weights = w.value.size();
    z.zeros = count_zeros(l->quant().weights(w, eval));
    if (w.masked()) z.masked = count_zeros(w.mask);
    out.push_back(z);
  }
  return out;
}

LayerZeros total_zeros(const std::vector<LayerZeros>& layers) {
  LayerZeros t;
  t.layer = "total";
  for (const LayerZeros& z : layers) {
    t.weights += z.weights;
    t.zeros += z.zeros;
    t.masked += z.masked;
  }
  return t;
}

std::string zeros_table(const std::vector<LayerZeros>& layers) {
  std::string s;
  char line[160];
  auto row = [&](const LayerZeros& z) {
    std::snprintf(line, sizeof line, "  %-14s %10lld weights  zeros %7.3f%%", z.layer.c_str(),
                  static_cast<long long>(z.weights), 100.0 * z.fraction());
    s += line;
    if (z.masked)
      s += cat("  (masked ", z.masked, ")");
    s += "\n";
  };
  for (const LayerZeros& z : layers) row(z);
  row(total_zeros(layers));
  return s;
}

std::string unprunable_reason(WeightedLayer& layer) {
  const quant::Quantizer* q = layer.quant().weight_quantizer();
  if (!q) return "its weights are float (no weight quantizer); prune quantized layers (e.g. --weights ternary:0.9)";
  const quant::QuantSpec& s = q->spec();
  if (s.kind == quant::QuantKind::kTernary) return "";
  if (s.kind == quant::QuantKind::kSyq && s.bits == 2) return "";
  if (s.kind == quant::QuantKind::kInt && s.int_mode != quant::IntMode::kAffine) return "";
  return cat("its weight quantizer '", s.str(), "' has no zero level (",
             s.is_sign() || s.kind == quant::QuantKind::kXnor ? "sign(0) = +1" : "0 does not quantize to 0",
             "), so pruned weights would not be zeros; use ternary, syq:ternary or int:k:signed");
}

float quantization_threshold(WeightedLayer& layer) {
  const quant::Quantizer* q = layer.quant().weight_quantizer();
  // Only a fixed threshold: TWN's (0.7 mean|w|) and SYQ's (0.05 max|w|) move once weights are
  // pruned, while the thesis retrains with eta unchanged (Algorithm 1, step 3).
  if (auto* t = dynamic_cast<const quant::TernaryQuantizer*>(q); t && t->spec().threshold) return *t->spec().threshold;
  return -1.f;
}

void add_quantized_l2(Model& model, const quant::SparsityConfig& config) {
  for (WeightedLayer* l : model.weighted_layers()) {
    const float lambda = config.quant_l2_of(l->name());
    if (lambda <= 0.f) continue;
    LOWBIT_CHECK(l->quant().weight_quantizer(), l->name(),
                 ": the quantized L2 penalty needs a weight quantizer (for float weights use --weight-decay)");
    Param& w = l->weight();
    const Tensor& q = l->effective_weight();
    LOWBIT_CHECK(q.size() == w.grad.size(), l->name(), ": quantized L2 before any forward pass");
    quant::add_quantized_l2(w.grad.data(), q.data(), q.size(), lambda);
  }
}

void check_sparsity_config(Model& model, const quant::SparsityConfig& config) {
  auto check_patterns = [&](const std::vector<quant::LayerValue>& values, const char* flag) {
    for (const quant::LayerValue& v : values) {
      bool any = false;
      for (WeightedLayer* l : model.weighted_layers()) any = any || v.matches(l->name());
      if (!any)
        usage_fail(flag, " '", v.match, "' matches no dense or conv2d layer of ", model.name(), " (they are: ",
                   layer_names(model, false), ")");
    }
  };
  check_patterns(config.quant_l2_layers, "--quant-l2-layer");
  check_patterns(config.prune_sigma_layers, "--prune-sigma-layer");
  for (WeightedLayer* l : model.weighted_layers())
    if (config.quant_l2_of(l->name()) > 0.f && !l->quant().weight_quantizer())
      usage_fail("--quant-l2: layer ", l->name(), " has float weights, and the penalty acts on quantized weights (",
                 "layers with a weight quantizer: ", layer_names(model, true),
                 "); limit it with --quant-l2-layer GLOB=0, or use --weight-decay for float layers");
  for (size_t i = 1; i < config.prune_after.size(); ++i)
    LOWBIT_CHECK_USAGE(config.prune_after[i] > config.prune_after[i - 1],
                       "--prune-after: epochs must ascend, got ", config.prune_after[i - 1], " then ", config.prune_after[i]);
}

std::vector<LayerZeros> quantization_prune(Model& model, const quant::SparsityConfig& config, const std::string& match,
                                           std::vector<std::string>* skipped) {
  std::vector<LayerZeros> out;
  std::string why_not;
  const Context eval{};
  for (WeightedLayer* l : model.weighted_layers()) {
    if (!quant::LayerValue{match, 0.f}.matches(l->name())) continue;
    const std::string why = unprunable_reason(*l);
    if (!why.empty()) {
      if (skipped) skipped->push_back(cat(l->name(), ": ", why));
      if (why_not.empty()) why_not = cat(l->name(), ": ", why);
      continue;
    }
    Param& w = l->weight();
    float sigma = config.prune_sigma_of(l->name());
    if (sigma < 0.f) {
      sigma = quantization_threshold(*l);
      if (sigma < 0.f)
        usage_fail("pruning ", l->name(), ": its quantizer '", l->quant().weight_spec(),
                   "' has no fixed threshold eta to prune at (TWN's and SYQ's move with the weights); give sigma "
                   "(lowbit prune --sigma, lowbit train --prune-sigma)");
    }
    if (!w.masked()) w.mask = Tensor(w.value.shape(), 1.f);
    quant::quantization_prune(w.value.data(), w.mask.data(), w.value.size(), sigma);
    LayerZeros z;
    z.layer = l->name();
    z.weights = w.value.size();
    z.zeros = count_zeros(l->quant().weights(w, eval));
    z.masked = count_zeros(w.mask);
    out.push_back(z);
  }
  if (out.empty())
    usage_fail("no layer of ", model.name(), match == "*" ? std::string() : cat(" matching '", match, "'"), " can be pruned",
               why_not.empty() ? cat(" (dense/conv2d layers: ", layer_names(model, false), ")") : cat(": ", why_not));
  return out;
}

}  // namespace lowbit::nn
