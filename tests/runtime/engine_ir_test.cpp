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
#include "runtime/random_desc.hpp"
#include "test_util.hpp"

namespace lowbit {
namespace {

using format::LayerDesc;
using format::ModelDesc;
using testing::random_desc;

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
