#include "lowbit/nn/presets.hpp"

#include "lowbit/core/error.hpp"
#include "lowbit/quant/spec.hpp"

namespace lowbit::nn {

namespace {

json float_act(const PresetOptions& o) {
  if (o.activation == "relu") return {{"type", "relu"}};
  if (o.activation == "hardtanh") return {{"type", "hardtanh"}};
  fail("preset activation '", o.activation, "' unknown; valid: relu, hardtanh");
}

// The activation block after each BatchNorm, appended to `layers`. Sign, DoReFa, fixed and
// progressive quantizers are nonlinear on their own (they clip), so they replace the
// activation. int:k is an affine grid over the tensor's whole range -- on a BatchNorm output
// it is nearly the identity and the network would be linear (LFC int8 reached 0.836, a
// linear classifier's accuracy) -- so it follows the float activation, as Brevitas'
// QuantReLU and Jacob et al.'s fused ReLU6.
void append_act(json& layers, const PresetOptions& o) {
  if (o.acts == "none") return layers.push_back(float_act(o));
  if (quant::parse_quant_spec(o.acts).kind == quant::QuantKind::kInt) layers.push_back(float_act(o));
  layers.push_back({{"type", "quant_act"}, {"quantizer", o.acts}});
}

// BNN-PYNQ's fully connected networks. Their binary recipe adds dropout 0.2 on the input
// and after each hidden block (--dropout 0.2); the float default has none, which trains
// better within a 10-epoch budget (docs/RESULTS.md).
json fc_net(const std::string& name, int64_t width, const PresetOptions& o) {
  float p = o.dropout < 0 ? 0.f : o.dropout;
  json layers = json::array({{{"type", "flatten"}}});
  if (p > 0) layers.push_back({{"type", "dropout"}, {"rate", p}});
  for (int i = 0; i < 3; ++i) {
    layers.push_back({{"type", "dense"}, {"units", width}, {"bias", false}});
    layers.push_back({{"type", "batchnorm"}});
    append_act(layers, o);
    if (p > 0) layers.push_back({{"type", "dropout"}, {"rate", p}});
  }
  layers.push_back({{"type", "dense"}, {"units", o.classes}, {"bias", false}});
  layers.push_back({{"type", "batchnorm"}});
  return {{"name", name}, {"input", o.input}, {"layers", layers}};
}

json cnv(const PresetOptions& o) {
  LOWBIT_CHECK(o.input.size() == 3, "cnv needs image input [C, H, W], got ", shape_str(o.input));
  LOWBIT_CHECK(o.input[1] <= 32 && o.input[2] <= 32, "cnv takes images up to 32x32 (smaller ones are padded), got ",
               shape_str(o.input));
  float p = o.dropout < 0 ? 0.f : o.dropout;
  json layers = json::array();
  auto conv = [&](int filters) {
    layers.push_back({{"type", "conv2d"}, {"filters", filters}, {"kernel", 3}, {"bias", false}});
    layers.push_back({{"type", "batchnorm"}});
    append_act(layers, o);
  };
  conv(64), conv(64);
  layers.push_back({{"type", "maxpool2d"}, {"kernel", 2}});
  conv(128), conv(128);
  layers.push_back({{"type", "maxpool2d"}, {"kernel", 2}});
  conv(256), conv(256);
  layers.push_back({{"type", "flatten"}});
  for (int i = 0; i < 2; ++i) {
    if (p > 0) layers.push_back({{"type", "dropout"}, {"rate", p}});
    layers.push_back({{"type", "dense"}, {"units", 512}, {"bias", false}});
    layers.push_back({{"type", "batchnorm"}});
    append_act(layers, o);
  }
  layers.push_back({{"type", "dense"}, {"units", o.classes}, {"bias", false}});
  layers.push_back({{"type", "batchnorm"}});
  return {{"name", "cnv"}, {"input", {o.input[0], 32, 32}}, {"layers", layers}};
}

// PBNN's VGG-like network (seed 001, Table 1): 3x3 convolutions with padding 1 (128, 128,
// pool, 128, 256, pool, 256, 512, pool), FC 1024, 1024 and the classes; each weighted layer
// followed by BatchNorm and the activation (the last by BatchNorm alone, as the BNN-PYNQ
// presets). Any image of at least 8x8 (each 2x2 pooling floors odd sizes).
json pbnn(const PresetOptions& o) {
  LOWBIT_CHECK(o.input.size() == 3, "pbnn needs image input [C, H, W], got ", shape_str(o.input));
  LOWBIT_CHECK(o.input[1] >= 8 && o.input[2] >= 8, "pbnn needs images of at least 8x8, got ", shape_str(o.input));
  json layers = json::array();
  auto conv = [&](int filters) {
    layers.push_back({{"type", "conv2d"}, {"filters", filters}, {"kernel", 3}, {"padding", 1}, {"bias", false}});
    layers.push_back({{"type", "batchnorm"}});
    append_act(layers, o);
  };
  auto pool = [&] { layers.push_back({{"type", "maxpool2d"}, {"kernel", 2}}); };
  conv(128), conv(128), pool();
  conv(128), conv(256), pool();
  conv(256), conv(512), pool();
  layers.push_back({{"type", "flatten"}});
  for (int i = 0; i < 2; ++i) {
    layers.push_back({{"type", "dense"}, {"units", 1024}, {"bias", false}});
    layers.push_back({{"type", "batchnorm"}});
    append_act(layers, o);
  }
  layers.push_back({{"type", "dense"}, {"units", o.classes}, {"bias", false}});
  layers.push_back({{"type", "batchnorm"}});
  return {{"name", "pbnn"}, {"input", o.input}, {"layers", layers}};
}

json lenet5(const PresetOptions& o) {
  LOWBIT_CHECK(o.input.size() == 3, "lenet5 needs image input [C, H, W], got ", shape_str(o.input));
  json layers = json::array();
  layers.push_back({{"type", "conv2d"}, {"filters", 6}, {"kernel", 5}, {"padding", 2}});
  append_act(layers, o);
  layers.push_back({{"type", "maxpool2d"}, {"kernel", 2}});
  layers.push_back({{"type", "conv2d"}, {"filters", 16}, {"kernel", 5}});
  append_act(layers, o);
  layers.push_back({{"type", "maxpool2d"}, {"kernel", 2}});
  layers.push_back({{"type", "flatten"}});
  for (int units : {120, 84}) {
    layers.push_back({{"type", "dense"}, {"units", units}});
    append_act(layers, o);
  }
  layers.push_back({{"type", "dense"}, {"units", o.classes}});
  Shape in = o.input;
  if (in[1] < 28 || in[2] < 28) fail("lenet5 needs images of at least 28x28, got ", shape_str(in));
  return {{"name", "lenet5"}, {"input", in}, {"layers", layers}};
}

// Every dense/conv2d layer gets the weight quantizer; a quant_act goes first for input_bits.
json quantize(json topology, const PresetOptions& o) {
  json& layers = topology["layers"];
  if (o.weights != "none")
    for (json& l : layers)
      if (l["type"] == "dense" || l["type"] == "conv2d") l["weight_quantizer"] = o.weights;
  if (o.input_bits < 0 || o.input_bits > 8) fail("input bits must be 0 (float) or 1..8, got ", o.input_bits);
  if (!o.input_quantizer.empty() && o.input_bits) fail("give the input's quantizer or its bits, not both");
  std::string q = o.input_quantizer;
  if (o.input_bits > 0) q = o.input_bits == 1 ? "binary" : "dorefa:" + std::to_string(o.input_bits);
  if (!q.empty() && q != "none") layers.insert(layers.begin(), json{{"type", "quant_act"}, {"quantizer", q}});
  if (o.last_bn != "channel" && o.last_bn != "tensor")
    fail("the last BatchNorm is per 'channel' or per 'tensor', got '", o.last_bn, "'");
  if (o.last_bn == "tensor") {
    for (auto it = layers.rbegin(); it != layers.rend(); ++it)
      if ((*it)["type"] == "batchnorm") {
        (*it)["per_tensor"] = true;
        break;
      }
  }
  return topology;
}

json unquantized(const std::string& name, const PresetOptions& opt) {
  if (name == "lfc") return fc_net("lfc", 1024, opt);
  if (name == "sfc") return fc_net("sfc", 256, opt);
  if (name == "tfc") return fc_net("tfc", 64, opt);
  if (name == "cnv") return cnv(opt);
  if (name == "lenet5") return lenet5(opt);
  if (name == "pbnn") return pbnn(opt);
  fail("unknown model '", name, "'; valid presets: ", preset_list(), " (or a path to a JSON topology file)");
}

}  // namespace

std::vector<std::string> preset_names() { return {"lfc", "sfc", "tfc", "cnv", "lenet5", "pbnn"}; }

std::string preset_list() {
  std::string all;
  for (const auto& n : preset_names()) all += (all.empty() ? "" : ", ") + n;
  return all;
}

bool is_preset(const std::string& name) {
  for (const auto& n : preset_names())
    if (n == name) return true;
  return false;
}

json preset_topology(const std::string& name, const PresetOptions& opt) {
  return quantize(unquantized(name, opt), opt);
}

}  // namespace lowbit::nn
