// lowbit import M.onnx -o M.lbm: a QONNX graph (lowbit's own `export --format qonnx`, or
// Brevitas' QONNX export of a BNN-PYNQ-style network) read into the deployment IR and
// written as a .lbm model for `lowbit run`, `bench`, `summary` and `hw`
// (interop/qonnx_import.hpp, docs/INTEROP.md "Import").
#include <iostream>

#include "lowbit/cli/commands.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/format/model_desc.hpp"
#include "lowbit/interop/qonnx_import.hpp"
#include "lowbit/runtime/engine.hpp"

namespace lowbit::cli {

namespace {

struct ImportArgs {
  std::string model, output;
  float input_scale = 1.f, input_bias = 0.f;
  bool verbose = false;
};

}  // namespace

Action add_import_command(CLI::App& app) {
  auto args = std::make_shared<ImportArgs>();
  CLI::App* cmd = app.add_subcommand(
      "import",
      "Read a QONNX graph (lowbit export --format qonnx, or Brevitas' QONNX export of a BNN-PYNQ-style network: "
      "BipolarQuant / Quant / MultiThreshold quantizers, MatMul / Gemm / Conv, BatchNormalization, MaxPool) into "
      "integer thresholds and weight codes: one .lbm model file for lowbit run, bench, summary and hw. "
      "BatchNormalization + quantizer become the smallest integer accumulator reaching each level, found on the "
      "graph's own float32 arithmetic (docs/INTEROP.md, \"Import\")");
  cmd->add_option("model", args->model, "The .onnx file (one image input, one output: the class scores)")
      ->required()
      ->check(non_empty());
  cmd->add_option("-o,--output", args->output, "The .lbm file to write (replaced atomically if it exists)")
      ->required()
      ->check(non_empty());
  cmd->add_option("--input-scale", args->input_scale,
                  "The graph's input is raw pixel * SCALE + BIAS (float32). 1 for lowbit's own files (raw pixels); "
                  "1/255 (0.00392156863) for BNN-PYNQ's Brevitas models, which read pixels in [0, 1]")
      ->capture_default_str()
      ->check(real_in(-1e30, 1e30));
  cmd->add_option("--input-bias", args->input_bias, "See --input-scale")
      ->capture_default_str()
      ->check(real_in(-1e30, 1e30));
  cmd->add_flag("-v,--verbose", args->verbose, "Say what each layer was read from");
  return [args]() {
    check_output("-o", args->output, {args->model});
    if (args->input_scale == 0.f) usage_fail("--input-scale 0 maps every pixel to one value");
    interop::ImportOptions opt;
    opt.input_scale = args->input_scale;
    opt.input_bias = args->input_bias;
    interop::ImportReport report;
    const format::ModelDesc desc = interop::import_qonnx(args->model, opt, &report);
    // Loaded by the runtime from memory, and only then written (atomically), as export does.
    const std::vector<uint8_t> bytes = format::model_desc_bytes(desc);
    runtime::Engine engine = runtime::Engine::from_bytes(bytes, args->output);
    write_output(args->output, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    if (args->verbose)
      for (const std::string& n : report.notes) std::cout << "  " << n << "\n";
    std::cout << "wrote " << args->output << ": " << desc.layers.size() << " layers, " << desc.classes()
              << " classes, " << engine.info().binary_macs << " MACs per image\n";
    if (!report.exact_scores)
      std::cout << "note: the score map's float constants were composed (a BatchNormalization or a chain of "
                   "elementwise constants after the last MatMul): scores may differ from the graph's in the last "
                   "bits, predictions only where two classes tie within that rounding\n";
    return 0;
  };
}

}  // namespace lowbit::cli
