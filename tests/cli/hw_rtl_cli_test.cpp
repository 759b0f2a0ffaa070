// `lowbit hw rtl` and `lowbit hw sim` end to end: a small dense model whose score map
// differs per class (so LabelSelect ranks the float scores through its ROM) is generated,
// simulated on Fashion-MNIST test images with Icarus Verilog and compared with the runtime;
// bad foldings, folders, flags and a missing simulator fail with one clear error.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/cli_util.hpp"
#include "lowbit/core/error.hpp"
#include "test_util.hpp"
#include "lowbit/core/rng.hpp"
#include "lowbit/format/model_desc.hpp"

namespace lowbit {
namespace {

using format::CodeFormat;
using format::LayerDesc;
using format::LayerKind;
using testing::run_command;
using testing::run_lowbit;

// 784 -> 16 -> 10 on +-1 codes (a sign of the pixels), random +-1 weights, thresholds around
// 0, and a score map with a scale, bias and BatchNorm per class.
format::ModelDesc small_model() {
  Rng rng(3);
  format::ModelDesc d;
  d.name = "tiny";
  const CodeFormat b = CodeFormat::plus_minus_one();
  auto dense = [&](int64_t in, int64_t out, bool scores) {
    LayerDesc l;
    l.kind = LayerKind::kDense;
    l.name = cat("dense@", d.layers.size());
    l.in_c = in, l.out = out, l.input = b;
    for (int64_t k = 0; k < in * out; ++k) l.weights.push_back(rng.next_u64() % 2 ? 1 : -1);
    l.negated.assign(static_cast<size_t>(out), 0);
    if (scores) {
      l.scores = true;
      for (int64_t c = 0; c < out; ++c) {
        l.score.scale.push_back(0.01f + 0.002f * static_cast<float>(c));
        l.score.bias.push_back(0.05f * static_cast<float>(c % 3));
        l.score.bn_mean.push_back(0.1f);
        l.score.bn_scale.push_back(c % 2 ? 1.5f : 0.8f);
        l.score.bn_shift.push_back(-0.02f * static_cast<float>(c));
      }
    } else {
      l.output = b, l.levels = 1;
      for (int64_t o = 0; o < out; ++o) l.thresholds.push_back(static_cast<int32_t>(rng.next_u64() % 41) - 20);
    }
    d.layers.push_back(l);
  };
  dense(784, 16, false);
  dense(16, 10, true);
  d.input.shape = {1, 28, 28};
  d.input.codes = b;
  for (int p = 0; p < 256; ++p) d.input.table[static_cast<size_t>(p)] = p >= 100;
  return d;
}

TEST(CliHwRtl, GeneratesSimulatesAndMatchesTheRuntime) {
  if (!testing::have_tool("iverilog")) GTEST_SKIP() << "iverilog not installed";
  testing::CliWorkspace w("hwrtl");
  const std::string model = w.path("tiny.lbm"), fold = w.path("fold.json"), dir = w.path("design");
  {
    const auto bytes = format::model_desc_bytes(small_model());
    std::ofstream(model, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  std::ofstream(fold) << R"({"Defaults": {}, "Thresholding_hls_0": {"PE": 4}, "MVAU_hls_0": {"PE": 8, "SIMD": 49},
                            "MVAU_hls_1": {"PE": 5, "SIMD": 4}})";
  auto r = run_lowbit("hw rtl " + model + " --folding " + fold + " -o " + dir);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Estimate: 196 clocks per frame (Thresholding_hls_0)"), std::string::npos) << r.out;
  for (const char* f : {"rtl/lowbit_tiny.v", "rtl/lb_mvau.v", "rtl/MVAU_hls_0_weights.mem", "rtl/LabelSelect_hls_0_ranks.mem",
                        "model.lbm", "folding.json", "design.json"})
    EXPECT_TRUE(std::filesystem::exists(w.path(std::string("design/") + f))) << f;
  const auto design = nlohmann::json::parse(std::ifstream(w.path("design/design.json")));
  EXPECT_EQ(design["scores"]["label_select"], "rank ROM of the float scores");

  // A relative folder, as the docs write it.
  r = run_command("cd " + w.path("") + " && " + LOWBIT_CLI_PATH + " hw sim design --data fashion-mnist --images 24 --simulator iverilog");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Scores: 24 of 24 frames' raw accumulators identical to the runtime"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Labels: 24 of 24 identical to the runtime's predictions"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("MVAU_hls_0"), std::string::npos) << r.out;  // the per-unit table
  EXPECT_EQ(r.out.find("outside max(15, 1%)"), std::string::npos) << r.out;

  // An edited memory image, library module or top module is refused rather than simulated as
  // if it were the model.
  std::filesystem::copy_file(w.path("design/rtl/MVAU_hls_1_weights.mem"), w.path("w.mem"));
  std::ofstream(w.path("design/rtl/MVAU_hls_1_weights.mem"), std::ios::app) << "0\n";
  r = run_lowbit("hw sim " + dir + " --data fashion-mnist --images 2 --simulator iverilog");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("MVAU_hls_1_weights.mem does not match model.lbm and folding.json"), std::string::npos) << r.out;
  std::filesystem::copy_file(w.path("w.mem"), w.path("design/rtl/MVAU_hls_1_weights.mem"),
                             std::filesystem::copy_options::overwrite_existing);
  std::ofstream(w.path("design/rtl/lb_mvau.v"), std::ios::app) << "// edited\n";
  r = run_lowbit("hw sim " + dir + " --data fashion-mnist --images 2 --simulator iverilog");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("lb_mvau.v does not match"), std::string::npos) << r.out;
  std::ofstream(w.path("design/rtl/lowbit_tiny.v"), std::ios::app) << "// edited\n";
  r = run_lowbit("hw sim " + dir + " --data fashion-mnist --images 2 --simulator iverilog");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("does not match model.lbm and folding.json"), std::string::npos) << r.out;
}

