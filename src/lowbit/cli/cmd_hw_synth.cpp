// lowbit hw synth: placeholder until the synthesis flow lands (same change).
#include "lowbit/cli/hw_commands.hpp"

namespace lowbit::cli {

HwSubcommand add_hw_synth_command(CLI::App& hw) {
  CLI::App* cmd = hw.add_subcommand("synth", "Synthesize a design folder with yosys");
  return {cmd, []() -> int { fail("hw synth: not built yet"); }};
}

}  // namespace lowbit::cli
