// The runtime's bit kernels (bit_gemm.hpp) on every compiled Highway target (AVX3_DL,
// AVX3, AVX2, SSE4, SSSE3, scalar... whatever this CPU supports), each against its scalar
// `_ref` twin and against an independent oracle: plain int loops over unpacked +-1 values
// and codes, packed by this file's own packer. Random data and edge shapes around the
// 64-bit word, the 32-column weight block and the register tiles.
#include "lowbit/kernels/bit_gemm.hpp"

#include <gtest/gtest.h>

#include <hwy/targets.h>

#include <algorithm>
#include <bit>
#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/core/rng.hpp"

namespace lowbit::kernels {
namespace {

using I8 = std::vector<int8_t>;
using U64 = std::vector<uint64_t>;
using I32 = std::vector<int32_t>;

// Runs f once per target, with dispatch capped to that target.
template <class F>
void for_each_target(F&& f) {
  const std::vector<int64_t> targets = bit_kernel_targets();
  ASSERT_FALSE(targets.empty());
  for (int64_t t : targets) {
    SCOPED_TRACE(hwy::TargetName(t));
    hwy::SetSupportedTargetsForTest(t);
    f();
  }
  hwy::SetSupportedTargetsForTest(0);  // back to the CPU's own targets
}

I8 random_pm1(int64_t n, Rng& rng) {
  I8 v(static_cast<size_t>(n));
  for (auto& x : v) x = (rng.next_u64() >> 63) ? 1 : -1;
  return v;
}

// rows x k values packed into `words` (>= packed_words(k)) per row: bit = (v > 0).
U64 pack(const I8& v, int64_t rows, int64_t k, int64_t words) {
  U64 out(static_cast<size_t>(rows * words), 0);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t t = 0; t < k; ++t)
      if (v[i * k + t] > 0) out[i * words + t / 64] |= uint64_t{1} << (t % 64);
  return out;
}

// rows x k unsigned codes as `planes` bit-planes of rows x words.
U64 oracle_planes(const std::vector<int>& codes, int64_t rows, int64_t k, int planes, int64_t words) {
  U64 out(static_cast<size_t>(planes * rows * words), 0);
  for (int b = 0; b < planes; ++b)
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t t = 0; t < k; ++t)
        if ((codes[i * k + t] >> b) & 1) out[(b * rows + i) * words + t / 64] |= uint64_t{1} << (t % 64);
  return out;
}

// The oracle: exact dot products of unpacked values, dots[i * n + j] = sum_t x[i, t] w[j, t]
// (x: m rows of k +-1 values or codes, w: n rows of k +-1 values).
template <class X>
I32 oracle_dots(const X& x, const I8& w, int64_t m, int64_t n, int64_t k) {
  I32 dots(static_cast<size_t>(m * n), 0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t t = 0; t < k; ++t) dots[i * n + j] += static_cast<int32_t>(x[i * k + t]) * w[j * k + t];
  return dots;
}

// First difference between two int arrays on rows x cols with stride ld; "" when equal.
template <class T>
std::string first_diff(const std::vector<T>& got, const std::vector<T>& want, int64_t rows, int64_t cols, int64_t ld,
                       const char* what) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      if (got[i * ld + j] != want[i * ld + j])
        return std::string(what) + " differs at (" + std::to_string(i) + ", " + std::to_string(j) +
               "): " + std::to_string(got[i * ld + j]) + " vs " + std::to_string(want[i * ld + j]);
  return "";
}

const int64_t kKs[] = {1, 63, 64, 65, 127, 128, 129, 784, 1000};
const int64_t kMs[] = {1, 2, 3, 7, 67};
const int64_t kNs[] = {1, 3, 10, 64, 65, 100};

TEST(BitGemm, Pm1MatchesRefAndOracleOnEveryTarget) {
  Rng rng(11);
  for (int64_t k : kKs)
    for (int64_t m : kMs)
      for (int64_t n : kNs) {
        SCOPED_TRACE(::testing::Message() << "m=" << m << " n=" << n << " k=" << k);
        const int64_t words = packed_words(k), ldc = n + 3;
        const I8 x = random_pm1(m * k, rng), wv = random_pm1(n * k, rng);
        const U64 a = pack(x, m, k, words), wp = pack(wv, n, k, words);
        const BinaryMatrix w(wp.data(), n, words);
        // Two passes: overwrite with coef 1, then accumulate with coef -3 on random C.
        I32 start(static_cast<size_t>(m * ldc));
        for (auto& v : start) v = static_cast<int32_t>(rng.below(2001)) - 1000;
        I32 oracle1(start), oracle2(start);
        const I32 dots = oracle_dots(x, wv, m, n, k);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            oracle1[i * ldc + j] = dots[i * n + j];
            oracle2[i * ldc + j] += -3 * dots[i * n + j];
          }
        I32 ref1(start), ref2(start);
        bgemm_pm1_ref(m, n, k, words, a.data(), wp.data(), 1, false, ref1.data(), ldc);
        bgemm_pm1_ref(m, n, k, words, a.data(), wp.data(), -3, true, ref2.data(), ldc);
        ASSERT_EQ(ref1, oracle1);  // also: the padding columns j >= n are untouched
        ASSERT_EQ(ref2, oracle2);
        for_each_target([&] {
          I32 c1(start), c2(start);
          bgemm_pm1(m, k, a.data(), w, 1, false, c1.data(), ldc);
          bgemm_pm1(m, k, a.data(), w, -3, true, c2.data(), ldc);
          ASSERT_EQ("", first_diff(c1, ref1, m, ldc, ldc, "overwrite"));
          ASSERT_EQ("", first_diff(c2, ref2, m, ldc, ldc, "accumulate"));
        });
      }
}

