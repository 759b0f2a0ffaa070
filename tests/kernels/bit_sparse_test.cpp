// The sparse ternary kernels (bit_sparse.hpp) against plain integer loops over unpacked
// values (the inventory tester checks kernel = `_ref` twin on every target; these check
// both against the mathematics): +-1 rows, k-bit codes and bytes at 0% to 100% zeros,
// odd K and output counts, blocks of 64 rows straddled, the widest sums (the lane width
// switch), threshold sentinels, and the matrix's own checks.
#include <gtest/gtest.h>

#include <climits>
#include <string>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/core/rng.hpp"
#include "lowbit/kernels/bit_gemm.hpp"
#include "lowbit/kernels/bit_sparse.hpp"

namespace lowbit::kernels {
namespace {

std::vector<int32_t> ternary(Rng& rng, int64_t count, double zeros) {
  std::vector<int32_t> w(static_cast<size_t>(count));
  for (int32_t& v : w) v = rng.uniform(0.f, 1.f) < zeros ? 0 : rng.below(2) ? 1 : -1;
  return w;
}

// Levels [m][k] packed as `planes` bit-planes of m rows of packed_words(k) words.
std::vector<uint64_t> pack(const std::vector<int32_t>& levels, int64_t m, int64_t k, int planes) {
  const int64_t words = packed_words(k);
  std::vector<uint64_t> bits(static_cast<size_t>(planes * m * words), 0);
  for (int b = 0; b < planes; ++b)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t t = 0; t < k; ++t)
        if ((levels[static_cast<size_t>(i * k + t)] >> b) & 1)
          bits[static_cast<size_t>((b * m + i) * words + t / 64)] |= uint64_t{1} << (t % 64);
  return bits;
}

// sum_t w[j][t] * value(level), value = coef * level + b: the layer's accumulators.
std::vector<int64_t> oracle(const std::vector<int32_t>& levels, const std::vector<int32_t>& w, int64_t m, int64_t n,
                            int64_t k, int32_t coef, int32_t b) {
  std::vector<int64_t> acc(static_cast<size_t>(m * n), 0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t t = 0; t < k; ++t)
        acc[static_cast<size_t>(i * n + j)] +=
            int64_t{w[static_cast<size_t>(j * k + t)]} * (coef * levels[static_cast<size_t>(i * k + t)] + b);
  return acc;
}

// The offset the runtime passes for values coef * level + b: b (|P_j| - |N_j|).
std::vector<int32_t> offsets(const std::vector<int32_t>& w, int64_t n, int64_t k, int32_t b) {
  std::vector<int32_t> off(static_cast<size_t>(n), 0);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t t = 0; t < k; ++t) off[static_cast<size_t>(j)] += b * w[static_cast<size_t>(j * k + t)];
  return off;
}

struct Operands {
  std::vector<int32_t> levels;
  std::vector<uint64_t> bits;
  std::vector<uint8_t> bytes;
  SparseOperand a;
};

// planes 0: bytes; else that many bit-planes. `top`: every level the largest.
Operands operands(Rng& rng, int64_t m, int64_t k, int planes, bool top = false) {
  Operands o;
  const int32_t max_level = planes == 0 ? 255 : (1 << planes) - 1;
  for (int64_t i = 0; i < m * k; ++i)
    o.levels.push_back(top ? max_level : static_cast<int32_t>(rng.below(static_cast<uint64_t>(max_level) + 1)));
  o.a.planes = planes;
  if (planes > 0) {
    o.bits = pack(o.levels, m, k, planes);
    o.a.bits = o.bits.data(), o.a.words = packed_words(k);
  } else {
    for (int32_t v : o.levels) o.bytes.push_back(static_cast<uint8_t>(v));
    o.a.bytes = o.bytes.data(), o.a.lda = k;
  }
  return o;
}

