// lowbit predict MODEL IMAGE...: classify your own image files (PNG, JPEG, PGM/PPM, BMP)
// with the runtime. MODEL is a .lbm, or a checkpoint folded as `lowbit export` folds it, so
// the classes are those `lowbit run` gives (docs/DEPLOYMENT.md, "Classifying your own
// images"). Every image is decoded, converted to the model's channels and centre-padded to
// its input (data/image_file.hpp) before any is classified; the first that does not fit
// stops the command with its name and size.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "lowbit/cli/commands.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/core/threading.hpp"
#include "lowbit/data/image_file.hpp"
#include "lowbit/export/fold.hpp"
#include "lowbit/format/input_fit.hpp"
#include "lowbit/format/model_desc.hpp"
#include "lowbit/runtime/engine.hpp"
#include "lowbit/train/checkpoint.hpp"
#include "lowbit/train/trainer.hpp"

namespace lowbit::cli {

namespace {

struct PredictArgs {
  std::string model, classes;
  std::vector<std::string> images;
  int threads = 0;
  bool scores = false, json_out = false;
};

// A .lbm file as it is; a checkpoint folded into the deployment IR as `lowbit export`
// folds it (the same bytes, loaded from memory).
runtime::Engine load_engine(const std::string& path, const runtime::EngineOptions& opt) {
  switch (model_file_kind(path)) {
    case ModelFileKind::kLbm:
      return runtime::Engine::load(path, opt);
    case ModelFileKind::kJsonTopology:
      usage_fail(path, " is a JSON topology, not a trained model: train it first (lowbit train --model ", path,
                 " ...) and give the checkpoint or its .lbm export");
    case ModelFileKind::kOnnx:
      onnx_given_as_model(path);
    case ModelFileKind::kOther:
      if (data::has_image_extension(path))
        usage_fail(path, " is an image file, not a model: the model comes first (lowbit predict MODEL IMAGE...)");
      break;
    default:
      break;
  }
  auto [model, ck] = train::load_model(path);
  const train::TrainConfig cfg = train::checkpoint_train_config(ck, path);
  exporter::ExportOptions eo;
  eo.normalize = cfg.data.normalize;
  try {
    return runtime::Engine::from_bytes(format::model_desc_bytes(exporter::fold(*model, eo)), path, opt);
  } catch (const UsageError&) {
    throw;
  } catch (const Error& e) {
    const std::string m = e.what();
    if (m.rfind(path, 0) == 0) throw;
    fail(path, ": the runtime cannot run this model (", m, "); `lowbit eval` evaluates any checkpoint on a dataset");
  }
}

// One class name per line ('\r' before '\n' dropped); exactly `classes` of them.
std::vector<std::string> read_class_names(const std::string& path, int64_t classes, const std::string& model) {
  const std::vector<uint8_t> bytes = read_file(path);
  std::vector<std::string> names(1);
  for (uint8_t b : bytes) {
    if (b == '\n') {
      if (!names.back().empty() && names.back().back() == '\r') names.back().pop_back();
      names.emplace_back();
    } else {
      names.back() += static_cast<char>(b);
    }
  }
  if (names.back().empty()) names.pop_back();  // the last line's '\n', or an empty file
  for (size_t i = 0; i < names.size(); ++i)
    LOWBIT_CHECK(!names[i].empty(), path, ": line ", i + 1, " is empty; give one class name per line");
  LOWBIT_CHECK(static_cast<int64_t>(names.size()) == classes, path, ": ", names.size(), " class names but model ", model,
               " scores ", classes, " classes; give one name per class, in class order");
  return names;
}

// The channel count an image of `head` is converted to for the model, after checking that
// it fits (format::check_images_fit, the runtime's rule); throws naming the file.
int channels_for_model(const runtime::ModelInfo& info, const data::ImageHeader& head, const std::string& path,
                       const std::string& model) {
  const std::string what = cat(path, " (", head.channels == 1 ? "grey" : "RGB", ") and model ", model);
  if (info.input_shape.size() == 1) {  // a flat model: F values, grey or RGB
    const int64_t f = info.input_shape[0], pixels = static_cast<int64_t>(head.height) * head.width;
    const int channels = pixels == f ? 1 : 3 * pixels == f ? 3 : 0;
    LOWBIT_CHECK(channels, what, ": a ", head.height, "x", head.width, " image (height x width) does not fit the model's flat input of ",
                 f, " values (a grey image of ", f, " pixels or an RGB image of ", f / 3, " pixels)");
    return channels;
  }
  const int64_t c = info.input_shape.empty() ? 0 : info.input_shape[0];
  LOWBIT_CHECK(c == 1 || c == 3, what, ": the model takes ", c,
               "-channel images; image files convert to 1 (grey) or 3 (RGB) channels only");
  format::check_images_fit(info.input_shape, c, head.height, head.width, what);
  return static_cast<int>(c);
}

std::string score_text(float s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(s));  // exact for float32
  return buf;
}

}  // namespace

