// Synthesis of generated designs (src/lowbit/hw/rtl_synth.cpp, rtl_pnr.cpp, the calibrated
// model, docs/SYNTHESIS.md): yosys's statistics and nextpnr's report parsed and classified;
// small lb_mvau units synthesized with synth_xilinx, their counts checked against what the
// RTL must need (LUTs grow with SIMD, a deep weight memory takes block RAM); the gate-level
// netlist simulated against the RTL on the same random stimulus with back-pressure; the
// checked-in calibration reproducing its sweep; `lowbit hw synth`'s errors.
// Tests that run yosys or iverilog skip when those are not installed.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli_util.hpp"
#include "data/data_files.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/core/rng.hpp"
#include "lowbit/format/model_desc.hpp"
#include "lowbit/hw/calibrated_model.hpp"
#include "lowbit/hw/dataflow.hpp"
#include "lowbit/hw/device.hpp"
#include "lowbit/hw/folding.hpp"
#include "lowbit/hw/rtl_pnr.hpp"
#include "lowbit/hw/rtl_synth.hpp"
#include "lowbit/hw/rtl_writer.hpp"
#include "test_util.hpp"

namespace lowbit {
namespace {

using format::CodeFormat;
using format::LayerDesc;
using format::LayerKind;
using testing::run_command;
using testing::run_lowbit;

const char* kCellsSim = "/usr/share/yosys/xilinx/cells_sim.v";

// IN -> HIDDEN -> 10 on +-1 codes: random +-1 weights, thresholds around 0, raw scores.
format::ModelDesc dense_model(int64_t in, int64_t hidden, uint64_t seed) {
  Rng rng(seed);
  format::ModelDesc d;
  d.name = "synth";
  const CodeFormat b = CodeFormat::plus_minus_one();
  auto dense = [&](int64_t n_in, int64_t n_out, bool scores) {
    LayerDesc l;
    l.kind = LayerKind::kDense;
    l.name = cat("dense@", d.layers.size());
    l.in_c = n_in, l.out = n_out, l.input = b;
    for (int64_t k = 0; k < n_in * n_out; ++k) l.weights.push_back(rng.next_u64() % 2 ? 1 : -1);
    l.negated.assign(static_cast<size_t>(n_out), 0);
    if (scores) {
      l.scores = true;
      l.score.scale.assign(static_cast<size_t>(n_out), 1.f);
    } else {
      l.output = b, l.levels = 1;
      for (int64_t o = 0; o < n_out; ++o) l.thresholds.push_back(static_cast<int32_t>(rng.next_u64() % 9) - 4);
    }
    d.layers.push_back(l);
  };
  dense(in, hidden, false);
  dense(hidden, 10, true);
  d.input.shape = {in};
  d.input.codes = b;
  for (int p = 0; p < 256; ++p) d.input.table[static_cast<size_t>(p)] = p >= 100;
  return d;
}

// The design of `d` with MVAU_hls_0 at (pe, simd), written to `dir`.
hw::RtlDesign write_design(const format::ModelDesc& d, int64_t pe, int64_t simd, const std::string& dir) {
  hw::Graph g = hw::build_graph(d);
  hw::Node* m = g.find("MVAU_hls_0");
  EXPECT_NE(m, nullptr);
  m->pe = pe, m->simd = simd;
  hw::check_folding(g);
  const hw::RtlDesign r = hw::build_rtl(d, g);
  hw::write_design_folder(r, dir, format::model_desc_bytes(d), hw::folding_json(g).dump(2) + "\n");
  return r;
}

size_t stage_of(const hw::RtlDesign& r, const std::string& name) {
  for (size_t i = 0; i < r.stages.size(); ++i)
    if (r.stages[i].name == name) return i;
  ADD_FAILURE() << name;
  return 0;
}

TEST(HwRtlSynth, CountsCellsByResource) {
  // Xilinx: LUT1..6 are logic; LUT-memory cells count their LUT sites; RAMB36 is two RAMB18s.
  const hw::SynthCounts x = hw::count_cells({{"LUT1", 1}, {"LUT3", 2}, {"LUT6", 10}, {"MUXF7", 4}, {"RAM32M", 3},
                                             {"RAM64X1D", 1}, {"SRLC32E", 2}, {"FDRE", 7}, {"FDSE", 1}, {"RAMB18E1", 1},
                                             {"RAMB36E1", 2}, {"DSP48E1", 3}, {"CARRY4", 5}, {"BUFG", 1}},
                                            hw::SynthTarget::kXilinx);
  EXPECT_EQ(x.lut, 13);
  EXPECT_EQ(x.lutram, 3 * 4 + 2 + 2);
  EXPECT_EQ(x.ff, 8);
  EXPECT_EQ(x.bram18, 5);
  EXPECT_EQ(x.dsp, 3);
  EXPECT_EQ(x.carry, 5);
  EXPECT_EQ(x.cells.at("MUXF7"), 4);  // kept, not counted as LUTs
  const hw::SynthCounts u = hw::count_cells({{"RAMB36E2", 1}, {"URAM288", 2}, {"DSP48E2", 1}, {"CARRY8", 1}},
                                            hw::SynthTarget::kXilinx);
  EXPECT_EQ(u.bram18, 2);
  EXPECT_EQ(u.uram, 2);
  EXPECT_EQ(u.dsp, 1);
  const hw::SynthCounts i = hw::count_cells(
      {{"SB_LUT4", 40}, {"SB_DFF", 3}, {"SB_DFFESR", 4}, {"SB_RAM40_4K", 2}, {"SB_CARRY", 6}, {"SB_MAC16", 1}},
      hw::SynthTarget::kIce40);
  EXPECT_EQ(i.lut, 40);
  EXPECT_EQ(i.ff, 7);
  EXPECT_EQ(i.ebr, 2);
  EXPECT_EQ(i.carry, 6);
  EXPECT_EQ(i.dsp, 1);
  EXPECT_EQ(i.bram18, 0);
}

TEST(HwRtlSynth, ParsesYosysStatJson) {
  // The shape yosys 0.23 writes: every module, public names escaped with a backslash.
  const std::string text = R"J({"creator": "Yosys 0.23 (git sha1 7ce5011c24b)", "invocation": "stat -json ",
    "modules": {"\\lowbit_unit_MVAU_hls_0": {"num_cells": 9, "num_cells_by_type": {"LUT4": 3, "LUT6": 2, "FDRE": 3, "RAMB36E1": 1}},
                "\\other": {"num_cells": 1, "num_cells_by_type": {"LUT1": 1}}},
    "design": {"num_cells": 10}})J";
  const hw::SynthCounts c = hw::parse_stat_json(text, "lowbit_unit_MVAU_hls_0", hw::SynthTarget::kXilinx, "s.json");
  EXPECT_EQ(c.lut, 5);
  EXPECT_EQ(c.ff, 3);
  EXPECT_EQ(c.bram18, 2);
  EXPECT_EQ(hw::stat_json_creator(text), "Yosys 0.23 (git sha1 7ce5011c24b)");
  const auto fails_with = [](const std::string& t, const std::string& top, const std::string& want) {
    try {
      hw::parse_stat_json(t, top, hw::SynthTarget::kXilinx, "s.json");
      ADD_FAILURE() << "no error for " << t;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  };
  fails_with(text, "missing_top", "s.json: no module missing_top");
  fails_with("not json", "x", "s.json: not yosys stat -json output");
  fails_with(R"({"modules": {"\\x": {"num_cells_by_type": {"LUT4": -1}}}})", "x", "cell count of LUT4 is not a count");
}

TEST(HwRtlSynth, ParsesNextpnrReport) {
  const std::string text = R"({"utilization": {"ICESTORM_LC": {"used": 1200, "available": 7680},
    "ICESTORM_RAM": {"used": 12, "available": 32}, "SB_IO": {"used": 14, "available": 256}},
    "fmax": {"clk$SB_IO_IN_$glb_clk": {"achieved": 61.5, "constraint": 12.0}}})";
  const hw::PnrResult r = hw::parse_nextpnr_report(text, "report.json");
  EXPECT_DOUBLE_EQ(r.fmax_mhz, 61.5);
  EXPECT_EQ(r.use.at("ICESTORM_LC").used, 1200);
  EXPECT_EQ(r.use.at("ICESTORM_RAM").available, 32);
  EXPECT_THROW(hw::parse_nextpnr_report(R"({"utilization": {}})", "r.json"), Error);
  EXPECT_THROW(hw::parse_nextpnr_report(R"({"utilization": {}, "fmax": {}})", "r.json"), Error);
}