TEST(BitGemm, PlanesMatchRefAndOracleOnEveryTarget) {
  Rng rng(12);
  for (int planes : {1, 2, 8})
    for (int64_t k : kKs)
      for (int64_t m : {int64_t{1}, int64_t{3}, int64_t{7}, int64_t{66}})
        for (int64_t n : kNs) {
          SCOPED_TRACE(::testing::Message() << "planes=" << planes << " m=" << m << " n=" << n << " k=" << k);
          const int64_t words = packed_words(k), ldc = n + 1;
          std::vector<int> codes(static_cast<size_t>(m * k));
          for (auto& v : codes) v = static_cast<int>(rng.below(uint64_t{1} << planes));
          if (m > 1)  // one row of maximal codes
            for (int64_t t = 0; t < k; ++t) codes[t] = (1 << planes) - 1;
          const I8 wv = random_pm1(n * k, rng);
          const U64 a = oracle_planes(codes, m, k, planes, words), wp = pack(wv, n, k, words);
          const BinaryMatrix w(wp.data(), n, words);
          I32 start(static_cast<size_t>(m * ldc));
          for (auto& v : start) v = static_cast<int32_t>(rng.below(2001)) - 1000;
          I32 oracle1(start), oracle2(start);
          const I32 dots = oracle_dots(codes, wv, m, n, k);
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
              oracle1[i * ldc + j] = dots[i * n + j];
              oracle2[i * ldc + j] += 5 * dots[i * n + j];
            }
          I32 ref1(start), ref2(start);
          bgemm_planes_ref(m, n, k, words, planes, a.data(), wp.data(), 1, false, ref1.data(), ldc);
          bgemm_planes_ref(m, n, k, words, planes, a.data(), wp.data(), 5, true, ref2.data(), ldc);
          ASSERT_EQ(ref1, oracle1);
          ASSERT_EQ(ref2, oracle2);
          for_each_target([&] {
            I32 c1(start), c2(start);
            bgemm_planes(m, k, planes, a.data(), w, 1, false, c1.data(), ldc);
            bgemm_planes(m, k, planes, a.data(), w, 5, true, c2.data(), ldc);
            ASSERT_EQ("", first_diff(c1, ref1, m, ldc, ldc, "overwrite"));
            ASSERT_EQ("", first_diff(c2, ref2, m, ldc, ldc, "accumulate"));
          });
        }
}

// The fused threshold output: the bits of (dot >= t_j) from an oracle dot product of
// unpacked values, for +-1 rows and for 1-3 planes of codes; output words past the rows
// stay untouched, bits past n are 0.
TEST(BitGemm, ThresholdOutputMatchesRefAndOracleOnEveryTarget) {
  Rng rng(24);
  for (int planes : {0, 1, 3})
    for (int64_t k : {int64_t{1}, int64_t{63}, int64_t{65}, int64_t{784}})
      for (int64_t m : {int64_t{1}, int64_t{2}, int64_t{5}, int64_t{67}})
        for (int64_t n : {int64_t{1}, int64_t{10}, int64_t{32}, int64_t{33}, int64_t{64}, int64_t{100}, int64_t{130}}) {
          SCOPED_TRACE(::testing::Message() << "planes=" << planes << " m=" << m << " n=" << n << " k=" << k);
          const int64_t words = packed_words(k), out_words = packed_words(n);
          std::vector<int> x(static_cast<size_t>(m * k));  // +-1 values or codes
          for (auto& v : x) v = planes == 0 ? ((rng.next_u64() >> 63) ? 1 : -1) : static_cast<int>(rng.below(uint64_t{1} << planes));
          const I8 wv = random_pm1(n * k, rng);
          U64 a;
          if (planes == 0) {
            I8 x8(x.begin(), x.end());
            a = pack(x8, m, k, words);
          } else {
            a = oracle_planes(x, m, k, planes, words);
          }
          const U64 wp = pack(wv, n, k, words);
          const BinaryMatrix w(wp.data(), n, words);
          I32 thr(static_cast<size_t>(w.blocks() * BinaryMatrix::kBlock), 12345);  // padding values are ignored
          U64 oracle(static_cast<size_t>(m * out_words + 1), 0);
          oracle.back() = 0xfeedu;  // nothing written past the rows
          for (int64_t j = 0; j < n; ++j) thr[j] = static_cast<int32_t>(rng.below(21)) - 10;
          const I32 dots = oracle_dots(x, wv, m, n, k);
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j)
              if (dots[i * n + j] >= thr[j]) oracle[i * out_words + j / 64] |= uint64_t{1} << (j % 64);
          U64 ref(oracle.size(), ~uint64_t{0});
          ref.back() = 0xfeedu;
          bgemm_threshold_ref(m, n, k, words, planes, a.data(), wp.data(), thr.data(), ref.data());
          ASSERT_EQ(ref, oracle);
          for_each_target([&] {
            U64 out(oracle.size(), ~uint64_t{0});
            out.back() = 0xfeedu;
            bgemm_threshold(m, k, planes, a.data(), w, thr.data(), out.data());
            ASSERT_EQ(out, ref);
            if (n > 64) {  // two threads' column ranges, in either order, make the same words
              U64 split(oracle.size(), ~uint64_t{0});
              split.back() = 0xfeedu;
              bgemm_threshold(m, k, planes, a.data(), w, thr.data(), split.data(), 64, -1);
              bgemm_threshold(m, k, planes, a.data(), w, thr.data(), split.data(), 0, 64);
              ASSERT_EQ(split, ref);
            }
          });
        }
}

