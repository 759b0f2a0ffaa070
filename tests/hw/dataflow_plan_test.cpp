// The dataflow planner (src/lowbit/hw/{dataflow,finn_model,folding,plan,...}): FINN's cycle
// and resource formulas reproduced on FINN's and BNN-PYNQ's own foldings, SetFolding's walk,
// the resource-aware --fit search, the device table, and the errors for folding files,
// models and boards the planner cannot take.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "lowbit/core/rng.hpp"
#include "lowbit/hw/bnn_pynq_overlays.hpp"
#include "lowbit/hw/calibrated_model.hpp"
#include "lowbit/hw/dataflow.hpp"
#include "lowbit/hw/device.hpp"
#include "lowbit/hw/finn_model.hpp"
#include "lowbit/hw/folding.hpp"
#include "lowbit/hw/plan.hpp"
#include "lowbit/hw/roofline.hpp"
#include "test_util.hpp"

namespace lowbit {
namespace {

using format::CodeFormat;
using format::LayerDesc;
using format::LayerKind;
using format::ModelDesc;
using testing::expect_error_naming;

// A weighted layer with random +-1 weights (or ternary when `ternary`) and one threshold per
// output level (0, 1, ...: ascending), or the score map when `scores`.
LayerDesc layer(LayerKind kind, int64_t in_h, int64_t in_w, int64_t in_c, int64_t out, CodeFormat input, CodeFormat output,
                bool scores, uint64_t seed, bool ternary = false) {
  LayerDesc l;
  l.kind = kind;
  l.name = cat(kind == LayerKind::kConv ? "conv2d@" : "dense@", seed);
  l.in_h = in_h, l.in_w = in_w, l.in_c = in_c, l.out = out, l.input = input;
  if (kind == LayerKind::kConv) l.kernel_h = l.kernel_w = 3;
  Rng rng(seed);
  l.weights.resize(static_cast<size_t>(out * l.in_fan()));
  for (int32_t& w : l.weights) {
    const float u = rng.uniform(0.f, 1.f);
    w = ternary ? (u < 0.33f ? -1 : u < 0.66f ? 0 : 1) : (u < 0.5f ? -1 : 1);
  }
  l.negated.assign(static_cast<size_t>(out), 0);
  if (scores) {
    l.scores = true;
    l.score.scale.assign(static_cast<size_t>(out), 1.f);
  } else {
    l.output = output;
    l.levels = output.levels();
    for (int64_t o = 0; o < out; ++o)
      for (int k = 0; k < l.levels; ++k) l.thresholds.push_back(k);
  }
  return l;
}

ModelDesc with_input(ModelDesc d, std::vector<int64_t> shape, CodeFormat codes) {
  d.input.shape = std::move(shape);
  d.input.codes = codes;
  // Identity table for 8-bit codes (no input quantizer unit), else a sign at 128.
  for (int p = 0; p < 256; ++p)
    d.input.table[static_cast<size_t>(p)] = codes.planes() == 8 ? static_cast<uint8_t>(p) : static_cast<uint8_t>(p >= 128);
  return d;
}

// FINN's CNV (BNN-PYNQ cnv, FINN's end-to-end test) on a C x 32 x 32 input: six 3x3 convs
// (64, 64, pool, 128, 128, pool, 256, 256), dense 512, 512, 10; 8-bit input codes.
ModelDesc cnv_desc(int64_t channels, CodeFormat act = CodeFormat::plus_minus_one(), bool ternary_weights = false) {
  ModelDesc d;
  d.name = "cnv";
  const CodeFormat pixel = CodeFormat::unsigned_bits(8, 128);
  struct C {
    int64_t in, out, dim;
    bool pool;
  };
  const C convs[] = {{channels, 64, 32, false}, {64, 64, 30, true},    {64, 128, 14, false},
                     {128, 128, 12, true},      {128, 256, 5, false},  {256, 256, 3, false}};
  uint64_t seed = 1;
  for (const C& c : convs) {
    LayerDesc l = layer(LayerKind::kConv, c.dim, c.dim, c.in, c.out, d.layers.empty() ? pixel : act, act, false, seed++,
                        ternary_weights);
    if (c.pool) l.pool = {2, 2};
    d.layers.push_back(l);
  }
  d.layers.push_back(layer(LayerKind::kDense, 1, 1, 256, 512, act, act, false, seed++, ternary_weights));
  d.layers.push_back(layer(LayerKind::kDense, 1, 1, 512, 512, act, act, false, seed++, ternary_weights));
  d.layers.push_back(layer(LayerKind::kDense, 1, 1, 512, 10, act, act, true, seed++, ternary_weights));
  return with_input(d, {channels, 32, 32}, pixel);
}

// LFC: 784 -> 1024 -> 1024 -> 1024 -> 10 on 1-bit input (a sign of the pixels).
ModelDesc lfc_desc() {
  ModelDesc d;
  d.name = "lfc";
  const CodeFormat b = CodeFormat::plus_minus_one();
  d.layers.push_back(layer(LayerKind::kDense, 1, 1, 784, 1024, b, b, false, 11));
  d.layers.push_back(layer(LayerKind::kDense, 1, 1, 1024, 1024, b, b, false, 12));
  d.layers.push_back(layer(LayerKind::kDense, 1, 1, 1024, 1024, b, b, false, 13));
  d.layers.push_back(layer(LayerKind::kDense, 1, 1, 1024, 10, b, b, true, 14));
  return with_input(d, {1, 28, 28}, b);
}

std::vector<hw::Node*> mvaus(hw::Graph& g) {
  std::vector<hw::Node*> v;
  for (hw::Node& n : g.nodes)
    if (n.kind == hw::NodeKind::kMvau) v.push_back(&n);
  return v;
}

void fold(hw::Graph& g, const std::vector<std::pair<int64_t, int64_t>>& pe_simd) {
  auto m = mvaus(g);
  ASSERT_EQ(m.size(), pe_simd.size());
  for (size_t i = 0; i < m.size(); ++i) m[i]->pe = pe_simd[i].first, m[i]->simd = pe_simd[i].second;
}

std::vector<int64_t> mvau_cycles(hw::Graph& g) {
  std::vector<int64_t> c;
  for (hw::Node* n : mvaus(g)) c.push_back(hw::exp_cycles(*n));
  return c;
}

TEST(HwCycles, BnnPynqLfcFoldingOnItsPaddedMatrices) {
  // BNN-PYNQ's LFC overlay holds MW 832 (784 padded to SIMD 64) and a last MH of 64.
  std::vector<int64_t> cycles;
  for (const auto& ol : hw::bnn_pynq::overlay("lfcW1A1").layers) {
    hw::Node n;
    n.kind = hw::NodeKind::kMvau;
    n.mw = ol.mw, n.mh = ol.mh, n.pe = ol.pe, n.simd = ol.simd;
    EXPECT_EQ(hw::folding_problem(n), "");
    cycles.push_back(hw::exp_cycles(n));
  }
  EXPECT_EQ(cycles, (std::vector<int64_t>{416, 512, 512, 512}));
}

TEST(HwCycles, FinnLfcTestFolding) {
  hw::Graph g = hw::build_graph(lfc_desc());
  fold(g, {{32, 49}, {64, 32}, {32, 64}, {10, 8}});
  hw::check_folding(g);
  EXPECT_EQ(mvau_cycles(g), (std::vector<int64_t>{512, 512, 512, 128}));
  auto m = mvaus(g);
  EXPECT_EQ(m[0]->mw, 784);
  EXPECT_EQ(m[3]->mh, 10);
  EXPECT_TRUE(m[0]->xnor);
  EXPECT_EQ(m[3]->thresholds, 0);  // the score layer: noActivation
}

TEST(HwCycles, FinnCnvW1A1FoldingAndItsFps) {
  hw::Graph g = hw::build_graph(cnv_desc(3));
  fold(g, {{16, 3}, {32, 32}, {16, 32}, {16, 32}, {4, 32}, {1, 32}, {1, 4}, {1, 8}, {5, 1}});
  // FINN's example sets each SWU's SIMD to its MVAU's.
  const int64_t swu_simd[] = {3, 32, 32, 32, 32, 32};
  int s = 0;
  for (hw::Node& n : g.nodes)
    if (n.kind == hw::NodeKind::kSwu) n.simd = swu_simd[s++];
  hw::check_folding(g);
  EXPECT_EQ(mvau_cycles(g), (std::vector<int64_t>{32400, 28224, 20736, 28800, 20736, 18432, 32768, 32768, 1024}));
  EXPECT_FALSE(mvaus(g)[0]->xnor);  // 8-bit pixels: add/sub by weight sign
  EXPECT_EQ(mvaus(g)[0]->in.name(), "INT8");
  EXPECT_TRUE(mvaus(g)[1]->xnor);
  // No input quantizer (8-bit codes), no padding: SWU, MVAU (, pool) per conv; 3 dense; LabelSelect.
  EXPECT_EQ(g.nodes.size(), 6u * 2 + 2 + 3 + 1);
  for (double mhz : {100.0, 200.0}) {
    hw::CostModel cm;
    cm.device = hw::find_device("pynq-z1");
    cm.clock_mhz = mhz;
    const hw::Plan p = hw::evaluate(g, cm);
    EXPECT_EQ(p.max_cycles, 32768);
    EXPECT_DOUBLE_EQ(p.fps, mhz * 1e6 / 32768);  // 3051.76 and 6103.52 frames/s
    EXPECT_EQ(g.nodes[static_cast<size_t>(p.bottleneck)].name, "MVAU_hls_6");
  }
}

TEST(HwCycles, OtherUnitsFollowFinnsFormulas) {
  hw::Graph g = hw::build_graph(cnv_desc(3));
  const hw::Node* swu = g.find("ConvolutionInputGenerator_hls_0");
  ASSERT_NE(swu, nullptr);
  hw::Node s = *swu;
  s.simd = 3;  // 32*3*1 + 30 * max(30*9*1, 1*32*1)
  EXPECT_EQ(hw::exp_cycles(s), 96 + 30 * 270);
  const hw::Node* pool = g.find("StreamingMaxPool_hls_0");
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(pool->ifm_w, 28);
  EXPECT_EQ(hw::exp_cycles(*pool), 980);  // 28 * 28 * (1 + 1/4)
  hw::Node ls = *g.find("LabelSelect_hls_0");
  ls.pe = 5;
  EXPECT_EQ(hw::exp_cycles(ls), 2);
}

TEST(HwResources, FinnMvauLutEstimateOfItsUnitCase) {
  // FINN's MVAU with MW = MH = 4, PE = SIMD = 1, INT2 weights and inputs, no thresholds,
  // accDataType left at INT32.
  auto luts = [](const char* mem_mode, const char* res_type) {
    return hw::finn_mvau_luts(1, 1, 4, 4, 2, 2, true, 32, 0, true, mem_mode, "auto", "auto", res_type);
  };
  EXPECT_EQ(luts("internal_decoupled", "lut"), 315);
  EXPECT_EQ(luts("internal_decoupled", "dsp"), 311);
  EXPECT_EQ(luts("internal_embedded", "lut"), 317);
  EXPECT_EQ(luts("internal_embedded", "dsp"), 313);
  // The same through a node: the estimate reads the node's attributes.
  hw::Node n;
  n.kind = hw::NodeKind::kMvau;
  n.mw = n.mh = 4, n.weight = hw::DataType::sint(2), n.in = hw::DataType::sint(2), n.acc = hw::DataType::sint(32);
  n.out = n.acc;
  EXPECT_EQ(hw::finn_resources(n).lut, 315);
  n.res_type = "dsp";
  EXPECT_EQ(hw::finn_resources(n).lut, 311);
  EXPECT_EQ(hw::finn_resources(n).dsp, 1);  // ceil((2 + 2) / 48)
}

TEST(HwResources, FinnBramEstimate) {
  hw::Node n;
  n.kind = hw::NodeKind::kMvau;
  n.mw = 784, n.mh = 1024, n.pe = 32, n.simd = 49, n.weight = hw::DataType::binary();
  // omega = 512 words of 1568 bits: (512 <= 512, width > 18) -> ceil(512/512) * ceil(1568/36) = 44.
  EXPECT_EQ(hw::finn_resources(n).bram18, 44);
  n.ram_style = "distributed";
  EXPECT_EQ(hw::finn_resources(n).bram18, 0);
  n.pe = 1, n.simd = 1, n.ram_style = "auto";  // width 1: ceil(802816 / 16384)
  EXPECT_EQ(hw::finn_resources(n).bram18, 49);
}

TEST(HwResources, AccumulatorWidthFollowsFinnsMinimization) {
  hw::Graph g = hw::build_graph(lfc_desc());
  // XNOR mode: BINARY inputs, weights taken as +-1: the range is [-#negative, #positive] of a row.
  const hw::Node& m = *mvaus(g)[0];
  EXPECT_EQ(m.acc.kind, hw::DataType::Kind::kInt);
  EXPECT_GE(m.acc.bits, 9);  // ~392 of 784 either way: INT10
  EXPECT_LE(m.acc.bits, 11);
  EXPECT_EQ(hw::datatype_for_range(0, 255).name(), "UINT8");
  EXPECT_EQ(hw::datatype_for_range(0, 256).name(), "UINT9");
  EXPECT_EQ(hw::datatype_for_range(-128, 127).name(), "INT8");
  EXPECT_EQ(hw::datatype_for_range(-129, 0).name(), "INT9");
}

TEST(HwResources, CalibratedModelMapsMemoriesToPrimitives) {
  const hw::Device z = hw::find_device("xc7z020");
  EXPECT_EQ(hw::block_ram_count(1024, 18, z), 1);
  EXPECT_EQ(hw::block_ram_count(512, 36, z), 1);
  EXPECT_EQ(hw::block_ram_count(16384, 1, z), 1);
  EXPECT_EQ(hw::block_ram_count(832, 64, z), 4);  // 2 x 2 of 512 x 36, or 1 x 4 of 1K x 18
  const hw::Device ice = hw::find_device("ice40hx8k");
  EXPECT_EQ(hw::block_ram_count(256, 16, ice), 1);
  EXPECT_EQ(hw::block_ram_count(4096, 1, ice), 2);
  hw::Graph g = hw::build_graph(lfc_desc());
  hw::CostModel cm;
  cm.model = hw::ResourceModel::kCalibrated;
  cm.device = z;
  EXPECT_NE(cm.model_name().find("uncalibrated"), std::string::npos);
  const hw::Plan p = hw::evaluate(g, cm);
  EXPECT_GT(p.total.lut, 0);
  EXPECT_GT(p.total.bram18, 0);  // 2.9 Mbit of weights at PE = SIMD = 1: block RAM
}

TEST(HwSetFolding, WalksSimdThenPeWithTheWeightWidthCap) {
  hw::Graph g = hw::build_graph(lfc_desc());
  hw::set_folding(g, {1000, 36, false});
  const hw::Node& m = *mvaus(g)[0];
  // SIMD through the divisors of 784 up to 28 (49 would exceed 36 weight bits per PE),
  // then PE through the divisors of 1024 until 1024*784/(28 PE) < 1000: PE 32, 896 cycles.
  EXPECT_EQ(m.simd, 28);
  EXPECT_EQ(m.pe, 32);
  EXPECT_EQ(hw::exp_cycles(m), 896);
  // The input quantizer (784 channels, PE) and LabelSelect (10 labels): the first divisor below 1000.
  EXPECT_EQ(g.nodes[0].pe, 1);  // 784 cycles at PE 1 already < 1000
  for (const hw::Node& n : g.nodes) EXPECT_LT(hw::exp_cycles(n), 1000) << n.name;
}

TEST(HwSetFolding, SecondPassBalancesToTheBottleneck) {
  // A target of 500 cycles cannot be met: a SWU writes every window (30 x 30 x 9 taps of the
  // first layer's 3 channels take 8100 cycles at any SIMD), and an MVAU stops at SIMD 36
  // (FINN's weight-width cap) and PE = MH (MVAU_hls_1: 12544). The first pass over-folds the
  // other units toward 500; the second reruns with the slowest unit's cycles as the target.
  hw::Graph one = hw::build_graph(cnv_desc(3));
  EXPECT_TRUE(hw::set_folding(one, {500, 36, false}).empty());
  int64_t worst = 0;
  std::string slowest;
  for (const hw::Node& n : one.nodes)
    if (hw::exp_cycles(n) > worst) worst = hw::exp_cycles(n), slowest = n.name;
  ASSERT_GT(worst, 500);
  hw::Graph two = hw::build_graph(cnv_desc(3));
  auto warnings = hw::set_folding(two, {500, 36, true});
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], cat("Node ", slowest, " is bottleneck with ", worst, " cycles, running second pass"));
  int64_t luts_one = 0, luts_two = 0;
  for (size_t i = 0; i < two.nodes.size(); ++i) {
    const hw::Node& n = two.nodes[i];
    // Below the relaxed target, or as parallel as the walk goes.
    EXPECT_TRUE(hw::exp_cycles(n) < worst || n.kind == hw::NodeKind::kMaxPool || (n.has_pe() && n.pe == n.max_pe()) ||
                (!n.has_pe() && n.simd == n.max_simd()))
        << n.name << " " << hw::exp_cycles(n);
    luts_one += hw::finn_resources(one.nodes[i]).lut, luts_two += hw::finn_resources(n).lut;
  }
  EXPECT_LT(luts_two, luts_one);  // same bottleneck, fewer LUTs
}

