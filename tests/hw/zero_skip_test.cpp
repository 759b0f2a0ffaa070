// Zero skipping in the planner (src/lowbit/hw/zero_skip): the thesis's effective op cost
// (section 3.4.4) on hand-computed numbers, the cycles of a zero-skipping MVAU whose PE rows
// run in lockstep on hand-built sparse rows, and the report of a hand-built sparse model.
#include <gtest/gtest.h>

#include "lowbit/hw/dataflow.hpp"
#include "lowbit/hw/folding.hpp"
#include "lowbit/hw/plan.hpp"
#include "lowbit/hw/zero_skip.hpp"
#include "test_util.hpp"

namespace lowbit {
namespace {

using format::CodeFormat;
using format::LayerDesc;
using format::LayerKind;
using format::ModelDesc;
using testing::expect_error_naming;

TEST(ZeroSkip, EffectiveOpCostGoldens) {
  // Binary MAC 5 LUTs, decoder 112 LUTs (thesis 3.4.1, 3.4.3).
  EXPECT_DOUBLE_EQ(hw::effective_op_cost(1.0, 5, 112, 1), 117);      // dense, no reuse: 5 + 112
  EXPECT_DOUBLE_EQ(hw::effective_op_cost(0.25, 5, 112, 1), 29.25);   // 0.25 * 117
  EXPECT_DOUBLE_EQ(hw::effective_op_cost(0.25, 5, 112, 784), 0.25 * (5 + 112.0 / 784));  // a conv's 28x28 reuse
  EXPECT_DOUBLE_EQ(hw::effective_op_cost(0.1, 5, 112, 112), 0.6);    // 0.1 * (5 + 1)
  EXPECT_DOUBLE_EQ(hw::effective_op_cost(0, 5, 112, 1), 0);
  expect_error_naming([] { hw::effective_op_cost(1.5, 5, 112, 1); }, "gamma");
  expect_error_naming([] { hw::effective_op_cost(0.5, 5, 112, 0); }, "reuse");
  expect_error_naming([] { hw::effective_op_cost(0.5, -1, 112, 1); }, "C_op");
}

TEST(ZeroSkip, LockstepCyclesOnHandBuiltRows) {
  // Four rows with 8, 2, 4 and 0 nonzeros (MW 8).
  const std::vector<int64_t> rows = {8, 2, 4, 0};
  // PE 2, SIMD 2: folds {8, 2} -> ceil(8/2) = 4 and {4, 0} -> 2: 6 cycles (dense: 2 x 4 = 8).
  EXPECT_EQ(hw::zero_skip_cycles(rows, 2, 2, 1), 6);
  // PE 4: one fold led by the 8-nonzero row: 8 cycles at SIMD 1, as dense.
  EXPECT_EQ(hw::zero_skip_cycles(rows, 4, 1, 1), 8);
  // PE 1, SIMD 4: 2 + 1 + 1 + 1 (the empty row still takes a cycle) = 5 (dense: 4 x 2 = 8).
  EXPECT_EQ(hw::zero_skip_cycles(rows, 1, 4, 1), 5);
  // Per vector, times the vectors.
  EXPECT_EQ(hw::zero_skip_cycles(rows, 2, 2, 900), 5400);
  // A fully dense row set costs what the dense MVAU does.
  EXPECT_EQ(hw::zero_skip_cycles({8, 8, 8, 8}, 2, 4, 3), 2 * 2 * 3);
  expect_error_naming([&] { hw::zero_skip_cycles(rows, 3, 1, 1); }, "does not divide");
  expect_error_naming([&] { hw::zero_skip_cycles(rows, 1, 0, 1); }, "at least 1");
  expect_error_naming([] { hw::zero_skip_cycles({}, 1, 1, 1); }, "at least 1");
}

// dense 8 -> 4 with ternary rows of 8, 2, 4 and 0 nonzeros, then dense 4 -> 2 scores; the
// input a sign of 8 pixels.
ModelDesc sparse_model() {
  ModelDesc d;
  d.name = "sparse";
  const CodeFormat b = CodeFormat::plus_minus_one();
  LayerDesc l;
  l.kind = LayerKind::kDense, l.name = "dense@0";
  l.in_c = 8, l.out = 4, l.input = b;
  l.weights = {1, -1, 1, -1, 1, -1, 1, -1,   // 8 nonzeros
               0, 1, 0, 0, 0, 0, -1, 0,     // 2
               1, 0, 1, 0, -1, 0, -1, 0,    // 4
               0, 0, 0, 0, 0, 0, 0, 0};     // 0
  l.negated.assign(4, 0);
  l.output = b, l.levels = 1, l.thresholds = {0, 0, 0, 0};
  LayerDesc s;
  s.kind = LayerKind::kDense, s.name = "dense@1";
  s.in_c = 4, s.out = 2, s.input = b;
  s.weights = {1, 1, -1, 1, -1, 1, 1, 1};
  s.negated.assign(2, 0);
  s.scores = true, s.score.scale = {1.f, 1.f};
  d.layers = {l, s};
  d.input.shape = {8};
  d.input.codes = b;
  for (int p = 0; p < 256; ++p) d.input.table[static_cast<size_t>(p)] = static_cast<uint8_t>(p >= 128);
  format::validate(d);
  return d;
}

// The sparse MVAU at PE 2 x SIMD 2 (8 cycles dense) is the only slow unit: the input
// Thresholding at PE 8, the score MVAU at PE 2 x SIMD 4 and LabelSelect at PE 2 take 1 cycle.
hw::Graph folded(const ModelDesc& d) {
  hw::Graph g = hw::build_graph(d);
  for (hw::Node& n : g.nodes) {
    if (n.kind == hw::NodeKind::kThresholding) n.pe = 8;
    if (n.kind == hw::NodeKind::kMvau) n.pe = 2, n.simd = n.layer == 0 ? 2 : 4;
    if (n.kind == hw::NodeKind::kLabelSelect) n.pe = 2;
  }
  hw::check_folding(g);
  return g;
}

hw::CostModel xc7z020() {
  hw::CostModel cm;
  cm.device = hw::find_device("xc7z020");
  cm.clock_mhz = 100;
  return cm;
}

TEST(ZeroSkip, ReportOnHandBuiltSparseLayer) {
  const ModelDesc d = sparse_model();
  EXPECT_TRUE(hw::has_zero_weights(d));
  const hw::Graph g = folded(d);
  const hw::Plan p = hw::evaluate(g, xc7z020());
  ASSERT_EQ(p.max_cycles, 8);
  hw::ZeroSkipReport r = hw::zero_skip_report(d, g, p, {});
  ASSERT_EQ(r.units.size(), 2u);
  const hw::ZeroSkipUnit& u = r.units[0];
  EXPECT_EQ(u.nonzeros, 14);
  EXPECT_DOUBLE_EQ(u.gamma, 14.0 / 32);
  EXPECT_EQ(u.row_max, 8);
  EXPECT_EQ(u.reuse, 1);          // dense layer, batch 1
  EXPECT_EQ(u.decoders, 4);       // PE 2 x SIMD 2, R 1
  EXPECT_EQ(u.decoder_luts, 448);
  // Ternary weights (INT2) on +-1 inputs (BIPOLAR): C_op = 5 x lane(2, 1) / lane(1, 1) =
  // 5 x ((2*1 - 1)*3 + 2*3) / ((2*1 - 1)*2 + 2*2) = 5 x 9 / 6 = 7.5.
  EXPECT_DOUBLE_EQ(u.op_luts, 7.5);
  EXPECT_DOUBLE_EQ(u.cost_per_op, 14.0 / 32 * (7.5 + 112));
  EXPECT_DOUBLE_EQ(u.effective_macs, 14);
  EXPECT_EQ(u.dense_cycles, 8);
  EXPECT_EQ(u.zs_cycles, 6);
  EXPECT_EQ(u.zs_cycles_fixed, 8);  // 2 folds x ceil(8 / 2)
  // Equal LUTs, R = 1: 6 x (1 + 112 / 7.5) = 95.6 -> 96.
  EXPECT_EQ(u.eq_cycles, 96);
  EXPECT_EQ(u.eq_cycles_r1, 96);
  // The score layer is dense (+-1 weights): gamma 1, XNOR, C_op 5, no skipping gain.
  EXPECT_DOUBLE_EQ(r.units[1].gamma, 1);
  EXPECT_DOUBLE_EQ(r.units[1].op_luts, 5);
  EXPECT_EQ(r.units[1].zs_cycles, r.units[1].dense_cycles);
  // fps at 100 MHz: dense 10^8 / 8; skipping at the same folding 10^8 / 6 (+448 decoder LUTs,
  // the dense score layer gets none); at equal LUTs the decoders cost more than the zeros
  // save, so the MVAU stays dense: 10^8 / 8.
  EXPECT_DOUBLE_EQ(r.dense_fps, 1e8 / 8);
  EXPECT_DOUBLE_EQ(r.zs_fps, 1e8 / 6);
  EXPECT_EQ(r.extra_luts, 448);
  EXPECT_DOUBLE_EQ(r.eq_fps, 1e8 / 8);
  EXPECT_DOUBLE_EQ(r.eq_fps_r1, 1e8 / 8);

  // Batch 4: R = 4, one decoder per 4 lanes: ceil(4 / 4) = 1; 6 x (1 + 112 / 30) = 28.4 -> 29.
  hw::ZeroSkipOptions opt;
  opt.batch = 4;
  r = hw::zero_skip_report(d, g, p, opt);
  EXPECT_EQ(r.units[0].reuse, 4);
  EXPECT_EQ(r.units[0].decoders, 1);
  EXPECT_EQ(r.units[0].eq_cycles, 29);
  // Free decoders: equal LUTs is the same folding.
  opt = {};
  opt.decoder_luts = 0;
  r = hw::zero_skip_report(d, g, p, opt);
  EXPECT_EQ(r.units[0].eq_cycles, 6);
  EXPECT_DOUBLE_EQ(r.eq_fps, 1e8 / 6);
  const std::string text = hw::zero_skip_text(r);
  EXPECT_NE(text.find("Zero skipping (thesis 3.4)"), std::string::npos) << text;
  EXPECT_NE(text.find("0.438"), std::string::npos) << text;  // gamma
  EXPECT_NE(text.find("8/8"), std::string::npos) << text;    // densest row / MW
  EXPECT_EQ(hw::zero_skip_json(r)["units"][0]["zero_skip_cycles"], 6);

  opt.batch = 0;
  expect_error_naming([&] { hw::zero_skip_report(d, g, p, opt); }, "batch");
  opt = {};
  opt.op_luts = 0;
  expect_error_naming([&] { hw::zero_skip_report(d, g, p, opt); }, "C_op");
}

TEST(ZeroSkip, ConvolutionReuseIsItsOutputPixels) {
  // A 3x3 conv on 6x6x2 (+-1, 4x4 output pixels), 4 filters, half its weights zero, then a
  // dense score layer on the 4x4x4 map.
  ModelDesc d;
  d.name = "conv";
  const CodeFormat b = CodeFormat::plus_minus_one();
  LayerDesc c;
  c.kind = LayerKind::kConv, c.name = "conv2d@0";
  c.in_h = c.in_w = 6, c.in_c = 2, c.out = 4, c.kernel_h = c.kernel_w = 3, c.input = b;
  for (int64_t i = 0; i < 4 * 18; ++i) c.weights.push_back(i % 2 ? 0 : (i % 4 ? -1 : 1));
  c.negated.assign(4, 0);
  c.output = b, c.levels = 1, c.thresholds.assign(4, 0);
  LayerDesc s;
  s.kind = LayerKind::kDense, s.name = "dense@1";
  s.in_h = s.in_w = 4, s.in_c = 4, s.out = 3, s.input = b;
  s.weights.assign(3 * 64, 1);
  s.negated.assign(3, 0);
  s.scores = true, s.score.scale.assign(3, 1.f);
  d.layers = {c, s};
  d.input.shape = {2, 6, 6};
  d.input.codes = b;
  for (int p = 0; p < 256; ++p) d.input.table[static_cast<size_t>(p)] = static_cast<uint8_t>(p >= 128);
  format::validate(d);
  const hw::Graph g = hw::build_graph(d);  // PE = SIMD = 1
  const hw::Plan p = hw::evaluate(g, xc7z020());
  hw::ZeroSkipOptions opt;
  opt.batch = 3;
  const hw::ZeroSkipReport r = hw::zero_skip_report(d, g, p, opt);
  EXPECT_EQ(r.units[0].reuse, 3 * 16);  // R = B x P
  EXPECT_DOUBLE_EQ(r.units[0].gamma, 0.5);
  EXPECT_EQ(r.units[0].row_max, 9);
  EXPECT_EQ(r.units[0].zs_cycles, 4 * 9 * 16);  // 4 rows x 9 nonzeros x 16 pixels at PE = SIMD = 1
  EXPECT_EQ(r.units[0].dense_cycles, 4 * 18 * 16);
  EXPECT_EQ(r.units[1].reuse, 3);  // dense: R = B
}

}  // namespace
}  // namespace lowbit
