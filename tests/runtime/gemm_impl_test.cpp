// The runtime's GEMM implementations (runtime/gemm.hpp): choose_gemm takes the first that
// accepts, each declines with its reason, and every implementation that accepts a layer
// computes the IR's sums W x (a plain loop here) times 2^shift(), its own shift, which the
// plan applies to the layer's thresholds.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/core/rng.hpp"
#include "lowbit/kernels/bit_gemm.hpp"
#include "lowbit/runtime/gemm.hpp"

namespace lowbit {
namespace {

using format::CodeFormat;
using format::LayerDesc;
using runtime::GemmInput;
using runtime::GemmProblem;

// A dense layer of K inputs with random codes of `input` and weight codes in [-wmax, wmax].
LayerDesc random_dense(Rng& rng, int64_t K, int64_t M, CodeFormat input, int32_t wmax) {
  LayerDesc l;
  l.in_c = K, l.out = M, l.input = input;
  for (int64_t i = 0; i < M * K; ++i) l.weights.push_back(static_cast<int32_t>(rng.below(2 * wmax + 1)) - wmax);
  return l;
}

TEST(GemmImpl, EveryImplementationGivesTheSameAccumulators) {
  Rng rng(7);
  for (CodeFormat input : {CodeFormat::plus_minus_one(), CodeFormat::unsigned_bits(3), CodeFormat::unsigned_bits(8),
                            CodeFormat::unsigned_bits(3, 5), CodeFormat::unsigned_bits(8, 128)})
    for (int32_t wmax : {1, 3, 100})
      for (int64_t K : {9, 64, 130}) {
        const int64_t M = 70, m = 5;
        LayerDesc l = random_dense(rng, K, M, input, wmax);
        // Random input levels: byte rows for the integer GEMM, packed planes for the bit GEMM.
        std::vector<uint8_t> codes(static_cast<size_t>(m * K));
        for (uint8_t& c : codes) c = static_cast<uint8_t>(rng.below(static_cast<uint64_t>(input.levels()) + 1));
        const int64_t words = kernels::packed_words(K);
        std::vector<uint64_t> planes(static_cast<size_t>(input.planes() * m * words), 0);
        for (int64_t i = 0; i < m; ++i) {
          std::vector<uint8_t> row(static_cast<size_t>(words * 64), 0);
          std::copy(codes.begin() + i * K, codes.begin() + (i + 1) * K, row.begin());
          kernels::pack_planes(words, input.planes(), row.data(), planes.data() + i * words, m * words);
        }
        std::vector<int32_t> want(static_cast<size_t>(m * M));
        for (int64_t i = 0; i < m; ++i)
          for (int64_t o = 0; o < M; ++o) {
            int64_t s = 0;
            for (int64_t k = 0; k < K; ++k) s += int64_t{l.weight(o, k)} * input.value(codes[static_cast<size_t>(i * K + k)]);
            want[static_cast<size_t>(i * M + o)] = static_cast<int32_t>(s);
          }
        const std::string at = input.str() + " inputs, |w| <= " + std::to_string(wmax) + ", K " + std::to_string(K);
        for (bool byte_codes : {true, false}) {
          const auto impl = runtime::choose_gemm(GemmProblem{&l, "layer 0", byte_codes});
          EXPECT_EQ(impl->reads_codes(), byte_codes) << at;
          std::vector<int32_t> acc(static_cast<size_t>(m * M), -1);
          impl->accumulate(m, GemmInput{planes.data(), codes.data()}, acc.data(), 0, M);
          std::vector<int32_t> scaled = want;  // 2^shift times the IR's sums
          for (int32_t& v : scaled) v *= 1 << impl->shift();
          EXPECT_EQ(acc, scaled) << at << ", " << impl->describe();
          EXPECT_EQ(impl->shift(), byte_codes ? 0 : runtime::weight_shift(l.weights)) << at;
        }
      }
}

TEST(GemmImpl, EachFactoryDeclinesWithAReason) {
  Rng rng(3);
  LayerDesc l = random_dense(rng, 10, 4, CodeFormat::plus_minus_one(), 1);
  std::string why;
  EXPECT_EQ(runtime::make_int_code_gemm(GemmProblem{&l, "layer 0", false}, why), nullptr);
  EXPECT_NE(why.find("bit-planes"), std::string::npos) << why;
  why.clear();
  EXPECT_EQ(runtime::make_bit_plane_gemm(GemmProblem{&l, "layer 0", true}, why), nullptr);
  EXPECT_NE(why.find("byte codes"), std::string::npos) << why;
}

TEST(GemmImpl, FusedThresholdsOnlyWhereTheKernelFusesThem) {
  Rng rng(5);
  LayerDesc binary = random_dense(rng, 100, 64, CodeFormat::plus_minus_one(), 1);
  for (int32_t& w : binary.weights) w = w >= 0 ? 1 : -1;
  LayerDesc ternary = random_dense(rng, 100, 64, CodeFormat::plus_minus_one(), 1);
  // Bit-planes: bgemm_threshold for one level on one weight plane, bgemm_codes for up to 15
  // levels and 8 weight planes (ternary: 2).
  const auto bits_binary = runtime::choose_gemm(GemmProblem{&binary, "layer 0", false});
  const auto bits_ternary = runtime::choose_gemm(GemmProblem{&ternary, "layer 0", false});
  EXPECT_GT(bits_binary->fused_threshold_size(1), 0);
  EXPECT_GT(bits_binary->fused_threshold_size(3), 0);
  EXPECT_GT(bits_ternary->fused_threshold_size(1), 0);
  EXPECT_GT(bits_ternary->fused_threshold_size(15), 0);
  EXPECT_EQ(bits_ternary->fused_threshold_size(16), 0);
  // Byte codes: int_gemm_codes_threshold, up to 15 levels.
  const auto bytes_ternary = runtime::choose_gemm(GemmProblem{&ternary, "layer 0", true});
  EXPECT_GT(bytes_ternary->fused_threshold_size(1), 0);
  EXPECT_GT(bytes_ternary->fused_threshold_size(3), 0);
  EXPECT_EQ(bytes_ternary->fused_threshold_size(16), 0);
}

}  // namespace
}  // namespace lowbit