TEST(HwSetFolding, TargetFromFpsAndClockAsFinn) {
  EXPECT_EQ(hw::target_cycles_per_frame(100, 3000), 33333);
  EXPECT_EQ(hw::target_cycles_per_frame(200, 1e6), 200);
}

TEST(HwFit, NeverSlowerThanTheFastestFittingSetFolding) {
  for (const char* board : {"pynq-z1", "ultra96", "zc706"}) {
    for (bool calibrated : {false, true}) {
      hw::Graph g = hw::build_graph(cnv_desc(3));
      hw::CostModel cm;
      cm.device = hw::find_device(board);
      cm.model = calibrated ? hw::ResourceModel::kCalibrated : hw::ResourceModel::kFinn;
      const hw::FitResult r = hw::fit_folding(g, cm);
      ASSERT_TRUE(r.found) << board;
      hw::check_folding(g);
      const hw::Plan p = hw::evaluate(g, cm);
      EXPECT_TRUE(p.fits) << board;
      EXPECT_DOUBLE_EQ(p.fps, r.fps);
      EXPECT_GE(r.fps, r.setfolding_fps) << board;
      EXPECT_GT(r.setfolding_fps, 0) << board;
      // SetFolding at the same fps target gives a design that does not fit, or one no faster.
      hw::Graph sf = hw::build_graph(cnv_desc(3));
      hw::set_folding(sf, {hw::target_cycles_per_frame(cm.clock_mhz, r.fps * 1.5), 36, true});
      const hw::Plan q = hw::evaluate(sf, cm);
      EXPECT_TRUE(!q.fits || q.fps <= r.fps * (1 + 1e-9)) << board << " " << q.fps << " " << r.fps;
    }
  }
}

