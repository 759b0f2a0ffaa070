#include "lowbit/cli/commands.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/nn/builder.hpp"
#include "lowbit/nn/init.hpp"
#include "lowbit/nn/presets.hpp"
#include "lowbit/quant/quantizer.hpp"
#include "lowbit/quant/spec.hpp"

namespace lowbit::cli {

void add_model_options(CLI::App& cmd, ModelChoice& choice, bool required) {
  CLI::Option* model = cmd.add_option("--model", choice.model, "Preset (" + nn::preset_list() + ") or a JSON topology file");
  if (required) model->required();
  cmd.add_option("--activation", choice.activation, "Preset activation: relu or hardtanh")
      ->check(CLI::IsMember({"relu", "hardtanh"}))
      ->capture_default_str();
  cmd.add_option("--dropout", choice.dropout, "Preset dropout rate in [0, 1) (default: the preset's own)")
      ->check(real_in(0, 0.999));
  cmd.add_option("--weights", choice.weights,
                 "Weight quantizer for every dense/conv layer, e.g. binary, ternary, xnor, syq:binary:row, "
                 "dorefa:2, int:8:signed:narrow:channel, progressive, addnet:2 (see docs/QUANTIZERS.md)")
      ->capture_default_str();
  cmd.add_option("--acts", choice.acts,
                 "Activation quantizer replacing the activations, e.g. binary, dorefa:2, fixed:4,2, int:8")
      ->capture_default_str();
  CLI::Option* bits = cmd.add_option("--input-bits", choice.input_bits,
                 "Quantize the network input: 1 = binary (uses [-1,1] pixels), 2..8 = k-bit; 0 = float")
      ->capture_default_str()
      ->check(whole_in(0, 8));
  cmd.add_option("--input-quantizer", choice.input_quantizer,
                 "Quantize the network input with this quantizer instead, e.g. fixed:8,7:signed (BNN-PYNQ CNV's "
                 "8-bit input, on [-1,1] pixels)")
      ->excludes(bits);
  cmd.add_option("--init", choice.init,
                 "Initialiser of the dense/conv2d layers without an \"init\" of their own (every preset layer): "
                 "glorot_uniform (default), glorot_normal, "
                 "he_uniform, he_normal, uniform:A, normal:S (sparse ternary training with a large threshold needs "
                 "weights beyond it: uniform:1)");
  cmd.add_option("--layer-weights", choice.layer_weights,
                 "Weight quantizer of the dense/conv2d layers whose name matches GLOB, e.g. 'conv2d_*=ternary:0.8' "
                 "(repeatable; later ones win, and win over --weights)")
      ->expected(1)
      ->take_all();
  cmd.add_option("--last-bn", choice.last_bn,
                 "The last layer's BatchNorm: channel (one map per class) or tensor (one map shared by all classes: "
                 "scores rank as the raw accumulators, as BNN-PYNQ's CNV overlays need)")
      ->check(CLI::IsMember({"channel", "tensor"}))
      ->capture_default_str();
}

namespace {
// Builds the quantizer once for its role so a typo or a wrong role fails before any data
// is loaded, naming the flag.
void check_spec(const char* flag, const std::string& spec, quant::Role role) {
  try {
    (void)quant::make_quantizer(spec, role);
  } catch (const Error& e) {
    usage_fail(flag, ": ", e.what());
  }
}
}  // namespace

void check_model_choice(const ModelChoice& choice) {
  check_spec("--weights", choice.weights, quant::Role::kWeight);
  for (const std::string& lw : choice.layer_weights) {
    const size_t eq = lw.find('=');
    if (eq == std::string::npos || eq == 0)
      usage_fail("--layer-weights: '", lw, "' is not GLOB=SPEC (e.g. 'dense_3=ternary:0.9')");
    check_spec("--layer-weights", lw.substr(eq + 1), quant::Role::kWeight);
  }
  if (!choice.init.empty()) {
    try {
      (void)nn::Init::parse(choice.init);
    } catch (const Error& e) {
      usage_fail("--init: ", e.what());
    }
  }
  check_spec("--acts", choice.acts, quant::Role::kActivation);
  if (!choice.input_quantizer.empty()) check_spec("--input-quantizer", choice.input_quantizer, quant::Role::kActivation);
}

namespace {
// --init and --layer-weights as the topology's top-level "init" and "layer_weights" (after
// the file's own entries, so the flags win); a pattern matching no layer is a usage error.
std::unique_ptr<nn::Model> build_with_overrides(nn::json topology, const ModelChoice& choice) {
  if (!choice.init.empty() && topology.is_object()) topology["init"] = choice.init;
  if (!choice.layer_weights.empty() && topology.is_object()) {
    nn::json& lw = topology["layer_weights"];
    if (lw.is_null()) lw = nn::json::array();
    for (const std::string& e : choice.layer_weights) {
      const size_t eq = e.find('=');
      lw.push_back({{"match", e.substr(0, eq)}, {"weight_quantizer", e.substr(eq + 1)}});
    }
  }
  try {
    return nn::build_model(topology);
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (!choice.layer_weights.empty() && msg.find("\"layer_weights\"") != std::string::npos)
      usage_fail("--layer-weights: ", msg);
    throw;
  }
}
}  // namespace

data::Normalize default_normalize(const ModelChoice& choice) {
  bool signed_input = choice.input_bits == 1;
  if (!choice.input_quantizer.empty()) {
    const quant::QuantSpec q = quant::parse_quant_spec(choice.input_quantizer);
    signed_input = q.is_sign() || q.fixed_signed;
  }
  return signed_input ? data::Normalize::MinusOneOne : data::Normalize::ZeroOne;
}

std::unique_ptr<nn::Model> make_model(const ModelChoice& choice, const Shape& input, int classes) {
  check_model_choice(choice);
  if (nn::is_preset(choice.model)) {
    nn::PresetOptions opt;
    opt.input = input;
    opt.classes = classes;
    opt.activation = choice.activation;
    opt.dropout = choice.dropout;
    opt.weights = choice.weights;
    opt.acts = choice.acts;
    opt.input_bits = choice.input_bits;
    opt.input_quantizer = choice.input_quantizer;
    opt.last_bn = choice.last_bn;
    return build_with_overrides(nn::preset_topology(choice.model, opt), choice);
  }
  if (choice.input_bits != 0 || !choice.input_quantizer.empty())
    usage_fail(choice.input_bits ? "--input-bits" : "--input-quantizer",
               " applies to presets; in a JSON topology put a quant_act layer first instead");
  if (choice.last_bn != "channel")
    usage_fail("--last-bn applies to presets; in a JSON topology give the last batchnorm \"per_tensor\": true");
  if (choice.model.find('/') == std::string::npos && choice.model.find(".json") == std::string::npos)
    usage_fail("--model '", choice.model, "' is neither a preset (", nn::preset_list(), ") nor a .json file");
  try {
    nn::json topology = nn::read_topology_file(choice.model);
    // --weights / --acts become the file's top-level defaults; per-layer keys still win.
    if (choice.weights != "none" && topology.is_object()) topology["weights"] = choice.weights;
    if (choice.acts != "none" && topology.is_object()) topology["acts"] = choice.acts;
    return build_with_overrides(std::move(topology), choice);
  } catch (const Error& e) {
    std::string msg = e.what();
    if (msg.rfind(choice.model, 0) == 0) throw;
    fail(choice.model, ": ", msg);
  }
}

}  // namespace lowbit::cli
