// `lowbit hw plan` and `lowbit hw devices` end to end: a plan from preset flags (no
// training) with FINN's CNV folding file reproduces FINN's cycles; --fps runs SetFolding;
// --fit writes a folding that plans to the same fps when read back; a trained-and-exported
// model plans from its .lbm; bad boards, folding files and flag mixes fail naming them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/cli_util.hpp"

namespace lowbit {
namespace {

using testing::run_lowbit;

const char* kCnv = "--model cnv --input 3 32 32 --weights binary --acts binary --input-bits 8";

nlohmann::json parse(const testing::CommandResult& r) {
  EXPECT_EQ(r.code, 0) << r.out;
  return nlohmann::json::parse(r.out);
}

TEST(CliHwPlan, FinnCnvFoldingFileFromPresetFlags) {
  testing::CliWorkspace w("hwplan");
  const std::string f = w.path("cnv_folding.json");
  // FINN's CNV W1A1 example folding; the SWUs take their MVAU's SIMD.
  nlohmann::json fold = {{"Defaults", nlohmann::json::object()}};
  const int pe_simd[9][2] = {{16, 3}, {32, 32}, {16, 32}, {16, 32}, {4, 32}, {1, 32}, {1, 4}, {1, 8}, {5, 1}};
  for (int i = 0; i < 9; ++i) fold["MVAU_hls_" + std::to_string(i)] = {{"PE", pe_simd[i][0]}, {"SIMD", pe_simd[i][1]}};
  for (int i = 0; i < 6; ++i) fold["ConvolutionInputGenerator_hls_" + std::to_string(i)] = {{"SIMD", pe_simd[i][1]}};
  std::ofstream(f) << fold.dump();
  const auto j = parse(run_lowbit(std::string("hw plan ") + kCnv + " --folding " + f + " --clock-mhz 200 --json"));
  std::vector<int64_t> cycles;
  for (const auto& u : j["units"])
    if (u["op_type"] == "MVAU_hls") cycles.push_back(u["cycles"].get<int64_t>());
  EXPECT_EQ(cycles, (std::vector<int64_t>{32400, 28224, 20736, 28800, 20736, 18432, 32768, 32768, 1024}));
  EXPECT_DOUBLE_EQ(j["fps"].get<double>(), 200e6 / 32768);
  EXPECT_EQ(j["bottleneck"], "MVAU_hls_6");
  EXPECT_EQ(j["device"]["name"], "xc7z020");
  EXPECT_TRUE(j["fits"].get<bool>());
  // The text report names the bottleneck and the totals.
  const auto t = run_lowbit(std::string("hw plan ") + kCnv + " --folding " + f + " --roofline");
  ASSERT_EQ(t.code, 0) << t.out;
  EXPECT_NE(t.out.find("<- bottleneck"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("Throughput: 3051.8 frames/s at 100.0 MHz"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("Roofline (seed 002)"), std::string::npos) << t.out;
}

TEST(CliHwPlan, SetFoldingFitAndFoldingFilesAgree) {
  testing::CliWorkspace w("hwfit");
  auto sf = parse(run_lowbit(std::string("hw plan ") + kCnv + " --fps 3000 --json"));
  EXPECT_EQ(sf["folding_from"]["set_folding"]["target_cycles_per_frame"], 33333);
  EXPECT_LT(sf["max_cycles"].get<int64_t>(), 33333);
  const std::string out = w.path("fit.json");
  auto fit = parse(run_lowbit(std::string("hw plan ") + kCnv + " --fit --board ultra96 --json -o " + out));
  EXPECT_TRUE(fit["fits"].get<bool>());
  EXPECT_GE(fit["fps"].get<double>(), fit["folding_from"]["fit"]["setfolding_fps"].get<double>());
  auto again = parse(run_lowbit(std::string("hw plan ") + kCnv + " --board ultra96 --json --folding " + out));
  EXPECT_DOUBLE_EQ(again["fps"].get<double>(), fit["fps"].get<double>());
  EXPECT_EQ(again["total"], fit["total"]);
}

TEST(CliHwPlan, PlansAnExportedModel) {
  testing::CliWorkspace w("hwlbm");
  auto t = run_lowbit("train --model tfc --weights binary --acts binary --input-bits 1 --epochs 1 --batch 100 "
                      "--threads 2 --data " + w.path("data") + " --out " + w.path("run"));
  ASSERT_EQ(t.code, 0) << t.out;
  auto e = run_lowbit("export " + w.path("run/best.ckpt") + " -o " + w.path("tfc.lbm"));
  ASSERT_EQ(e.code, 0) << e.out;
  auto j = parse(run_lowbit("hw plan " + w.path("tfc.lbm") + " --board ice40hx8k --json"));
  EXPECT_EQ(j["resource_model"], "calibrated");
  EXPECT_FALSE(j["calibrated"].get<bool>());
  // TFC's 59 Kbit of weights fit the HX8K's 32 EBRs.
  EXPECT_TRUE(j["fits"].get<bool>()) << j.dump(1);
  auto c = run_lowbit("hw plan " + w.path("run/best.ckpt"));
  EXPECT_EQ(c.code, 1) << c.out;
  EXPECT_NE(c.out.find("lowbit export"), std::string::npos) << c.out;
}

TEST(CliHwPlan, BadInputIsNamed) {
  testing::CliWorkspace w("hwbad");
  auto r = run_lowbit(std::string("hw plan ") + kCnv + " --board pynq-z9");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("unknown board or device 'pynq-z9'"), std::string::npos) << r.out;
  const std::string f = w.path("bad.json");
  std::ofstream(f) << R"({"MVAU_hls_2": {"PE": 3, "SIMD": 32}})";
  r = run_lowbit(std::string("hw plan ") + kCnv + " --folding " + f);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("MVAU_hls_2 (conv2d@"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PE 3 does not divide MH 128"), std::string::npos) << r.out;
  std::ofstream(f) << R"({"MVAU_hls_0": {"PE": 4, "SIMD": 3, "ram": "block"}})";
  r = run_lowbit(std::string("hw plan ") + kCnv + " --folding " + f);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("unknown attribute 'ram'"), std::string::npos) << r.out;
  r = run_lowbit(std::string("hw plan ") + kCnv + " --fps 100 --fit");
  EXPECT_EQ(r.code, 2) << r.out;
  r = run_lowbit(std::string("hw plan ") + kCnv + " --board ice40hx8k --resources finn");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("iCE40"), std::string::npos) << r.out;
  r = run_lowbit("hw plan");
  EXPECT_EQ(r.code, 2) << r.out;
  r = run_lowbit("hw");
  EXPECT_EQ(r.code, 2) << r.out;
  // A model the planner cannot map: SYQ's grouped scales.
  r = run_lowbit("hw plan --model cnv --input 3 32 32 --weights syq:binary:row --acts binary --input-bits 8");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("grouped scales"), std::string::npos) << r.out;
  // SetFolding beyond FINN's stream limits: named as --fps's doing.
  r = run_lowbit("hw plan --model lfc --weights binary --acts binary --input-bits 1 --fps 400000");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("--fps 400000: FINN's SetFolding chose a folding beyond FINN's limits"), std::string::npos) << r.out;
  // -o never over an input, nor onto the report's own stdout.
  const std::string topo = w.path("topo.json");
  std::ofstream(topo) << R"({"name": "t", "input": [1, 28, 28], "layers": [{"type": "flatten"},
      {"type": "dense", "units": 10, "weights": "binary"}]})";
  r = run_lowbit("hw plan --model " + topo + " -o " + topo);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("is an input of this command"), std::string::npos) << r.out;
  r = run_lowbit(std::string("hw plan ") + kCnv + " -o /dev/stdout");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("standard output"), std::string::npos) << r.out;
  r = run_lowbit(std::string("hw plan ") + kCnv + " --folding " + f + " --no-two-pass");
  EXPECT_EQ(r.code, 2) << r.out;
  r = run_lowbit("hw bogus");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("unknown subcommand 'hw bogus'"), std::string::npos) << r.out;
  // Nothing fits: the report, then exit 1; -o is not written.
  const std::string out = w.path("none.json");
  r = run_lowbit(std::string("hw plan ") + kCnv + " --board ice40up5k -o " + out);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("warning: does not fit ice40up5k"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--fit: no folding of 'cnv' fits ice40up5k"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(out));
  // A calibration file selects the structural model.
  const std::string cal = w.path("cal.json");
  std::ofstream(cal) << R"({"source": "test fit", "xnor_lane": 0.8})";
  auto j = parse(run_lowbit(std::string("hw plan ") + kCnv + " --calibration " + cal + " --json"));
  EXPECT_EQ(j["resource_model"], "calibrated");
  EXPECT_TRUE(j["calibrated"].get<bool>());
  auto d = run_lowbit("hw devices");
  EXPECT_EQ(d.code, 0) << d.out;
  EXPECT_NE(d.out.find("xcu250 (alveo-u250, u250): 1728000 LUT, 2688 BRAM36, 1280 URAM, 12288 DSP"), std::string::npos)
      << d.out;
}

}  // namespace
}  // namespace lowbit
