// Hardware-aware filter pruning (src/lowbit/hw/{pruning_cost,filter_prune,prune_whatif}):
// the thesis's eqs 4.5-4.7 on hand-computed numbers, the binding resource and the layer
// ranking on a hand-built model under a hand-set folding (FINN's LUT/BRAM formulas worked by
// hand), filter steps of FINN's CNV folding, round_filters_to_pe's properties, pruning the IR
// (the next layer's input channels follow) and the what-if / Algorithm 3 runs.
#include <gtest/gtest.h>

#include "lowbit/core/rng.hpp"
#include "lowbit/hw/dataflow.hpp"
#include "lowbit/hw/filter_prune.hpp"
#include "lowbit/hw/folding.hpp"
#include "lowbit/hw/plan.hpp"
#include "lowbit/hw/prune_whatif.hpp"
#include "lowbit/hw/pruning_cost.hpp"
#include "test_util.hpp"

namespace lowbit {
namespace {

using format::CodeFormat;
using format::LayerDesc;
using format::LayerKind;
using format::ModelDesc;
using testing::expect_error_naming;

// A layer with random +-1 weights, one threshold per level (or the score map).
LayerDesc layer(LayerKind kind, int64_t in_h, int64_t in_w, int64_t in_c, int64_t out, CodeFormat input, bool scores,
                uint64_t seed) {
  LayerDesc l;
  l.kind = kind;
  l.name = cat(kind == LayerKind::kConv ? "conv2d@" : "dense@", seed);
  l.in_h = in_h, l.in_w = in_w, l.in_c = in_c, l.out = out, l.input = input;
  if (kind == LayerKind::kConv) l.kernel_h = l.kernel_w = 3;
  Rng rng(seed);
  l.weights.resize(static_cast<size_t>(out * l.in_fan()));
  for (int32_t& w : l.weights) w = rng.uniform(0.f, 1.f) < 0.5f ? -1 : 1;
  l.negated.assign(static_cast<size_t>(out), 0);
  if (scores) {
    l.scores = true;
    l.score.scale.assign(static_cast<size_t>(out), 1.f);
  } else {
    l.output = CodeFormat::plus_minus_one();
    l.levels = 1;
    l.thresholds.assign(static_cast<size_t>(out), 0);
  }
  return l;
}

ModelDesc with_input(ModelDesc d, std::vector<int64_t> shape, CodeFormat codes) {
  d.input.shape = std::move(shape);
  d.input.codes = codes;
  for (int p = 0; p < 256; ++p)
    d.input.table[static_cast<size_t>(p)] = codes.planes() == 8 ? static_cast<uint8_t>(p) : static_cast<uint8_t>(p >= 128);
  return d;
}

// FINN's CNV on 3 x 32 x 32 (as tests/hw/dataflow_plan_test.cpp): six 3x3 convs, dense 512,
// 512, 10.
ModelDesc cnv_desc() {
  ModelDesc d;
  d.name = "cnv";
  const CodeFormat pixel = CodeFormat::unsigned_bits(8, 128), b = CodeFormat::plus_minus_one();
  struct C {
    int64_t in, out, dim;
    bool pool;
  };
  const C convs[] = {{3, 64, 32, false},    {64, 64, 30, true},   {64, 128, 14, false},
                     {128, 128, 12, true},  {128, 256, 5, false}, {256, 256, 3, false}};
  uint64_t seed = 1;
  for (const C& c : convs) {
    LayerDesc l = layer(LayerKind::kConv, c.dim, c.dim, c.in, c.out, d.layers.empty() ? pixel : b, false, seed++);
    if (c.pool) l.pool = {2, 2};
    d.layers.push_back(l);
  }
  d.layers.push_back(layer(LayerKind::kDense, 1, 1, 256, 512, b, false, seed++));
  d.layers.push_back(layer(LayerKind::kDense, 1, 1, 512, 512, b, false, seed++));
  d.layers.push_back(layer(LayerKind::kDense, 1, 1, 512, 10, b, true, seed++));
  return with_input(d, {3, 32, 32}, pixel);
}

// FINN's CNV W1A1 folding (PE, SIMD per MVAU); each SWU takes its MVAU's SIMD.
void fold_finn_cnv(hw::Graph& g) {
  const int64_t pe_simd[9][2] = {{16, 3}, {32, 32}, {16, 32}, {16, 32}, {4, 32}, {1, 32}, {1, 4}, {1, 8}, {5, 1}};
  for (hw::Node& n : g.nodes) {
    if (n.kind == hw::NodeKind::kMvau) n.pe = pe_simd[n.layer][0], n.simd = pe_simd[n.layer][1];
    if (n.kind == hw::NodeKind::kSwu) n.simd = pe_simd[n.layer][1];
  }
  hw::check_folding(g);
}

// dense 64 -> 32 -> 16 -> 10 (scores) on a sign of the 8x8 pixels.
ModelDesc small_mlp() {
  ModelDesc d;
  d.name = "mlp";
  const CodeFormat b = CodeFormat::plus_minus_one();
  d.layers.push_back(layer(LayerKind::kDense, 1, 1, 64, 32, b, false, 1));
  d.layers.push_back(layer(LayerKind::kDense, 1, 1, 32, 16, b, false, 2));
  d.layers.push_back(layer(LayerKind::kDense, 1, 1, 16, 10, b, true, 3));
  // Alternating weights: every row has MW/2 of each sign, so FINN's accumulator range is
  // -MW/2..MW/2 (INT7 for MW 64, INT6 for MW 32) whatever the seed.
  for (LayerDesc& l : d.layers)
    for (size_t k = 0; k < l.weights.size(); ++k) l.weights[k] = k % 2 ? 1 : -1;
  return with_input(d, {1, 8, 8}, b);
}

hw::Device device(int64_t luts, int64_t bram36) {
  hw::Device d;
  d.name = "test-part", d.luts = luts, d.bram36 = bram36, d.dsp = 10;
  return d;
}

hw::CostModel cost_model(const hw::Device& d) {
  hw::CostModel cm;
  cm.device = d;
  return cm;
}

TEST(PruningCost, Eq45OpsGoldens) {
  // CNV's second conv: 3x3 kernels, 64 IFMs, 64 filters, 28x28 OFMs: 9 * 64 * 64 * 784.
  EXPECT_EQ(hw::layer_ops(3, 3, 64, 64, 28, 28), 28901376);
  // A dense 512 -> 10 layer: K = F = 1.
  EXPECT_EQ(hw::layer_ops(1, 1, 512, 10, 1, 1), 5120);
  EXPECT_EQ(hw::layer_ops(5, 3, 2, 7, 4, 6), 5 * 3 * 2 * 7 * 4 * 6);
  expect_error_naming([] { hw::layer_ops(3, 3, 0, 64, 28, 28); }, "eq 4.5");
  expect_error_naming([] { hw::layer_ops(1 << 16, 1 << 16, 1 << 16, 1 << 16, 1 << 16, 1 << 16); }, "overflows");
  // Eq 4.5 is LayerDesc::macs() for every CNV layer.
  const ModelDesc d = cnv_desc();
  for (const LayerDesc& l : d.layers) {
    const bool conv = l.kind == LayerKind::kConv;
    EXPECT_EQ(hw::layer_ops(conv ? 3 : 1, conv ? 3 : 1, conv ? l.in_c : l.in_fan(), l.out, l.conv_h(), l.conv_w()),
              l.macs())
        << l.name;
  }
}

TEST(PruningCost, Eq46ReuseGoldens) {
  EXPECT_EQ(hw::pe_reuse(28901376, 16 * 32), 56448);  // exact
  EXPECT_EQ(hw::pe_reuse(10, 4), 3);                  // ceil(2.5)
  EXPECT_EQ(hw::pe_reuse(12, 4), 3);
  EXPECT_EQ(hw::pe_reuse(0, 5), 0);
  EXPECT_EQ(hw::pe_reuse(7, 1), 7);
  expect_error_naming([] { hw::pe_reuse(10, 0); }, "eq 4.6");
  expect_error_naming([] { hw::pe_reuse(-1, 2); }, "eq 4.6");
}

TEST(PruningCost, Eq47FeatureMapBramGoldens) {
  // 64 maps of 30x30 1-bit activations (57600 words), Reuse 2, B_w 16384:
  // ceil(57600 * 1 / (2 * 16384)) = ceil(1.7578) = 2.
  EXPECT_EQ(hw::fm_bram(64, 30, 30, 2, 16384), 2);
  EXPECT_EQ(hw::fm_bram(64, 30, 30, 1, 16384), 0);  // fully pipelined: nothing buffered
  // Reuse 10^6: ceil(57600 * 999999 / (10^6 * 16384)) = ceil(3.5156) = 4 (tends to the map).
  EXPECT_EQ(hw::fm_bram(64, 30, 30, 1000000, 16384), 4);
  // 3 maps of 32x32 8-bit pixels, Reuse 4, B_w 2048: ceil(3072 * 3 / 8192) = ceil(1.125) = 2.
  EXPECT_EQ(hw::fm_bram(3, 32, 32, 4, 2048), 2);
  // Exactly 1: 4096 words, Reuse 2, B_w 2048 -> 4096 / 4096.
  EXPECT_EQ(hw::fm_bram(4, 32, 32, 2, 2048), 1);
  expect_error_naming([] { hw::fm_bram(64, 30, 30, 0, 16384); }, "eq 4.7");
  expect_error_naming([] { hw::fm_bram(64, 30, 30, 2, 0); }, "eq 4.7");
  // B_w of a RAMB18 by word width.
  EXPECT_EQ(hw::bram18_words(1), 16384);
  EXPECT_EQ(hw::bram18_words(2), 8192);
  EXPECT_EQ(hw::bram18_words(3), 4096);
  EXPECT_EQ(hw::bram18_words(8), 2048);
  EXPECT_EQ(hw::bram18_words(9), 2048);
  EXPECT_EQ(hw::bram18_words(10), 1024);
  EXPECT_EQ(hw::bram18_words(36), 512);
  expect_error_naming([] { hw::bram18_words(0); }, "1..36");
  expect_error_naming([] { hw::bram18_words(37); }, "1..36");
}

TEST(PruningCost, ReportOfFinnCnvFolding) {
  const ModelDesc d = cnv_desc();
  hw::Graph g = hw::build_graph(d);
  fold_finn_cnv(g);
  const hw::CostModel cm = cost_model(hw::find_device("xc7z020"));
  const hw::Plan p = hw::evaluate(g, cm);
  const hw::PruningReport r = hw::pruning_report(d, g, p, cm);
  ASSERT_EQ(r.layers.size(), 9u);
  // Conv 1 (64 -> 64 on 30x30 -> 28x28), PE 32 x SIMD 32: OPS 28901376, Reuse 28224 (FINN's
  // MVAU cycles), B_w 16384 (1-bit inputs), FM BRAM ceil(57600 * 28223 / (28224 * 16384)) = 4.
  const hw::LayerCost& c1 = r.layers[1];
  EXPECT_EQ(c1.ops, 28901376);
  EXPECT_EQ(c1.macs_per_cycle, 1024);
  EXPECT_EQ(c1.reuse, 28224);
  EXPECT_EQ(c1.words_per_bram, 16384);
  EXPECT_EQ(c1.fm_bram18, 4);
  // Conv 0 reads 8-bit pixels: B_w 2048; 3 x 32 x 32, PE 16 x SIMD 3, Reuse 32400:
  // ceil(3072 * 32399 / (32400 * 2048)) = ceil(1.49995) = 2.
  EXPECT_EQ(r.layers[0].act_bits, 8);
  EXPECT_EQ(r.layers[0].reuse, 32400);
  EXPECT_EQ(r.layers[0].fm_bram18, 2);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const hw::Node& n = g.nodes[i];
    if (n.kind != hw::NodeKind::kMvau) continue;
    const hw::LayerCost& c = r.layers[static_cast<size_t>(n.layer)];
    EXPECT_EQ(c.reuse, hw::exp_cycles(n)) << n.name;  // eq 4.6 = FINN's MVAU cycles
    EXPECT_EQ(c.mvau.lut, p.units[i].res.lut) << n.name;
    EXPECT_EQ(c.prunable, n.layer != 8) << n.name;
  }
  // Only the 8 prunable layers are ranked, most of the binding resource first.
  ASSERT_EQ(r.ranking.size(), 8u);
  for (size_t i = 1; i < r.ranking.size(); ++i) EXPECT_GE(r.ranking[i - 1].used, r.ranking[i].used);
  EXPECT_FALSE(r.bound.empty());
  const std::string text = hw::pruning_text(r);
  EXPECT_NE(text.find("Pruning costs (thesis eqs 4.5-4.7)"), std::string::npos) << text;
  EXPECT_NE(text.find("28901376"), std::string::npos) << text;
  EXPECT_NE(text.find("Binding resource: " + r.bound), std::string::npos) << text;
  const auto j = hw::pruning_json(r);
  EXPECT_EQ(j["layers"][1]["reuse"], 28224);
  EXPECT_EQ(j["ranking"].size(), 8u);
}

// small_mlp folded by hand: MVAU 0 (MW 64, MH 32) PE 1 SIMD 1, MVAU 1 (MW 32, MH 16) PE 4
// SIMD 1, the score layer PE 1 SIMD 1. FINN's LUTs (XNOR: W = A = 1, mult 2 + adder 2 per PE
// and lane, accumulator INT7 / INT6 from the range -32..32 / -16..16):
//   MVAU 0: int(300 + 1.1 * (2 + 2 + 7)) = 312;  MVAU 1: int(300 + 1.1 * 4 * (2 + 2 + 6)) = 344.
// BRAM18: one per MVAU (2048 x 1 bit; 128 x 4 bits; 160 x 1 bit), three in all.
hw::Graph folded_mlp(const ModelDesc& d) {
  hw::Graph g = hw::build_graph(d);
  for (hw::Node& n : g.nodes)
    if (n.kind == hw::NodeKind::kMvau && n.layer == 1) n.pe = 4;
  hw::check_folding(g);
  return g;
}

TEST(PruningCost, LutBoundRanksByMvauLuts) {
  const ModelDesc d = small_mlp();
  const hw::Graph g = folded_mlp(d);
  const hw::CostModel cm = cost_model(device(1000, 100));
  const hw::Plan p = hw::evaluate(g, cm);
  const hw::PruningReport r = hw::pruning_report(d, g, p, cm);
  EXPECT_EQ(r.layers[0].mvau.lut, 312);
  EXPECT_EQ(r.layers[1].mvau.lut, 344);
  EXPECT_EQ(r.layers[0].mvau.bram18, 1);
  EXPECT_EQ(r.layers[1].mvau.bram18, 1);
  EXPECT_EQ(r.bound, "LUT");  // LUT ~98% of 1000, BRAM18 3 of 200
  ASSERT_EQ(r.ranking.size(), 2u);  // the score layer is not ranked
  EXPECT_EQ(r.ranking[0].name, "dense@2");
  EXPECT_EQ(r.ranking[0].used, 344);
  EXPECT_EQ(r.ranking[0].pe, 4);
  EXPECT_EQ(r.ranking[1].name, "dense@1");
  EXPECT_EQ(r.ranking[1].used, 312);
  EXPECT_NE(r.ranking[0].reason.find("LUT-bound"), std::string::npos) << r.ranking[0].reason;
  EXPECT_NE(r.ranking[0].reason.find("PE 4 x SIMD 1"), std::string::npos) << r.ranking[0].reason;
  EXPECT_NEAR(r.ranking[0].share, 344.0 / static_cast<double>(p.total.lut), 1e-12);
}

TEST(PruningCost, BramBoundRanksByLayerMemoryThenCycles) {
  const ModelDesc d = small_mlp();
  const hw::Graph g = folded_mlp(d);
  const hw::CostModel cm = cost_model(device(1000000, 2));  // 4 BRAM18: 3 used = 75%
  const hw::Plan p = hw::evaluate(g, cm);
  const hw::PruningReport r = hw::pruning_report(d, g, p, cm);
  EXPECT_EQ(r.bound, "BRAM18");
  ASSERT_EQ(r.ranking.size(), 2u);
  // One BRAM18 each: the tie goes to the slower layer (MVAU 0: 2048 cycles, MVAU 1: 128).
  EXPECT_EQ(r.ranking[0].name, "dense@1");
  EXPECT_EQ(r.ranking[0].used, 1);
  EXPECT_EQ(r.ranking[1].name, "dense@2");
  EXPECT_NE(r.ranking[0].reason.find("BRAM18-bound"), std::string::npos) << r.ranking[0].reason;
}

TEST(PruningCost, BindingResourceFromTheBlockedFasterDesign) {
  const ModelDesc d = small_mlp();
  const hw::Graph g = folded_mlp(d);
  const hw::CostModel cm = cost_model(device(1000, 100));  // LUT has the largest share ...
  const hw::Plan p = hw::evaluate(g, cm);
  hw::FitResult fit;
  fit.found = true;
  fit.blocked_cycles = p.max_cycles / 2;  // ... but the next faster design overshot BRAM18
  fit.blocked_total.lut = 900, fit.blocked_total.bram18 = 300;
  hw::PruningReport r = hw::pruning_report(d, g, p, cm, &fit);
  EXPECT_EQ(r.bound, "BRAM18");
  EXPECT_NE(r.bound_why.find("next faster design"), std::string::npos) << r.bound_why;
  // A blocked design no faster than the plan's is not what bounds it.
  fit.blocked_cycles = p.max_cycles;
  r = hw::pruning_report(d, g, p, cm, &fit);
  EXPECT_EQ(r.bound, "LUT");
}

TEST(PruningCost, RejectsAnotherModelsGraph) {
  const ModelDesc d = small_mlp();
  const hw::Graph g = hw::build_graph(cnv_desc());
  const hw::CostModel cm = cost_model(hw::find_device("xc7z020"));
  expect_error_naming([&] { hw::pruning_report(d, g, hw::evaluate(g, cm), cm); }, "not this model's");
}

TEST(PruningCost, FilterStepOfFinnCnvFolding) {
  const ModelDesc d = cnv_desc();
  hw::Graph g = hw::build_graph(d);
  fold_finn_cnv(g);
  // conv 0: PE 16; conv 1 reads 9 taps x N with SIMD 32 (32 / gcd(32, 9) = 32), SWU SIMD 32.
  EXPECT_EQ(hw::filter_step(g, 0), 32);
  // conv 4: PE 4; conv 5 SIMD 32 -> 32.
  EXPECT_EQ(hw::filter_step(g, 4), 32);
  // conv 5: PE 1; dense 6 reads a 1x1 map, SIMD 4 -> 4.
  EXPECT_EQ(hw::filter_step(g, 5), 4);
  EXPECT_EQ(hw::filter_step(g, 6), 8);  // PE 1, next SIMD 8
  EXPECT_EQ(hw::filter_step(g, 7), 1);  // PE 1, next SIMD 1
  // The score layer's PE 5 alone.
  EXPECT_EQ(hw::filter_step(g, 8), 5);
  expect_error_naming([&] { hw::filter_step(g, 9); }, "no MVAU");
  // A SIMD sharing factors with the window needs fewer: conv 1 with SIMD 6 on 9 taps x 64
  // (576 % 6 == 0): 6 / gcd(6, 9) = 2, with PE 16 of conv 0 -> 16.
  for (hw::Node& n : g.nodes)
    if (n.layer == 1 && (n.kind == hw::NodeKind::kMvau || n.kind == hw::NodeKind::kSwu)) n.simd = n.kind == hw::NodeKind::kMvau ? 6 : 2;
  hw::check_folding(g);
  EXPECT_EQ(hw::filter_step(g, 0), 16);
}

TEST(PruningCost, RoundFiltersToPeGoldensAndProperties) {
  EXPECT_EQ(hw::round_filters_to_pe(37, 8), 32);  // down is the default
  EXPECT_EQ(hw::round_filters_to_pe(37, 8, hw::FilterRounding::kNearest), 40);
  EXPECT_EQ(hw::round_filters_to_pe(36, 8, hw::FilterRounding::kNearest), 32);  // tie: down
  EXPECT_EQ(hw::round_filters_to_pe(35, 8, hw::FilterRounding::kNearest), 32);
  EXPECT_EQ(hw::round_filters_to_pe(3, 8), 8);  // at least one step
  EXPECT_EQ(hw::round_filters_to_pe(3, 8, hw::FilterRounding::kNearest), 8);
  EXPECT_EQ(hw::round_filters_to_pe(48, 16), 48);
  for (int64_t step = 1; step <= 17; ++step)
    for (int64_t wanted = 1; wanted <= 200; ++wanted) {
      const int64_t down = hw::round_filters_to_pe(wanted, step, hw::FilterRounding::kDown);
      const int64_t near = hw::round_filters_to_pe(wanted, step, hw::FilterRounding::kNearest);
      for (int64_t n : {down, near}) {
        EXPECT_EQ(n % step, 0) << wanted << " " << step;
        EXPECT_GE(n, step);
      }
      EXPECT_LE(down, std::max(wanted, step));
      EXPECT_GT(down, wanted - step);
      if (wanted >= step) {
        EXPECT_LE(2 * std::abs(near - wanted), step) << wanted << " " << step;
      }
      EXPECT_GE(near, down);
      if (wanted % step == 0) {
        EXPECT_EQ(near, wanted);
      }
    }
  expect_error_naming([] { hw::round_filters_to_pe(0, 8); }, "at least 1");
  expect_error_naming([] { hw::round_filters_to_pe(10, 0); }, "at least 1");
}

TEST(PruningCost, PrunedCountsKeepTheFolding) {
  // After rounding to the filter step, the pruned model takes the unpruned folding unchanged:
  // N' % PE == 0 (MH % PE) and the next layer's SIMD still divides its channels and MW.
  const ModelDesc d = cnv_desc();
  hw::Graph g = hw::build_graph(d);
  fold_finn_cnv(g);
  for (int layer = 0; layer < 8; ++layer) {
    const int64_t step = hw::filter_step(g, layer), n = d.layers[static_cast<size_t>(layer)].out;
    for (double keep : {0.9, 0.75, 0.5, 0.3})
      for (auto rounding : {hw::FilterRounding::kDown, hw::FilterRounding::kNearest}) {
        const int64_t to = std::min(n, hw::round_filters_to_pe(std::llround(keep * static_cast<double>(n)), step, rounding));
        const ModelDesc pd = hw::keep_first_filters(d, static_cast<size_t>(layer), to);
        hw::Graph pg = hw::build_graph(pd);
        ASSERT_EQ(pg.nodes.size(), g.nodes.size());
        for (size_t i = 0; i < g.nodes.size(); ++i) pg.nodes[i].pe = g.nodes[i].pe, pg.nodes[i].simd = g.nodes[i].simd;
        EXPECT_NO_THROW(hw::check_folding(pg)) << "layer " << layer << " to " << to;
        for (const hw::Node& nd : pg.nodes) {
          if (nd.kind == hw::NodeKind::kMvau && nd.layer == layer) {
            EXPECT_EQ(nd.mh % nd.pe, 0);
          }
        }
      }
  }
  // Without the step, plain N % PE == 0 is not enough: conv 0 at 48 filters (48 % 16 == 0)
  // leaves conv 1 with MW 432, which SIMD 32 does not divide.
  hw::Graph bad = hw::build_graph(hw::keep_first_filters(d, 0, 48));
  for (size_t i = 0; i < g.nodes.size(); ++i) bad.nodes[i].pe = g.nodes[i].pe, bad.nodes[i].simd = g.nodes[i].simd;
  expect_error_naming([&] { hw::check_folding(bad); }, "SIMD 32 does not divide");
}

TEST(FilterPrune, DropsOutputChannelsAndTheNextLayersInputs) {
  // conv (1 -> 3 channels, 3x3, on 4x4) then a 2x2 dense layer... as a conv of 3x3 on the
  // 2x2 output is too big, use a dense layer on the 2x2x3 map: K = (y, x, c) = 12.
  ModelDesc d;
  d.name = "tiny";
  const CodeFormat b = CodeFormat::plus_minus_one();
  LayerDesc c = layer(LayerKind::kConv, 4, 4, 1, 3, b, false, 1);
  for (int64_t o = 0; o < 3; ++o)
    for (int64_t k = 0; k < 9; ++k) c.weights[static_cast<size_t>(o * 9 + k)] = static_cast<int32_t>(10 * o + k + 1);
  c.thresholds = {5, 6, 7};
  c.negated = {0, 1, 0};
  LayerDesc n = layer(LayerKind::kDense, 2, 2, 3, 2, b, true, 2);
  for (int64_t o = 0; o < 2; ++o)
    for (int64_t k = 0; k < 12; ++k) n.weights[static_cast<size_t>(o * 12 + k)] = static_cast<int32_t>(100 * o + k + 1);
  d.layers = {c, n};
  d = with_input(d, {1, 4, 4}, b);
  format::validate(d);

  const ModelDesc p = hw::drop_filters(d, 0, {0, 2});
  EXPECT_EQ(p.layers[0].out, 2);
  EXPECT_EQ(p.layers[0].thresholds, (std::vector<int32_t>{5, 7}));
  EXPECT_EQ(p.layers[0].negated, (std::vector<uint8_t>{0, 0}));
  std::vector<int32_t> rows;
  for (int64_t k = 0; k < 9; ++k) rows.push_back(static_cast<int32_t>(k + 1));
  for (int64_t k = 0; k < 9; ++k) rows.push_back(static_cast<int32_t>(20 + k + 1));
  EXPECT_EQ(p.layers[0].weights, rows);
  // The dense layer keeps channels 0 and 2 at each of its 4 positions: k = pos * 3 + c.
  EXPECT_EQ(p.layers[1].in_c, 2);
  EXPECT_EQ(p.layers[1].weights, (std::vector<int32_t>{1, 3, 4, 6, 7, 9, 10, 12, 101, 103, 104, 106, 107, 109, 110, 112}));
  EXPECT_EQ(hw::keep_first_filters(d, 0, 2).layers[0].weights.size(), 18u);

  expect_error_naming([&] { hw::drop_filters(d, 1, {0}); }, "classes");
  expect_error_naming([&] { hw::drop_filters(d, 0, {}); }, "keeps no filter");
  expect_error_naming([&] { hw::drop_filters(d, 0, {2, 0}); }, "ascend");
  expect_error_naming([&] { hw::drop_filters(d, 0, {0, 0}); }, "ascend");
  expect_error_naming([&] { hw::drop_filters(d, 0, {3}); }, "ascend");
  expect_error_naming([&] { hw::drop_filters(d, 5, {0}); }, "has 2 layers");
  expect_error_naming([&] { hw::keep_first_filters(d, 0, 0); }, "keep 0");
  expect_error_naming([&] { hw::keep_first_filters(d, 0, 4); }, "keep 4");
}

TEST(PrunePlan, WhatIfAndGreedyOnCnv) {
  const ModelDesc d = cnv_desc();
  const hw::CostModel cm = cost_model(hw::find_device("xc7z020"));
  const std::vector<hw::LayerChoice> rank = hw::rank_layers_for_pruning(d, cm);
  ASSERT_EQ(rank.size(), 8u);
  for (const hw::LayerChoice& c : rank) {
    EXPECT_EQ(c.filters % c.filter_step, 0) << c.name;
    EXPECT_EQ(c.filter_step % c.pe, 0) << c.name;
    EXPECT_EQ(c.resource, rank[0].resource);
  }
  const hw::WhatIfReport w = hw::prune_what_if(d, cm, {0.5}, 2);
  EXPECT_GT(w.base_fps, 0);
  ASSERT_EQ(w.rows.size(), 9u);  // 8 layers alone + the top 2 together
  EXPECT_EQ(w.rows[8].label, "top 2 -50%");
  for (const hw::WhatIf& v : w.rows) {
    EXPECT_TRUE(v.fits) << v.label;
    for (const hw::PruneCut& c : v.cuts) EXPECT_LE(c.to, c.from / 2) << v.label;  // rounded down from N/2
  }
  // Halving the top-ranked layer's filters frees what binds: never slower than unpruned
  // (the unpruned folding of every other layer still fits).
  EXPECT_GE(w.rows[0].speedup, 1.0 - 1e-12) << hw::what_if_text(w);
  expect_error_naming([&] { hw::prune_what_if(d, cm, {1.0}); }, "(0, 1)");

  hw::GreedyOptions opt;
  opt.target_speedup = 1.2;
  opt.max_steps = 6;
  const hw::GreedyReport g = hw::greedy_prune(d, cm, opt);
  EXPECT_NEAR(g.base_fps, w.base_fps, 1e-9);
  EXPECT_LE(g.steps.size(), 6u);
  for (const hw::GreedyStep& s : g.steps) {
    EXPECT_LT(s.cut.to, s.cut.from);
    EXPECT_GE(2 * s.cut.to, d.layers[static_cast<size_t>(s.cut.layer)].out);  // min_keep 0.5
  }
  if (g.reached) {
    EXPECT_GE(g.steps.back().speedup, 1.2);
  }
  EXPECT_NE(hw::greedy_text(g, opt).find("Algorithm 3"), std::string::npos);
}

}  // namespace
}  // namespace lowbit