TEST(HwFit, TooSmallADeviceIsReported) {
  hw::Graph g = hw::build_graph(cnv_desc(3));
  hw::CostModel cm;
  cm.device = hw::find_device("ice40up5k");
  cm.model = hw::ResourceModel::kCalibrated;
  const hw::FitResult r = hw::fit_folding(g, cm);
  EXPECT_FALSE(r.found);
  const hw::Plan p = hw::evaluate(g, cm);
  EXPECT_FALSE(p.fits);
  ASSERT_FALSE(p.over.empty());
  EXPECT_NE(hw::plan_text(g, p, cm).find("warning: does not fit ice40up5k"), std::string::npos);
}

TEST(HwFolding, FileRoundTripsAndAcceptsFinnNames) {
  hw::Graph g = hw::build_graph(lfc_desc());
  nlohmann::json j = {{"Defaults", nlohmann::json::object()},
                      {"StreamingFCLayer_Batch_0", {{"PE", 32}, {"SIMD", 49}, {"ram_style", "block"}}},
                      {"MatrixVectorActivation_1", {{"PE", 64}, {"SIMD", 32}}},
                      {"MVAU_rtl_2", {{"PE", 32}, {"SIMD", 64}, {"runtime_writeable_weights", 1}}},
                      {"MVAU_hls_3", {{"PE", 10}, {"SIMD", 8}, {"ram_style", "distributed"}, {"mem_mode", "const"}}},
                      {"Thresholding_rtl_0", {{"PE", 49}}},
                      {"StreamingFIFO_rtl_0", {{"depth", 32}}}};
  const auto skipped = hw::apply_folding(g, j, "f.json");
  EXPECT_EQ(skipped.size(), 1u);  // the FIFO
  // Runtime-writeable weights: FINN sizes the accumulator for any BINARY weights: 0..1024.
  EXPECT_EQ(g.find("MVAU_hls_2")->acc.name(), "UINT11");
  EXPECT_TRUE(g.find("MVAU_hls_1")->acc.is_signed());  // minimized from this matrix's rows
  EXPECT_EQ(mvau_cycles(g), (std::vector<int64_t>{512, 512, 512, 128}));
  EXPECT_EQ(g.find("MVAU_hls_3")->mem_mode, "internal_embedded");
  hw::Graph h = hw::build_graph(lfc_desc());
  hw::apply_folding(h, hw::folding_json(g), "written");
  EXPECT_EQ(hw::folding_json(h), hw::folding_json(g));
}