// Multi-plane weights w = sum_j coef_j s_j: accumulate one binary GEMM per weight plane.
TEST(BitGemm, AccumulatesWeightPlanes) {
  Rng rng(13);
  const int64_t m = 9, n = 37, k = 200, words = packed_words(k);
  const I8 x = random_pm1(m * k, rng), s1 = random_pm1(n * k, rng), s2 = random_pm1(n * k, rng);
  const U64 a = pack(x, m, k, words), p1 = pack(s1, n, k, words), p2 = pack(s2, n, k, words);
  const BinaryMatrix w1(p1.data(), n, words), w2(p2.data(), n, words);
  for_each_target([&] {
    I32 c(static_cast<size_t>(m * n));
    bgemm_pm1(m, k, a.data(), w1, 2, false, c.data(), n);
    bgemm_pm1(m, k, a.data(), w2, 1, true, c.data(), n);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        int32_t want = 0;
        for (int64_t t = 0; t < k; ++t) want += x[i * k + t] * (2 * s1[j * k + t] + s2[j * k + t]);
        ASSERT_EQ(c[i * n + j], want) << i << "," << j;
      }
  });
}

// Column ranges (threads splitting the output) touch only their columns; row splits work by
// offsetting a and c.
TEST(BitGemm, ColumnRangesAndRowSplitsWriteOnlyTheirPart) {
  Rng rng(14);
  const int64_t m = 10, n = 100, k = 300, words = packed_words(k), ldc = n;
  const U64 a = pack(random_pm1(m * k, rng), m, k, words);
  const U64 wp = pack(random_pm1(n * k, rng), n, k, words);
  const BinaryMatrix w(wp.data(), n, words);
  I32 full(static_cast<size_t>(m * ldc));
  bgemm_pm1_ref(m, n, k, words, a.data(), wp.data(), 1, false, full.data(), ldc);
  I32 planes_full(static_cast<size_t>(m * ldc));
  bgemm_planes_ref(m / 2, n, k, words, 2, a.data(), wp.data(), 1, false, planes_full.data(), ldc);
  struct R { int64_t j0, j1; };
  for_each_target([&] {
    for (R r : {R{0, 1}, R{5, 70}, R{32, 64}, R{31, 33}, R{64, 100}, R{99, 100}, R{40, 40}}) {
      SCOPED_TRACE(::testing::Message() << "[" << r.j0 << ", " << r.j1 << ")");
      I32 c(static_cast<size_t>(m * ldc), 77);
      bgemm_pm1(m, k, a.data(), w, 1, false, c.data(), ldc, r.j0, r.j1);
      I32 p(static_cast<size_t>(m * ldc), 77);
      bgemm_planes(m / 2, k, 2, a.data(), w, 1, false, p.data(), ldc, r.j0, r.j1);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          const bool in = j >= r.j0 && j < r.j1;
          ASSERT_EQ(c[i * ldc + j], in ? full[i * ldc + j] : 77) << i << "," << j;
          ASSERT_EQ(p[i * ldc + j], in && i < m / 2 ? planes_full[i * ldc + j] : 77) << i << "," << j;
        }
    }
    I32 c(static_cast<size_t>(m * ldc), 77);  // two row halves
    bgemm_pm1(4, k, a.data(), w, 1, false, c.data(), ldc);
    bgemm_pm1(m - 4, k, a.data() + 4 * words, w, 1, false, c.data() + 4 * ldc, ldc);
    ASSERT_EQ(c, full);
  });
}

