// Deployment subcommands: lowbit export CKPT -o M.lbm, lowbit run M.lbm --data D,
// lowbit bench M.lbm. `run` and `bench` use only the runtime library (and the data
// loader for `run`), never the training model.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "lowbit/cli/commands.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/core/rng.hpp"
#include "lowbit/data/class_report.hpp"
#include "lowbit/data/loader.hpp"
#include "lowbit/core/threading.hpp"
#include "lowbit/export/fold.hpp"
#include "lowbit/format/input_fit.hpp"
#include "lowbit/format/lbm.hpp"
#include "lowbit/format/model_desc.hpp"
#include "lowbit/interop/onnx_export.hpp"
#include "lowbit/kernels/bit_isa.hpp"
#include "lowbit/runtime/engine.hpp"
#include "lowbit/runtime/plan.hpp"
#include "lowbit/train/checkpoint.hpp"
#include "lowbit/train/trainer.hpp"

namespace lowbit::cli {

namespace {

struct ExportArgs {
  std::string checkpoint, output, format = "lbm", weight_coding = "dense";
  BnnPynqExportArgs pynq;
};

struct RunArgs {
  std::string model, data, predictions, max_isa, semantics = "lowbit", network;
  int threads = 0;
  bool json_out = false;
  ClassResultArgs results;
};

struct BenchArgs {
  std::string model, max_isa;
  int64_t batch = 256;
  int threads = 0;
  double seconds = 2.0;
  int byte_plane_product = runtime::EngineOptions{}.byte_plane_product;
  std::string sparse = "auto";
  bool json_out = false;
};

void add_isa_option(CLI::App* cmd, std::string& max_isa) {
  cmd->add_option("--max-isa", max_isa,
                  "Cap the SIMD instruction set for the bit kernels: " + kernels::isa_choices() + " (default: best available)");
}

// The OpenMP waiting policy this process runs under (main.cpp chooses it), for benchmark logs.
std::string openmp_waiting() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const char* spin = std::getenv("GOMP_SPINCOUNT");
  std::string s = policy ? cat("OMP_WAIT_POLICY=", policy) : "";
  if (spin) s += cat(s.empty() ? "" : " ", "GOMP_SPINCOUNT=", spin);
  return s.empty() ? "libgomp default" : s;
}

// --max-isa's value is a flag value: an unknown name is a usage error.
void apply_max_isa(const std::string& max_isa) {
  std::string known = ", " + kernels::isa_choices() + ",";
  std::string name = max_isa;
  for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (!max_isa.empty() && known.find(", " + name + ",") == std::string::npos)
    usage_fail("--max-isa '", max_isa, "' is not a target of this build; valid: ", kernels::isa_choices());
  kernels::set_max_isa(max_isa);  // a known target this CPU lacks: lowbit::Error (exit 1)
}

// The deployment IR of a checkpoint (folded as `lowbit export` folds it) or of a .lbm file
// (told apart by the .lbm magic, not the name).
format::ModelDesc model_desc_of(const std::string& path) {
  if (model_file_kind(path) == ModelFileKind::kLbm) {
    try {
      return format::read_model_desc(format::LbmFile::read(path));
    } catch (const UsageError&) {
      throw;
    } catch (const Error& e) {
      const std::string m = e.what();
      if (m.rfind(path, 0) == 0) throw;  // names the file already
      fail(path, ": ", m);
    }
  }
  auto [model, ck] = train::load_model(path);
  const train::TrainConfig cfg = train::checkpoint_train_config(ck, path);
  exporter::ExportOptions opt;
  opt.normalize = cfg.data.normalize;
  return exporter::fold(*model, opt);
}

}  // namespace