TEST(HwFolding, BadFilesNameTheUnitOrKey) {
  auto apply = [](nlohmann::json j) {
    hw::Graph g = hw::build_graph(lfc_desc());
    hw::apply_folding(g, j, "f.json");
  };
  expect_error_naming([&] { apply({{"MVAU_hls_1", {{"PE", 48}}}}); }, "MVAU_hls_1 (dense@12): PE 48 does not divide MH 1024");
  expect_error_naming([&] { apply({{"MVAU_hls_0", {{"SIMD", 64}}}}); }, "SIMD 64 does not divide MW 784");
  expect_error_naming([&] { apply({{"MVAU_hls_7", {{"PE", 1}}}}); }, "unit 'MVAU_hls_7' does not exist");
  expect_error_naming([&] { apply({{"Foo_0", {{"PE", 1}}}}); }, "unknown unit 'Foo_0'");
  expect_error_naming([&] { apply({{"MVAU_hls_0", {{"PEE", 1}}}}); }, "unknown attribute 'PEE'");
  expect_error_naming([&] { apply({{"Thresholding_hls_0", {{"SIMD", 2}}}}); }, "has no SIMD");
  expect_error_naming([&] { apply({{"MVAU_hls_0", {{"PE", 0}}}}); }, "'PE' must be an integer in 1..1048576, got 0");
  expect_error_naming([&] { apply({{"MVAU_hls_0", {{"PE", "8"}}}}); }, "'PE' must be an integer in 1..1048576");
  expect_error_naming([&] { apply({{"MVAU_hls_0", {{"ram_style", "bram"}}}}); }, "'ram_style' must be one of");
  expect_error_naming([&] { apply(nlohmann::json::array()); }, "one JSON object");
  // A stream wider than 8191 bits: 1024 PE x 8 SIMD x 1 bit = 8192.
  expect_error_naming([&] { apply({{"MVAU_hls_1", {{"PE", 1024}, {"SIMD", 8}}}}); }, "f.json: invalid folding: MVAU_hls_1");
  // One unit named twice (FINN's current and older names), a Defaults that is not {}, and the
  // attribute list of the unit at fault.
  expect_error_naming([&] { apply({{"MVAU_hls_0", {{"PE", 16}}}, {"MatrixVectorActivation_0", {{"PE", 32}}}}); },
                      "both name unit MVAU_hls_0");
  expect_error_naming([&] { apply({{"Defaults", nullptr}}); }, "'Defaults' must be an object");
  expect_error_naming([&] { apply({{"LabelSelect_hls_0", {{"ram_style", "block"}}}}); }, "(it takes PE)");
  // FINN writes mem_mode for Thresholding units: taken.
  apply({{"Thresholding_hls_0", {{"PE", 49}, {"ram_style", "distributed"}, {"mem_mode", "internal_decoupled"}}}});
}

