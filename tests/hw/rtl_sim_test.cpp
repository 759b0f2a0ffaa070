// The generated Verilog (src/lowbit/hw/rtl_*.cpp, src/lowbit/hw/verilog/*.v) simulated
// against the runtime: tiny dense and conv networks with random weights and thresholds that
// cover every unit and folding edge (PE = 1, SIMD = 1, PE = MH, SIMD = MW, multi-bit
// thresholds, every pad value, stride 2, odd sizes, width converters), with and without
// random back-pressure; each unit's clocks measured alone against the cycle model.
// Icarus Verilog runs most (it builds in a second); Verilator runs some, as `hw sim` does.
#include <gtest/gtest.h>

#include <filesystem>

#include "data/data_files.hpp"
#include "lowbit/core/rng.hpp"
#include "lowbit/format/lbm.hpp"
#include "lowbit/hw/dataflow.hpp"
#include "lowbit/hw/folding.hpp"
#include "lowbit/hw/rtl_sim.hpp"
#include "lowbit/hw/rtl_writer.hpp"
#include "lowbit/runtime/engine.hpp"
#include "test_util.hpp"

namespace lowbit {
namespace {

using format::CodeFormat;
using format::LayerDesc;
using format::LayerKind;
using format::ModelDesc;

// A layer with random weights (+-1, or integers in [-wmax, wmax]) and, unless it scores,
// random ascending thresholds inside each row's accumulator range.
LayerDesc rand_layer(Rng& rng, LayerKind kind, int64_t h, int64_t w, int64_t c, int64_t out, CodeFormat in,
                     CodeFormat outc, bool scores, int wmax = 1) {
  LayerDesc l;
  l.kind = kind;
  l.name = cat(kind == LayerKind::kConv ? "conv2d@" : "dense@", rng.next_u64() % 100);
  l.in_h = h, l.in_w = w, l.in_c = c, l.out = out, l.input = in;
  if (kind == LayerKind::kConv) l.kernel_h = l.kernel_w = 3;
  l.weights.resize(static_cast<size_t>(out * l.in_fan()));
  for (int32_t& v : l.weights) {
    if (wmax == 1) v = rng.next_u64() % 2 ? 1 : -1;
    else v = static_cast<int32_t>(rng.next_u64() % (2 * wmax + 1)) - wmax;
  }
  l.negated.assign(static_cast<size_t>(out), 0);
  if (scores) {
    l.scores = true;
    l.score.scale.assign(static_cast<size_t>(out), 1.f);
    return l;
  }
  l.output = outc;
  l.levels = outc.levels();
  const int64_t vmax = std::max(std::abs(in.value(0)), std::abs(in.value(in.levels())));
  const int64_t span = std::max<int64_t>(1, l.in_fan() * wmax * vmax / 4);
  for (int64_t o = 0; o < out; ++o) {
    std::vector<int32_t> t;
    for (int k = 0; k < l.levels; ++k) t.push_back(static_cast<int32_t>(static_cast<int64_t>(rng.next_u64() % (2 * span + 1)) - span));
    std::sort(t.begin(), t.end());
    l.thresholds.insert(l.thresholds.end(), t.begin(), t.end());
  }
  return l;
}

ModelDesc with_input(ModelDesc d, std::vector<int64_t> shape, CodeFormat codes) {
  d.input.shape = std::move(shape);
  d.input.codes = codes;
  for (int p = 0; p < 256; ++p)  // identity for 8-bit codes, else a staircase of the levels
    d.input.table[static_cast<size_t>(p)] =
        codes.planes() == 8 ? static_cast<uint8_t>(p) : static_cast<uint8_t>(p * (codes.levels() + 1) / 256);
  return d;
}

struct Outcome {
  int64_t frames = 0, acc_same = 0, label_same = 0;
  std::vector<int64_t> label_cycles;  // the clock of every label
  std::vector<hw::StageTiming> stages;
};

// Generates the design of `d` folded by `fold`, simulates `frames` random images and
// compares with the runtime.
Outcome simulate(const ModelDesc& d, const std::function<void(hw::Graph&)>& fold, const std::string& simulator,
                 bool backpressure, int64_t frames, bool stages = false) {
  hw::Graph g = hw::build_graph(d);
  fold(g);
  const hw::RtlDesign r = hw::build_rtl(d, g);
  data::testing::TempDir tmp;
  const std::string dir = std::getenv("LOWBIT_KEEP_RTL") ? cat("/tmp/rtl_", d.name) : tmp.str();
  const std::vector<uint8_t> bytes = format::model_desc_bytes(d);
  hw::write_design_folder(r, dir, bytes, hw::folding_json(g).dump());
  const auto& s = d.input.shape;
  const int64_t C = s.size() == 3 ? s[0] : 1, H = s.size() == 3 ? s[1] : 1, W = s.size() == 3 ? s[2] : s[0];
  Rng rng(7);
  std::vector<uint8_t> images(static_cast<size_t>(frames * C * H * W));
  for (uint8_t& p : images) p = static_cast<uint8_t>(rng.next_u64());
  runtime::Engine e = runtime::Engine::from_bytes(bytes, d.name);
  std::vector<int32_t> pred(static_cast<size_t>(frames));
  e.run(images.data(), frames, C, H, W, nullptr, pred.data());
  const auto trace = e.trace(images.data(), frames, C, H, W);
  hw::SimOptions opt;
  opt.simulator = simulator, opt.backpressure = backpressure, opt.seed = 5;
  const hw::SimResult res = hw::simulate(r, dir, hw::input_stream(r, s, images.data(), frames, C, H, W), frames, opt);
  Outcome o;
  o.frames = frames;
  for (int64_t i = 0; i < frames; ++i) {
    bool same = true;
    for (int64_t c = 0; c < r.classes; ++c)
      same &= res.frames[static_cast<size_t>(i)].acc[static_cast<size_t>(c)] == trace.back()[static_cast<size_t>(i * r.classes + c)];
    o.acc_same += same;
    o.label_same += res.frames[static_cast<size_t>(i)].label == pred[static_cast<size_t>(i)];
    o.label_cycles.push_back(res.frames[static_cast<size_t>(i)].label_cycle);
  }
  if (stages) o.stages = hw::measure_stages(r, dir, opt);
  return o;
}

void set(hw::Graph& g, const std::string& name, int64_t pe, int64_t simd) {
  hw::Node* n = g.find(name);
  ASSERT_NE(n, nullptr) << name;
  if (n->has_pe()) n->pe = pe;
  if (n->has_simd()) n->simd = simd;
}

TEST(HwRtlSim, DenseXnorMatchesRuntime) {
  if (!testing::have_tool("iverilog")) GTEST_SKIP() << "iverilog not installed";
  Rng rng(1);
  const CodeFormat b = CodeFormat::plus_minus_one();
  ModelDesc d;
  d.name = "dense";
  d.layers.push_back(rand_layer(rng, LayerKind::kDense, 1, 1, 16, 8, b, b, false));
  d.layers.push_back(rand_layer(rng, LayerKind::kDense, 1, 1, 8, 4, b, b, true));
  d = with_input(d, {1, 4, 4}, b);
  const Outcome o = simulate(d, [](hw::Graph& g) { set(g, "MVAU_hls_0", 2, 4); }, "iverilog", false, 6);
  EXPECT_EQ(o.acc_same, o.frames);
  EXPECT_EQ(o.label_same, o.frames);
}

}  // namespace
}  // namespace lowbit