TEST(HwRtlSynth, ScriptReadsDeferredAndFlattens) {
  hw::SynthOptions o;
  o.family = "xcup";
  const std::string s = hw::yosys_script({"/a b/lb_mvau.v", "unit.v"}, "top", o, "../synth/u/stat.json", "/n/net.v");
  EXPECT_NE(s.find("read_verilog -defer \"/a b/lb_mvau.v\"\n"), std::string::npos) << s;
  EXPECT_NE(s.find("synth_xilinx -flatten -noiopad -family xcup -top top\n"), std::string::npos) << s;
  EXPECT_NE(s.find("tee -q -o ../synth/u/stat.json stat -json\n"), std::string::npos) << s;
  EXPECT_NE(s.find("write_verilog -noattr \"/n/net.v\""), std::string::npos) << s;
  o.target = hw::SynthTarget::kIce40;
  EXPECT_NE(hw::yosys_script({"x.v"}, "t", o, "s.json").find("synth_ice40 -top t\n"), std::string::npos);
  EXPECT_THROW(hw::yosys_script({"x.v"}, "t", o, "my stats.json"), Error);  // tee would keep the quotes
}

// Synthesizes MVAU_hls_0 of the IN -> HIDDEN -> 10 model at (pe, simd).
hw::SynthCounts synth_mvau(int64_t in, int64_t hidden, int64_t pe, int64_t simd) {
  data::testing::TempDir tmp;
  const hw::RtlDesign r = write_design(dense_model(in, hidden, 5), pe, simd, tmp.str());
  return hw::synth_stage(r, stage_of(r, "MVAU_hls_0"), tmp.str(), {}).counts;
}