TEST(HwGraph, LayersWithoutAUnitAreNamed) {
  ModelDesc d = cnv_desc(3);
  d.layers[1].pool = {3, 2};
  expect_error_naming([&] { hw::build_graph(d); }, "layer 1 (conv2d@2): a max pool with stride 2 != window 3");
  d = cnv_desc(3);
  d.layers[2].sum_pool = {2, 2};
  expect_error_naming([&] { hw::build_graph(d); }, "layer 2 (conv2d@3): sum (average) pooling");
  d = cnv_desc(3);
  d.layers[3].shortcut_from = 2;
  expect_error_naming([&] { hw::build_graph(d); }, "layer 3 (conv2d@4): a residual shortcut");
  d = cnv_desc(3);
  d.layers[1].pad_h = d.layers[1].pad_w = 1;
  {  // exact-zero padding of +-1 maps: an INT2 stream (-1, 0, +1) into a multiplying MVAU
    const hw::Graph z = hw::build_graph(d);
    const hw::Node& pad = *z.find("FMPadding_hls_0");
    EXPECT_EQ(pad.in, hw::DataType::bipolar());
    EXPECT_EQ(pad.out, hw::DataType::sint(2));
    EXPECT_EQ(pad.outstream_bits(), 2 * pad.simd);
    EXPECT_EQ(z.find("ConvolutionInputGenerator_hls_1")->in, hw::DataType::sint(2));
    EXPECT_FALSE(z.find("MVAU_hls_1")->xnor);
    EXPECT_EQ(z.find("MVAU_hls_1")->in, hw::DataType::sint(2));
  }
  d.layers[1].pad_value = -1;  // FINN pads binary maps with -1 (bit 0)
  const hw::Graph g = hw::build_graph(d);
  EXPECT_EQ(g.find("FMPadding_hls_0")->out, hw::DataType::bipolar());
  EXPECT_TRUE(g.find("MVAU_hls_1")->xnor);
  ASSERT_NE(g.find("FMPadding_hls_0"), nullptr);
  EXPECT_EQ(g.find("FMPadding_hls_0")->ofm_h, 32);
  d = lfc_desc();
  d.input.table[200] = 0;  // not monotone: no thresholds
  expect_error_naming([&] { hw::build_graph(d); }, "not monotone");
}

