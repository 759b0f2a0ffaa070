// The `lowbit` command line: a registry of small subcommands. Each one parses its
// flags with CLI11 and calls the library; errors surface as one line and an exit code:
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/data/batch.hpp"
#include "lowbit/data/dataset.hpp"
#include "lowbit/format/model_desc.hpp"
#include "lowbit/nn/model.hpp"
#include "lowbit/runtime/engine.hpp"

namespace lowbit::format {
class LbmFile;
}

namespace lowbit::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;    // the work failed: a file, the data or the model (lowbit::Error)
inline constexpr int kExitUsage = 2;     // the command line is wrong (CLI11's parse errors, UsageError)
inline constexpr int kExitInternal = 3;  // anything else: a bug
inline constexpr const char* kExitCodesHelp =
    "Exit codes: 0 done; 1 failed (a file, the data or the model: the message says which and what to do);\n"
    "2 usage error (unknown flag, a value out of range, flags that contradict); 3 internal error (a bug).";

// A command line that is wrong (a flag's value, or flags that contradict each other) is a
// lowbit::UsageError (core/error.hpp, usage_fail): exit code 2, with the hint to run --help.

// Before any work: a command's output file (`flag` names it) must not be one of its inputs
// (`export C.ckpt -o C.ckpt` destroyed the checkpoint) nor a folder; UsageError otherwise.
// `inputs` may hold files and folders (a folder stands for every file in it).
void check_output(const std::string& flag, const std::string& path, const std::vector<std::string>& inputs);
// What a model file is, by its first bytes (a renamed file is still itself): a .lbm model, a
// JSON topology (its first non-blank byte is '{'), something else, or unreadable (missing, a
// folder, shorter than the magic: the reader that opens it names why).
enum class ModelFileKind { kLbm, kJsonTopology, kOnnx, kOther, kUnreadable };
ModelFileKind model_file_kind(const std::string& path);
// The usage error for a JSON topology given where a model file goes: "give it as --model".
[[noreturn]] void topology_given_as_file(const std::string& path);
// The error for an ONNX file given where a .lbm goes: "lowbit import it first".
[[noreturn]] void onnx_given_as_model(const std::string& path);

// The folder a --data spec names, for check_output ("" when it names none: loading it fails
// with its own message).
std::string data_folder(const std::string& spec);
// Writes one of a command's output files (a .lbm, a predictions list) atomically, after
// removing the temporary files an earlier, killed write of the same file left beside it.
void write_output(const std::string& path, std::string_view bytes);

// Flag validators whose messages show readable bounds ("--threads: 100000 is not a whole
// number in 0..1024"; CLI11's PositiveNumber printed a 309-digit maximum).
CLI::Validator whole_in(int64_t lo, int64_t hi);
CLI::Validator real_in(double lo, double hi, bool lo_open = false);
CLI::Validator non_empty();  // a path: "" is refused (`--out ''` trained and saved nothing)

// Per-class results of `eval` and `run` (docs/DEPLOYMENT.md, "Per-class results"): the
// flags --scores FILE and --no-per-class, and the scores file's CSV (one row per image:
// image,label,predicted,score_0..score_{classes-1}; scores n x classes, row-major).
struct ClassResultArgs {
  std::string scores;
  bool no_per_class = false;
};
void add_class_result_options(CLI::App* cmd, ClassResultArgs& args);
std::string scores_csv(const data::Dataset& ds, const int32_t* predictions, const float* scores, int classes);

// Registers a subcommand on app; returns the action to run when it was chosen.
using Action = std::function<int()>;
Action add_train_command(CLI::App& app);
Action add_eval_command(CLI::App& app);
Action add_summary_command(CLI::App& app);
Action add_export_command(CLI::App& app);
Action add_run_command(CLI::App& app);
Action add_bench_command(CLI::App& app);
Action add_hw_command(CLI::App& app);  // cmd_hw.cpp: lowbit hw plan | devices
Action add_prune_command(CLI::App& app);  // cmd_prune.cpp: lowbit prune C.ckpt -o P.ckpt (masks or filters)
Action add_import_command(CLI::App& app);  // cmd_import.cpp: lowbit import M.onnx -o M.lbm (QONNX)
Action add_predict_command(CLI::App& app);  // cmd_predict.cpp: lowbit predict M.lbm|C.ckpt IMAGE... (image files)
Action add_plot_command(CLI::App& app);  // cmd_plot.cpp: lowbit plot RUN... -o curves.svg|png (learning curves)

// --model: a preset name (lfc, sfc, tfc, cnv, lenet5, pbnn) or a JSON topology file. For a
// preset, input is the dataset's per-sample shape.
struct ModelChoice {
  std::string model;
  std::string activation = "relu";
  float dropout = -1.f;
  std::string weights = "none";  // --weights: default weight quantizer
  std::string acts = "none";     // --acts: activation quantizer
  int input_bits = 0;            // --input-bits (presets only)
  std::string input_quantizer;   // --input-quantizer (presets only)
  std::string last_bn = "channel";  // --last-bn (presets only)
  std::string init;                 // --init: initialiser of every dense/conv2d layer ("" = the topology's)
  std::vector<std::string> layer_weights;  // --layer-weights GLOB=SPEC, in order (later wins)
};
void add_model_options(CLI::App& cmd, ModelChoice& choice, bool required = true);
std::unique_ptr<nn::Model> make_model(const ModelChoice& choice, const Shape& input, int classes);
// Throws (naming the flag) when --weights / --acts is not a valid quantizer for its role.
void check_model_choice(const ModelChoice& choice);
// The pixel scaling training uses for this choice when --normalize is not given: [-1, 1]
// for a binary or signed fixed-point input quantizer (sign(x) of [0, 1] pixels would be all
// +1), else [0, 1].
data::Normalize default_normalize(const ModelChoice& choice);
// "BNN-PYNQ overlay: lfcW1A1 (lowbit export --format bnn-pynq --network lfcW1A1)" or
// "BNN-PYNQ overlay: none fits" for a folded model (docs/HARDWARE.md); "" name when none.
std::string bnn_pynq_fit(const format::ModelDesc& desc);

// `lowbit export --format bnn-pynq` (bnn_pynq.cpp, docs/HARDWARE.md): the parameter folder
// <output>/<dataset>/<network>/ of a BNN-PYNQ overlay; with test_images, that data's test
// split in the overlay's input format beside it.
struct BnnPynqExportArgs {
  std::string checkpoint, output, network, dataset, classes_file, test_images;
};
int export_bnn_pynq(const BnnPynqExportArgs& args);

// `lowbit run --semantics bnn-pynq`: the classes the overlay reports for each test image,
// by its batch call (classify_mnists / classify_cifars) and its single-image call.
struct BnnPynqResult {
  std::string network;
  std::vector<int32_t> batch, single;
};
// `engine` runs `file`.
BnnPynqResult bnn_pynq_predictions(runtime::Engine& engine, const format::LbmFile& file, const std::string& network,
                                   const data::Dataset& ds);

}  // namespace lowbit::cli
