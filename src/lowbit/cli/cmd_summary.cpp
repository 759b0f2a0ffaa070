// lowbit summary: a table of layers, output shapes, parameters and MACs.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iostream>

#include "lowbit/cli/commands.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/data/loader.hpp"
#include "lowbit/export/fold.hpp"
#include "lowbit/format/lbm.hpp"
#include "lowbit/format/weight_coding.hpp"
#include "lowbit/nn/presets.hpp"
#include "lowbit/nn/summary.hpp"
#include "lowbit/runtime/engine.hpp"
#include "lowbit/train/checkpoint.hpp"
#include "lowbit/train/trainer.hpp"

namespace lowbit::cli {

namespace {

// The runtime's view of a deployed model: its layers and MACs.
// "BNN-PYNQ overlay: ..." of bnn_pynq_fit's answer (docs/HARDWARE.md).
std::string overlay_line(const std::string& pynq) {
  return "BNN-PYNQ overlay: " + (pynq.empty() ? std::string("none fits (docs/HARDWARE.md)")
                                              : pynq + " (lowbit export --format bnn-pynq --network " + pynq + ")");
}

// How each layer's weights are stored, and for ternary layers what each representation
// would cost (docs/DEPLOYMENT.md, "Compressed weights"): one JSON object per layer.
nlohmann::json weights_json(const format::ModelDesc& desc, const format::LbmFile& file) {
  const std::vector<format::StoredWeights> stored = format::stored_weights(file);
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < desc.layers.size(); ++i) {
    const std::vector<int32_t>& w = desc.layers[i].weights;
    nlohmann::json j = {{"encoding", stored[i].encoding}, {"bytes", stored[i].bytes}, {"codes", w.size()}};
    if (format::is_ternary(w)) {
      const format::WeightCodingSizes z = format::weight_coding_sizes(w);
      j["zeros"] = z.zeros;
      j["entropy_bits"] = z.entropy_bits;
      j["dense_bits"] = z.zeros ? z.dense2_bits : z.dense1_bits;
      j["rle_bits"] = z.rle_bits;
      j["huffman_bits"] = z.huffman_bits;
    }
    out.push_back(j);
  }
  return out;
}

// "  weights 2: huffman, 18920 bytes (97.6% zeros; entropy bound 18702, rle 20091, huffman
// 18920, 2-bit 200704 bytes)": only when some layer has zero weights or is compressed.
void print_weights(const nlohmann::json& weights) {
  const bool any = std::any_of(weights.begin(), weights.end(), [](const nlohmann::json& j) {
    return j.value("zeros", int64_t{0}) > 0 || j.at("encoding") == "rle" || j.at("encoding") == "huffman";
  });
  if (!any) return;
  auto bytes = [](double bits) { return static_cast<int64_t>(std::ceil(bits / 8)); };
  for (size_t i = 0; i < weights.size(); ++i) {
    const nlohmann::json& j = weights[i];
    std::cout << "  weights " << i << ": " << j.at("encoding").get<std::string>() << ", " << j.at("bytes") << " bytes";
    if (j.contains("zeros")) {
      const double zeros = 100.0 * j.at("zeros").get<double>() / std::max(1.0, j.at("codes").get<double>());
      std::cout << " (" << std::fixed << std::setprecision(1) << zeros << std::defaultfloat << "% zeros; entropy bound "
                << bytes(j.at("entropy_bits").get<double>()) << ", rle " << bytes(j.at("rle_bits").get<double>())
                << ", huffman " << bytes(j.at("huffman_bits").get<double>()) << ", "
                << (j.at("zeros").get<int64_t>() ? "2-bit " : "1-bit ") << bytes(j.at("dense_bits").get<double>())
                << " bytes)";
    }
    std::cout << "\n";
  }
}

void print_lbm_summary(const std::string& path, bool json_out) {
  const format::LbmFile file = format::LbmFile::read(path);  // read once: the engine and the overlay check
  runtime::Engine engine = runtime::Engine::from_file(file);
  const runtime::ModelInfo& m = engine.info();
  // The BNN-PYNQ overlay the model fits, if any (the engine has validated the description).
  const format::ModelDesc desc = format::read_model_desc(file);
  const std::string pynq = bnn_pynq_fit(desc);
  const nlohmann::json weights = weights_json(desc, file);
  if (json_out) {
    std::cout << nlohmann::json{{"name", m.name}, {"input", m.input_shape}, {"classes", m.classes},
                                {"input_quantizer", m.input_quantizer}, {"normalize", m.normalize},
                                {"macs", m.binary_macs}, {"layers", m.layers}, {"weights", weights}, {"bnn_pynq", pynq}}
                     .dump(2)
              << "\n";
    return;
  }
  std::cout << path << ": model '" << m.name << "', input " << nlohmann::json(m.input_shape).dump() << " ("
            << m.input_quantizer << ", pixels " << m.normalize << "), " << m.classes << " classes, " << m.binary_macs
            << " MACs per image\n";
  for (size_t i = 0; i < m.layers.size(); ++i) std::cout << "  " << i << ": " << m.layers[i] << "\n";
  print_weights(weights);
  std::cout << overlay_line(pynq) << "\n";
}

struct SummaryArgs {
  ModelChoice model;
  std::string checkpoint;
  std::vector<int64_t> input = {1, 28, 28};
  int classes = 10;
  bool json_out = false;
};
}  // namespace