Action add_predict_command(CLI::App& app) {
  auto args = std::make_shared<PredictArgs>();
  CLI::App* cmd = app.add_subcommand(
      "predict",
      "Classify your own image files (PNG, JPEG, binary PGM/PPM, BMP) with the runtime: one line per image, "
      "PATH<TAB>CLASS[<TAB>NAME][<TAB>SCORES]");
  cmd->add_option("model", args->model,
                  "A .lbm file written by lowbit export, or a .ckpt written by lowbit train (folded as export folds it: "
                  "the same classes)")
      ->required();
  cmd->add_option("images", args->images,
                  "Image files (decoded by their content, whatever their name), or folders: their .png .jpg .jpeg "
                  ".pgm .ppm .pnm .bmp files (any case; not in subfolders; names starting with '.' skipped), sorted "
                  "by name")
      ->required();
  cmd->add_option("--classes", args->classes,
                  "A file of class names, one per line in class order (line k names class k), printed after each "
                  "class number (a model file holds no names)")
      ->check(non_empty());
  cmd->add_flag("--scores", args->scores,
                "Also print each image's scores, one per class after the class (the runtime's scores: the last "
                "layer's accumulators mapped by the export's score map; %.9g, exact for float32)");
  cmd->add_flag("--json", args->json_out,
                "Print one JSON object instead: model, classes, predictions: [{path, class, name (null without "
                "--classes), scores}] in the order of the images");
  cmd->add_option("--threads", args->threads, "Threads (0 = all cores)")
      ->capture_default_str()
      ->check(whole_in(0, kMaxThreads));
  cmd->footer(cat(
      "Each image is converted to the model's input as docs/DEPLOYMENT.md says: alpha dropped; grey -> RGB by copying, "
      "RGB -> grey by ITU-R BT.601 luma as PIL's convert(\"L\") computes it ((R*19595 + G*38470 + B*7471 + 32768) >> 16); "
      "an image smaller than the model's height x width is centre-padded with pixel 0, as training and `lowbit run` "
      "pad; a larger one is refused, naming the file (nothing is resized or cropped). All images are checked before "
      "any is classified.\n"
      "Example: lowbit predict lfc.lbm shirt.png photos/ --classes classes.txt\n",
      kExitCodesHelp));
  return [args]() {
    runtime::EngineOptions opt;
    opt.threads = args->threads;
    // Which files, before the model: a missing image is reported without folding a checkpoint first.
    const std::vector<std::string> files = data::expand_image_paths(args->images);
    runtime::Engine engine = load_engine(args->model, opt);
    const runtime::ModelInfo& info = engine.info();
    const std::vector<std::string> names =
        args->classes.empty() ? std::vector<std::string>{} : read_class_names(args->classes, info.classes, args->model);

    // Every image converted and padded to the model's input (a flat model: its F values).
    const bool flat = info.input_shape.size() == 1;
    const int64_t per_image = flat ? info.input_shape[0] : info.channels * info.height * info.width;
    std::vector<uint8_t> batch(files.size() * static_cast<size_t>(per_image));
    for (size_t i = 0; i < files.size(); ++i) {
      const std::vector<uint8_t> bytes = data::read_image_bytes(files[i]);
      const int channels = channels_for_model(info, data::image_header(bytes, files[i]), files[i], args->model);
      data::Image img = data::convert_channels(data::decode_image(bytes, files[i]), channels);
      if (!flat) img = data::centre_pad(img, static_cast<int>(info.height), static_cast<int>(info.width));
      LOWBIT_CHECK(img.size() == per_image, files[i], ": ", img.size(), " values after conversion, the model takes ", per_image);
      std::copy(img.pixels.begin(), img.pixels.end(), batch.begin() + static_cast<std::ptrdiff_t>(i * img.pixels.size()));
    }

    const auto n = static_cast<int64_t>(files.size());
    const int64_t k = info.classes;
    std::vector<int32_t> pred(files.size());
    std::vector<float> scores(static_cast<size_t>(n * k));
    if (flat)
      engine.run(batch.data(), n, 1, 1, per_image, scores.data(), pred.data());
    else
      engine.run(batch.data(), n, info.channels, info.height, info.width, scores.data(), pred.data());

    if (args->json_out) {
      nlohmann::json list = nlohmann::json::array();
      for (size_t i = 0; i < files.size(); ++i) {
        nlohmann::json s = nlohmann::json::array();
        for (int64_t c = 0; c < k; ++c) s.push_back(std::stod(score_text(scores[i * static_cast<size_t>(k) + static_cast<size_t>(c)])));
        list.push_back({{"path", files[i]},
                        {"class", pred[i]},
                        {"name", names.empty() ? nlohmann::json(nullptr) : nlohmann::json(names[static_cast<size_t>(pred[i])])},
                        {"scores", s}});
      }
      // Paths and names that are not UTF-8 print with U+FFFD rather than failing.
      std::cout << nlohmann::json{{"model", args->model}, {"classes", k}, {"predictions", list}}.dump(
                       -1, ' ', false, nlohmann::json::error_handler_t::replace)
                << "\n";
      return kExitOk;
    }
    std::string out;
    for (size_t i = 0; i < files.size(); ++i) {
      out += cat(files[i], "\t", pred[i]);
      if (!names.empty()) out += cat("\t", names[static_cast<size_t>(pred[i])]);
      if (args->scores)
        for (int64_t c = 0; c < k; ++c) out += cat("\t", score_text(scores[i * static_cast<size_t>(k) + static_cast<size_t>(c)]));
      out += "\n";
    }
    std::cout << out;
    return kExitOk;
  };
}

}  // namespace lowbit::cli
