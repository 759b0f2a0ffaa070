// Small deployment IRs that cover every part the ONNX writers lower (docs/INTEROP.md): each
// input form (binary step, 8-bit identity with and without a zero point, a general table),
// dense and conv layers, every pad value, max pooling, sum pooling, +-1 / ternary / integer
// weights, 1- and 2-bit activations with zero points, and a score map with bias and
// BatchNorm. Random weights and thresholds inside each accumulator's range (plus the
// always / never sentinels), so every level is reached. Shared by the writer, evaluator
// and import tests.
#pragma once
#include <algorithm>
#include <climits>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/core/rng.hpp"
#include "lowbit/format/model_desc.hpp"

namespace lowbit::testing {

struct InteropLayer {
  format::LayerKind kind = format::LayerKind::kDense;
  int64_t out = 8;
  format::CodeFormat output = format::CodeFormat::plus_minus_one();  // ignored by the scoring layer
  int wmax = 1;                 // weights +-1 when 1 and `bipolar`, else integers in [-wmax, wmax]
  bool bipolar = true;
  int64_t kernel = 3, stride = 1, pad = 0;
  int pad_value = 0;
  int64_t pool = 0, sum_pool = 0;
};

// A chain of layers on an input [C, H, W] with the given input codes and table kind:
// "step" (binary: pixel >= 128), "identity" (8-bit codes = pixel), "table" (a monotone
// staircase into the codes' levels).
inline format::ModelDesc interop_model(const std::string& name, std::vector<int64_t> shape, format::CodeFormat codes,
                                       const std::string& table, const std::vector<InteropLayer>& spec, uint64_t seed) {
  Rng rng(seed);
  format::ModelDesc d;
  d.name = name;
  d.input.shape = shape;
  d.input.codes = codes;
  const int levels = codes.levels();
  for (int p = 0; p < 256; ++p) {
    int l = table == "step" ? (p >= 128) : table == "identity" ? p : (p * (levels + 1)) / 256;
    d.input.table[static_cast<size_t>(p)] = static_cast<uint8_t>(std::min(l, levels));
  }
  auto first = spec.front().kind;
  auto map = format::input_map(shape, first);
  int64_t h = map[0], w = map[1], c = map[2];
  format::CodeFormat in = codes;
  for (size_t i = 0; i < spec.size(); ++i) {
    const InteropLayer& s = spec[i];
    format::LayerDesc l;
    l.kind = s.kind;
    l.name = cat(s.kind == format::LayerKind::kConv ? "conv2d@" : "dense@", i);
    if (s.kind == format::LayerKind::kDense) {
      l.in_h = h, l.in_w = w, l.in_c = c;
    } else {
      l.in_h = h, l.in_w = w, l.in_c = c;
      l.kernel_h = l.kernel_w = s.kernel;
      l.stride = s.stride;
      l.pad_h = l.pad_w = s.pad;
      l.pad_value = s.pad_value;
      l.pool = {s.pool, s.pool};
    }
    l.out = s.out;
    l.input = in;
    l.weights.resize(static_cast<size_t>(l.out * l.in_fan()));
    for (int32_t& v : l.weights)
      v = s.bipolar ? (rng.next_u64() % 2 ? 1 : -1) : static_cast<int32_t>(rng.next_u64() % (2 * s.wmax + 1)) - s.wmax;
    l.negated.assign(static_cast<size_t>(l.out), 0);
    for (int64_t o = 0; o < l.out; o += 3) l.negated[static_cast<size_t>(o)] = 1;
    const bool last = i + 1 == spec.size();
    if (last) {
      l.scores = true;
      for (int64_t o = 0; o < l.out; ++o) {
        l.score.scale.push_back(rng.uniform(0.01f, 0.2f));
        l.score.bias.push_back(rng.uniform(-1.f, 1.f));
        l.score.bn_mean.push_back(rng.uniform(-1.f, 1.f));
        l.score.bn_scale.push_back(rng.uniform(0.5f, 2.f));
        l.score.bn_shift.push_back(rng.uniform(-0.5f, 0.5f));
      }
    } else {
      l.output = s.output;
      l.levels = s.output.levels();
      const int64_t vmax = std::max<int64_t>(in.max_abs_value(), std::abs(s.pad_value));
      const int64_t wm = s.bipolar ? 1 : s.wmax;
      const int64_t span = std::max<int64_t>(1, l.in_fan() * wm * vmax / 6);
      for (int64_t o = 0; o < l.out; ++o) {
        std::vector<int32_t> t;
        for (int k = 0; k < l.levels; ++k) {
          int64_t r = static_cast<int64_t>(rng.next_u64() % (2 * span + 1)) - span;
          if (o == 1 && k == 0) r = INT32_MIN;                  // always reached
          if (o == 2 && k == l.levels - 1) r = INT32_MAX;       // never reached
          t.push_back(static_cast<int32_t>(r));
        }
        std::sort(t.begin(), t.end());
        l.thresholds.insert(l.thresholds.end(), t.begin(), t.end());
      }
      if (s.sum_pool) l.sum_pool = {s.sum_pool, s.sum_pool};
    }
    h = l.out_h(), w = l.out_w(), c = l.out;
    in = last ? in : l.out_codes();
    d.layers.push_back(std::move(l));
  }
  format::validate(d);
  return d;
}

// The cases: name and description.
inline std::vector<std::pair<std::string, format::ModelDesc>> interop_models() {
  using format::CodeFormat;
  using K = format::LayerKind;
  std::vector<std::pair<std::string, format::ModelDesc>> v;
  // LFC-like: binary input, dense +-1 layers.
  v.emplace_back("dense_binary_input",
                 interop_model("lfc_tiny", {1, 6, 5}, CodeFormat::plus_minus_one(), "step",
                               {{K::kDense, 16}, {K::kDense, 12}, {K::kDense, 10}}, 1));
  // CNV-like: 8-bit identity input, integer weights first, then +-1; pads of 0 and -1 and +1,
  // max pooling, a dense layer after a conv.
  InteropLayer c0{K::kConv, 8};
  c0.bipolar = true;
  c0.pad = 1;
  InteropLayer c1{K::kConv, 8};
  c1.pad = 1, c1.pad_value = -1, c1.pool = 2;
  InteropLayer c2{K::kConv, 6};
  c2.pad = 1, c2.pad_value = 1, c2.stride = 2;
  v.emplace_back("conv_8bit_input",
                 interop_model("cnv_tiny", {1, 9, 9}, CodeFormat::unsigned_bits(8), "identity",
                               {c0, c1, c2, {K::kDense, 10}}, 2));
  // W2A2 with zero points: 8-bit input with zero point 128, ternary and 2-bit weights,
  // 2-bit activations (zero point 1, values -1..2) by MultiThreshold.
  InteropLayer a0{K::kConv, 8, CodeFormat::unsigned_bits(2, 1), 1, false};
  InteropLayer a1{K::kConv, 8, CodeFormat::unsigned_bits(2, 1), 2, false};
  a1.pool = 2;
  InteropLayer a2{K::kDense, 12, CodeFormat::unsigned_bits(2, 0), 1, false};
  v.emplace_back("conv_w2a2", interop_model("w2a2_tiny", {2, 10, 10}, CodeFormat::unsigned_bits(8, 128), "identity",
                                            {a0, a1, a2, {K::kDense, 10, {}, 2, false}}, 3));
  // A general input table (3-bit codes), sum pooling of +-1 codes.
  InteropLayer s0{K::kConv, 6};
  s0.pad = 1;
  s0.sum_pool = 2;
  v.emplace_back("sum_pool_table_input",
                 interop_model("sum_tiny", {1, 8, 8}, CodeFormat::unsigned_bits(3), "table", {s0, {K::kDense, 10}}, 4));
  return v;
}

// Parts the QONNX importer does not read back: SYQ's grouped tap scales (row groups:
// tap (ky, kx) -> group ky) with float thresholds, and a residual shortcut closing on its
// own input (two threshold sets, one per level of the +-1 shortcut map).
inline std::vector<std::pair<std::string, format::ModelDesc>> interop_models_export_only() {
  using format::CodeFormat;
  using K = format::LayerKind;
  std::vector<std::pair<std::string, format::ModelDesc>> v;
  Rng rng(11);
  {
    InteropLayer c0{K::kConv, 8};
    c0.pad = 1;
    InteropLayer c1{K::kConv, 6, CodeFormat::unsigned_bits(2)};
    c1.pad = 1, c1.pad_value = -1, c1.pool = 2;
    format::ModelDesc d = interop_model("syq_tiny", {1, 8, 8}, CodeFormat::plus_minus_one(), "step",
                                        {c0, c1, {K::kDense, 10}}, 7);
    format::LayerDesc& l = d.layers[1];
    l.tap_group = {0, 0, 0, 1, 1, 1, 2, 2, 2};
    l.group_scale = {0.75f, 1.25f, 0.5f};
    l.float_thresholds.clear();
    for (int64_t o = 0; o < l.out; ++o) {
      std::vector<float> t;
      for (int k = 0; k < l.levels; ++k) t.push_back(rng.uniform(-20.f, 20.f));
      std::sort(t.begin(), t.end());
      if (o == 1) t[0] = -std::numeric_limits<float>::infinity();
      if (o == 2) t.back() = std::numeric_limits<float>::infinity();
      l.float_thresholds.insert(l.float_thresholds.end(), t.begin(), t.end());
    }
    l.thresholds.clear();
    format::validate(d);
    v.emplace_back("syq_row_groups", d);
  }
  {
    InteropLayer c0{K::kConv, 8};
    c0.pad = 1;
    InteropLayer c1{K::kConv, 8};
    c1.pad = 1, c1.pad_value = -1;
    format::ModelDesc d = interop_model("residual_tiny", {1, 8, 8}, CodeFormat::plus_minus_one(), "step",
                                        {c0, c1, {K::kDense, 10}}, 8);
    format::LayerDesc& l = d.layers[1];
    l.shortcut_from = 1;
    l.shortcut = l.input;
    std::vector<int32_t> t;
    for (int64_t o = 0; o < l.out; ++o)
      for (int s = 0; s < 2; ++s) t.push_back(static_cast<int32_t>(rng.below(41)) - 20 + (s ? -6 : 6));
    l.thresholds = t;
    format::validate(d);
    v.emplace_back("residual_shortcut", d);
  }
  return v;
}

}  // namespace lowbit::testing