namespace lowbit {
namespace {

struct ConvSpec {
  int64_t out, k, stride, pad;
  int pad_value;
  bool pool;
};

// A conv net on a C x H x W input: the convs of `convs`, then a dense score layer of
// `classes`. The first layer reads `first` codes (8-bit: no input quantizer unit), the
// others `act`; weights +-1 (wmax 1) or integers in [-wmax, wmax].
ModelDesc conv_net(const std::string& name, uint64_t seed, std::vector<int64_t> shape, CodeFormat first, CodeFormat act,
                   int wmax, const std::vector<ConvSpec>& convs, int64_t classes) {
  Rng rng(seed);
  ModelDesc d;
  d.name = name;
  int64_t c = shape[0], h = shape[1], w = shape[2];
  for (const ConvSpec& s : convs) {
    LayerDesc l = rand_layer(rng, LayerKind::kConv, h, w, c, s.out, d.layers.empty() ? first : act, act, false, wmax);
    l.kernel_h = l.kernel_w = s.k;
    l.stride = s.stride, l.pad_h = l.pad_w = s.pad, l.pad_value = s.pad_value;
    // thresholds for the smaller fan-in of k x k
    LayerDesc t = rand_layer(rng, LayerKind::kConv, h, w, c, s.out, l.input, act, false, wmax);
    l.thresholds.clear();
    const int64_t span = std::max<int64_t>(1, s.k * s.k * c * wmax / 3);
    for (int64_t o = 0; o < s.out; ++o) {
      std::vector<int32_t> v;
      for (int k = 0; k < l.levels; ++k) v.push_back(static_cast<int32_t>(static_cast<int64_t>(rng.next_u64() % (2 * span + 1)) - span));
      std::sort(v.begin(), v.end());
      l.thresholds.insert(l.thresholds.end(), v.begin(), v.end());
    }
    if (s.pool) l.pool = {2, 2};
    d.layers.push_back(l);
    c = s.out, h = l.pooled_h(), w = l.pooled_w();
  }
  d.layers.push_back(rand_layer(rng, LayerKind::kDense, h, w, c, classes, act, act, true, wmax));
  return with_input(d, std::move(shape), first);
}

// Every unit alone within max(15 clocks, 1%) of the cycle model.
void expect_cycles_match(const std::vector<hw::StageTiming>& stages) {
  for (const hw::StageTiming& t : stages) {
    EXPECT_LE(std::abs(t.latency() - t.estimate), std::max<int64_t>(15, t.estimate / 100))
        << t.name << ": measured " << t.latency() << ", estimate " << t.estimate;
    EXPECT_LE(t.interval(), t.estimate + std::max<int64_t>(1, t.estimate / 100)) << t.name;
  }
}

TEST(HwRtlSim, BinaryConvEveryPadValueMatchesRuntimeInBothSimulators) {
  if (!testing::have_tool("verilator") || !testing::have_tool("iverilog")) GTEST_SKIP() << "verilator or iverilog not installed";
  const CodeFormat b = CodeFormat::plus_minus_one();
  // pad -1 (FINN's), pad 0 (INT2 stream), pad +1 with stride 2; pooling; odd sizes.
  const ModelDesc d = conv_net("bconv", 3, {2, 11, 11}, b, b, 1,
                               {{4, 3, 1, 1, -1, false}, {6, 3, 1, 1, 0, false}, {4, 3, 2, 1, 1, false}, {2, 3, 1, 1, 0, true}}, 3);
  auto fold = [](hw::Graph& g) {
    set(g, "Thresholding_hls_0", 2, 1);       // PE = channels
    set(g, "FMPadding_hls_0", 1, 2);          // SIMD = channels
    set(g, "ConvolutionInputGenerator_hls_0", 1, 1);
    set(g, "MVAU_hls_0", 4, 18);              // PE = MH, SIMD = MW
    set(g, "FMPadding_hls_1", 1, 4);
    set(g, "ConvolutionInputGenerator_hls_1", 1, 2);
    set(g, "MVAU_hls_1", 3, 4);
    set(g, "MVAU_hls_2", 2, 6);
    set(g, "MVAU_hls_3", 1, 1);               // PE = SIMD = 1
  };
  const Outcome o = simulate(d, fold, "verilator", false, 5, /*stages=*/true);
  EXPECT_EQ(o.acc_same, o.frames);
  EXPECT_EQ(o.label_same, o.frames);
  expect_cycles_match(o.stages);
  // Icarus Verilog runs the same testbench: the same outputs at the same clocks.
  const Outcome i = simulate(d, fold, "iverilog", false, 5);
  EXPECT_EQ(i.acc_same, i.frames);
  EXPECT_EQ(i.label_cycles, o.label_cycles);
}

TEST(HwRtlSim, MultiBitConvMatchesRuntime) {
  if (!testing::have_tool("verilator")) GTEST_SKIP() << "verilator not installed";
  // 8-bit input codes with a zero point straight into the first MVAU, 2-bit activations
  // (3 thresholds), 2-bit weights, zero padding of unsigned codes, pooling of 2-bit levels.
  const CodeFormat pixel = CodeFormat::unsigned_bits(8, 128), a2 = CodeFormat::unsigned_bits(2);
  const ModelDesc d = conv_net("mconv", 4, {1, 8, 8}, pixel, a2, 2, {{4, 3, 1, 1, 0, true}, {6, 3, 1, 0, 0, false}}, 4);
  const Outcome o = simulate(d, [](hw::Graph& g) {
    set(g, "ConvolutionInputGenerator_hls_0", 1, 1);
    set(g, "MVAU_hls_0", 2, 9);
    set(g, "MVAU_hls_1", 3, 4);
    set(g, "MVAU_hls_2", 4, 6);
  }, "verilator", false, 5, /*stages=*/true);
  EXPECT_EQ(o.acc_same, o.frames);
  EXPECT_EQ(o.label_same, o.frames);
  expect_cycles_match(o.stages);
}

TEST(HwRtlSim, TernaryWeightsAndTwoBitInputQuantizer) {
  if (!testing::have_tool("iverilog")) GTEST_SKIP() << "iverilog not installed";
  // A 2-bit input quantizer (3 thresholds on the pixels), ternary weights, dense layers.
  const CodeFormat a2 = CodeFormat::unsigned_bits(2, 1);
  Rng rng(9);
  ModelDesc d;
  d.name = "ternary";
  d.layers.push_back(rand_layer(rng, LayerKind::kDense, 1, 1, 12, 6, a2, a2, false, 1));
  for (int32_t& w : d.layers[0].weights) w = static_cast<int32_t>(rng.next_u64() % 3) - 1;
  d.layers.push_back(rand_layer(rng, LayerKind::kDense, 1, 1, 6, 5, a2, a2, true, 1));
  d = with_input(d, {3, 2, 2}, a2);
  const Outcome o = simulate(d, [](hw::Graph& g) {
    set(g, "Thresholding_hls_0", 3, 1);
    set(g, "MVAU_hls_0", 3, 4);
    set(g, "MVAU_hls_1", 5, 3);
  }, "iverilog", false, 8, /*stages=*/true);
  EXPECT_EQ(o.acc_same, o.frames);
  EXPECT_EQ(o.label_same, o.frames);
  expect_cycles_match(o.stages);
}

TEST(HwRtlSim, BackPressureChangesNothingInVerilator) {
  if (!testing::have_tool("verilator")) GTEST_SKIP() << "verilator not installed";
  const CodeFormat b = CodeFormat::plus_minus_one();
  const ModelDesc d = conv_net("bpconv", 5, {1, 8, 8}, b, b, 1, {{4, 3, 1, 1, 0, true}, {4, 3, 1, 0, 0, false}}, 3);
  auto fold = [](hw::Graph& g) {
    set(g, "MVAU_hls_0", 2, 3);
    set(g, "MVAU_hls_1", 4, 4);
    set(g, "MVAU_hls_2", 1, 4);
  };
  const Outcome plain = simulate(d, fold, "verilator", false, 12);
  const Outcome stalled = simulate(d, fold, "verilator", true, 12);
  EXPECT_EQ(plain.acc_same, plain.frames);
  EXPECT_EQ(stalled.acc_same, stalled.frames);
  EXPECT_EQ(stalled.label_same, stalled.frames);
}

}  // namespace
}  // namespace lowbit