Action add_summary_command(CLI::App& app) {
  auto args = std::make_shared<SummaryArgs>();
  CLI::App* cmd = app.add_subcommand("summary", "Print a model's layers, output shapes, parameters and MACs");
  CLI::Option* file =
      cmd->add_option("file", args->checkpoint, "A checkpoint (.ckpt) or a model file (.lbm), told apart by content");
  add_model_options(*cmd, args->model, /*required=*/false);
  cmd->add_option("--input", args->input, "Per-sample input shape for presets, e.g. 1 28 28 or 3 32 32")
      ->expected(1, 3)
      ->capture_default_str()
      ->check(whole_in(1, 1 << 16));
  cmd->add_option("--classes", args->classes, "Number of classes for presets")
      ->capture_default_str()
      ->check(whole_in(1, 1 << 16));
  cmd->add_flag("--json", args->json_out, "Print the summary as JSON");
  // A file or --model, not both; the model flags describe --model only (they were ignored
  // beside a file).
  CLI::Option* model = cmd->get_option("--model");
  file->excludes(model);
  for (const char* flag : {"--weights", "--acts", "--input-bits", "--input-quantizer", "--last-bn", "--activation", "--dropout",
                           "--input", "--classes"})
    cmd->get_option(flag)->needs(model);

  return [args]() {
    std::unique_ptr<nn::Model> model;
    if (!args->checkpoint.empty()) {
      const ModelFileKind kind = model_file_kind(args->checkpoint);
      if (kind == ModelFileKind::kLbm) {
        print_lbm_summary(args->checkpoint, args->json_out);
        return 0;
      }
      if (kind == ModelFileKind::kJsonTopology) topology_given_as_file(args->checkpoint);
    }
    std::string problem;  // why `lowbit export` would refuse the model ("" = it would not)
    format::ModelDesc desc;  // what export folds, when it would not
    quant::LowPrecisionConfig numerics;  // a checkpoint's low-precision training formats
    if (!args->checkpoint.empty()) {
      auto loaded = train::load_model(args->checkpoint);
      model = std::move(loaded.model);
      exporter::ExportOptions eo;
      const train::TrainConfig tc = train::checkpoint_train_config(loaded.checkpoint, args->checkpoint);
      eo.normalize = tc.data.normalize;
      numerics = tc.low_precision;
      try {  // the trained model itself: export's real checks, nothing written
        desc = exporter::fold(*model, eo);
        (void)runtime::Engine::from_bytes(format::model_desc_bytes(desc), args->checkpoint);
      } catch (const Error& e) {
        problem = e.what();
      }
    } else if (!args->model.model.empty()) {
      model = make_model(args->model, args->input, args->classes);
      exporter::ExportOptions eo;  // the pixel scaling `lowbit train` would default to
      eo.normalize = default_normalize(args->model);
      problem = exporter::export_problem(model->topology(), eo, &desc);  // a dry run on an untrained copy
    } else {
      usage_fail("summary needs --model M or a checkpoint file");
    }
    const std::string pynq = problem.empty() ? bnn_pynq_fit(desc) : "";
    if (args->json_out) {
      nn::json j = nn::summary_json(*model);
      j["deployable"] = problem.empty();
      if (!problem.empty()) j["deploy_problem"] = problem;
      j["bnn_pynq"] = pynq;
      if (numerics.active()) j["low_precision"] = quant::to_json(numerics);
      std::cout << j.dump(2) << "\n";
    } else {
      std::cout << nn::summary_table(*model)
                << (numerics.active() ? cat("Trained in low precision: ", numerics.str(), "\n") : std::string()) << (problem.empty() ? "Deployable: yes (lowbit export writes a .lbm the runtime runs)\n"
                                    : "Deployable: no: " + problem + "\n")
                << overlay_line(pynq) << "\n";
    }
    return 0;
  };
}

}  // namespace lowbit::cli
