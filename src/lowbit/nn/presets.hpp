// Named model topologies (as JSON, so they go through the same builder as user files):
//   lfc, sfc, tfc  784 -> 1024 / 256 / 64 (x3) -> 10, BatchNorm after every dense layer,
//                  as FINN's BNN-PYNQ LFC/SFC/TFC (Umuroglu et al. 2017).
//   cnv            BNN-PYNQ CNV: 3x3 convs 64,64,pool,128,128,pool,256,256 (no padding),
//                  FC 512,512,10; needs 32x32 input (28x28 images are centre-padded).
//   lenet5         LeCun et al. 1998 (5x5 convs 6,16 with max pooling, FC 120,84,10).
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
};

json preset_topology(const std::string& name, const PresetOptions& opt);
std::vector<std::string> preset_names();
std::string preset_list();  // "lfc, sfc, tfc, cnv, lenet5", for help texts and errors
bool is_preset(const std::string& name);

}  // namespace lowbit::nn