namespace lowbit {
namespace {

TEST(HwRtl, LabelSelectRanksTheScoresOnlyWhenClassesDiffer) {
  Rng rng(4);
  const CodeFormat b = CodeFormat::plus_minus_one();
  ModelDesc d;
  d.name = "ranks";
  d.layers.push_back(rand_layer(rng, LayerKind::kDense, 1, 1, 8, 4, b, b, true));
  d = with_input(d, {1, 2, 4}, b);
  hw::RtlDesign r = hw::build_rtl(d, hw::build_graph(d));
  EXPECT_FALSE(r.label_rom);  // one scale for every class: the accumulators are the order
  EXPECT_EQ(r.acc_bits, 5);   // [-8, 8] and the thresholds' +1: 5-bit two's complement
  d.layers[0].score.scale = {0.5f, 0.25f, 0.5f, 1.f};
  r = hw::build_rtl(d, hw::build_graph(d));
  ASSERT_TRUE(r.label_rom);
  const hw::MemImage& rom = r.mems.back();
  EXPECT_EQ(rom.file, "LabelSelect_hls_0_ranks.mem");
  EXPECT_EQ(rom.lines.size(), 4u * 17u);  // classes x accumulator values -8..8
  // Class 3's score 1.0 * acc is the largest at acc = 8: the highest rank; class 1 at -8 is
  // tied with nothing lower than class 3 at -8.
  auto rank = [&](int c, int acc) { return std::stoi(rom.lines[static_cast<size_t>(c * 17 + acc + 8)], nullptr, 16); };
  EXPECT_GT(rank(3, 8), rank(0, 8));
  EXPECT_EQ(rank(0, 4), rank(2, 4));  // equal scores, equal ranks
  EXPECT_EQ(rank(0, 2), rank(3, 1));  // 0.5 * 2 == 1.0 * 1
  EXPECT_LT(rank(3, -8), rank(1, -8));
}

TEST(HwRtl, UnitsWithoutAnRtlFormAreNamed) {
  Rng rng(6);
  const CodeFormat a2 = CodeFormat::unsigned_bits(2);
  // A pad value no 2-bit code holds.
  ModelDesc d = conv_net("badpad", 1, {1, 6, 6}, CodeFormat::unsigned_bits(8), a2, 1, {{2, 3, 1, 1, 0, false}, {2, 3, 1, 1, 0, false}}, 2);
  d.layers[1].pad_value = 5;
  testing::expect_error_naming([&] { hw::build_rtl(d, hw::build_graph(d)); }, "pad value 5 has no 2-bit code");
  // A folding the graph does not take.
  d.layers[1].pad_value = 0;
  hw::Graph g = hw::build_graph(d);
  g.find("MVAU_hls_0")->pe = 3;
  testing::expect_error_naming([&] { hw::build_rtl(d, g); }, "PE 3 does not divide MH 2");
}

}  // namespace
}  // namespace lowbit