TEST(CliHwRtl, BadInputFailsWithOneClearError) {
  testing::CliWorkspace w("hwrtlbad");
  const std::string model = w.path("tiny.lbm"), fold = w.path("fold.json"), dir = w.path("design");
  {
    const auto bytes = format::model_desc_bytes(small_model());
    std::ofstream(model, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  // A folding that does not divide a layer.
  std::ofstream(fold) << R"({"MVAU_hls_0": {"PE": 3, "SIMD": 49}})";
  auto r = run_lowbit("hw rtl " + model + " --folding " + fold + " -o " + dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("MVAU_hls_0 (dense@0): PE 3 does not divide MH 16"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir));
  // No folding at all; a folding and --clock-mhz.
  r = run_lowbit("hw rtl " + model + " -o " + dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("needs --folding F.json or --fps N"), std::string::npos) << r.out;
  // -o onto the model.
  r = run_lowbit("hw rtl " + model + " --fps 1000 -o " + model);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("exists and is not a folder"), std::string::npos) << r.out;
  // A folder that is not a design: not simulated, and not overwritten by hw rtl.
  std::filesystem::create_directories(w.path("mine/rtl"));
  std::ofstream(w.path("mine/rtl/notes.txt")) << "keep me\n";
  r = run_lowbit("hw rtl " + model + " --fps 1000 -o " + w.path("mine"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("is not a design folder (no design.json)"), std::string::npos) << r.out;
  EXPECT_TRUE(std::filesystem::exists(w.path("mine/rtl/notes.txt")));
  r = run_lowbit("hw sim " + w.path("") + " --data fashion-mnist");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("not a design folder"), std::string::npos) << r.out;
  // A simulation that runs past its bound of clocks stops and says so.
  r = run_lowbit("hw rtl " + model + " --fps 1 -o " + dir);
  ASSERT_EQ(r.code, 0) << r.out;
  if (testing::have_tool("iverilog")) {
    r = run_lowbit("hw sim " + dir + " --data fashion-mnist --images 2 --simulator iverilog --max-cycles 500 --no-stages");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("ran out of clocks (bound 500"), std::string::npos) << r.out;
  }
  r = run_lowbit("hw sim " + dir + " --data fashion-mnist --images 20000");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--images 20000: the test split of fashion-mnist has 10000"), std::string::npos) << r.out;
  // The simulator missing from PATH: its Debian package is named.
  r = run_command("env PATH=/nonexistent " + std::string(LOWBIT_CLI_PATH) + " hw sim " + dir +
                  " --data fashion-mnist --images 2 --no-stages");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("verilator not found on PATH: install Debian's package verilator"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace lowbit
