// The `lowbit hw` subcommands beyond plan/devices (cmd_hw.cpp registers them): each adds
// itself to the `hw` command and returns the subcommand and the action to run when chosen.
#pragma once
#include <CLI/CLI.hpp>
#include <utility>

#include "lowbit/cli/commands.hpp"

namespace lowbit::cli {

using HwSubcommand = std::pair<CLI::App*, Action>;
HwSubcommand add_hw_rtl_command(CLI::App& hw);    // cmd_hw_rtl.cpp: lowbit hw rtl
HwSubcommand add_hw_sim_command(CLI::App& hw);    // cmd_hw_rtl.cpp: lowbit hw sim
HwSubcommand add_hw_synth_command(CLI::App& hw);  // cmd_hw_synth.cpp: lowbit hw synth

}  // namespace lowbit::cli
