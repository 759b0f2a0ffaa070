#include "lowbit/cli/commands.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/nn/builder.hpp"
#include "lowbit/nn/presets.hpp"

namespace lowbit::cli {

void add_model_options(CLI::App& cmd, ModelChoice& choice) {
  cmd.add_option("--model", choice.model, "Preset (" + nn::preset_list() + ") or a JSON topology file")->required();
  cmd.add_option("--activation", choice.activation, "Preset activation: relu or hardtanh")
      ->check(CLI::IsMember({"relu", "hardtanh"}))
      ->capture_default_str();
  cmd.add_option("--dropout", choice.dropout, "Preset dropout rate (default: the preset's own)");
}

std::unique_ptr<nn::Model> make_model(const ModelChoice& choice, const Shape& input, int classes) {
  if (nn::is_preset(choice.model)) {
    nn::PresetOptions opt;
    opt.input = input;
    opt.classes = classes;
    opt.activation = choice.activation;
    opt.dropout = choice.dropout;
    return nn::build_model(nn::preset_topology(choice.model, opt));
  }
  if (choice.model.find('/') == std::string::npos && choice.model.find(".json") == std::string::npos)
    fail("--model '", choice.model, "' is neither a preset (", nn::preset_list(), ") nor a .json file");
  try {
    return nn::build_model(nn::read_topology_file(choice.model));
  } catch (const Error& e) {
    std::string msg = e.what();
    if (msg.rfind(choice.model, 0) == 0) throw;
    fail(choice.model, ": ", msg);
  }
}

}  // namespace lowbit::cli
