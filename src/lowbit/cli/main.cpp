#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <thread>

#include "lowbit/cli/commands.hpp"
#include "lowbit/core/communicator.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/dist/launch.hpp"

namespace {

// OpenMP threads wait for each other at every barrier; libgomp's default spins 300 000
// iterations first. With another process on the machine the waiting thread burns the time
// slice its partner needs: LFC W1A1 training on 2 threads fell to 0.47x its 1-thread rate
// beside one busy process (docs/BENCHMARKS.md, "OpenMP waiting"). A spin count of 1 000
// (libgomp's own value when it knows it is oversubscribed) keeps 0.77x under load, costs
// ~9% on a quiet machine, and keeps the runtime's batch-1 barriers fast (passive waiting
// made them 4x slower). libgomp reads its environment when it loads, before main, so the
// CLI sets the variable and starts itself again; a user's OMP_WAIT_POLICY or GOMP_SPINCOUNT
// is left alone.
void choose_openmp_waiting(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  if (::setenv("GOMP_SPINCOUNT", "1000", 1) != 0) return;
  ::execv("/proc/self/exe", argv);  // returns only on failure: run on with libgomp's default
}

// The first word of argv that names no subcommand at its level ("bogus" of `lowbit bogus`,
// "hw bogus" of `lowbit hw bogus`) and the names that level has, or "" when every word
// up to the first flag names one. CLI11 says only "A subcommand is required" for these.
std::string unknown_subcommand(CLI::App& app, int argc, char** argv, std::string& known) {
  CLI::App* level = &app;
  std::string path;
  for (int i = 1; i < argc && argv[i][0] != '-'; ++i) {
    const std::vector<CLI::App*> subs = level->get_subcommands([](CLI::App*) { return true; });
    if (subs.empty()) return "";  // a positional argument of the chosen command
    path += (path.empty() ? "" : " ") + std::string(argv[i]);
    CLI::App* next = nullptr;
    known.clear();
    for (CLI::App* s : subs) {
      known += (known.empty() ? "" : ", ") + s->get_name();
      if (s->get_name() == argv[i]) next = s;
    }
    if (!next) return path;
    level = next;
  }
  return "";
}

}  // namespace

// A rank > 0 of an mpirun job leaving on a mistake rank 0 reports: silently, and not at once,
// since mpirun ends the whole job at the first non-zero exit and rank 0's message (it has not
// joined MPI, so nothing else orders them) would be lost.
static int quiet_rank_exit(int code) {
  if (code != 0) std::this_thread::sleep_for(std::chrono::seconds(2));
  return code;
}

int main(int argc, char** argv) {
  choose_openmp_waiting(argv);
  CLI::App app{"lowbit: train quantized neural networks and deploy them fast", "lowbit"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "lowbit 0.1.0");
  app.footer(std::string(lowbit::cli::kExitCodesHelp) +
             "\nOpenMP: lowbit sets GOMP_SPINCOUNT=1000 (robust on shared machines) unless OMP_WAIT_POLICY or "
             "GOMP_SPINCOUNT is set.");
  std::map<std::string, lowbit::cli::Action> actions = {
      {"train", lowbit::cli::add_train_command(app)},
      {"eval", lowbit::cli::add_eval_command(app)},
      {"summary", lowbit::cli::add_summary_command(app)},
      {"prune", lowbit::cli::add_prune_command(app)},
      {"export", lowbit::cli::add_export_command(app)},
      {"run", lowbit::cli::add_run_command(app)},
      {"bench", lowbit::cli::add_bench_command(app)},
      {"hw", lowbit::cli::add_hw_command(app)},
      {"import", lowbit::cli::add_import_command(app)},
      {"predict", lowbit::cli::add_predict_command(app)},
      {"plot", lowbit::cli::add_plot_command(app)},
  };
  // An unknown subcommand is named, with the ones its level has.
  std::string known;
  if (const std::string unknown = unknown_subcommand(app, argc, argv, known); !unknown.empty()) {
    if (lowbit::dist::launched_rank() > 0) return quiet_rank_exit(lowbit::cli::kExitUsage);  // rank 0 says it
    std::cerr << "lowbit: error: unknown subcommand '" << unknown << "' (" << known << ")\n"
              << "Run with --help for more information.\n";
    return lowbit::cli::kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints the message (or the help / version text, exit 0); every other parse
    // error is a usage error, whatever CLI11's own code for its kind.
    // Under mpirun every rank parses the same command line: rank 0 alone says what is wrong.
    if (lowbit::dist::launched_rank() > 0) return quiet_rank_exit(e.get_exit_code() == 0 ? lowbit::cli::kExitOk : lowbit::cli::kExitUsage);
    return app.exit(e) == 0 ? lowbit::cli::kExitOk : lowbit::cli::kExitUsage;
  }
  // Only training is data parallel; N copies of another command would each do the same work
  // (and write the same files).
  if (lowbit::dist::launched_group_size() > 1)
    for (auto* sub : app.get_subcommands())
      if (sub->get_name() != "train") {
        if (lowbit::dist::launched_rank() > 0) return quiet_rank_exit(lowbit::cli::kExitUsage);
        std::cerr << "lowbit: error: `lowbit " << sub->get_name() << "` runs in one process; only `lowbit train` runs "
                  << "across mpirun's ranks (docs/DISTRIBUTED.md): run it without mpirun\n";
        return lowbit::cli::kExitUsage;
      }
  try {
    for (auto* sub : app.get_subcommands()) return actions.at(sub->get_name())();
  } catch (const lowbit::RelayedError& e) {
    // Every data-parallel rank stopped on it; the rank where it happened says it once.
    if (e.print()) std::cerr << "lowbit: error: " << e.what() << (e.usage() ? "\nRun with --help for more information.\n" : "\n");
    return e.usage() ? lowbit::cli::kExitUsage : lowbit::cli::kExitFailed;
  } catch (const lowbit::UsageError& e) {
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