TEST(BitGemm, BinaryMatrixKeepsTheRowsAndTheirPopcounts) {
  Rng rng(15);
  for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{31}, int64_t{32}, int64_t{33}, int64_t{100}}) {
    const int64_t words = 3;
    U64 rows(static_cast<size_t>(n * words));
    for (auto& v : rows) v = rng.next_u64();
    const BinaryMatrix w(rows.data(), n, words);
    EXPECT_EQ(w.rows(), n);
    EXPECT_EQ(w.words(), words);
    EXPECT_EQ(w.blocks(), (n + 31) / 32);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(w.data()) % 64, 0u);
    U64 back(rows.size(), 1);
    w.unpack(back.data());
    EXPECT_EQ(back, rows);
    for (int64_t j = 0; j < n; ++j) {
      int pc = 0;
      for (int64_t q = 0; q < words; ++q) pc += __builtin_popcountll(rows[j * words + q]);
      EXPECT_EQ(w.row_popcounts()[j], pc);
    }
    for (int64_t j = n; j < w.blocks() * 32; ++j)  // padding rows are zero
      for (int64_t q = 0; q < words; ++q) EXPECT_EQ(w.word(j, q), 0u);
    BinaryMatrix copy(w), moved;
    moved = std::move(copy);
    EXPECT_EQ(copy.rows(), 0);  // NOLINT(bugprone-use-after-move): moved-from is empty
    U64 back2(rows.size(), 1);
    moved.unpack(back2.data());
    EXPECT_EQ(back2, rows);
  }
}

// Sorted thresholds per channel with repeats and sentinels; inputs that hit them exactly.
TEST(BitThreshold, MatchesRefAndOracleOnEveryTarget) {
  Rng rng(16);
  for (int levels : {1, 2, 3, 7, 15, 16, 255})
    for (int64_t m : {int64_t{1}, int64_t{3}, int64_t{17}})
      for (int64_t n : {int64_t{1}, int64_t{3}, int64_t{10}, int64_t{63}, int64_t{64}, int64_t{65}, int64_t{100},
                        int64_t{130}}) {
        SCOPED_TRACE(::testing::Message() << "levels=" << levels << " m=" << m << " n=" << n);
        const int64_t ldc = n + 2, words = packed_words(n);
        const int bits = threshold_bits(levels);
        I32 thr(static_cast<size_t>(n * levels));
        for (int64_t j = 0; j < n; ++j) {
          int32_t* t = thr.data() + j * levels;
          for (int l = 0; l < levels; ++l) t[l] = static_cast<int32_t>(rng.below(41)) - 20;  // many repeats
          if (rng.below(4) == 0) t[0] = INT32_MIN;
          if (rng.below(4) == 0) t[levels - 1] = INT32_MAX;
          std::sort(t, t + levels);
        }
        I32 acc(static_cast<size_t>(m * ldc));
        for (auto& v : acc) {
          const uint64_t pick = rng.below(16);
          v = pick == 0 ? INT32_MIN : pick == 1 ? INT32_MAX : static_cast<int32_t>(rng.below(51)) - 25;
        }
        // Oracle codes, then their planes.
        std::vector<int> codes(static_cast<size_t>(m * n));
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            int code = 0;
            for (int l = 0; l < levels; ++l) code += acc[i * ldc + j] >= thr[j * levels + l];
            codes[i * n + j] = code;
          }
        U64 oracle = oracle_planes(codes, m, n, bits, words);
        oracle.push_back(0xdeadbeef);  // sentinel: nothing written past the planes
        U64 ref(oracle.size(), ~uint64_t{0});
        ref.back() = 0xdeadbeef;
        threshold_planes_ref(m, n, acc.data(), ldc, levels, thr.data(), ref.data());
        ASSERT_EQ(ref, oracle);
        for_each_target([&] {
          U64 out(oracle.size(), ~uint64_t{0});
          out.back() = 0xdeadbeef;
          threshold_planes(m, n, acc.data(), ldc, levels, thr.data(), out.data());
          ASSERT_EQ(out, ref);
        });
      }
}

TEST(BitPack, PackPlanesMatchesRefAndOracleOnEveryTarget) {
  Rng rng(21);
  for (int planes = 1; planes <= 8; ++planes)
    for (int64_t words : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{13}}) {
      SCOPED_TRACE(::testing::Message() << "planes=" << planes << " words=" << words);
      std::vector<uint8_t> codes(static_cast<size_t>(words * 64));
      std::vector<int> as_int(codes.size());
      for (size_t t = 0; t < codes.size(); ++t) {
        const uint64_t pick = rng.below(8);  // edge codes often: 0, all ones, the top bit
        codes[t] = pick == 0 ? 0 : pick == 1 ? 255 : pick == 2 ? 128 : static_cast<uint8_t>(rng.below(256));
        as_int[t] = codes[t] & ((1 << planes) - 1);
      }
      // Planes `stride` words apart; the gaps between them must stay untouched.
      const int64_t stride = words + 3;
      const U64 dense = oracle_planes(as_int, 1, words * 64, planes, words);
      U64 oracle(static_cast<size_t>(planes * stride), 0x5a5a5a5a5a5a5a5aull);
      for (int b = 0; b < planes; ++b)
        std::copy_n(dense.begin() + b * words, words, oracle.begin() + b * stride);
      U64 ref(oracle.size(), 0x5a5a5a5a5a5a5a5aull);
      pack_planes_ref(words, planes, codes.data(), ref.data(), stride);
      ASSERT_EQ(ref, oracle);
      for_each_target([&] {
        U64 out(oracle.size(), 0x5a5a5a5a5a5a5a5aull);
        pack_planes(words, planes, codes.data(), out.data(), stride);
        ASSERT_EQ(out, ref);
      });
    }
  std::vector<uint8_t> codes(64);
  U64 out(2);
  EXPECT_THROW(pack_planes(1, 9, codes.data(), out.data(), 1), Error);
  EXPECT_THROW(pack_planes(2, 2, codes.data(), out.data(), 1), Error);
}

