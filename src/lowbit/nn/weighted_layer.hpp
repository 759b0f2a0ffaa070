// Base of the layers with a weight matrix and optional quantizers (Dense, Conv2d): what
// the trainer (latent clipping, Glorot LR scales, Bop groups, flip ratio), the summary
// (bits, memory) and export need to know about them without caring which one it is.
#pragma once
#include "lowbit/nn/layer.hpp"
#include "lowbit/nn/layer_quantizers.hpp"

namespace lowbit::nn {

// Quantizer choice of one layer: specs as in quant/spec.hpp; weight_clip < 0 means "the
// weight quantizer's default" (1 for the sign family, else none).
struct QuantConfig {
  std::string weights = "none";
  std::string input = "none";
  float weight_clip = -1.f;
};

class WeightedLayer : public Layer {
 public:
  virtual Param& weight() = 0;
  LayerQuantizers& quant() { return quant_; }
  // Fan-in / fan-out as Glorot counts them: in*kh*kw and out*kh*kw.
  virtual int64_t fan_in() const = 0;
  virtual int64_t fan_out() const = 0;
  // The layer's exact integer form in evaluation (LayerQuantizers::exact_form over its
  // latent weights and fan-in): "" and the weight codes and per-channel scales (or, for
  // grouped weights, `groups`: null refuses them), else why not. A layer adds reasons of its
  // own (Conv2d: a pad value off the input's grid).
  virtual std::string exact_form(Tensor& codes, std::vector<float>& out_scale, GroupedScales* groups) {
    return quant_.exact_form(weight(), fan_in(), codes, out_scale, groups);
  }
  // The weights the last forward used: Q(W) when quantized, else W.
  const Tensor& effective_weight() { return quant_.last_weights(weight()); }
  std::vector<quant::Quantizer*> quantizers() override {
    std::vector<quant::Quantizer*> out;
    if (quant_.weight_quantizer()) out.push_back(quant_.weight_quantizer());
    if (quant_.input_quantizer()) out.push_back(quant_.input_quantizer());
    return out;
  }

 protected:
  LayerQuantizers quant_;
};

}  // namespace lowbit::nn