TEST(SparseTernary, SumsEqualTheLayerAtEverySparsity) {
  Rng rng(11);
  for (double zeros : {0.0, 0.5, 0.9, 0.98, 1.0})
    for (int planes : {1, 2, 3, 0})
      for (int64_t k : {1, 65, 783})
        for (int64_t m : {1, 63, 65}) {
          const int64_t n = 67;
          const std::vector<int32_t> w = ternary(rng, n * k, zeros);
          const Operands o = operands(rng, m, k, planes);
          // +-1 rows: values 2 level - 1; codes: a zero point of 3 now and then.
          const int32_t coef = planes == 1 ? 2 : 1, b = planes == 1 ? -1 : (k % 2 ? -3 : 0);
          const std::vector<int32_t> off = offsets(w, n, k, b);
          const SparseTernaryMatrix sw(w.data(), n, k, nullptr, planes ? 64 * packed_words(k) : k);
          std::vector<uint8_t> work(static_cast<size_t>(sparse_work_bytes(sw)));
          std::vector<int32_t> c(static_cast<size_t>(m * n), 12345);
          sparse_ternary_gemm(m, o.a, sw, coef, off.data(), c.data(), n, 0, -1, work.data());
          const std::vector<int64_t> want = oracle(o.levels, w, m, n, k, coef, b);
          const std::string at = "zeros " + std::to_string(zeros) + " planes " + std::to_string(planes) + " k " +
                                 std::to_string(k) + " m " + std::to_string(m);
          for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(c[i], want[i]) << at << ", value " << i;
        }
}

// Every weight +1 and every level the largest: |s| = k * max level, past int16 for 2-bit
// codes (k = 11000: 33000), so the kernel must take its wide lanes there.
TEST(SparseTernary, LargestSumsSwitchToWideLanes) {
  Rng rng(5);
  for (int planes : {1, 2}) {
    const int64_t k = planes == 1 ? 33000 : 11000, n = 3, m = 2;
    std::vector<int32_t> w(static_cast<size_t>(n * k), 1);
    for (int64_t t = 0; t < k; ++t) w[static_cast<size_t>(k + t)] = -1;  // column 1: all -1
    const Operands o = operands(rng, m, k, planes, true);
    const SparseTernaryMatrix sw(w.data(), n, k, nullptr, 64 * packed_words(k));
    std::vector<uint8_t> work(static_cast<size_t>(sparse_work_bytes(sw)));
    std::vector<int32_t> c(static_cast<size_t>(m * n));
    sparse_ternary_gemm(m, o.a, sw, 1, nullptr, c.data(), n, 0, -1, work.data());
    const int32_t top = static_cast<int32_t>(k) * ((1 << planes) - 1);
    EXPECT_EQ(c[0], top);
    EXPECT_EQ(c[1], -top);
    EXPECT_EQ(c[2], top);
    // The thresholds at the sums themselves: passed exactly (>=), one above not.
    const int32_t thr[] = {top, -top, top + 1};
    std::vector<uint64_t> bits(static_cast<size_t>(m), ~uint64_t{0});
    sparse_ternary_threshold(m, o.a, sw, 1, nullptr, 1, thr, bits.data(), 0, -1, work.data());
    EXPECT_EQ(bits[0], 0b011u) << planes << " planes";
  }
}

TEST(SparseTernary, ThresholdCodesEqualTheLayer) {
  Rng rng(3);
  for (double zeros : {0.0, 0.9, 1.0})
    for (int planes : {1, 2, 0})
      for (int levels : {1, 3, 15}) {
        const int64_t m = 70, n = 130, k = 300;
        const std::vector<int32_t> w = ternary(rng, n * k, zeros);
        const Operands o = operands(rng, m, k, planes);
        const int32_t coef = planes == 1 ? 2 : 1, b = planes == 1 ? -1 : -2;
        const std::vector<int32_t> off = offsets(w, n, k, b);
        const std::vector<int64_t> acc = oracle(o.levels, w, m, n, k, coef, b);
        // Thresholds on the sums (exactly, and one off), and the sentinels.
        std::vector<int32_t> thr;
        for (int64_t j = 0; j < n; ++j) {
          std::vector<int32_t> t;
          for (int l = 0; l < levels; ++l) {
            const uint64_t pick = rng.below(10);
            t.push_back(pick == 0   ? INT32_MIN
                        : pick == 1 ? INT32_MAX
                                    : static_cast<int32_t>(acc[static_cast<size_t>(rng.below(m) * n + j)]) +
                                          static_cast<int32_t>(rng.below(3)) - 1);
          }
          std::sort(t.begin(), t.end());
          thr.insert(thr.end(), t.begin(), t.end());
        }
        const SparseTernaryMatrix sw(w.data(), n, k, nullptr, planes ? 64 * packed_words(k) : k);
        std::vector<uint8_t> work(static_cast<size_t>(sparse_work_bytes(sw)));
        const int bits = threshold_bits(levels);
        const int64_t words = packed_words(n);
        std::vector<uint64_t> out(static_cast<size_t>(bits * m * words), ~uint64_t{0});
        sparse_ternary_threshold(m, o.a, sw, coef, off.data(), levels, thr.data(), out.data(), 0, -1, work.data());
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            int code = 0;
            for (int l = 0; l < levels; ++l) code += acc[static_cast<size_t>(i * n + j)] >= thr[static_cast<size_t>(j * levels + l)];
            int got = 0;
            for (int b2 = 0; b2 < bits; ++b2)
              got |= static_cast<int>((out[static_cast<size_t>((b2 * m + i) * words + j / 64)] >> (j % 64)) & 1) << b2;
            ASSERT_EQ(got, code) << "zeros " << zeros << " planes " << planes << " levels " << levels << " row " << i
                                 << " column " << j;
          }
        // Bits past n are 0.
        for (int b2 = 0; b2 < bits; ++b2)
          for (int64_t i = 0; i < m; ++i)
            EXPECT_EQ(out[static_cast<size_t>((b2 * m + i) * words + words - 1)] >> (n % 64), 0u);
      }
}