TEST(BitIntGemm, MatchesRefAndOracleOnEveryTarget) {
  Rng rng(22);
  for (int64_t k : {int64_t{1}, int64_t{9}, int64_t{27}, int64_t{100}})
    for (int64_t m : {int64_t{1}, int64_t{3}, int64_t{17}})
      for (int64_t n : {int64_t{1}, int64_t{3}, int64_t{15}, int64_t{16}, int64_t{17}, int64_t{64}, int64_t{65},
                        int64_t{100}})
        for (bool with_bias : {false, true}) {
          // Odd cases: weights in int8 range (the VNNI layout on AVX3_DL); even: beyond it.
          const int32_t wmax = ((m + n + k) % 2) ? 127 : 255;
          SCOPED_TRACE(::testing::Message() << "k=" << k << " m=" << m << " n=" << n << " bias=" << with_bias
                                            << " |w| <= " << wmax);
          const int64_t lda = k + 2, ldc = n + 3;
          std::vector<uint8_t> a(static_cast<size_t>(m * lda));
          for (auto& v : a) v = rng.below(4) == 0 ? 255 : static_cast<uint8_t>(rng.below(256));
          I32 w(static_cast<size_t>(n * k)), bias(static_cast<size_t>(n));
          for (auto& v : w) v = static_cast<int32_t>(rng.below(static_cast<uint64_t>(2 * wmax + 1))) - wmax;
          for (auto& v : bias) v = static_cast<int32_t>(rng.below(20001)) - 10000;
          const int32_t* b = with_bias ? bias.data() : nullptr;
          I32 oracle(static_cast<size_t>(m * ldc), -7);  // -7: the columns past n stay untouched
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
              int32_t sum = with_bias ? bias[j] : 0;
              for (int64_t t = 0; t < k; ++t) sum += int32_t{a[i * lda + t]} * w[j * k + t];
              oracle[i * ldc + j] = sum;
            }
          I32 ref(oracle.size(), -7);
          int_gemm_codes_ref(m, n, k, a.data(), lda, w.data(), b, ref.data(), ldc);
          ASSERT_EQ(ref, oracle);
          const IntMatrix packed(w.data(), b, n, k);
          ASSERT_EQ(packed.data8() != nullptr, wmax <= 127);
          // Fused threshold output: thresholds near the sums, the words past the rows untouched.
          I32 thr(static_cast<size_t>(packed.padded_rows()), 777);
          for (int64_t j = 0; j < n; ++j) thr[j] = oracle[j] + static_cast<int32_t>(rng.below(3)) - 1;
          const int64_t out_words = packed_words(n);
          U64 want_bits(static_cast<size_t>(m * out_words + 1), 0);
          want_bits.back() = 0xfeedu;
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j)
              if (oracle[i * ldc + j] >= thr[j]) want_bits[i * out_words + j / 64] |= uint64_t{1} << (j % 64);
          for_each_target([&] {
            I32 out(oracle.size(), -7);
            int_gemm_codes(m, a.data(), lda, packed, out.data(), ldc);
            ASSERT_EQ(first_diff(out, ref, m, ldc, ldc, "int_gemm_codes"), "");
            U64 bits(want_bits.size(), ~uint64_t{0});
            bits.back() = 0xfeedu;
            int_gemm_codes_threshold(m, a.data(), lda, packed, thr.data(), bits.data());
            ASSERT_EQ(bits, want_bits);
            if (n > 64) {  // two threads' column ranges
              I32 split(oracle.size(), -7);
              int_gemm_codes(m, a.data(), lda, packed, split.data(), ldc, 64, -1);
              int_gemm_codes(m, a.data(), lda, packed, split.data(), ldc, 0, 64);
              ASSERT_EQ(first_diff(split, ref, m, ldc, ldc, "int_gemm_codes split"), "");
              U64 split_bits(want_bits.size(), ~uint64_t{0});
              split_bits.back() = 0xfeedu;
              int_gemm_codes_threshold(m, a.data(), lda, packed, thr.data(), split_bits.data(), 64, -1);
              int_gemm_codes_threshold(m, a.data(), lda, packed, thr.data(), split_bits.data(), 0, 64);
              ASSERT_EQ(split_bits, want_bits);
            }
          });
        }
  const IntMatrix w(std::vector<int32_t>(6, 1).data(), nullptr, 2, 3);
  std::vector<uint8_t> a(3);
  I32 c(2);
  EXPECT_THROW(int_gemm_codes(1, a.data(), 2, w, c.data(), 2), Error);  // lda < k
  EXPECT_THROW(int_gemm_codes(1, a.data(), 3, w, c.data(), 1), Error);  // ldc < n
  EXPECT_THROW(int_gemm_codes(1, a.data(), 3, w, c.data(), 2, 1, 2), Error);  // range not word-aligned
}

