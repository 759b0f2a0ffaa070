#include <iostream>
#include <map>

#include "lowbit/cli/commands.hpp"
#include "lowbit/core/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"lowbit: train quantized neural networks and deploy them fast", "lowbit"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "lowbit 0.1.0");
  app.footer(lowbit::cli::kExitCodesHelp);
  std::map<std::string, lowbit::cli::Action> actions = {
      {"train", lowbit::cli::add_train_command(app)},
      {"eval", lowbit::cli::add_eval_command(app)},
      {"summary", lowbit::cli::add_summary_command(app)},
      {"export", lowbit::cli::add_export_command(app)},
      {"run", lowbit::cli::add_run_command(app)},
      {"bench", lowbit::cli::add_bench_command(app)},
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints the message (or the help / version text, exit 0); every other parse
    // error is a usage error, whatever CLI11's own code for its kind.
    return app.exit(e) == 0 ? lowbit::cli::kExitOk : lowbit::cli::kExitUsage;
  }
  try {
    for (auto* sub : app.get_subcommands()) return actions.at(sub->get_name())();
  } catch (const lowbit::cli::UsageError& e) {
    std::cerr << "lowbit: error: " << e.what() << "\nRun with --help for more information.\n";
    return lowbit::cli::kExitUsage;
  } catch (const lowbit::Error& e) {
    std::cerr << "lowbit: error: " << e.what() << "\n";
    return lowbit::cli::kExitFailed;
  } catch (const std::exception& e) {
    std::cerr << "lowbit: internal error (a bug: please report it with the command line): " << e.what() << "\n";
    return lowbit::cli::kExitInternal;
  }
  return lowbit::cli::kExitOk;
}
