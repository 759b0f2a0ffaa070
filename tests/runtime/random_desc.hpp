// Random model descriptions (format::ModelDesc, no training) for the runtime's tests:
// dense-first and conv-first models of 1..3 hidden layers on +-1, 2-bit and k-bit codes
// (with and without zero points), odd, even (doubled) and int8 weight codes, padding with
// -1, 0 and +1, strides, max pooling, sum pooling, residual shortcuts and SYQ tap groups,
// thresholds around each layer's accumulator range (sometimes INT32_MIN/MAX), and a score
// layer. The same seed gives the same description.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "lowbit/core/rng.hpp"
#include "lowbit/format/model_desc.hpp"

namespace lowbit::testing {

using format::CodeFormat;
using format::LayerDesc;
using format::LayerKind;
using format::ModelDesc;

struct RandomDescOptions {
  // >= 0: every layer's weights ternary ({-1, 0, +1}) with this fraction of zeros (the
  // sparse ternary GEMM's layers), and thresholds drawn around the range of the sums the
  // nonzeros can give. < 0: the mixed weight kinds below.
  double ternary_zeros = -1;
};

inline CodeFormat random_codes(Rng& rng) {
  switch (rng.below(4)) {
    case 0:
    case 1: return CodeFormat::plus_minus_one();
    case 2: return CodeFormat::unsigned_bits(2);
    default: {
      const int bits = 1 + static_cast<int>(rng.below(8));
      // Half of them with a zero point (int:k's affine codes: value = level - Z).
      const int zero_point = rng.below(2) ? static_cast<int>(rng.below(uint64_t{1} << bits)) : 0;
      return CodeFormat::unsigned_bits(bits, zero_point);
    }
  }
}

// Weight codes of one kind: +-1, ternary, odd (DoReFa-2), int8-range (even codes included).
inline int32_t random_weight(Rng& rng, int kind) {
  switch (kind) {
    case 0: return rng.below(2) ? 1 : -1;
    case 1: return static_cast<int32_t>(rng.below(3)) - 1;
    case 2: return static_cast<int32_t>(2 * rng.below(4)) - 3;
    default: return static_cast<int32_t>(rng.below(255)) - 127;
  }
}

// The scale of a layer's accumulators the thresholds are drawn around: K max|w| max|x| / 4,
// or for sparse weights (opt.ternary_zeros) the largest sum_k |W[o][k]| max|x| / 4.
inline int64_t accumulator_range(const LayerDesc& l, const RandomDescOptions& opt) {
  if (opt.ternary_zeros < 0) return std::max<int64_t>(1, l.in_fan() * l.max_abs_weight() * l.input.max_abs_value() / 4);
  int64_t most = 0;
  for (int64_t o = 0; o < l.out; ++o) {
    int64_t sum = 0;
    for (int64_t k = 0; k < l.in_fan(); ++k) sum += std::abs(l.weight(o, k));
    most = std::max(most, sum);
  }
  return std::max<int64_t>(1, most * l.input.max_abs_value() / 4);
}

// Sorted thresholds per channel around the accumulator range, sometimes INT32_MIN/MAX.
inline void random_thresholds(LayerDesc& l, Rng& rng, const RandomDescOptions& opt = {}) {
  l.levels = l.output.levels();
  const int64_t range = accumulator_range(l, opt);
  for (int64_t set = 0; set < l.out * l.threshold_sets(); ++set) {  // per channel, per shortcut level
    std::vector<int32_t> t;
    for (int k = 0; k < l.levels; ++k) {
      const uint64_t r = rng.below(20);
      t.push_back(r == 0 ? INT32_MIN : r == 1 ? INT32_MAX : static_cast<int32_t>(static_cast<int64_t>(rng.below(2 * range + 1)) - range));
    }
    std::sort(t.begin(), t.end());
    l.thresholds.insert(l.thresholds.end(), t.begin(), t.end());
  }
}

inline void fill_weights(LayerDesc& l, Rng& rng, const RandomDescOptions& opt = {}) {
  const int kind = static_cast<int>(rng.below(4));
  for (int64_t i = 0; i < l.out * l.in_fan(); ++i)
    l.weights.push_back(opt.ternary_zeros < 0             ? random_weight(rng, kind)
                        : rng.uniform(0.f, 1.f) < opt.ternary_zeros ? 0
                        : rng.below(2)                               ? 1
                                                                     : -1);
  for (int64_t o = 0; o < l.out; ++o) l.negated.push_back(static_cast<uint8_t>(rng.below(2)));
}

inline ModelDesc random_desc(uint64_t seed, bool conv, const RandomDescOptions& opt = {}) {
  Rng rng(seed);
  ModelDesc d;
  d.name = "random";
  const int64_t C = 1 + static_cast<int64_t>(rng.below(3)), H = 5 + static_cast<int64_t>(rng.below(5)),
                W = 5 + static_cast<int64_t>(rng.below(5));
  d.input.shape = conv || rng.below(2) ? std::vector<int64_t>{C, H, W} : std::vector<int64_t>{C * H * W};
  d.input.codes = random_codes(rng);
  const int max_level = d.input.codes.pm1 ? 1 : d.input.codes.levels();
  const bool identity = !d.input.codes.pm1 && d.input.codes.bits == 8 && rng.below(2);
  for (int p = 0; p < 256; ++p)
    d.input.table[static_cast<size_t>(p)] = static_cast<uint8_t>(identity ? p : rng.below(static_cast<uint64_t>(max_level) + 1));
  std::array<int64_t, 3> map = conv ? std::array<int64_t, 3>{H, W, C} : std::array<int64_t, 3>{1, 1, C * H * W};
  CodeFormat codes = d.input.codes;
  const int hidden = conv ? 1 + static_cast<int>(rng.below(3)) : static_cast<int>(rng.below(4));
  for (int i = 0; i < hidden; ++i) {
    LayerDesc l;
    l.name = "hidden";
    l.in_h = map[0], l.in_w = map[1], l.in_c = map[2];
    l.input = codes;
    l.out = 1 + static_cast<int64_t>(rng.below(70));
    // Half the layers after the first keep their input's map (a residual body's shape) and
    // take a shortcut from a layer whose input map is theirs.
    const bool residual = i >= 1 && rng.below(2) && (!conv || l.in_h >= 3);
    if (residual) {
      l.out = l.in_c;
      l.kind = conv ? LayerKind::kConv : LayerKind::kDense;
      if (conv) {
        l.kernel_h = l.kernel_w = rng.below(2) ? 3 : 1;
        l.pad_h = l.pad_w = l.kernel_h / 2;
        if (codes.pm1 && codes.count == 1 && l.pad_h) l.pad_value = static_cast<int>(rng.below(3)) - 1;
      }
      std::vector<int> from;
      for (int j = 1; j <= i; ++j) {
        const LayerDesc& f = j == i ? l : d.layers[static_cast<size_t>(j)];
        if (f.in_h == l.pooled_h() && f.in_w == l.pooled_w() && f.in_c == l.out && f.input.count == 1) from.push_back(j);
      }
      if (!from.empty()) {
        l.shortcut_from = from[rng.below(from.size())];
        l.shortcut = l.shortcut_from == i ? l.input : d.layers[static_cast<size_t>(l.shortcut_from)].input;
      }
    } else if (conv) {
      l.kind = LayerKind::kConv;
      l.kernel_h = 1 + static_cast<int64_t>(rng.below(3)), l.kernel_w = 1 + static_cast<int64_t>(rng.below(3));
      l.kernel_h = std::min(l.kernel_h, l.in_h), l.kernel_w = std::min(l.kernel_w, l.in_w);
      l.stride = 1 + static_cast<int64_t>(rng.below(2));
      l.pad_h = static_cast<int64_t>(rng.below(static_cast<uint64_t>(l.kernel_h)));
      l.pad_w = static_cast<int64_t>(rng.below(static_cast<uint64_t>(l.kernel_w)));
      if (codes.pm1 && codes.count == 1 && (l.pad_h || l.pad_w)) l.pad_value = static_cast<int>(rng.below(3)) - 1;
      if (l.conv_h() >= 2 && l.conv_w() >= 2 && rng.below(2)) l.pool = {2, 1 + static_cast<int64_t>(rng.below(2))};
    } else {
      l.kind = LayerKind::kDense;
    }
    if (l.has_shortcut() && l.shortcut.levels() > 3 && rng.below(2)) {  // keep the tables small
      l.shortcut_from = -1;
      l.shortcut = {};
    }
    fill_weights(l, rng, opt);
    l.output = random_codes(rng);
    random_thresholds(l, rng, opt);
    // A third of the other convolutions with SYQ tap groups: random groups and scales, float
    // thresholds around the range of their float sums.
    if (conv && !l.has_shortcut() && rng.below(3) == 0) {
      const int64_t taps = l.kernel_h * l.kernel_w;
      const int G = 1 + static_cast<int>(rng.below(static_cast<uint64_t>(taps)));
      for (int64_t t = 0; t < taps; ++t) l.tap_group.push_back(static_cast<int32_t>(rng.below(static_cast<uint64_t>(G))));
      for (int g = 0; g < G; ++g) l.group_scale.push_back(rng.uniform(0.01f, 2.f));
      const float range = static_cast<float>(accumulator_range(l, opt));
      for (int64_t o = 0; o < l.out; ++o) {
        std::vector<float> t;
        for (int k = 0; k < l.levels; ++k) t.push_back(rng.uniform(-range, range));
        std::sort(t.begin(), t.end());
        l.float_thresholds.insert(l.float_thresholds.end(), t.begin(), t.end());
      }
      l.thresholds.clear();
    }
    // Sometimes sum pooling of the output codes (average pooling's window sums), when the
    // sums fit the format's 8 planes.
    if (conv && l.pooled_h() >= 2 && l.pooled_w() >= 2 && rng.below(3) == 0 && l.output.summed(4).planes() <= 8)
      l.sum_pool = {2, 1 + static_cast<int64_t>(rng.below(2))};
    map = {l.out_h(), l.out_w(), l.out};
    codes = l.out_codes();
    d.layers.push_back(l);
  }
  LayerDesc s;
  s.name = "scores";
  s.in_h = map[0], s.in_w = map[1], s.in_c = map[2];
  s.input = codes;
  s.out = 2 + static_cast<int64_t>(rng.below(10));
  fill_weights(s, rng, opt);
  s.scores = true;
  for (int64_t o = 0; o < s.out; ++o) {
    s.score.scale.push_back(rng.uniform(0.001f, 0.1f));
    if (seed % 2) s.score.bias.push_back(rng.uniform(-1.f, 1.f));
    if (seed % 3) {
      s.score.bn_mean.push_back(rng.uniform(-1.f, 1.f));
      s.score.bn_scale.push_back(rng.uniform(-2.f, 2.f));
      s.score.bn_shift.push_back(rng.uniform(-1.f, 1.f));
    }
  }
  d.layers.push_back(s);
  return d;
}

}  // namespace lowbit::testing