// Unpacked +-1 NHWC map of n images.
struct Map {
  int64_t n, h, w, c;
  I8 v;
  int8_t at(int64_t img, int64_t y, int64_t x, int64_t ch) const { return v[((img * h + y) * w + x) * c + ch]; }
  U64 packed() const { return pack(v, n * h * w, c, packed_words(c)); }
};

Map random_map(int64_t n, int64_t h, int64_t w, int64_t c, Rng& rng) { return {n, h, w, c, random_pm1(n * h * w * c, rng)}; }

struct Window { int64_t h, w, k, s; };
const Window kWindows[] = {{5, 5, 2, 2}, {7, 5, 3, 2}, {6, 4, 2, 1}, {5, 7, 3, 3}, {3, 3, 3, 1}, {1, 1, 1, 1}, {4, 9, 1, 2}};

TEST(BitPool, MaxpoolOrMatchesRefAndOracleOnEveryTarget) {
  Rng rng(17);
  for (int64_t c : {1, 3, 64, 65, 130})
    for (const Window& win : kWindows)
      for (int64_t n : {1, 2}) {
        SCOPED_TRACE(::testing::Message() << "n=" << n << " " << win.h << "x" << win.w << " c=" << c << " k=" << win.k
                                          << " s=" << win.s);
        const Map in = random_map(n, win.h, win.w, c, rng);
        const int64_t oh = (win.h - win.k) / win.s + 1, ow = (win.w - win.k) / win.s + 1;
        Map want{n, oh, ow, c, I8(static_cast<size_t>(n * oh * ow * c))};
        for (int64_t img = 0; img < n; ++img)
          for (int64_t y = 0; y < oh; ++y)
            for (int64_t x = 0; x < ow; ++x)
              for (int64_t ch = 0; ch < c; ++ch) {
                int8_t mx = -1;
                for (int64_t dy = 0; dy < win.k; ++dy)
                  for (int64_t dx = 0; dx < win.k; ++dx)
                    mx = std::max(mx, in.at(img, y * win.s + dy, x * win.s + dx, ch));
                want.v[((img * oh + y) * ow + x) * c + ch] = mx;
              }
        const U64 src = in.packed(), oracle = want.packed();
        U64 ref(oracle.size(), 5);
        maxpool_or_ref(n, win.h, win.w, c, win.k, win.s, src.data(), ref.data());
        ASSERT_EQ(ref, oracle);
        for_each_target([&] {
          U64 out(oracle.size() + 1, 5);
          maxpool_or(n, win.h, win.w, c, win.k, win.s, src.data(), out.data());
          ASSERT_EQ(out.back(), 5u);
          out.pop_back();
          ASSERT_EQ(out, oracle);
        });
      }
}

TEST(BitPool, MaxpoolI32MatchesRefAndOracleOnEveryTarget) {
  Rng rng(23);
  for (const Window& win : kWindows)
    for (int64_t c : {int64_t{1}, int64_t{3}, int64_t{16}, int64_t{17}, int64_t{64}, int64_t{100}}) {
      SCOPED_TRACE(::testing::Message() << win.h << "x" << win.w << " k=" << win.k << " s=" << win.s << " c=" << c);
      const int64_t n = 2, oh = (win.h - win.k) / win.s + 1, ow = (win.w - win.k) / win.s + 1;
      I32 src(static_cast<size_t>(n * win.h * win.w * c));
      for (auto& v : src) {
        const uint64_t pick = rng.below(16);
        v = pick == 0 ? INT32_MIN : pick == 1 ? INT32_MAX : static_cast<int32_t>(rng.below(2001)) - 1000;
      }
      I32 oracle(static_cast<size_t>(n * oh * ow * c));
      for (int64_t img = 0; img < n; ++img)
        for (int64_t y = 0; y < oh; ++y)
          for (int64_t x = 0; x < ow; ++x)
            for (int64_t q = 0; q < c; ++q) {
              std::vector<int32_t> window;
              for (int64_t dy = 0; dy < win.k; ++dy)
                for (int64_t dx = 0; dx < win.k; ++dx)
                  window.push_back(src[((img * win.h + y * win.s + dy) * win.w + x * win.s + dx) * c + q]);
              oracle[((img * oh + y) * ow + x) * c + q] = *std::max_element(window.begin(), window.end());
            }
      I32 ref(oracle.size(), 7);
      maxpool_i32_ref(n, win.h, win.w, c, win.k, win.s, src.data(), ref.data());
      ASSERT_EQ(ref, oracle);
      for_each_target([&] {
        I32 out(oracle.size(), 7);
        maxpool_i32(n, win.h, win.w, c, win.k, win.s, src.data(), out.data());
        ASSERT_EQ(out, ref);
      });
    }
}

