// The ONNX exports checked by code we did not write (docs/INTEROP.md; scripts/interop_check.sh
// runs the same on the trained networks): tiny models exported by the CLI in both dialects,
// ONNX's own Python checker (tools/onnx/check_onnx.py), a numpy evaluator written from the
// QONNX operator docs (tools/onnx/qonnx_eval.py) and ONNX Runtime (tools/onnx/ort_run.js)
// against `lowbit run --predictions` and the runtime's scores, bit for bit, on images smaller
// than the model input (centre padding, the odd pixel at the bottom/right).
// Skips without /usr/bin/python3's onnx package (Debian: python3-onnx) or, for ONNX Runtime,
// without node and tools/onnx/node_modules/onnxruntime-node (scripts/install-deps.sh).
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "cli/cli_util.hpp"
#include "data/data_files.hpp"
#include "interop/onnx_models.hpp"
#include "lowbit/core/rng.hpp"
#include "lowbit/format/model_desc.hpp"
#include "lowbit/runtime/engine.hpp"
#include "test_util.hpp"

namespace lowbit {
namespace {

namespace fs = std::filesystem;
using format::CodeFormat;
using format::LayerKind;
using testing::run_command;
using testing::run_lowbit;

const std::string kPython = "/usr/bin/python3";

std::string tool(const std::string& name) { return std::string(LOWBIT_SOURCE_DIR) + "/tools/onnx/" + name; }

// "" when /usr/bin/python3 imports onnx and numpy, else what is missing.
std::string python_missing() {
  static const std::string missing = [] {
    if (!fs::exists(kPython)) return std::string("/usr/bin/python3");
    if (run_command(kPython + " -c 'import onnx'").code != 0) return std::string("python3-onnx (/usr/bin/python3 lacks onnx)");
    if (run_command(kPython + " -c 'import numpy'").code != 0) return std::string("python3-numpy (/usr/bin/python3 lacks numpy)");
    return std::string();
  }();
  return missing;
}

// "" when node and onnxruntime-node are there, else what is missing.
std::string ort_missing() {
  if (!testing::have_tool("node")) return "node (Debian: nodejs)";
  if (!fs::exists(tool("node_modules/onnxruntime-node/package.json")))
    return "tools/onnx/node_modules/onnxruntime-node (cd tools/onnx && npm ci --ignore-scripts)";
  return "";
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> v;
  for (std::string l; std::getline(f, l);) v.push_back(l);
  return v;
}

// The scores of a --scores file (float32 bit patterns in hex, one image per line).
std::vector<uint32_t> score_bits(const std::string& path) {
  std::vector<uint32_t> v;
  for (const std::string& l : lines_of(path)) {
    std::istringstream is(l);
    for (std::string w; is >> w;) v.push_back(static_cast<uint32_t>(std::stoul(w, nullptr, 16)));
  }
  return v;
}

// How many lines two prediction lists share (equal length expected).
int64_t agree(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  int64_t n = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) n += a[i] == b[i];
  return n;
}

struct Case {
  std::string name;
  format::ModelDesc desc;
  int image_h, image_w;  // the idx images: at most the model input (centre padding)
};

// The cases: a binary-input dense model (image and flat input), an 8-bit-input conv model
// with max pooling and pads of 0, -1 and +1, a 2-bit-activation model with zero points and
// 2-bit weights, and a general input table with sum pooling.
std::vector<Case> cases() {
  using testing::InteropLayer;
  std::vector<Case> v;
  for (auto& [name, d] : testing::interop_models()) {
    if (name == "dense_binary_input") v.push_back({name, d, 5, 4});       // input 6x5
    if (name == "conv_8bit_input") v.push_back({name, d, 8, 7});          // input 9x9
    if (name == "sum_pool_table_input") v.push_back({name, d, 8, 8});     // input 8x8
  }
  v.push_back({"dense_flat_input",
               testing::interop_model("flat_tiny", {30}, CodeFormat::plus_minus_one(), "step",
                                      {{LayerKind::kDense, 12}, {LayerKind::kDense, 10}}, 11),
               6, 5});
  // One channel (idx images) W2A2: 8-bit input with zero point 128, 2-bit activations with
  // zero points 1 and 0 (MultiThreshold), ternary and 2-bit weights, max pooling.
  InteropLayer a0{LayerKind::kConv, 8, CodeFormat::unsigned_bits(2, 1), 1, false};
  a0.pad = 1;
  InteropLayer a1{LayerKind::kConv, 8, CodeFormat::unsigned_bits(2, 1), 2, false};
  a1.pool = 2;
  InteropLayer a2{LayerKind::kDense, 12, CodeFormat::unsigned_bits(2, 0), 1, false};
  v.push_back({"w2a2_one_channel",
               testing::interop_model("w2a2_1ch", {1, 10, 10}, CodeFormat::unsigned_bits(8, 128), "identity",
                                      {a0, a1, a2, {LayerKind::kDense, 10, {}, 2, false}}, 12),
               9, 10});
  // SYQ's grouped tap scales (float partial-sum combination, float thresholds) and a residual
  // shortcut (threshold sets selected by the shortcut map): not read back by the importer.
  for (auto& [name, d] : testing::interop_models_export_only()) v.push_back({name, d, 7, 8});
  return v;
}

// A case on disk: the .lbm, a data folder (the same images as train and test split), both
// exports, `lowbit run`'s predictions and the runtime's scores.
struct Prepared {
  std::string lbm, data, images, qonnx, onnx, onnx_int8, lowbit_predictions;
  std::vector<float> scores;
  int64_t n = 0;
};

constexpr int64_t kImages = 40;

// The test images: all 0, 255, 128 (the step input's tie) and 127 first, then random pixels.
data::Dataset test_images(const Case& c) {
  data::Dataset ds;
  ds.channels = 1, ds.height = c.image_h, ds.width = c.image_w, ds.num_classes = 10;
  Rng rng(static_cast<uint64_t>(c.image_h * 100 + c.image_w));
  const uint8_t edge[] = {0, 255, 128, 127};
  for (int64_t i = 0; i < kImages; ++i) {
    for (int64_t k = 0; k < int64_t{c.image_h} * c.image_w; ++k)
      ds.images.push_back(i < 4 ? edge[i] : static_cast<uint8_t>(rng.below(256)));
    ds.labels.push_back(static_cast<int32_t>(i % 10));
  }
  return ds;
}

// Random thresholds often saturate on random images and the whole model answers one class,
// which would hide a wrong input layout or pooling. Each hidden layer's thresholds become
// per-channel quantiles of its accumulators on the test images (the runtime's trace, layer
// by layer, channel last; the always / never sentinels kept), so every level occurs, and the
// score map is centred on the data, so the classes vary.
format::ModelDesc calibrated(format::ModelDesc d, const data::Dataset& ds) {
  for (size_t l = 0; l + 1 < d.layers.size(); ++l) {
    runtime::Engine e = runtime::Engine::from_bytes(format::model_desc_bytes(d), d.name);
    const std::vector<int32_t> trace = e.trace(ds.images.data(), ds.size(), 1, ds.height, ds.width)[l];
    format::LayerDesc& layer = d.layers[l];
    if (layer.grouped() || layer.has_shortcut()) continue;  // their own threshold layouts, kept
    for (int64_t o = 0; o < layer.out; ++o) {
      // The trace has the trained sign; the thresholds compare the stored (negated) weights'.
      const int32_t sign = layer.negated[static_cast<size_t>(o)] ? -1 : 1;
      std::vector<int32_t> a;
      for (size_t i = static_cast<size_t>(o); i < trace.size(); i += static_cast<size_t>(layer.out)) a.push_back(sign * trace[i]);
      std::sort(a.begin(), a.end());
      for (int k = 0; k < layer.levels; ++k) {
        int32_t& t = layer.thresholds[static_cast<size_t>(o * layer.levels + k)];
        if (t != INT32_MIN && t != INT32_MAX)
          t = a[a.size() * static_cast<size_t>(k + 1) / static_cast<size_t>(layer.levels + 1)];
      }
      std::sort(layer.thresholds.begin() + o * layer.levels, layer.thresholds.begin() + (o + 1) * layer.levels);
    }
  }
  // The score map: each class centred on its median accumulator (bias = mean - median * scale;
  // BatchNorm's mean and scale kept), so no class wins on its constants alone.
  runtime::Engine e = runtime::Engine::from_bytes(format::model_desc_bytes(d), d.name);
  const std::vector<int32_t> trace = e.trace(ds.images.data(), ds.size(), 1, ds.height, ds.width).back();
  format::ScoresDesc& sc = d.layers.back().score;
  const int64_t classes = d.layers.back().out;
  for (int64_t c = 0; c < classes; ++c) {
    // The score map reads the stored weights' sum; the trace undoes a `negated` channel's sign.
    const int32_t sign = d.layers.back().negated[static_cast<size_t>(c)] ? -1 : 1;
    std::vector<int32_t> a;
    for (size_t i = static_cast<size_t>(c); i < trace.size(); i += static_cast<size_t>(classes)) a.push_back(sign * trace[i]);
    std::sort(a.begin(), a.end());
    const size_t k = static_cast<size_t>(c);
    sc.bias[k] = sc.bn_mean[k] - static_cast<float>(a[a.size() / 2]) * sc.scale[k];
    sc.bn_shift[k] *= 0.1f;
  }
  format::validate(d);
  return d;
}

Prepared prepare(Case& c, const std::string& dir) {
  Prepared p;
  fs::create_directories(dir + "/data");
  const data::Dataset ds = test_images(c);
  c.desc = calibrated(c.desc, ds);
  p.lbm = dir + "/m.lbm";
  const std::vector<uint8_t> bytes = format::model_desc_bytes(c.desc);
  std::ofstream(p.lbm, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  testing::write_idx(p.data = dir + "/data", "train", ds);
  testing::write_idx(p.data, "t10k", ds);
  p.images = p.data + "/t10k-images-idx3-ubyte";
  p.n = kImages;
  p.qonnx = dir + "/m.qonnx.onnx";
  p.onnx = dir + "/m.onnx";
  p.onnx_int8 = dir + "/m.int8.onnx";
  for (const auto& [format, path] :
       {std::pair{"qonnx", p.qonnx}, std::pair{"onnx", p.onnx}, std::pair{"onnx-int8", p.onnx_int8}}) {
    const auto r = run_lowbit(cat("export ", p.lbm, " --format ", format, " -o ", path));
    EXPECT_EQ(r.code, 0) << c.name << " " << format << ": " << r.out;
  }
  p.lowbit_predictions = dir + "/lowbit.txt";
  const auto r = run_lowbit(cat("run ", p.lbm, " --data ", p.data, " --threads 1 --predictions ", p.lowbit_predictions));
  EXPECT_EQ(r.code, 0) << c.name << ": " << r.out;
  runtime::Engine e = runtime::Engine::from_bytes(bytes, c.name);
  p.scores.resize(static_cast<size_t>(kImages * c.desc.classes()));
  e.run(ds.images.data(), kImages, 1, c.image_h, c.image_w, p.scores.data(), nullptr);
  return p;
}

// Bit-equal scores: how many images have every score equal to the runtime's.
int64_t scores_equal(const Prepared& p, const std::string& score_file, int64_t classes) {
  const std::vector<uint32_t> bits = score_bits(score_file);
  if (bits.size() != p.scores.size()) return -1;
  int64_t same = 0;
  for (int64_t i = 0; i < p.n; ++i) {
    bool eq = true;
    for (int64_t k = 0; k < classes; ++k)
      eq &= bits[static_cast<size_t>(i * classes + k)] == std::bit_cast<uint32_t>(p.scores[static_cast<size_t>(i * classes + k)]);
    same += eq;
  }
  return same;
}

TEST(InteropTools, OnnxCheckerAndQonnxEvaluatorAgreeWithTheRuntime) {
  if (const std::string m = python_missing(); !m.empty()) GTEST_SKIP() << "missing " << m;
  data::testing::TempDir ws;
  std::vector<std::string> files;
  for (Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const std::string dir = ws.file(c.name);
    const Prepared p = prepare(c, dir);
    files.push_back(p.qonnx), files.push_back(p.onnx);
    const std::vector<std::string> ref = lines_of(p.lowbit_predictions);
    ASSERT_EQ(static_cast<int64_t>(ref.size()), p.n);
    // Not a model that answers one class whatever the image (that would hide wrong inputs).
    EXPECT_GE(std::set<std::string>(ref.begin(), ref.end()).size(), 3u);
    // The numpy evaluator on both dialects (it knows the standard nodes too); --check runs
    // ONNX's checker on the QONNX file as well.
    for (const auto& [file, check] : {std::pair{p.qonnx, " --check"}, std::pair{p.onnx, ""}}) {
      const std::string out = file + ".pred", scores = file + ".scores";
      const auto r = run_command(cat(kPython, " ", tool("qonnx_eval.py"), " ", file, " --images ", p.images,
                                     " --batch 7 --predictions ", out, " --scores ", scores, check));
      ASSERT_EQ(r.code, 0) << r.out;
      EXPECT_EQ(agree(lines_of(out), ref), p.n) << file;
      EXPECT_EQ(scores_equal(p, scores, c.desc.classes()), p.n) << file << ": scores not bit-equal to the runtime's";
    }
    // --limit: the first images only.
    const auto r = run_command(cat(kPython, " ", tool("qonnx_eval.py"), " ", p.qonnx, " --images ", p.images,
                                   " --limit 5 --predictions ", dir, "/limit.txt"));
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(lines_of(dir + "/limit.txt"), std::vector<std::string>(ref.begin(), ref.begin() + 5));
  }
  std::string all;
  for (const std::string& f : files) all += " " + f;
  const auto r = run_command(kPython + " " + tool("check_onnx.py") + all);
  EXPECT_EQ(r.code, 0) << r.out;
  size_t oks = 0;
  for (size_t at = r.out.find("OK "); at != std::string::npos; at = r.out.find("OK ", at + 1)) ++oks;
  EXPECT_EQ(oks, files.size()) << r.out;
}

TEST(InteropTools, OnnxRuntimeAgreesWithTheRuntime) {
  if (const std::string m = ort_missing(); !m.empty()) GTEST_SKIP() << "missing " << m;
  data::testing::TempDir ws;
  for (Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const std::string dir = ws.file(c.name);
    const Prepared p = prepare(c, dir);
    const std::vector<std::string> ref = lines_of(p.lowbit_predictions);
    ASSERT_EQ(static_cast<int64_t>(ref.size()), p.n);
    // ort_run.js also checks the graph's `label` against the first highest score. Both
    // standard dialects: float32 Conv/MatMul, and ConvInteger/MatMulInteger (onnx-int8).
    for (const std::string& file : {p.onnx, p.onnx_int8}) {
      const auto r = run_command(cat("node ", tool("ort_run.js"), " ", file, " --images ", p.images,
                                     " --batch 16 --threads 1 --predictions ", file, ".ort.txt --scores ", file, ".ort.scores"));
      ASSERT_EQ(r.code, 0) << r.out;
      EXPECT_EQ(agree(lines_of(file + ".ort.txt"), ref), p.n) << file;
      EXPECT_EQ(scores_equal(p, file + ".ort.scores", c.desc.classes()), p.n) << file << ": scores not bit-equal to the runtime's";
    }
  }
}

TEST(InteropTools, OrtBenchPrintsFramesPerSecond) {
  if (const std::string m = ort_missing(); !m.empty()) GTEST_SKIP() << "missing " << m;
  data::testing::TempDir ws;
  Case c = cases().front();
  const Prepared p = prepare(c, ws.file("bench"));
  const auto r = run_command(cat("node ", tool("ort_run.js"), " ", p.onnx, " --bench --batch 3 --threads 1 --seconds 0.05"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("\"frames_per_second\":"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"batch\":3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"ort_version\":"), std::string::npos) << r.out;
}

TEST(InteropTools, EvaluatorAndCheckerNameWhatTheyRefuse) {
  if (const std::string m = python_missing(); !m.empty()) GTEST_SKIP() << "missing " << m;
  data::testing::TempDir ws;
  Case c = cases().front();
  const Prepared p = prepare(c, ws.file("refuse"));
  // A node of an operator the evaluator does not know: the error names the node.
  const std::string edited = ws.file("refuse/unknown.onnx");
  const auto e = run_command(cat(kPython, " -c \"import onnx, sys; m = onnx.load(sys.argv[1]); n = m.graph.node[1]; ",
                                 "n.op_type = 'Celu'; n.name = 'the_odd_one'; onnx.save(m, sys.argv[2])\" ", p.onnx, " ", edited));
  ASSERT_EQ(e.code, 0) << e.out;
  const auto r = run_command(cat(kPython, " ", tool("qonnx_eval.py"), " ", edited, " --images ", p.images,
                                 " --predictions ", ws.file("refuse/x.txt")));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("the_odd_one"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Celu"), std::string::npos) << r.out;
  // The checker: a file that is not ONNX fails, with exit status 1, next to one that passes.
  std::ofstream(ws.file("refuse/garbage.onnx")) << "not a protobuf";
  const auto k = run_command(cat(kPython, " ", tool("check_onnx.py"), " ", p.onnx, " ", ws.file("refuse/garbage.onnx")));
  EXPECT_EQ(k.code, 1) << k.out;
  EXPECT_NE(k.out.find("OK " + p.onnx), std::string::npos) << k.out;
  EXPECT_NE(k.out.find("FAIL " + ws.file("refuse/garbage.onnx")), std::string::npos) << k.out;
}

}  // namespace
}  // namespace lowbit