TEST(HwGraph, BitWidthsComeFromTheCodes) {
  // W2A2: ternary weights (INT2), 2-bit codes with zero point 1 (INT2), 3 thresholds.
  hw::Graph g = hw::build_graph(cnv_desc(3, CodeFormat::unsigned_bits(2, 1), /*ternary_weights=*/true));
  const hw::Node& m = *mvaus(g)[1];
  EXPECT_FALSE(m.xnor);
  EXPECT_EQ(m.weight.name(), "INT2");
  EXPECT_EQ(m.in.name(), "INT2");
  EXPECT_EQ(m.thresholds, 3);
  EXPECT_EQ(m.out.name(), "INT2");
  EXPECT_EQ(m.weight_bits_total, 576 * 64 * 2);
}

TEST(HwDevices, TableLookupAndFiles) {
  const hw::Device z = hw::find_device("PYNQ-Z2");
  EXPECT_EQ(z.name, "xc7z020");
  EXPECT_EQ(z.luts, 53200);
  EXPECT_EQ(z.bram18(), 280);
  EXPECT_EQ(hw::find_device("xcu250").uram, 1280);
  EXPECT_EQ(hw::find_device("ultra96").bram36, 216);
  EXPECT_EQ(hw::find_device("ice40up5k").ebr, 30);
  expect_error_naming([] { hw::find_device("pynq-z3"); }, "unknown board or device 'pynq-z3'");
  const std::string dir = ::testing::TempDir();
  const std::string path = dir + "/arty.json";
  std::ofstream(path) << R"({"name": "xc7a35t", "boards": ["arty-a7-35"], "fabric": "xilinx", "luts": 20800, "bram36": 50, "dsp": 90})";
  const hw::Device a = hw::find_device(path);
  EXPECT_EQ(a.name, "xc7a35t");
  EXPECT_EQ(a.bram18(), 100);
  std::ofstream(path) << R"({"name": "x", "fabric": "xilinx", "luts": 10, "lut": 5})";
  expect_error_naming([&] { hw::find_device(path); }, "unknown key 'lut'");
  std::ofstream(path) << R"({"name": "x", "fabric": "ice40", "luts": 10, "bram36": 5})";
  expect_error_naming([&] { hw::find_device(path); }, "'bram36'");
  std::ofstream(path) << R"({"name": "x", "fabric": "xilinx", "luts": 10, "luts": 20})";
  expect_error_naming([&] { hw::find_device(path); }, "key 'luts' appears twice");
  const std::string folding = dir + "/fold.json";
  std::ofstream(folding) << R"({"MVAU_hls_0": {"PE": 32, "PE": 16}})";
  expect_error_naming([&] { hw::Graph g = hw::build_graph(lfc_desc()); hw::apply_folding_file(g, folding); },
                      "key 'PE' appears twice");
  std::ofstream(path) << R"({"name": "x", "fabric": "xilinx", "luts": -3})";
  expect_error_naming([&] { hw::find_device(path); }, "'luts' must be an integer in 0..100000000, got -3");
}