TEST(SparseTernary, MatrixListsPositionsAndRejectsBadInput) {
  // Two outputs over 5 columns at positions with a gap (as a patch row's pixels).
  const std::vector<int32_t> w = {1, 0, -1, 1, 0,   //
                                  0, 0, 0, -1, -1};
  const std::vector<int64_t> pos = {0, 1, 64, 65, 130};
  const SparseTernaryMatrix sw(w.data(), 2, 5, pos.data(), 192);
  EXPECT_EQ(sw.nonzeros(), 5);
  EXPECT_EQ(sw.max_column_nonzeros(), 3);
  const std::vector<uint32_t> index(sw.index(), sw.index() + 5);
  EXPECT_EQ(index, (std::vector<uint32_t>{0, 65, 64, 65, 130}));
  EXPECT_EQ(sw.split()[0], 2);
  EXPECT_EQ(sw.start()[1], 3);
  EXPECT_EQ(sw.split()[1], 3);
  EXPECT_EQ(sw.start()[2], 5);
  EXPECT_EQ(sw.used_groups(), (std::vector<uint8_t>{1, 1, 1}));

  const std::vector<int32_t> two = {1, 2};
  try {
    SparseTernaryMatrix(two.data(), 1, 2, nullptr, 2);
    ADD_FAILURE() << "a code of 2 was taken";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("code 2 at output 0, column 1"), std::string::npos) << e.what();
  }
  const std::vector<int64_t> far = {0, 9};
  EXPECT_THROW(SparseTernaryMatrix(w.data(), 1, 2, far.data(), 9), Error);
  // An operand shorter than the positions, and thresholds off the output words.
  const SparseTernaryMatrix wide(w.data(), 2, 5, pos.data(), 192);
  std::vector<uint8_t> work(static_cast<size_t>(sparse_work_bytes(wide)));
  std::vector<uint64_t> bits(2, 0);
  SparseOperand a;
  a.planes = 1, a.bits = bits.data(), a.words = 2;
  std::vector<int32_t> c(2);
  try {
    sparse_ternary_gemm(1, a, wide, 1, nullptr, c.data(), 2, 0, -1, work.data());
    ADD_FAILURE() << "a short operand was taken";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("192 weight positions but operand rows of 2 words"), std::string::npos)
        << e.what();
  }
  a.words = 3;
  const int32_t thr[2] = {0, 0};
  std::vector<uint64_t> out(2, 0);
  EXPECT_THROW(sparse_ternary_threshold(1, a, wide, 1, nullptr, 1, thr, out.data(), 1, 2, work.data()), Error);
  EXPECT_THROW(sparse_ternary_threshold(1, a, wide, 1, nullptr, 16, thr, out.data(), 0, 2, work.data()), Error);
  EXPECT_THROW(sparse_ternary_gemm(1, a, wide, 0, nullptr, c.data(), 2, 0, 2, work.data()), Error);
}

}  // namespace
}  // namespace lowbit::kernels
