// The sparse ternary GEMM in the runtime (runtime/sparse_gemm.cpp): forced on, it gives
// the dense implementations' accumulators, fused codes and, on random ternary models
// (dense and conv: padding, strides, pooling, sum pooling, shortcuts, tap groups, byte
// codes), the same scores and predictions as forced off and as the IR's interpreter, at
// 0% to 100% zeros; and the plan's rule takes it only from kSparseMinZeros zeros up.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <string>
#include <vector>

#include "lowbit/core/rng.hpp"
#include "lowbit/format/lbm.hpp"
#include "lowbit/format/model_desc.hpp"
#include "lowbit/kernels/bit_gemm.hpp"
#include "lowbit/runtime/engine.hpp"
#include "lowbit/runtime/gemm.hpp"
#include "lowbit/runtime/plan.hpp"
#include "runtime/ir_reference.hpp"
#include "runtime/random_desc.hpp"

namespace lowbit {
namespace {

using format::CodeFormat;
using format::LayerDesc;
using runtime::GemmInput;
using runtime::GemmProblem;
using runtime::SparseGemm;

LayerDesc ternary_layer(Rng& rng, int64_t in_h, int64_t in_w, int64_t c, int64_t kernel, int64_t out, CodeFormat input,
                        double zeros) {
  LayerDesc l;
  l.kind = kernel ? format::LayerKind::kConv : format::LayerKind::kDense;
  l.in_h = in_h, l.in_w = in_w, l.in_c = c, l.out = out, l.input = input;
  if (kernel) l.kernel_h = l.kernel_w = kernel;
  for (int64_t i = 0; i < out * l.in_fan(); ++i) l.weights.push_back(rng.uniform(0.f, 1.f) < zeros ? 0 : rng.below(2) ? 1 : -1);
  return l;
}

// Both implementations on one operand (rows of the layer's packed layout, or byte rows):
// the sparse GEMM takes the dense one's shift and gives its accumulators, and with
// thresholds (scaled by that shift, as the plan scales them) its fused codes.
TEST(SparseGemm, AccumulatorsAndFusedCodesEqualTheDensePaths) {
  Rng rng(21);
  int checked = 0;
  for (CodeFormat input : {CodeFormat::plus_minus_one(), CodeFormat::unsigned_bits(2), CodeFormat::unsigned_bits(3, 2),
                           CodeFormat::plus_minus_one().summed(4), CodeFormat::unsigned_bits(8, 128)})
    for (double zeros : {0.0, 0.5, 0.95, 1.0})
      for (int64_t kernel : {0, 3}) {
        const LayerDesc l = ternary_layer(rng, kernel ? 3 : 1, kernel ? 3 : 1, 67, kernel, 70, input, zeros);
        const int64_t K = l.in_fan(), M = l.out, rows = 67, words = l.window_h() * l.window_w() * kernels::packed_words(67);
        // Random rows with the gap bits of each pixel's last word 0 (the bit GEMMs' contract).
        const int64_t cw = kernels::packed_words(67);
        std::vector<uint64_t> bits(static_cast<size_t>(input.planes() * rows * words));
        for (size_t i = 0; i < bits.size(); ++i) bits[i] = static_cast<int64_t>(i) % cw == cw - 1 ? rng.next_u64() & 7 : rng.next_u64();
        std::vector<uint8_t> codes(static_cast<size_t>(rows * K));
        for (auto& v : codes) v = static_cast<uint8_t>(rng.below(static_cast<uint64_t>(input.levels()) + 1));
        const GemmInput a{bits.data(), codes.data()};
        for (bool byte_codes : {false, true}) {
          if (byte_codes && input.count > 1) continue;  // window sums stay bit-planes (plan.cpp)
          if (!byte_codes && input.levels() != (1 << input.planes()) - 1) {
            // Sums of 4 in 3 planes: levels 5..7 are not codes; the top plane only where the
            // others are 0 keeps every level <= 4.
            const size_t plane = static_cast<size_t>(rows * words);
            for (size_t i = 0; i < plane; ++i) bits[2 * plane + i] &= ~(bits[i] | bits[plane + i]);
          }
          const auto dense = runtime::choose_gemm(GemmProblem{&l, "layer 0", byte_codes, false});
          GemmProblem forced{&l, "layer 0", byte_codes, true};
          forced.sparse_min_rows = rows;  // this call's rows on the kernel, fewer on the dense GEMM
          const auto sparse = runtime::choose_gemm(forced);
          const std::string at = input.str() + ", zeros " + std::to_string(zeros) + (kernel ? ", conv" : ", dense") +
                                 (byte_codes ? ", bytes" : ", bits");
          ASSERT_NE(sparse->describe().find("sparse"), std::string::npos) << at << ": " << sparse->describe();
          ASSERT_EQ(dense->describe().find("sparse"), std::string::npos) << at;
          EXPECT_EQ(sparse->shift(), dense->shift());  // the same thresholds for both
          EXPECT_EQ(sparse->reads_codes(), byte_codes);
          std::vector<int32_t> want(static_cast<size_t>(rows * M)), got(want.size());
          dense->accumulate(rows, a, want.data(), 0, M);
          sparse->accumulate(rows, a, got.data(), 0, M);
          ASSERT_EQ(got, want) << at;
          // Fewer rows than sparse_min_rows: the dense implementation inside, same sums.
          std::vector<int32_t> few(static_cast<size_t>(5 * M)), few_dense(few.size());
          sparse->accumulate(5, a, few.data(), 0, M);
          dense->accumulate(5, a, few_dense.data(), 0, M);
          ASSERT_EQ(few, few_dense) << at;
          // One and three levels, thresholds on the sums the rows give.
          for (int levels : {1, 3}) {
            ASSERT_GT(dense->fused_threshold_size(levels), 0);
            ASSERT_GT(sparse->fused_threshold_size(levels), 0);
            std::vector<int32_t> thr;  // IR units
            for (int64_t o = 0; o < M; ++o) {
              std::vector<int32_t> t;
              for (int lv = 0; lv < levels; ++lv)
                t.push_back(lv == 2 ? INT32_MAX : (want[static_cast<size_t>(rng.below(rows) * M + o)] >> dense->shift()) + static_cast<int32_t>(rng.below(3)) - 1);
              std::sort(t.begin(), t.end());
              thr.insert(thr.end(), t.begin(), t.end());
            }
            auto fused = [&](const runtime::GemmImpl& g) {
              std::vector<int32_t> t(static_cast<size_t>(g.fused_threshold_size(levels) * levels), INT32_MAX);
              for (size_t i = 0; i < thr.size(); ++i) t[i] = thr[i] == INT32_MAX ? INT32_MAX : thr[i] * (1 << g.shift());
              const int64_t bits_out = kernels::threshold_bits(levels) * rows * kernels::packed_words(M);
              std::vector<uint64_t> out(static_cast<size_t>(bits_out), 0);
              g.accumulate_threshold(rows, a, levels, t.data(), out.data(), 0, M);
              return out;
            };
            EXPECT_EQ(fused(*sparse), fused(*dense)) << at << ", " << levels << " levels";
          }
          ++checked;
        }
      }
  EXPECT_EQ(checked, 5 * 4 * 2 * 2 - 4 * 2);
}

std::vector<uint8_t> random_pixels(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& p : v) p = static_cast<uint8_t>(rng.below(256));
  return v;
}

// Random ternary models at several sparsities: the sparse GEMM forced on every layer gives
// the scores of it forced off, and of the IR's plain interpreter, bit for bit.
TEST(SparseGemm, ForcedOnEqualsForcedOffOnRandomTernaryModels) {
  int models = 0, sparse_layers = 0, byte_layers = 0, fused_layers = 0, padded = 0, pooled = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    const bool conv = seed % 2 == 0;
    testing::RandomDescOptions ro;
    ro.ternary_zeros = std::array{0.0, 0.5, 0.9, 0.98, 1.0}[seed % 5];
    const format::ModelDesc d = testing::random_desc(seed, conv, ro);
    for (const LayerDesc& l : d.layers) {
      padded += l.pad_h || l.pad_w;
      pooled += l.pool.kernel != 0;
    }
    const std::vector<uint8_t> file = format::model_desc_bytes(d);
    SCOPED_TRACE("seed " + std::to_string(seed) + (conv ? " conv" : " dense") + ", zeros " +
                 std::to_string(ro.ternary_zeros));
    std::vector<std::vector<float>> scores;
    std::vector<std::vector<int32_t>> preds;
    int64_t n = 0, size = 0, classes = 0;
    for (SparseGemm mode : {SparseGemm::kNever, SparseGemm::kAlways}) {
      runtime::EngineOptions opt;
      opt.sparse = mode;
      opt.threads = 1 + static_cast<int>(seed % 2);
      opt.chunk = std::array<int64_t, 3>{1, 3, 70}[seed % 3];
      opt.byte_plane_product = std::array{1, 0, 81}[(seed / 3) % 3];
      runtime::Engine e = runtime::Engine::from_bytes(file, "random.lbm", opt);
      const auto& info = e.info();
      for (const std::string& line : info.layers) {
        const bool sparse = line.find("sparse ternary") != std::string::npos;
        EXPECT_EQ(sparse, mode == SparseGemm::kAlways) << line;  // every layer is ternary
        if (sparse) {
          ++sparse_layers;
          byte_layers += line.find("on byte codes") != std::string::npos;
          fused_layers += line.find("fused") != std::string::npos;
        }
      }
      n = 70, size = info.channels * info.height * info.width, classes = info.classes;
      const std::vector<uint8_t> images = random_pixels(static_cast<size_t>(n * size), seed + 7);
      scores.emplace_back(static_cast<size_t>(n * classes));
      preds.emplace_back(static_cast<size_t>(n));
      e.run(images.data(), n, info.channels, info.height, info.width, scores.back().data(), preds.back().data());
      if (mode == SparseGemm::kAlways)
        for (int64_t i = 0; i < n; i += 23) {
          const std::vector<float> want = testing::ir_reference(d, images.data() + i * size);
          for (int64_t c = 0; c < classes; ++c)
            ASSERT_EQ(scores.back()[static_cast<size_t>(i * classes + c)], want[static_cast<size_t>(c)]) << "image " << i;
        }
    }
    ASSERT_EQ(scores[1], scores[0]);
    ASSERT_EQ(preds[1], preds[0]);
    ++models;
  }
  EXPECT_EQ(models, 40);
  // The draws reach the sparse GEMM on bytes (first convolutions, many-bit codes), fused
  // thresholds, padding and pooling.
  EXPECT_GE(sparse_layers, 60);
  EXPECT_GE(byte_layers, 10);
  EXPECT_GE(fused_layers, 10);
  EXPECT_GE(padded, 5);
  EXPECT_GE(pooled, 5);
}

