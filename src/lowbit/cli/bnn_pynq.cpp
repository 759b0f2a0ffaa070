// The BNN-PYNQ side of `lowbit export --format bnn-pynq` and `lowbit run --semantics
// bnn-pynq` (docs/HARDWARE.md): the parameter folder a prebuilt overlay loads, and the
// classes that overlay reports, computed from lowbit's exact integer model.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "lowbit/cli/commands.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/data/loader.hpp"
#include "lowbit/export/fold.hpp"
#include "lowbit/format/input_fit.hpp"
#include "lowbit/format/lbm.hpp"
#include "lowbit/hw/bnn_pynq_files.hpp"
#include "lowbit/hw/bnn_pynq_predict.hpp"
#include "lowbit/train/checkpoint.hpp"
#include "lowbit/train/trainer.hpp"

namespace lowbit::cli {

namespace {

namespace bp = hw::bnn_pynq;

std::vector<std::string> read_class_names(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  std::vector<std::string> names;
  std::string line;
  for (uint8_t b : bytes) {
    if (b == '\n') {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      names.push_back(line);
      line.clear();
    } else {
      line += static_cast<char>(b);
    }
  }
  if (!line.empty()) names.push_back(line);
  for (size_t i = 0; i < names.size(); ++i)
    LOWBIT_CHECK(!names[i].empty(), path, ": line ", i + 1, " is empty; give one class name per line");
  return names;
}

// The dataset's name as a folder name: "fashion-mnist" of "fashion-mnist/test".
std::string dataset_name(const data::Dataset& ds) { return ds.name.substr(0, ds.name.find('/')); }

}  // namespace

int export_bnn_pynq(const BnnPynqExportArgs& a) {
  namespace fs = std::filesystem;
  if (a.network.empty()) usage_fail("--format bnn-pynq needs --network (", bp::overlay_names(), ")");
  const bp::Overlay* overlay = nullptr;
  try {
    overlay = &bp::overlay(a.network);
  } catch (const Error& e) {
    usage_fail("--network: ", e.what());
  }
  std::error_code ec;
  if (fs::exists(a.output, ec) && !fs::is_directory(a.output, ec))
    usage_fail("-o ", a.output, ": exists and is not a folder (--format bnn-pynq writes a parameter folder)");
  const fs::path parent = fs::path(a.output).parent_path();
  LOWBIT_CHECK(parent.empty() || fs::is_directory(parent, ec), "-o ", a.output, ": no folder ", parent.string(),
               " to create it in");
  if (fs::equivalent(a.output, a.checkpoint, ec)) usage_fail("-o must not be the checkpoint");
  if (!a.dataset.empty()) {
    try {
      bp::check_dataset_name(a.dataset);
    } catch (const Error& e) {
      usage_fail("--dataset: ", e.what());
    }
  }
  std::vector<std::string> names;
  if (!a.classes_file.empty()) {
    names = read_class_names(a.classes_file);
    LOWBIT_CHECK(!names.empty(), a.classes_file, ": no class names (one per line)");
  }
  data::DataSplit split;
  if (!a.test_images.empty()) {
    try {
      split = data::load_data(a.test_images);
    } catch (const Error& e) {  // the loader's messages speak of --data
      std::string msg = e.what();
      for (size_t at = msg.find("--data"); at != std::string::npos; at = msg.find("--data", at + 13))
        msg.replace(at, 6, "--test-images");
      fail(msg);
    }
  }

  // The same fold `lowbit export` writes to a .lbm, loaded by the runtime once so what is
  // converted is a model the runtime accepts.
  auto [model, ck] = train::load_model(a.checkpoint);
  const train::TrainConfig cfg = train::checkpoint_train_config(ck, a.checkpoint);
  exporter::ExportOptions opt;
  opt.normalize = cfg.data.normalize;
  const format::ModelDesc desc = exporter::fold(*model, opt);
  const bp::OverlayParams params = bp::overlay_params(desc, *overlay);

  if (!a.test_images.empty())
    format::check_images_fit(desc.input.shape, split.test.channels, split.test.height, split.test.width,
                             cat("--test-images ", a.test_images, " and checkpoint ", a.checkpoint));
  std::string dataset = a.dataset;
  if (dataset.empty()) dataset = a.test_images.empty() ? "lowbit" : dataset_name(split.test);
  // Class names follow the data when it is given (--dataset only names the folder).
  if (names.empty()) names = bp::default_class_names(a.test_images.empty() ? dataset : dataset_name(split.test), params.classes);
  LOWBIT_CHECK(static_cast<int64_t>(names.size()) == params.classes, a.classes_file, ": ", names.size(),
               " class names for a model of ", params.classes, " classes");
  const std::vector<bp::ParamFile> files = bp::parameter_files(params, names);
  const std::string folder = bp::write_parameter_dir(a.output, dataset, overlay->name, files);
  int64_t bytes = 0;
  for (const auto& f : files) bytes += static_cast<int64_t>(f.bytes.size());
  std::cout << "wrote " << folder << ": " << files.size() << " files, " << bytes << " bytes (" << overlay->name << ", "
            << params.classes << " classes" << (params.replicate == 3 ? ", grey channel replicated to R, G, B" : "")
            << ")\n";
  if (bp::shipped_dataset(dataset))
    std::cout << "note: BNN-PYNQ ships a parameter set named '" << dataset << "'; copying " << a.output << "/"
              << dataset << " into bnn/params/ replaces Xilinx's " << overlay->name
              << " parameters there (--dataset chooses another name)\n";
  if (!a.test_images.empty()) {
    // Beside the parameter set, not in it: OUT/DATASET is what goes into bnn/params/.
    const data::Dataset& ds = split.test;
    for (const auto& f : bp::overlay_image_files(*overlay, ds.images.data(), ds.labels.data(), ds.size(), ds.channels,
                                                 ds.height, ds.width)) {
      const std::string path = (fs::path(a.output) / f.name).string();
      write_output(path, std::string_view(reinterpret_cast<const char*>(f.bytes.data()), f.bytes.size()));
      const bool labels = f.name.find("labels") != std::string::npos;
      std::cout << "wrote " << path << ": " << ds.size() << " test " << (labels ? "labels" : "images")
                << " in the overlay's input format\n";
    }
  }
  return 0;
}

std::string bnn_pynq_fit(const format::ModelDesc& desc) {
  const bp::Overlay* o = bp::find_overlay(desc);
  return o ? o->name : "";
}

BnnPynqResult bnn_pynq_predictions(runtime::Engine& engine, const format::LbmFile& file, const std::string& network,
                                   const data::Dataset& ds) {
  const format::ModelDesc desc = format::read_model_desc(file);  // validated by the engine already
  const bp::Overlay* overlay = nullptr;
  if (!network.empty()) {
    try {
      overlay = &bp::overlay(network);
    } catch (const Error& e) {
      usage_fail("--network: ", e.what());
    }
  } else {
    std::string why;
    overlay = bp::find_overlay(desc, &why);
    LOWBIT_CHECK(overlay, file.source(), " fits none of the BNN-PYNQ overlays:\n", why,
                 "(give --network to see every mismatch of one)");
  }
  const bp::OverlayParams params = bp::overlay_params(desc, *overlay);
  BnnPynqResult r;
  r.network = overlay->name;
  const int64_t n = ds.size(), K = params.classes, chunk = 64;
  r.batch.resize(static_cast<size_t>(n));
  r.single.resize(static_cast<size_t>(n));
  std::vector<int32_t> out(static_cast<size_t>(K));
  for (int64_t s = 0; s < n; s += chunk) {
    const int64_t m = std::min(chunk, n - s);
    const auto trace = engine.trace(ds.image(s), m, ds.channels, ds.height, ds.width);
    const std::vector<int32_t>& acc = trace.back();  // the last layer's accumulators, m x K
    for (int64_t i = 0; i < m; ++i) {
      bp::overlay_outputs(params, acc.data() + i * K, out.data());
      r.batch[static_cast<size_t>(s + i)] = bp::batch_class(params, out.data());
      r.single[static_cast<size_t>(s + i)] = bp::single_image_class(params, out.data());
    }
  }
  return r;
}

}  // namespace lowbit::cli