TEST(HwRoofline, SeedCostTableGivesItsPeaks) {
  // Seed 000: KU115 at 250 MHz, 70% of the device: ~46 TOPS binary, ~3 at 8 bits, ~0.5 at 32.
  const hw::Device ku = hw::find_device("xcku115");
  EXPECT_NEAR(hw::peak_ops_per_s(ku, hw::op_cost_for(1), 250) / 1e12, 46.4, 0.1);
  EXPECT_NEAR(hw::peak_ops_per_s(ku, hw::op_cost_for(8), 250) / 1e12, 2.58, 0.01);
  EXPECT_NEAR(hw::peak_ops_per_s(ku, hw::op_cost_for(32), 250) / 1e12, 0.48, 0.01);  // DSP-bound
  EXPECT_EQ(hw::op_cost_for(2).bits, 4);
  const hw::Graph g = hw::build_graph(lfc_desc());
  const auto ops = hw::ops_by_precision(g);
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].precision, "W1A1");
  EXPECT_EQ(ops[0].ops, 2 * (784 * 1024 + 1024 * 1024 * 2 + 1024 * 10));
  const hw::Roofline r = hw::roofline(g, hw::find_device("pynq-z1"), 100);
  EXPECT_EQ(r.bytes_on_chip, 784 + 1);
  EXPECT_GT(r.intensity_on_chip, r.intensity_streamed);
  EXPECT_LE(r.attainable_streamed, r.attainable_on_chip);
}

}  // namespace
}  // namespace lowbit