TEST(HwRtlSynth, LutsGrowWithSimdAndDeepWeightsTakeBlockRam) {
  if (!testing::have_tool("yosys")) GTEST_SKIP() << "yosys not installed";
  // 512 x 64 weights at PE 1: SIMD 8 keeps 4096 words of 8 bits, SIMD 32 1024 words of 32
  // bits; 32 Kbit either way, in block RAM (two RAMB18s: 4K x 4 or 1K x 18 each), so the
  // difference in LUTs is the lanes'.
  const hw::SynthCounts narrow = synth_mvau(512, 64, 1, 8);
  const hw::SynthCounts wide = synth_mvau(512, 64, 1, 32);
  EXPECT_EQ(narrow.bram18, 2);
  EXPECT_EQ(wide.bram18, 2);
  // Four times the XNOR lanes: a popcount of 32 instead of 8 costs at least ~2 LUTs per
  // extra lane (docs/SYNTHESIS.md measures 3.3).
  EXPECT_GT(wide.lut, narrow.lut + 2 * (32 - 8)) << narrow.lut << " " << wide.lut;
  EXPECT_GT(narrow.ff, 0);
  // 64 -> 8 at PE 1, SIMD 32: 16 words of 32 bits stay in LUTs.
  const hw::SynthCounts tiny = synth_mvau(64, 8, 1, 32);
  EXPECT_EQ(tiny.bram18, 0);
  EXPECT_GT(tiny.lut, 32);  // at least one LUT per XNOR lane
}

// A testbench for one stage alone (ports of stage_wrapper_verilog): random input beats and
// output stalls from $random with a fixed seed; prints "cycle data" per output beat.
std::string stage_bench(const hw::RtlStage& s, const std::string& top, int64_t beats, int64_t max_cycles) {
  std::ostringstream o;
  const int64_t iw = s.in_width(), ow = s.out_width();
  o << "`timescale 1ns/1ps\nmodule bench;\n  reg clk = 0, rst = 1, in_valid = 0, out_ready = 0;\n"
    << "  reg [" << iw - 1 << ":0] in_data = 0;\n  wire in_ready, out_valid;\n  wire [" << ow - 1 << ":0] out_data;\n"
    << "  integer seed = 7, cycle = 0, n = 0, k;\n"
    << "  " << top << " dut(.clk(clk), .rst(rst), .in_valid(in_valid), .in_ready(in_ready), .in_data(in_data),\n"
    << "    .out_valid(out_valid), .out_ready(out_ready), .out_data(out_data));\n"
    << "  always #5 clk = !clk;\n  always @(posedge clk) begin\n    cycle <= cycle + 1;\n"
    << "    if (cycle == 3) rst <= 0;\n"
    << "    if (!rst && out_valid && out_ready) begin $display(\"%0d %h\", cycle, out_data); n = n + 1; end\n"
    << "    if (!rst && (!in_valid || in_ready)) begin\n      in_valid <= ($random(seed) & 3) != 0;\n"
    << "      for (k = 0; k < " << iw << "; k = k + 1) in_data[k] <= $random(seed);\n    end\n"
    << "    out_ready <= ($random(seed) & 3) != 0;\n"
    << "    if (n >= " << beats << " || cycle >= " << max_cycles << ") begin $display(\"END %0d\", n); $finish; end\n"
    << "  end\nendmodule\n";
  return o.str();
}