// The rule: kAuto from kSparseMinZeros zero weights up (the measured crossover), never on a
// layer with a code outside {-1, 0, +1}; kAlways on every ternary layer; kNever on none.
TEST(SparseGemm, PlanRuleTakesItOnlyFromTheCrossoverUp) {
  Rng rng(4);
  LayerDesc l = ternary_layer(rng, 1, 1, 1000, 0, 10, CodeFormat::plus_minus_one(), 0.0);
  const int64_t total = static_cast<int64_t>(l.weights.size());
  const auto min_zeros = static_cast<int64_t>(std::ceil(runtime::kSparseMinZeros * static_cast<double>(total)));
  auto with_zeros = [&](int64_t zeros) {
    for (int64_t i = 0; i < total; ++i) l.weights[static_cast<size_t>(i)] = i < zeros ? 0 : (i % 2 ? 1 : -1);
  };
  with_zeros(min_zeros);
  EXPECT_TRUE(runtime::wants_sparse(l, SparseGemm::kAuto));
  EXPECT_FALSE(runtime::wants_sparse(l, SparseGemm::kNever));
  with_zeros(min_zeros - 1);
  EXPECT_FALSE(runtime::wants_sparse(l, SparseGemm::kAuto));
  EXPECT_TRUE(runtime::wants_sparse(l, SparseGemm::kAlways));
  with_zeros(total);
  EXPECT_TRUE(runtime::wants_sparse(l, SparseGemm::kAuto));
  // Chosen by the rule, small calls go to the dense GEMM; forced, every call is sparse.
  EXPECT_EQ(runtime::sparse_problem(l, "layer 0", false, SparseGemm::kAuto).sparse_min_rows, runtime::kSparseMinRows);
  EXPECT_EQ(runtime::sparse_problem(l, "layer 0", false, SparseGemm::kAlways).sparse_min_rows, 0);
  l.weights[0] = 2;  // not ternary: the dense GEMMs, whatever the policy
  EXPECT_FALSE(runtime::wants_sparse(l, SparseGemm::kAuto));
  EXPECT_FALSE(runtime::wants_sparse(l, SparseGemm::kAlways));

  // Through a whole plan: a model of a 95%-zero layer and a 50%-zero layer.
  format::ModelDesc d;
  d.name = "two";
  d.input.shape = {64};
  d.input.codes = CodeFormat::plus_minus_one();
  for (int p = 0; p < 256; ++p) d.input.table[static_cast<size_t>(p)] = static_cast<uint8_t>(p >= 128);
  for (double zeros : {0.95, 0.5}) {
    LayerDesc h = ternary_layer(rng, 1, 1, 64, 0, 64, CodeFormat::plus_minus_one(), zeros);
    h.output = CodeFormat::plus_minus_one();
    h.levels = 1;
    h.thresholds.assign(64, 0);
    h.negated.assign(64, 0);
    d.layers.push_back(h);
  }
  LayerDesc s = ternary_layer(rng, 1, 1, 64, 0, 10, CodeFormat::plus_minus_one(), 0.0);
  s.scores = true;
  s.score.scale.assign(10, 1.f);
  s.negated.assign(10, 0);
  d.layers.push_back(s);
  const runtime::Plan auto_plan = runtime::make_plan(d);
  EXPECT_NE(auto_plan.info.layers[0].find("sparse ternary"), std::string::npos) << auto_plan.info.layers[0];
  EXPECT_EQ(auto_plan.info.layers[1].find("sparse ternary"), std::string::npos) << auto_plan.info.layers[1];
  EXPECT_EQ(auto_plan.info.layers[2].find("sparse ternary"), std::string::npos) << auto_plan.info.layers[2];
  runtime::PlanOptions never;
  never.sparse = SparseGemm::kNever;
  EXPECT_EQ(runtime::make_plan(d, never).info.layers[0].find("sparse ternary"), std::string::npos);
}

}  // namespace
}  // namespace lowbit
