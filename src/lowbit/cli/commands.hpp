// The `lowbit` command line: a registry of small subcommands. Each one parses its
// flags with CLI11 and calls the library; errors surface as one line and exit code 1.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

#include "lowbit/nn/model.hpp"

namespace lowbit::cli {

// Registers a subcommand on app; returns the action to run when it was chosen.
using Action = std::function<int()>;
Action add_train_command(CLI::App& app);
Action add_eval_command(CLI::App& app);
Action add_summary_command(CLI::App& app);
Action add_export_command(CLI::App& app);
Action add_run_command(CLI::App& app);
Action add_bench_command(CLI::App& app);

// --model: a preset name (lfc, sfc, tfc, cnv, lenet5) or a JSON topology file. For a
// preset, input is the dataset's per-sample shape.
struct ModelChoice {
  std::string model;
  std::string activation = "relu";
  float dropout = -1.f;
  std::string weights = "none";  // --weights: default weight quantizer
  std::string acts = "none";     // --acts: activation quantizer
  int input_bits = 0;            // --input-bits (presets only)
};
void add_model_options(CLI::App& cmd, ModelChoice& choice, bool required = true);
std::unique_ptr<nn::Model> make_model(const ModelChoice& choice, const Shape& input, int classes);
// Throws (naming the flag) when --weights / --acts is not a valid quantizer for its role.
void check_model_choice(const ModelChoice& choice);

}  // namespace lowbit::cli