TEST(HwRtlSynth, GateLevelNetlistMatchesTheRtl) {
  if (!testing::have_tool("yosys") || !testing::have_tool("iverilog") || !testing::have_tool("vvp"))
    GTEST_SKIP() << "yosys or iverilog not installed";
  if (!std::filesystem::exists(kCellsSim)) GTEST_SKIP() << kCellsSim << " missing";
  data::testing::TempDir tmp;
  const std::string dir = tmp.str();
  const hw::RtlDesign r = write_design(dense_model(64, 16, 9), 2, 8, dir);
  hw::SynthOptions opt;
  opt.netlist = true;
  // The hidden layer (XNOR, thresholds, input buffer replayed over 8 row folds) and the
  // score layer (raw accumulators): both of lb_mvau's output modes.
  for (const char* unit : {"MVAU_hls_0", "MVAU_hls_1"}) {
    const size_t i = stage_of(r, unit);
    const hw::RtlStage& s = r.stages[i];
    const hw::SynthRun run = hw::synth_stage(r, i, dir, opt);
    ASSERT_TRUE(std::filesystem::exists(run.netlist)) << run.netlist;
    const std::string work = dir + "/synth/" + s.name;
    const int64_t beats = 3 * s.out_beats;  // three frames
    {
      std::ofstream(work + "/bench.v") << stage_bench(s, "lowbit_unit_" + s.name, beats, 20000);
    }
    std::string lib;
    for (const auto& kv : hw::verilog_library()) lib += " " + dir + "/rtl/" + kv.first;
    // The RTL reads its memory images from the current folder; the netlist carries them as INITs.
    const auto rtl = run_command(cat("cd ", dir, "/rtl && iverilog -g2005 -o ", work, "/rtl.vvp ", work, "/bench.v ",
                                     work, "/unit.v", lib, " && vvp -n ", work, "/rtl.vvp"));
    const auto gate = run_command(cat("cd ", work, " && iverilog -g2005 -o gate.vvp bench.v netlist.v ", kCellsSim,
                                      " && vvp -n gate.vvp"));
    ASSERT_EQ(rtl.code, 0) << rtl.out;
    ASSERT_EQ(gate.code, 0) << gate.out;
    // Both complete the frames (a silent design would "match" trivially), beat for beat, clock for clock.
    EXPECT_NE(rtl.out.find(cat("END ", beats)), std::string::npos) << unit << "\n" << rtl.out.substr(0, 2000);
    EXPECT_EQ(rtl.out, gate.out) << unit;
    EXPECT_EQ(rtl.out.find('x'), std::string::npos) << unit;
  }
}