// Sum pooling: unpacked levels (+-1 codes as 0/1, k-bit codes) summed over each window by
// plain int loops, packed by this file's packer, against the twin and every target; the
// largest levels everywhere reach the largest sum, so no plane is left untested.
TEST(BitPool, SumPoolPlanesMatchesRefAndOracleOnEveryTarget) {
  Rng rng(29);
  for (int in_planes : {1, 2, 8})
    for (int64_t c : {1, 3, 64, 65, 130})
      for (const Window& win : kWindows)
        for (bool extreme : {false, true}) {
          const int64_t n = 2, oh = (win.h - win.k) / win.s + 1, ow = (win.w - win.k) / win.s + 1;
          const int max_level = (1 << in_planes) - 1;
          const int out_planes = static_cast<int>(std::bit_width(static_cast<unsigned>(win.k * win.k * max_level)));
          SCOPED_TRACE(::testing::Message() << in_planes << " planes, " << win.h << "x" << win.w << " c=" << c
                                            << " k=" << win.k << " s=" << win.s << (extreme ? " extreme" : ""));
          std::vector<int> levels(static_cast<size_t>(n * win.h * win.w * c));
          for (int& v : levels) v = extreme ? max_level : static_cast<int>(rng.below(static_cast<uint64_t>(max_level) + 1));
          std::vector<int> sums(static_cast<size_t>(n * oh * ow * c), 0);
          for (int64_t img = 0; img < n; ++img)
            for (int64_t y = 0; y < oh; ++y)
              for (int64_t x = 0; x < ow; ++x)
                for (int64_t ch = 0; ch < c; ++ch)
                  for (int64_t dy = 0; dy < win.k; ++dy)
                    for (int64_t dx = 0; dx < win.k; ++dx)
                      sums[((img * oh + y) * ow + x) * c + ch] +=
                          levels[((img * win.h + y * win.s + dy) * win.w + x * win.s + dx) * c + ch];
          if (extreme) {
            ASSERT_EQ(sums[0], win.k * win.k * max_level);
          }
          const int64_t cw = packed_words(c);
          const U64 src = oracle_planes(levels, n * win.h * win.w, c, in_planes, cw);
          const U64 oracle = oracle_planes(sums, n * oh * ow, c, out_planes, cw);
          U64 ref(oracle.size(), 5);
          sum_pool_planes_ref(n, win.h, win.w, c, win.k, win.s, in_planes, src.data(), out_planes, ref.data());
          ASSERT_EQ(ref, oracle);
          for_each_target([&] {
            U64 out(oracle.size() + 1, 5);
            sum_pool_planes(n, win.h, win.w, c, win.k, win.s, in_planes, src.data(), out_planes, out.data());
            ASSERT_EQ(out.back(), 5u);
            out.pop_back();
            ASSERT_EQ(out, oracle);
          });
        }
}

// im2col_bits + bgemm_pm1 with weights packed per tap (channel gaps zero in both operands)
// equals a direct convolution of the unpacked +-1 values, padding taps counting as -1.
TEST(BitPool, Im2colBitsThenBgemmIsTheConvolutionOnEveryTarget) {
  Rng rng(18);
  struct Conv { int64_t h, w, kh, kw, s, ph = 0, pw = 0; };
  for (int64_t c : {1, 3, 64, 65, 130})
    for (Conv cv : {Conv{5, 5, 3, 3, 1}, Conv{7, 6, 3, 2, 2}, Conv{4, 4, 1, 1, 1}, Conv{5, 3, 2, 3, 2}, Conv{3, 3, 3, 3, 1},
                    Conv{5, 5, 3, 3, 1, 1, 1}, Conv{7, 6, 3, 2, 2, 2, 1}, Conv{2, 2, 3, 3, 1, 1, 1},
                    Conv{1, 4, 3, 3, 2, 1, 0}, Conv{6, 5, 5, 5, 1, 2, 2}}) {
      const int64_t n = 2, cout = 10, cw = packed_words(c);
      SCOPED_TRACE(::testing::Message() << cv.h << "x" << cv.w << " c=" << c << " kernel " << cv.kh << "x" << cv.kw
                                        << " s=" << cv.s << " pad " << cv.ph << "x" << cv.pw);
      const Map in = random_map(n, cv.h, cv.w, c, rng);
      const I8 wt = random_pm1(cout * cv.kh * cv.kw * c, rng);  // [cout][kh][kw][c]
      const int64_t oh = (cv.h + 2 * cv.ph - cv.kh) / cv.s + 1, ow = (cv.w + 2 * cv.pw - cv.kw) / cv.s + 1;
      const int64_t taps = cv.kh * cv.kw, words = taps * cw, rows = n * oh * ow;
      auto value = [&](int64_t img, int64_t y, int64_t x, int64_t ch) -> int32_t {
        return y < 0 || y >= cv.h || x < 0 || x >= cv.w ? -1 : in.at(img, y, x, ch);
      };
      // Weights: each tap's c values packed into its own cw words.
      const U64 wtaps = pack(wt, cout * taps, c, cw);  // rows (o, tap) of cw words = rows o of words
      const BinaryMatrix w(wtaps.data(), cout, words);
      const U64 src = in.packed();
      U64 ref(static_cast<size_t>(rows * words), 9);
      im2col_bits_ref(n, cv.h, cv.w, c, cv.kh, cv.kw, cv.s, src.data(), ref.data(), cv.ph, cv.pw);
      I32 want(static_cast<size_t>(rows * cout));
      for (int64_t img = 0; img < n; ++img)
        for (int64_t y = 0; y < oh; ++y)
          for (int64_t x = 0; x < ow; ++x)
            for (int64_t o = 0; o < cout; ++o) {
              int32_t sum = 0;
              for (int64_t dy = 0; dy < cv.kh; ++dy)
                for (int64_t dx = 0; dx < cv.kw; ++dx)
                  for (int64_t ch = 0; ch < c; ++ch)
                    sum += value(img, y * cv.s + dy - cv.ph, x * cv.s + dx - cv.pw, ch) *
                           wt[((o * cv.kh + dy) * cv.kw + dx) * c + ch];
              want[((img * oh + y) * ow + x) * cout + o] = sum;
            }
      I32 via_ref(want.size());
      bgemm_pm1_ref(rows, cout, taps * c, words, ref.data(), wtaps.data(), 1, false, via_ref.data(), cout);
      ASSERT_EQ(via_ref, want);
      for_each_target([&] {
        U64 cols(ref.size() + 1, 9);
        im2col_bits(n, cv.h, cv.w, c, cv.kh, cv.kw, cv.s, src.data(), cols.data(), cv.ph, cv.pw);
        ASSERT_EQ(cols.back(), 9u);
        cols.pop_back();
        ASSERT_EQ(cols, ref);
        I32 out(want.size());
        bgemm_pm1(rows, taps * c, cols.data(), w, 1, false, out.data(), cout);
        ASSERT_EQ(out, want);
      });
    }
}