Action add_export_command(CLI::App& app) {
  auto args = std::make_shared<ExportArgs>();
  CLI::App* cmd = app.add_subcommand(
      "export",
      "Fold a trained checkpoint into integer thresholds and weight codes: one .lbm model file for the runtime, "
      "(--format bnn-pynq) the parameter folder of a BNN-PYNQ FPGA overlay, or (--format qonnx / onnx / onnx-int8) an "
      "ONNX graph for FINN or ONNX Runtime (docs/INTEROP.md)");
  cmd->add_option("checkpoint", args->checkpoint,
                  "A .ckpt file written by lowbit train; for --format qonnx / onnx / onnx-int8 also a .lbm model")->required();
  cmd->add_option("-o,--output", args->output,
                  "The file to write (.lbm, or .onnx for qonnx / onnx / onnx-int8; bnn-pynq: the folder to write into)")
      ->required()
      ->check(non_empty());
  cmd->add_option("--format", args->format,
                  "lbm (lowbit's runtime), bnn-pynq (the parameter folder of a prebuilt BNN-PYNQ overlay: "
                  "OUT/DATASET/NETWORK/, docs/HARDWARE.md), qonnx (QONNX for FINN's frontend: BipolarQuant, "
                  "Quant, MultiThreshold, finn_datatype annotations), onnx (standard ONNX opset 13 for ONNX "
                  "Runtime; predictions equal lowbit run's) or onnx-int8 (the same with ConvInteger / MatMulInteger "
                  "on 8-bit codes: ONNX Runtime's integer path)")
      ->check(CLI::IsMember({"lbm", "bnn-pynq", "qonnx", "onnx", "onnx-int8"}))
      ->capture_default_str();
  CLI::Option* coding =
      cmd->add_option("--weight-coding", args->weight_coding,
                      "lbm: how to store weight codes: dense (pm1 / int8 / int16, read by every lowbit), rle or "
                      "huffman (compressed ternary weights, each layer whose codes are all -1, 0, +1; older lowbit "
                      "refuses the file), auto (per layer the smallest of the three). docs/DEPLOYMENT.md, "
                      "\"Compressed weights\"")
          ->check(CLI::IsMember({"dense", "rle", "huffman", "auto"}))
          ->capture_default_str();
  CLI::Option* net = cmd->add_option("--network", args->pynq.network,
                                     "bnn-pynq: the overlay, lfcW1A1, lfcW1A2, cnvW1A1, cnvW1A2 or cnvW2A2");
  CLI::Option* dataset = cmd->add_option(
      "--dataset", args->pynq.dataset,
      "bnn-pynq: the parameter set's name, the folder under bnn/params/ (default: the --test-images data's name, "
      "else lowbit)")->check(non_empty());
  CLI::Option* classes = cmd->add_option("--classes", args->pynq.classes_file,
                                         "bnn-pynq: a file of class names, one per line, for classes.txt "
                                         "(default: the --test-images data's names when known, else 0, 1, ...)");
  CLI::Option* images = cmd->add_option("--test-images", args->pynq.test_images,
                                        "bnn-pynq: also write this data's test split in the overlay's input format "
                                        "(MNIST idx files for LFC, CIFAR-10 records for CNV) into OUT/");
  return [args, net, dataset, classes, images, coding]() {
    if (coding->count() && args->format != "lbm") usage_fail("--weight-coding applies to --format lbm");
    if (args->format == "bnn-pynq") {
      args->pynq.checkpoint = args->checkpoint;
      args->pynq.output = args->output;
      return export_bnn_pynq(args->pynq);
    }
    for (CLI::Option* o : {net, dataset, classes, images})
      if (o->count()) usage_fail(o->get_name(), " applies to --format bnn-pynq");
    check_output("-o", args->output, {args->checkpoint});
    if (args->format == "qonnx" || args->format == "onnx" || args->format == "onnx-int8") {
      const std::string ext = std::filesystem::path(args->output).extension().string();
      if (ext == ".lbm" || ext == ".ckpt")
        usage_fail("-o ", args->output, ": --format ", args->format, " writes an ONNX file; name it .onnx (", ext,
                   " is lowbit's own format)");
      const format::ModelDesc desc = model_desc_of(args->checkpoint);
      const auto dialect = args->format == "qonnx"  ? interop::OnnxDialect::kQonnx
                           : args->format == "onnx" ? interop::OnnxDialect::kStandard
                                                    : interop::OnnxDialect::kStandardInteger;
      const std::string bytes = interop::onnx_model_bytes(desc, dialect);
      write_output(args->output, bytes);
      std::cout << "wrote " << args->output << ": " << args->format << ", " << desc.layers.size() << " layers, "
                << bytes.size() << " bytes\n";
      return 0;
    }
    auto [model, ck] = train::load_model(args->checkpoint);
    const train::TrainConfig cfg = train::checkpoint_train_config(ck, args->checkpoint);
    exporter::ExportOptions opt;
    opt.normalize = cfg.data.normalize;
    // Folded, loaded by the runtime from memory, and only then written (atomically): a
    // failed export leaves an existing file at the path as it was.
    format::WriteOptions wo;
    wo.weights = format::parse_weight_coding(args->weight_coding);
    const std::vector<uint8_t> bytes = format::model_desc_bytes(exporter::fold(*model, opt), wo);
    runtime::Engine engine = runtime::Engine::from_bytes(bytes, args->output);
    write_output(args->output, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    std::cout << "wrote " << args->output << ": " << engine.info().layers.size() << " layers, "
              << engine.info().binary_macs << " MACs per image";
    if (wo.weights != format::WeightCoding::kDense) {  // which layers the coding compressed
      const format::LbmFile file = format::LbmFile::parse(bytes.data(), bytes.size(), args->output);
      std::cout << ", weights";
      for (const format::StoredWeights& sw : format::stored_weights(file)) std::cout << " " << sw.encoding;
      std::cout << " (" << bytes.size() << " bytes)";
    }
    std::cout << "\n";
    return 0;
  };
}

Action add_run_command(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand("run", "Classify a dataset's test split with the runtime and report accuracy");
  cmd->add_option("model", args->model, "A .lbm file written by lowbit export")->required();
  cmd->add_option("--data", args->data, "fashion-mnist, mnist, or a data folder")->required();
  cmd->add_option("--predictions", args->predictions, "Write one predicted class per line, in dataset order")
      ->check(non_empty());
  cmd->add_option("--threads", args->threads, "Threads (0 = all cores)")
      ->capture_default_str()
      ->check(whole_in(0, kMaxThreads));
  add_isa_option(cmd, args->max_isa);
  cmd->add_flag("--json", args->json_out, "Print the result as one JSON object");
  cmd->add_option("--semantics", args->semantics,
                  "lowbit, or bnn-pynq: also the accuracy a BNN-PYNQ overlay reaches with this model's "
                  "`lowbit export --format bnn-pynq` parameters (its host's class rules; docs/HARDWARE.md)")
      ->check(CLI::IsMember({"lowbit", "bnn-pynq"}))
      ->capture_default_str();
  CLI::Option* network = cmd->add_option("--network", args->network,
                                         "bnn-pynq: the overlay (default: the one the model fits)");
  add_class_result_options(cmd, args->results);
  return [args, network]() {
    if (network->count() && args->semantics != "bnn-pynq") usage_fail("--network applies to --semantics bnn-pynq");
    if (!args->predictions.empty()) check_output("--predictions", args->predictions, {args->model, data_folder(args->data)});
    if (!args->results.scores.empty())
      check_output("--scores", args->results.scores, {args->model, data_folder(args->data), args->predictions});
    apply_max_isa(args->max_isa);
    runtime::EngineOptions opt;
    opt.threads = args->threads;
    const format::LbmFile file = format::LbmFile::read(args->model);  // read once (--semantics bnn-pynq reads its IR)
    runtime::Engine engine = runtime::Engine::from_file(file, opt);
    data::DataSplit split = data::load_data(args->data);
    const data::Dataset& ds = split.test;
    const runtime::ModelInfo& info = engine.info();
    // The data must fit the model (format::check_images_fit, as evaluation checks it), and
    // its labels must be classes the model scores.
    format::check_images_fit(info.input_shape, ds.channels, ds.height, ds.width,
                             cat("--data ", args->data, " and model ", args->model));
    LOWBIT_CHECK(ds.num_classes <= info.classes, "--data ", args->data, " has ", ds.num_classes,
                 " classes but model ", args->model, " scores ", info.classes);
    const int64_t n = ds.size();
    std::vector<int32_t> pred(static_cast<size_t>(n));
    std::vector<float> scores(args->results.scores.empty() ? 0 : static_cast<size_t>(n * info.classes));
    const auto t0 = std::chrono::steady_clock::now();
    engine.run(ds.images.data(), n, ds.channels, ds.height, ds.width, scores.empty() ? nullptr : scores.data(),
               pred.data());
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Per-class results and scores are lowbit's (also under --semantics bnn-pynq).
    const data::ClassReport report =
        data::class_report(ds.labels.data(), pred.data(), n, static_cast<int>(info.classes));
    if (!scores.empty())
      write_output(args->results.scores, scores_csv(ds, pred.data(), scores.data(), static_cast<int>(info.classes)));
    const double accuracy = report.accuracy();
    // --semantics bnn-pynq: the overlay's classes, whose batch call's are what --predictions
    // then lists.
    nlohmann::json pynq;
    if (args->semantics == "bnn-pynq") {
      const BnnPynqResult r = bnn_pynq_predictions(engine, file, args->network, ds);
      int64_t ok = 0, single_ok = 0, differ = 0, single_differ = 0;
      for (int64_t i = 0; i < n; ++i) {
        const auto k = static_cast<size_t>(i);
        ok += r.batch[k] == ds.labels[k];
        single_ok += r.single[k] == ds.labels[k];
        differ += r.batch[k] != pred[k];
        single_differ += r.single[k] != r.batch[k];
      }
      const auto frac = [&](int64_t v) { return n ? static_cast<double>(v) / static_cast<double>(n) : 0.0; };
      pynq = {{"network", r.network}, {"accuracy", frac(ok)}, {"single_image_accuracy", frac(single_ok)},
              {"differs_from_lowbit", differ}, {"single_image_differs", single_differ}};
      pred = r.batch;
    }
    if (!args->predictions.empty()) {
      std::ostringstream os;
      for (int32_t p : pred) os << p << "\n";
      write_output(args->predictions, os.str());
    }
    if (args->json_out) {
      nlohmann::json j = {{"accuracy", accuracy}, {"images", n}, {"seconds", secs}, {"isa", kernels::active_isa()},
                          {"model", args->model}};
      if (!pynq.is_null()) j["bnn_pynq"] = pynq;
      if (!args->results.no_per_class) j["per_class"] = data::class_report_json(report, ds.class_names);
      std::cout << j.dump() << "\n";
    } else {
      std::cout << "test accuracy " << accuracy << " (" << n << " images, " << secs << " s, "
                << kernels::active_isa() << ")\n";
      if (!args->results.no_per_class) std::cout << data::format_class_report(report, ds.class_names);
      if (!pynq.is_null()) {
        const std::string net = pynq["network"].get<std::string>();
        const int64_t differ = pynq["differs_from_lowbit"].get<int64_t>();
        std::cout << "bnn-pynq " << net << ": test accuracy " << pynq["accuracy"].get<double>() << " (classify_"
                  << (net.rfind("lfc", 0) == 0 ? "mnists" : "cifars") << "; differs from lowbit's class on " << differ
                  << " images); single-image calls " << pynq["single_image_accuracy"].get<double>() << " (differ on "
                  << pynq["single_image_differs"].get<int64_t>() << " images)\n";
        // LFC's overlay reports the highest class whose score is >= 0: with scores trained by
        // cross-entropy (free offset) several classes fire. Say so when it shows.
        if (net.rfind("lfc", 0) == 0 && differ * 10 > n)
          std::cout << "note: the LFC overlay reports the highest class whose score is >= 0, not the highest score; "
                       "train with --loss squared_hinge so that only the right class scores >= 0 (docs/HARDWARE.md)\n";
      }
    }
    return 0;
  };
}

Action add_bench_command(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure the runtime's frames/s and per-batch latency on random images");
  cmd->add_option("model", args->model, "A .lbm file written by lowbit export")->required();
  cmd->add_option("--batch", args->batch, "Images per call")->capture_default_str()->check(whole_in(1, 1 << 20));
  cmd->add_option("--threads", args->threads, "Threads (0 = all cores); a batch smaller than the threads splits each layer's output channels (latency mode)")
      ->capture_default_str()
      ->check(whole_in(0, kMaxThreads));
  cmd->add_option("--seconds", args->seconds, "Measuring time (at least one call; p50/p99 are over the calls made)")->capture_default_str()->check(real_in(0.01, 3600));
  add_isa_option(cmd, args->max_isa);
  cmd->add_option("--byte-plane-product", args->byte_plane_product,
                  "Hidden layers on unsigned codes with input planes x weight planes >= N run the integer GEMM on "
                  "byte codes, the rest bit-planes (1: all on bytes, 81: none, 0: this CPU's default, 10 without "
                  "AVX-512 VNNI (measured), 8 with (not yet measured)); to find the faster choice on a machine "
                  "(predictions are the same either way)")
      ->capture_default_str()
      ->check(whole_in(0, 81));
  cmd->add_option("--sparse", args->sparse,
                  "The sparse ternary GEMM (zero weights skipped): auto (ternary layers with >= 60% zeros, calls of "
                  ">= 16 rows: where it measured faster), always or never; to compare the two paths on one model "
                  "(predictions are the same either way)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "always", "never"}));
  cmd->add_flag("--json", args->json_out,
                "Print one JSON object: fps, latency_us_p50, latency_us_p99, batch, threads, isa, openmp_waiting");
  return [args]() {
    apply_max_isa(args->max_isa);
    runtime::EngineOptions opt;
    opt.threads = args->threads;
    opt.byte_plane_product = args->byte_plane_product;
    opt.sparse = args->sparse == "always" ? runtime::SparseGemm::kAlways
                 : args->sparse == "never" ? runtime::SparseGemm::kNever
                                           : runtime::SparseGemm::kAuto;
    runtime::Engine engine = runtime::Engine::load(args->model, opt);
    const int64_t h = engine.info().height, w = engine.info().width, c = engine.info().channels;
    std::vector<uint8_t> images(static_cast<size_t>(args->batch * c * h * w));
    Rng rng(1);
    for (auto& p : images) p = static_cast<uint8_t>(rng.below(256));
    std::vector<int32_t> pred(static_cast<size_t>(args->batch));
    engine.run(images.data(), args->batch, c, h, w, nullptr, pred.data());  // warm-up
    std::vector<double> lat;
    const auto start = std::chrono::steady_clock::now();
    double total = 0;
    while (lat.empty() || total < args->seconds) {  // --seconds is honoured even for huge batches
      const auto t0 = std::chrono::steady_clock::now();
      engine.run(images.data(), args->batch, c, h, w, nullptr, pred.data());
      const auto t1 = std::chrono::steady_clock::now();
      lat.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      total = std::chrono::duration<double>(t1 - start).count();
    }
    const double fps = static_cast<double>(args->batch) * static_cast<double>(lat.size()) / total;
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double q) { return lat[std::min(lat.size() - 1, static_cast<size_t>(q * static_cast<double>(lat.size())))]; };
    const nlohmann::json r = {{"fps", fps},
                              {"latency_us_p50", pct(0.50)},
                              {"latency_us_p99", pct(0.99)},
                              {"batch", args->batch},
                              {"threads", engine.threads()},
                              {"isa", kernels::active_isa()},
                              {"calls", lat.size()},
                              {"openmp_waiting", openmp_waiting()},
                              {"bit_macs_per_image", engine.info().bit_macs},
                              {"byte_plane_product", runtime::byte_plane_product_for(args->byte_plane_product)},
                              {"sparse", args->sparse},
                              {"model", args->model}};
    if (args->json_out)
      std::cout << r.dump() << "\n";
    else
      std::cout << engine.info().name << ": " << fps << " frames/s, latency p50 " << pct(0.5) << " us, p99 "
                << pct(0.99) << " us (batch " << args->batch << ", " << engine.threads() << " threads, "
                << kernels::active_isa() << ", " << lat.size() << " calls); " << engine.info().bit_macs
                << " binary MACs per image\n";
    return 0;
  };
}

}  // namespace lowbit::cli
