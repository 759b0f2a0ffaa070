// The runtime against the IR's definition: random model descriptions (no training), packed
// by the runtime at load, give the scores of a plain interpreter (ir_reference.hpp) bit for
// bit: odd, even (doubled) and int8 weight codes, +-1 and k-bit codes (with and without a
// zero point, and window sums of sum pooling), padding with -1, 0
// and +1, strides, pooling, thresholds at INT32_MIN/MAX, dense-first and conv-first models,
// residual shortcuts, SYQ tap groups.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <thread>

#include "lowbit/core/error.hpp"
#include "lowbit/core/rng.hpp"
#include "lowbit/format/lbm.hpp"
#include "lowbit/format/model_desc.hpp"
#include "lowbit/runtime/engine.hpp"
#include "runtime/ir_reference.hpp"
#include "test_util.hpp"

namespace lowbit {
namespace {

using format::CodeFormat;
using format::LayerDesc;
using format::LayerKind;
using format::ModelDesc;

CodeFormat random_codes(Rng& rng) {
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
int32_t random_weight(Rng& rng, int kind) {
  switch (kind) {
    case 0: return rng.below(2) ? 1 : -1;
    case 1: return static_cast<int32_t>(rng.below(3)) - 1;
    case 2: return static_cast<int32_t>(2 * rng.below(4)) - 3;
    default: return static_cast<int32_t>(rng.below(255)) - 127;
  }
}

// Sorted thresholds per channel around the accumulator range, sometimes INT32_MIN/MAX.
void random_thresholds(LayerDesc& l, Rng& rng) {
  l.levels = l.output.levels();
  const int64_t range = std::max<int64_t>(1, l.in_fan() * l.max_abs_weight() * l.input.max_abs_value() / 4);
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

void fill_weights(LayerDesc& l, Rng& rng) {
  const int kind = static_cast<int>(rng.below(4));
  for (int64_t i = 0; i < l.out * l.in_fan(); ++i) l.weights.push_back(random_weight(rng, kind));
  for (int64_t o = 0; o < l.out; ++o) l.negated.push_back(static_cast<uint8_t>(rng.below(2)));
}

ModelDesc random_desc(uint64_t seed, bool conv) {
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
    fill_weights(l, rng);
    l.output = random_codes(rng);
    random_thresholds(l, rng);
    // A third of the other convolutions with SYQ tap groups: random groups and scales, float
    // thresholds around the range of their float sums.
    if (conv && !l.has_shortcut() && rng.below(3) == 0) {
      const int64_t taps = l.kernel_h * l.kernel_w;
      const int G = 1 + static_cast<int>(rng.below(static_cast<uint64_t>(taps)));
      for (int64_t t = 0; t < taps; ++t) l.tap_group.push_back(static_cast<int32_t>(rng.below(static_cast<uint64_t>(G))));
      for (int g = 0; g < G; ++g) l.group_scale.push_back(rng.uniform(0.01f, 2.f));
      const float range = static_cast<float>(l.in_fan() * l.max_abs_weight() * l.input.max_abs_value()) / 4;
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
  fill_weights(s, rng);
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

std::vector<uint8_t> random_pixels(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& p : v) p = static_cast<uint8_t>(rng.below(256));
  return v;
}

TEST(EngineIr, RandomDescriptionsEqualThePlainInterpreter) {
  int checked = 0, summed = 0, affine = 0, bytes = 0, shortcuts = 0, grouped = 0;
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    const bool conv = seed % 2 == 0;
    const ModelDesc d = random_desc(seed, conv);
    for (const LayerDesc& l : d.layers) {
      shortcuts += l.has_shortcut();
      grouped += l.grouped();
      summed += l.sum_pool.kernel != 0;
      affine += !l.input.pm1 && l.input.zero_point != 0;
    }
    SCOPED_TRACE("seed " + std::to_string(seed) + (conv ? " conv" : " dense"));
    runtime::EngineOptions opt;
    opt.threads = 1 + static_cast<int>(seed % 2);
    opt.chunk = 1 + static_cast<int64_t>(seed % 3);
    // Every hidden layer on codes on byte codes (1), this CPU's default split (0), or none (81):
    // speed only, the scores must not change.
    opt.byte_plane_product = std::array{1, 0, 81}[(seed / 3) % 3];
    runtime::Engine e = runtime::Engine::from_bytes(format::model_desc_bytes(d), "random.lbm", opt);
    const auto& info = e.info();
    for (const std::string& line : info.layers) bytes += line.find("byte output") != std::string::npos;
    const int64_t n = 5, size = info.channels * info.height * info.width;
    const std::vector<uint8_t> images = random_pixels(static_cast<size_t>(n * size), seed + 100);
    std::vector<float> scores(static_cast<size_t>(n * info.classes));
    std::vector<int32_t> pred(static_cast<size_t>(n));
    e.run(images.data(), n, info.channels, info.height, info.width, scores.data(), pred.data());
    for (int64_t i = 0; i < n; ++i) {
      const std::vector<float> want = testing::ir_reference(d, images.data() + i * size);
      ASSERT_EQ(static_cast<int64_t>(want.size()), info.classes);
      for (int64_t c = 0; c < info.classes; ++c)
        ASSERT_EQ(scores[static_cast<size_t>(i * info.classes + c)], want[static_cast<size_t>(c)]) << "image " << i << " class " << c;
      EXPECT_EQ(pred[static_cast<size_t>(i)], format::argmax_first(want.data(), info.classes));
    }
    ++checked;
  }
  EXPECT_EQ(checked, 60);
  EXPECT_GE(summed, 5);  // the draws do reach sum pooling and zero points
  EXPECT_GE(affine, 5);
  EXPECT_GE(bytes, 3);  // and layers the plan runs on byte codes (the integer GEMM)
  EXPECT_GE(shortcuts, 5);  // and residual shortcuts
  EXPECT_GE(grouped, 5);    // and SYQ tap groups
}

TEST(EngineIr, OptionsOutOfRangeAreErrors) {
  const std::vector<uint8_t> bytes = format::model_desc_bytes(random_desc(2, true));
  for (int product : {-1, 82}) {
    runtime::EngineOptions opt;
    opt.byte_plane_product = product;
    testing::expect_error_naming([&] { runtime::Engine::from_bytes(bytes, "random.lbm", opt); },
                                 "byte_plane_product " + std::to_string(product) + " outside 0..81");
  }
}

// One engine called from several threads at once gives each caller what a lone call gives.
TEST(EngineIr, ConcurrentCallsOnOneEngineTakeTurns) {
  const ModelDesc d = random_desc(8, true);
  runtime::EngineOptions opt;
  opt.threads = 2;
  opt.chunk = 2;
  runtime::Engine e = runtime::Engine::from_bytes(format::model_desc_bytes(d), "random.lbm", opt);
  const auto& info = e.info();
  const int64_t n = 7, size = info.channels * info.height * info.width;
  constexpr int kCallers = 4;
  std::vector<std::vector<uint8_t>> images;
  std::vector<std::vector<float>> alone;
  for (int t = 0; t < kCallers; ++t) {
    images.push_back(random_pixels(static_cast<size_t>(n * size), 500 + t));
    alone.emplace_back(static_cast<size_t>(n * info.classes));
    e.run(images[t].data(), n, info.channels, info.height, info.width, alone[t].data(), nullptr);
  }
  std::vector<int> mismatches(kCallers, 0);
  std::vector<std::thread> callers;
  for (int t = 0; t < kCallers; ++t)
    callers.emplace_back([&, t] {
      std::vector<float> scores(static_cast<size_t>(n * info.classes));
      for (int rep = 0; rep < 25; ++rep) {
        e.run(images[t].data(), n, info.channels, info.height, info.width, scores.data(), nullptr);
        mismatches[t] += scores != alone[t];
      }
    });
  for (auto& c : callers) c.join();
  for (int t = 0; t < kCallers; ++t) EXPECT_EQ(mismatches[t], 0) << "caller " << t;
}

// A description the reader accepts is written back unchanged (write/read round trip).
TEST(EngineIr, DescriptionsRoundTrip) {
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    const ModelDesc d = random_desc(seed, seed % 2 == 0);
    const std::vector<uint8_t> bytes = format::model_desc_bytes(d);
    const ModelDesc back = format::read_model_desc(format::LbmFile::parse(bytes.data(), bytes.size(), "m.lbm"));
    EXPECT_EQ(format::model_desc_bytes(back), bytes);
    ASSERT_EQ(back.layers.size(), d.layers.size());
    for (size_t i = 0; i < d.layers.size(); ++i) {
      EXPECT_EQ(back.layers[i].weights, d.layers[i].weights);
      EXPECT_EQ(back.layers[i].thresholds, d.layers[i].thresholds);
      EXPECT_EQ(back.layers[i].negated, d.layers[i].negated);
      EXPECT_EQ(back.layers[i].shortcut_from, d.layers[i].shortcut_from);
      EXPECT_EQ(back.layers[i].tap_group, d.layers[i].tap_group);
      EXPECT_EQ(back.layers[i].group_scale, d.layers[i].group_scale);
      EXPECT_EQ(back.layers[i].float_thresholds, d.layers[i].float_thresholds);
    }
  }
}

}  // namespace
}  // namespace lowbit