TEST(BitGemm, BadArgumentsThrowNamingTheKernel) {
  const U64 wp(4, 0);
  const BinaryMatrix w(wp.data(), 2, 2);
  I32 c(8);
  U64 out(8);
  auto msg = [](auto f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(msg([&] { bgemm_pm1(1, 129, wp.data(), w, 1, false, c.data(), 2); }).find("bgemm_pm1"), std::string::npos);
  EXPECT_NE(msg([&] { bgemm_pm1(1, 64, wp.data(), w, 1, false, c.data(), 2, 0, 3); }).find("columns"),
            std::string::npos);
  EXPECT_NE(msg([&] { bgemm_planes(1, 64, 0, wp.data(), w, 1, false, c.data(), 2); }).find("planes"),
            std::string::npos);
  const int32_t acc[2] = {0, 0}, thr[2] = {0, 0};
  EXPECT_NE(msg([&] { threshold_planes(1, 2, acc, 2, 0, thr, out.data()); }).find("levels"), std::string::npos);
  EXPECT_NE(msg([&] { threshold_planes(1, 2, acc, 2, 256, thr, out.data()); }).find("levels"), std::string::npos);
  EXPECT_NE(msg([&] { maxpool_or(1, 2, 2, 1, 3, 1, out.data(), out.data()); }).find("maxpool_or"), std::string::npos);
  EXPECT_NE(msg([&] { im2col_bits(1, 2, 2, 1, 1, 1, 0, out.data(), out.data()); }).find("im2col_bits"),
            std::string::npos);
  // 2x2 sums of 2-bit levels reach 12: 4 planes, not 3; 9 input planes; a window too large.
  EXPECT_NE(msg([&] { sum_pool_planes(1, 2, 2, 1, 2, 2, 2, out.data(), 3, out.data()); }).find("3 output planes"),
            std::string::npos);
  const U64 levels(8, 0);  // 2 planes of 2x2 pixels of one word
  EXPECT_NO_THROW(sum_pool_planes(1, 2, 2, 1, 2, 2, 2, levels.data(), 4, out.data()));
  EXPECT_NE(msg([&] { sum_pool_planes(1, 2, 2, 1, 2, 2, 9, out.data(), 16, out.data()); }).find("input planes"),
            std::string::npos);
  EXPECT_NE(msg([&] { sum_pool_planes(1, 2, 2, 1, 3, 1, 1, out.data(), 4, out.data()); }).find("sum_pool_planes"),
            std::string::npos);
}

TEST(BitGemm, ReportsItsTargets) {
  const std::vector<int64_t> targets = bit_kernel_targets();
  ASSERT_FALSE(targets.empty());
  EXPECT_EQ(std::string(bit_kernel_target()), hwy::TargetName(targets.front()));
  if (hwy::SupportedTargets() & HWY_AVX3_DL) {
    EXPECT_EQ(targets.front(), HWY_AVX3_DL);  // the VPOPCNTDQ path is compiled in and chosen
  }
  EXPECT_EQ(threshold_bits(1), 1);
  EXPECT_EQ(threshold_bits(3), 2);
  EXPECT_EQ(threshold_bits(4), 3);
  EXPECT_EQ(threshold_bits(255), 8);
}

}  // namespace
}  // namespace lowbit::kernels
