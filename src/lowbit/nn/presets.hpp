// Named model topologies (as JSON, so they go through the same builder as user files):
//   lfc, sfc, tfc  784 -> 1024 / 256 / 64 (x3) -> 10, BatchNorm after every dense layer,
//                  as FINN's BNN-PYNQ LFC/SFC/TFC (Umuroglu et al. 2017).
//   cnv            BNN-PYNQ CNV: 3x3 convs 64,64,pool,128,128,pool,256,256 (no padding),
//                  FC 512,512,10; needs 32x32 input (28x28 images are centre-padded).
//   lenet5         LeCun et al. 1998 (5x5 convs 6,16 with max pooling, FC 120,84,10).
//   pbnn           PBNN's VGG-like network (seed 001, Table 1: 3x3 convs with padding 1,
//                  128,128,pool,128,256,pool,256,512,pool, FC 1024,1024,classes).
// Quantized variants (as FINN's LFC/CNV W1A1...): `weights` goes on every dense/conv layer,
// first and last included (the last is followed by BatchNorm and no activation); `acts`
// replaces every activation after BatchNorm with a quant_act layer; `input_bits` puts a
// quant_act at the input: 1 = binary (expects [-1, 1] data), 2..8 = dorefa:k on [0, 1]
// data (8 keeps 8-bit pixels exact and marks the input as 8-bit for export); `input_quantizer`
// names the input's quantizer instead (e.g. fixed:8,7:signed, BNN-PYNQ CNV's 8-bit input).
// `last_bn` "tensor" makes the last layer's BatchNorm per_tensor (one affine map shared by
// all classes, so the scores rank as the raw accumulators: BNN-PYNQ's CNV overlays).
#pragma once
#include <string>
#include <vector>

#include "lowbit/nn/layer.hpp"

namespace lowbit::nn {

struct PresetOptions {
  Shape input = {1, 28, 28};  // the dataset's per-sample shape
  int classes = 10;
  std::string activation = "relu";  // "relu" or "hardtanh"
  float dropout = -1.f;             // < 0: the preset's own default
  std::string weights = "none";     // weight quantizer spec (quant/spec.hpp)
  std::string acts = "none";        // activation quantizer spec; replaces `activation` when not none
  int input_bits = 0;               // 0 = float input; 1 = binary; 2..8 = k-bit
  std::string input_quantizer;      // a quantizer spec for the input; "" = from input_bits
  std::string last_bn = "channel";  // the last BatchNorm: "channel" (per class) or "tensor" (shared)
};

json preset_topology(const std::string& name, const PresetOptions& opt);
std::vector<std::string> preset_names();
std::string preset_list();  // "lfc, sfc, tfc, cnv, lenet5, pbnn", for help texts and errors
bool is_preset(const std::string& name);

}  // namespace lowbit::nn