// The checked-in calibration reproduces its sweep (scripts/hw_synth_sweep.py): the C++
// model within 15% of yosys's LUTs (logic + LUTRAM sites) and with its RAMB18 count at every
// point, so the script's Python copy of the formulas and calibrated_model.cpp cannot drift.
TEST(HwRtlSynth, CalibrationReproducesItsSweep) {
  const std::string cal_file = std::string(LOWBIT_SOURCE_DIR) + "/docs/hw/calibration-xc7.json";
  const std::string csv = std::string(LOWBIT_SOURCE_DIR) + "/docs/hw/mvau-sweep-xc7.csv";
  const hw::Calibration cal = hw::read_calibration(cal_file);
  const hw::Device dev = hw::find_device("xc7z020");
  std::ifstream in(csv);
  ASSERT_TRUE(in) << csv;
  std::string line;
  std::getline(in, line);
  ASSERT_EQ(line, "w,a,simd,pe,mw,mh,acc_bits,thresholds,lut,lutram,ff,bram18,dsp,seconds");
  int points = 0;
  double worst = 0;
  while (std::getline(in, line)) {
    std::vector<int64_t> v;
    std::stringstream ss(line);
    std::string f;
    while (std::getline(ss, f, ',')) v.push_back(static_cast<int64_t>(std::stod(f)));
    ASSERT_EQ(v.size(), 14u) << line;
    const int w = static_cast<int>(v[0]), a = static_cast<int>(v[1]);
    hw::Node n;
    n.kind = hw::NodeKind::kMvau;
    n.simd = v[2], n.pe = v[3], n.mw = v[4], n.mh = v[5];
    n.channels = n.mh;
    n.xnor = w == 1 && a == 1;
    // The sweep's types: +-1 or signed W-bit weights, +-1 or unsigned A-bit inputs.
    n.weight = w == 1 ? (n.xnor ? hw::DataType::binary() : hw::DataType::bipolar()) : hw::DataType::sint(w);
    n.in = a == 1 ? (n.xnor ? hw::DataType::binary() : hw::DataType::bipolar()) : hw::DataType::uint(a);
    n.in_lo = a == 1 ? (n.xnor ? 0 : -1) : 0;
    n.in_hi = a == 1 ? 1 : (1 << a) - 1;
    n.acc = hw::DataType::sint(static_cast<int>(v[6]));
    n.thresholds = static_cast<int>(v[7]);
    const hw::Resources r = hw::calibrated_resources(n, dev, cal);
    const double yosys = static_cast<double>(v[8] + v[9]);
    const double err = std::abs(static_cast<double>(r.lut) - yosys) / yosys;
    worst = std::max(worst, err);
    EXPECT_LE(err, 0.15) << line << ": model " << r.lut;
    EXPECT_EQ(r.bram18, v[11]) << line;
    ++points;
  }
  EXPECT_GE(points, 20);
  std::cout << "calibration: " << points << " points, largest LUT error " << 100 * worst << "%\n";
}

TEST(HwRtlSynth, CliRefusesWhatIsNotADesignFolder) {
  data::testing::TempDir tmp;
  auto r = run_lowbit("hw synth " + tmp.file("nothing"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(tmp.file("nothing") + ": not a design folder"), std::string::npos) << r.out;
  r = run_lowbit("hw synth " + tmp.str());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("not a design folder (no model.lbm and folding.json"), std::string::npos) << r.out;
  // Flags that do not go together are usage errors (exit 2).
  const std::string dir = tmp.file("d");
  write_design(dense_model(64, 16, 9), 2, 8, dir);
  r = run_lowbit("hw synth " + dir + " --pnr");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--pnr places and routes on iCE40"), std::string::npos) << r.out;
  r = run_lowbit("hw synth " + dir + " --target ice40 --family xc7");
  EXPECT_EQ(r.code, 2) << r.out;
  r = run_lowbit("hw synth " + dir + " --units MVAU_hls_9");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--units: MVAU_hls_9 is not a stage of"), std::string::npos) << r.out;
  // A memory image gone: the error names it.
  std::filesystem::remove(dir + "/rtl/MVAU_hls_0_weights.mem");
  r = run_lowbit("hw synth " + dir + " --units MVAU_hls_0");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(dir + "/rtl/MVAU_hls_0_weights.mem is missing"), std::string::npos) << r.out;
}

TEST(HwRtlSynth, CliReportsUnitsWithEstimatesAsJson) {
  if (!testing::have_tool("yosys")) GTEST_SKIP() << "yosys not installed";
  data::testing::TempDir tmp;
  const std::string dir = tmp.file("d");
  write_design(dense_model(64, 16, 9), 2, 8, dir);
  const std::string cal = std::string(LOWBIT_SOURCE_DIR) + "/docs/hw/calibration-xc7.json";
  auto r = run_lowbit("hw synth " + dir + " --units MVAU_hls_0,Thresholding_hls_0 --calibration " + cal + " --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  ASSERT_EQ(j["units"].size(), 2u);
  int64_t lut = 0;
  for (const auto& u : j["units"]) {
    EXPECT_TRUE(u.contains("finn") && u.contains("calibrated")) << u.dump();
    EXPECT_TRUE(std::filesystem::exists(u["log"].get<std::string>()));
    lut += u["yosys"]["lut"].get<int64_t>();
  }
  EXPECT_EQ(j["total"]["yosys"]["lut"].get<int64_t>(), lut);
  EXPECT_GT(lut, 0);
  EXPECT_NE(j["yosys"].get<std::string>().find("Yosys"), std::string::npos);
  EXPECT_NE(j["calibration"].get<std::string>().find("calibration-xc7.json"), std::string::npos);
}

}  // namespace
}  // namespace lowbit
