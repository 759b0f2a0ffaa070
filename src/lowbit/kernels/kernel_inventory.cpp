#include "lowbit/kernels/kernel_inventory.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <climits>
#include <cstdio>
#include <limits>
#include <type_traits>

#include "lowbit/core/error.hpp"
#include "lowbit/core/rng.hpp"
#include "lowbit/kernels/bit_gemm.hpp"
#include "lowbit/kernels/bit_sparse.hpp"
#include "lowbit/kernels/xnor_gemm.hpp"

namespace lowbit::kernels {

namespace {

using U64 = std::vector<uint64_t>;
using I32 = std::vector<int32_t>;

// `rows` packed rows of `words` words holding k valid bits each; every bit past k is 0, as
// the kernels require of both operands. Whole rows of ones and of zeros now and then (the
// extreme counts and codes).
U64 random_rows(Rng& rng, int64_t rows, int64_t k, int64_t words) {
  U64 out(static_cast<size_t>(rows * words), 0);
  for (int64_t i = 0; i < rows; ++i) {
    const uint64_t pick = rng.below(8);
    for (int64_t q = 0; q < words; ++q) {
      const int64_t valid = std::clamp<int64_t>(k - 64 * q, 0, 64);
      const uint64_t mask = valid == 64 ? ~uint64_t{0} : (uint64_t{1} << valid) - 1;
      const uint64_t bits = pick == 0 ? ~uint64_t{0} : pick == 1 ? 0 : rng.next_u64();
      out[static_cast<size_t>(i * words + q)] = bits & mask;
    }
  }
  return out;
}

// Output buffers start as random words (plus one guard value past the end) and are copied
// for the kernel and its twin, so values a kernel must not write are compared as well.
template <class T>
std::vector<T> random_fill(Rng& rng, int64_t count) {
  std::vector<T> v(static_cast<size_t>(count + 1));
  for (auto& x : v) {
    if constexpr (std::is_same_v<T, float>)
      x = static_cast<float>(static_cast<int32_t>(rng.below(2001)) - 1000) + 0.5f;  // no kernel writes x.5
    else
      x = static_cast<T>(rng.next_u64());
  }
  return v;
}

int32_t random_i32(Rng& rng, int32_t lo, int32_t hi) {
  return lo + static_cast<int32_t>(rng.below(static_cast<uint64_t>(int64_t{hi} - lo + 1)));
}

// A threshold that the dot products actually meet: one of column j's values +-1, or the
// sentinels that always / never pass.
int32_t threshold_near(Rng& rng, const I32& dots, int64_t m, int64_t n, int64_t j) {
  const uint64_t pick = rng.below(8);
  if (pick == 0) return INT32_MIN;
  if (pick == 1) return INT32_MAX;
  return dots[static_cast<size_t>(static_cast<int64_t>(rng.below(static_cast<uint64_t>(m))) * n + j)] +
         random_i32(rng, -1, 1);
}

template <class T>
uint64_t bits_of(T v) {
  if constexpr (std::is_same_v<T, float>)
    return std::bit_cast<uint32_t>(v);
  else
    return static_cast<uint64_t>(static_cast<std::make_unsigned_t<T>>(v));
}

// "" when equal, else the first differing element (index, both values in hex).
template <class T>
std::string first_diff(const std::vector<T>& got, const std::vector<T>& want, const char* what) {
  for (size_t i = 0; i < want.size(); ++i)
    if (bits_of(got[i]) != bits_of(want[i])) {
      char buf[160];
      std::snprintf(buf, sizeof(buf), "%s: element %zu of %zu%s: kernel 0x%llx, ref 0x%llx", what, i, want.size(),
                    i + 1 == want.size() ? " (the guard past the output)" : "",
                    static_cast<unsigned long long>(bits_of(got[i])),
                    static_cast<unsigned long long>(bits_of(want[i])));
      return buf;
    }
  return "";
}

template <class T>
void maybe_corrupt(const KernelCase& c, std::vector<T>& out, size_t at) {
  if (!c.corrupt) return;
  if constexpr (std::is_same_v<T, float>)
    out[at] = std::bit_cast<float>(std::bit_cast<uint32_t>(out[at]) ^ 1u);
  else
    out[at] ^= 1;
}

int64_t col_end(const KernelCase& c) { return c.j1 < 0 ? c.n : c.j1; }

// want = start, with the columns [j0, j1) of rows [0, m) (ld apart) taken from full: what a
// kernel restricted to those columns writes.
template <class T>
std::vector<T> columns_of(const std::vector<T>& start, const std::vector<T>& full, int64_t m, int64_t ld,
                          int64_t j0, int64_t j1) {
  std::vector<T> want(start);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = j0; j < j1; ++j) want[static_cast<size_t>(i * ld + j)] = full[static_cast<size_t>(i * ld + j)];
  return want;
}

// The same for packed output rows of packed_words(n) words: the words that hold [j0, j1).
U64 words_of(const U64& start, const U64& full, int64_t m, int64_t n, int64_t j0, int64_t j1) {
  return columns_of(start, full, m, packed_words(n), j0 / 64, (j1 + 63) / 64);
}

// bgemm_pm1 (planes = 0) and bgemm_planes: two calls, so that the sweep runs every
// epilogue (coef 1 or not, overwrite or accumulate): overwrite, then accumulate onto it.
std::string check_bgemm(const KernelCase& c, int planes) {
  Rng rng(c.seed);
  const int64_t m = c.m, n = c.n, k = c.k, words = packed_words(k), ldc = n + c.pad, j0 = c.j0, j1 = col_end(c);
  const U64 a = random_rows(rng, std::max(planes, 1) * m, k, words), rows = random_rows(rng, n, k, words);
  const BinaryMatrix w(rows.data(), n, words);
  const bool odd = (c.seed & 1) != 0;
  const int32_t coefs[2] = {odd ? 5 : 1, odd ? 1 : -3};
  const I32 start = random_fill<int32_t>(rng, m * ldc);
  I32 full(start), got(start), want(start);
  for (int pass = 0; pass < 2; ++pass) {
    const bool accumulate = pass == 1;
    if (planes == 0) {
      bgemm_pm1_ref(m, n, k, words, a.data(), rows.data(), coefs[pass], accumulate, full.data(), ldc);
      bgemm_pm1(m, k, a.data(), w, coefs[pass], accumulate, got.data(), ldc, j0, j1);
    } else {
      bgemm_planes_ref(m, n, k, words, planes, a.data(), rows.data(), coefs[pass], accumulate, full.data(), ldc);
      bgemm_planes(m, k, planes, a.data(), w, coefs[pass], accumulate, got.data(), ldc, j0, j1);
    }
    want = columns_of(want, full, m, ldc, j0, j1);
    if (pass == 0) maybe_corrupt(c, got, static_cast<size_t>(j0 < j1 ? j0 : 0));
    std::string d = first_diff(got, want, accumulate ? "accumulate" : "overwrite");
    if (!d.empty()) return d;
  }
  return "";
}

std::string check_bgemm_pm1(const KernelCase& c) { return check_bgemm(c, 0); }
std::string check_bgemm_planes(const KernelCase& c) { return check_bgemm(c, c.variant); }

std::string check_bgemm_threshold(const KernelCase& c) {
  Rng rng(c.seed);
  const int planes = c.variant;
  const int64_t m = c.m, n = c.n, k = c.k, words = packed_words(k), j0 = c.j0, j1 = col_end(c);
  const U64 a = random_rows(rng, std::max(planes, 1) * m, k, words), rows = random_rows(rng, n, k, words);
  const BinaryMatrix w(rows.data(), n, words);
  I32 dots(static_cast<size_t>(m * n));
  if (planes == 0)
    bgemm_pm1_ref(m, n, k, words, a.data(), rows.data(), 1, false, dots.data(), n);
  else
    bgemm_planes_ref(m, n, k, words, planes, a.data(), rows.data(), 1, false, dots.data(), n);
  // Whole tiles are read: the values past n are garbage that must be ignored.
  I32 thr = random_fill<int32_t>(rng, w.blocks() * BinaryMatrix::kBlock);
  for (int64_t j = 0; j < n; ++j) thr[static_cast<size_t>(j)] = threshold_near(rng, dots, m, n, j);
  const U64 start = random_fill<uint64_t>(rng, m * packed_words(n));
  U64 full(start), got(start);
  bgemm_threshold_ref(m, n, k, words, planes, a.data(), rows.data(), thr.data(), full.data());
  bgemm_threshold(m, k, planes, a.data(), w, thr.data(), got.data(), j0, j1);
  maybe_corrupt(c, got, static_cast<size_t>(j0 < j1 ? j0 / 64 : 0));
  return first_diff(got, words_of(start, full, m, n, j0, j1), "bits");
}

// bgemm_codes' variant: input planes * 1000 + weight planes * 100 + levels.
std::string check_bgemm_codes(const KernelCase& c) {
  Rng rng(c.seed);
  const int planes = c.variant / 1000, wplanes = c.variant / 100 % 10, levels = c.variant % 100;
  const int64_t m = c.m, n = c.n, k = c.k, words = packed_words(k), j0 = c.j0, j1 = col_end(c);
  const U64 a = random_rows(rng, std::max(planes, 1) * m, k, words), rows = random_rows(rng, wplanes * n, k, words);
  std::vector<BinaryMatrix> w;
  for (int p = 0; p < wplanes; ++p) w.emplace_back(rows.data() + p * n * words, n, words);
  // Coefficients as the runtime's weight planes have them (1, 2, 4, ... or a difference
  // of two codes' values), now and then negative; an offset (zero-point term) on odd seeds.
  I32 coef(static_cast<size_t>(wplanes));
  for (int p = 0; p < wplanes; ++p) coef[static_cast<size_t>(p)] = (c.seed & 2) ? random_i32(rng, -7, 7) : 1 << p;
  I32 offset;
  if (c.seed & 1)
    for (int64_t j = 0; j < n; ++j) offset.push_back(random_i32(rng, -300, 300));
  // The sums the thresholds are drawn near: the twin's own arithmetic.
  I32 acc(static_cast<size_t>(m * n), 0);
  for (int p = 0; p < wplanes; ++p) {
    const uint64_t* wp = rows.data() + p * n * words;
    if (planes == 0)
      bgemm_pm1_ref(m, n, k, words, a.data(), wp, coef[static_cast<size_t>(p)], p > 0, acc.data(), n);
    else
      bgemm_planes_ref(m, n, k, words, planes, a.data(), wp, coef[static_cast<size_t>(p)], p > 0, acc.data(), n);
  }
  if (!offset.empty())
    for (int64_t i = 0; i < m * n; ++i) acc[static_cast<size_t>(i)] += offset[static_cast<size_t>(i % n)];
  I32 thr(static_cast<size_t>(n * levels));
  for (int64_t j = 0; j < n; ++j) {
    int32_t* t = thr.data() + j * levels;
    for (int l = 0; l < levels; ++l) t[l] = threshold_near(rng, acc, m, n, j);
    std::sort(t, t + levels);
  }
  const int64_t out_words = packed_words(n), bits = threshold_bits(levels);
  const U64 start = random_fill<uint64_t>(rng, bits * m * out_words);
  U64 full(start), got(start);
  bgemm_codes_ref(m, n, k, words, planes, a.data(), wplanes, rows.data(), coef.data(),
                  offset.empty() ? nullptr : offset.data(), levels, thr.data(), full.data());
  bgemm_codes(m, k, planes, a.data(), wplanes, w.data(), coef.data(), offset.empty() ? nullptr : offset.data(), levels,
              thr.data(), got.data(), j0, j1);
  maybe_corrupt(c, got, static_cast<size_t>(j0 < j1 ? j0 / 64 : 0));
  // Per plane, only the words of columns [j0, j1) are written.
  U64 want(start);
  for (int64_t b = 0; b < bits; ++b)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t q = j0 / 64; q < (j1 + 63) / 64; ++q) {
        const size_t at = static_cast<size_t>((b * m + i) * out_words + q);
        want[at] = full[at];
      }
  return first_diff(got, want, "planes");
}

// The operands of a threshold kernel: sorted thresholds per channel, many repeats,
// sometimes the sentinels; accumulators (m rows of ldc) that hit them exactly, and the
// int32 extremes.
struct ThresholdCase {
  I32 thr, acc;
};

ThresholdCase threshold_operands(Rng& rng, int64_t m, int64_t n, int64_t ldc, int levels) {
  ThresholdCase t{I32(static_cast<size_t>(n * levels)), {}};
  for (int64_t j = 0; j < n; ++j) {
    int32_t* row = t.thr.data() + j * levels;
    for (int l = 0; l < levels; ++l) row[l] = random_i32(rng, -20, 20);
    if (rng.below(4) == 0) row[0] = INT32_MIN;
    if (rng.below(4) == 0) row[levels - 1] = INT32_MAX;
    std::sort(row, row + levels);
  }
  t.acc = random_fill<int32_t>(rng, m * ldc);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const uint64_t pick = rng.below(16);
      t.acc[static_cast<size_t>(i * ldc + j)] = pick == 0   ? INT32_MIN
                                                : pick == 1 ? INT32_MAX
                                                : pick < 6  ? t.thr[static_cast<size_t>(j * levels + rng.below(levels))]
                                                            : random_i32(rng, -25, 25);
    }
  return t;
}

std::string check_threshold_planes(const KernelCase& c) {
  Rng rng(c.seed);
  const int levels = c.variant;
  const int64_t m = c.m, n = c.n, ldc = n + c.pad;
  const ThresholdCase t = threshold_operands(rng, m, n, ldc, levels);
  const U64 start = random_fill<uint64_t>(rng, threshold_bits(levels) * m * packed_words(n));
  U64 want(start), got(start);
  threshold_planes_ref(m, n, t.acc.data(), ldc, levels, t.thr.data(), want.data());
  threshold_planes(m, n, t.acc.data(), ldc, levels, t.thr.data(), got.data());
  maybe_corrupt(c, got, 0);
  return first_diff(got, want, "planes");
}

std::string check_threshold_bytes(const KernelCase& c) {
  Rng rng(c.seed);
  const int levels = c.variant;
  const int64_t m = c.m, n = c.n, ldc = n + c.pad, ldo = n + c.pad;
  const ThresholdCase t = threshold_operands(rng, m, n, ldc, levels);
  const std::vector<uint8_t> start = random_fill<uint8_t>(rng, m * ldo + 8);  // bytes past n and a guard stay
  std::vector<uint8_t> want(start), got(start);
  threshold_bytes_ref(m, n, t.acc.data(), ldc, levels, t.thr.data(), want.data(), ldo);
  threshold_bytes(m, n, t.acc.data(), ldc, levels, t.thr.data(), got.data(), ldo);
  maybe_corrupt(c, got, 0);
  return first_diff(got, want, "codes");
}

// Byte codes (rows of lda, the bytes past k random too), weights within +-bound with the
// bound itself now and then, a bias every other case.
struct IntOperands {
  std::vector<uint8_t> a;
  I32 w, bias;
  bool with_bias;
};
IntOperands int_operands(Rng& rng, const KernelCase& c, int64_t lda) {
  IntOperands o;
  o.a.resize(static_cast<size_t>(c.m * lda));
  for (auto& v : o.a) v = rng.below(4) == 0 ? 255 : static_cast<uint8_t>(rng.below(256));
  const int32_t bound = c.variant;
  o.w.resize(static_cast<size_t>(c.n * c.k));
  for (auto& v : o.w) {
    const uint64_t pick = rng.below(8);
    v = pick == 0 ? bound : pick == 1 ? -bound : random_i32(rng, -bound, bound);
  }
  o.bias.resize(static_cast<size_t>(c.n));
  for (auto& v : o.bias) v = random_i32(rng, -100000, 100000);
  o.with_bias = (c.seed & 2) != 0;
  return o;
}

std::string check_int_gemm_codes(const KernelCase& c) {
  Rng rng(c.seed);
  const int64_t m = c.m, n = c.n, k = c.k, lda = k + c.pad, ldc = n + c.pad, j0 = c.j0, j1 = col_end(c);
  const IntOperands o = int_operands(rng, c, lda);
  const int32_t* bias = o.with_bias ? o.bias.data() : nullptr;
  const IntMatrix w(o.w.data(), bias, n, k);
  const I32 start = random_fill<int32_t>(rng, m * ldc);
  I32 full(start), got(start);
  int_gemm_codes_ref(m, n, k, o.a.data(), lda, o.w.data(), bias, full.data(), ldc);
  int_gemm_codes(m, o.a.data(), lda, w, got.data(), ldc, j0, j1);
  maybe_corrupt(c, got, static_cast<size_t>(j0 < j1 ? j0 : 0));
  return first_diff(got, columns_of(start, full, m, ldc, j0, j1), "sums");
}

// variant: the weight bound * 100 + the threshold levels.
std::string check_int_gemm_codes_threshold(const KernelCase& c) {
  Rng rng(c.seed);
  const int levels = c.variant % 100;
  KernelCase weights = c;
  weights.variant = c.variant / 100;
  const int64_t m = c.m, n = c.n, k = c.k, lda = k + c.pad, j0 = c.j0, j1 = col_end(c);
  const IntOperands o = int_operands(rng, weights, lda);
  const int32_t* bias = o.with_bias ? o.bias.data() : nullptr;
  const IntMatrix w(o.w.data(), bias, n, k);
  I32 sums(static_cast<size_t>(m * n));
  int_gemm_codes_ref(m, n, k, o.a.data(), lda, o.w.data(), bias, sums.data(), n);
  // One level: whole vectors are read, past n garbage to be ignored; more: n * levels, sorted.
  I32 thr = random_fill<int32_t>(rng, std::max(w.padded_rows(), n * levels));
  for (int64_t j = 0; j < n; ++j) {
    int32_t* t = thr.data() + j * levels;
    for (int l = 0; l < levels; ++l) t[l] = threshold_near(rng, sums, m, n, j);
    std::sort(t, t + levels);
  }
  const int64_t bits = threshold_bits(levels), words = packed_words(n);
  const U64 start = random_fill<uint64_t>(rng, bits * m * words);
  U64 full(start), got(start);
  int_gemm_codes_threshold_ref(m, n, k, o.a.data(), lda, o.w.data(), bias, thr.data(), full.data(), levels);
  int_gemm_codes_threshold(m, o.a.data(), lda, w, thr.data(), got.data(), j0, j1, levels);
  maybe_corrupt(c, got, static_cast<size_t>(j0 < j1 ? j0 / 64 : 0));
  U64 want(start);  // per plane, the words of columns [j0, j1)
  for (int64_t b = 0; b < bits; ++b)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t q = j0 / 64; q < (j1 + 63) / 64; ++q) {
        const size_t at = static_cast<size_t>((b * m + i) * words + q);
        want[at] = full[at];
      }
  return first_diff(got, want, "bits");
}

std::string check_pack_planes(const KernelCase& c) {
  Rng rng(c.seed);
  const int planes = c.variant;
  const int64_t words = c.n, stride = words + c.pad;
  std::vector<uint8_t> codes(static_cast<size_t>(64 * words));
  for (auto& v : codes) {  // the edge codes often: 0, all ones, the top bit
    const uint64_t pick = rng.below(8);
    v = pick == 0 ? 0 : pick == 1 ? 255 : pick == 2 ? 128 : static_cast<uint8_t>(rng.below(256));
  }
  const U64 start = random_fill<uint64_t>(rng, planes * stride);  // the gaps between planes stay
  U64 want(start), got(start);
  pack_planes_ref(words, planes, codes.data(), want.data(), stride);
  pack_planes(words, planes, codes.data(), got.data(), stride);
  maybe_corrupt(c, got, 0);
  return first_diff(got, want, "planes");
}

int64_t out_size(int64_t in, int64_t window, int64_t pad, int64_t stride) { return (in + 2 * pad - window) / stride + 1; }

std::string check_maxpool_or(const KernelCase& c) {
  Rng rng(c.seed);
  const int64_t cw = packed_words(c.n);
  const U64 src = random_rows(rng, c.m * c.h * c.w, c.n, cw);
  const U64 start = random_fill<uint64_t>(rng, c.m * out_size(c.h, c.kh, 0, c.stride) *
                                                   out_size(c.w, c.kh, 0, c.stride) * cw);
  U64 want(start), got(start);
  maxpool_or_ref(c.m, c.h, c.w, c.n, c.kh, c.stride, src.data(), want.data());
  maxpool_or(c.m, c.h, c.w, c.n, c.kh, c.stride, src.data(), got.data());
  maybe_corrupt(c, got, 0);
  return first_diff(got, want, "map");
}

std::string check_maxpool_planes(const KernelCase& c) {
  Rng rng(c.seed);
  const int planes = c.variant;
  const int64_t cw = packed_words(c.n), pixels = c.m * c.h * c.w;
  // Each plane random with bits past c 0; whole pixels at the top code or 0 now and then.
  U64 src = random_rows(rng, planes * pixels, c.n, cw);
  for (int64_t px = 0; px < pixels; ++px) {
    const uint64_t pick = rng.below(6);
    if (pick > 1) continue;
    for (int b = 0; b < planes; ++b)
      for (int64_t q = 0; q < cw; ++q) {
        const int64_t valid = std::clamp<int64_t>(c.n - 64 * q, 0, 64);
        const uint64_t mask = valid == 64 ? ~uint64_t{0} : (uint64_t{1} << valid) - 1;
        src[static_cast<size_t>((b * pixels + px) * cw + q)] = pick == 0 ? mask : 0;
      }
  }
  const int64_t out_words = c.m * out_size(c.h, c.kh, 0, c.stride) * out_size(c.w, c.kh, 0, c.stride) * cw;
  const U64 start = random_fill<uint64_t>(rng, planes * out_words);
  U64 want(start), got(start);
  maxpool_planes_ref(c.m, c.h, c.w, c.n, c.kh, c.stride, planes, src.data(), want.data());
  maxpool_planes(c.m, c.h, c.w, c.n, c.kh, c.stride, planes, src.data(), got.data());
  maybe_corrupt(c, got, 0);
  return first_diff(got, want, "map");
}

std::string check_maxpool_i32(const KernelCase& c) {
  Rng rng(c.seed);
  I32 src(static_cast<size_t>(c.m * c.h * c.w * c.n));
  for (auto& v : src) {
    const uint64_t pick = rng.below(16);
    v = pick == 0 ? INT32_MIN : pick == 1 ? INT32_MAX : random_i32(rng, -1000, 1000);
  }
  const I32 start = random_fill<int32_t>(rng, c.m * out_size(c.h, c.kh, 0, c.stride) *
                                                  out_size(c.w, c.kh, 0, c.stride) * c.n);
  I32 want(start), got(start);
  maxpool_i32_ref(c.m, c.h, c.w, c.n, c.kh, c.stride, src.data(), want.data());
  maxpool_i32(c.m, c.h, c.w, c.n, c.kh, c.stride, src.data(), got.data());
  maybe_corrupt(c, got, 0);
  return first_diff(got, want, "map");
}

// Levels of in_planes planes per pixel: a whole pixel at the largest level now and then
// (every plane all ones: the largest sums), at 0, else random; bits past c are 0.
std::string check_sum_pool_planes(const KernelCase& c) {
  Rng rng(c.seed);
  const int in_planes = c.variant;
  const int64_t cw = packed_words(c.n), pixels = c.m * c.h * c.w;
  const int64_t max_sum = c.kh * c.kh * ((int64_t{1} << in_planes) - 1);
  const int out_planes = static_cast<int>(std::bit_width(static_cast<uint64_t>(max_sum))) + static_cast<int>(c.seed & 1);
  U64 src(static_cast<size_t>(in_planes * pixels * cw));
  for (int64_t px = 0; px < pixels; ++px) {
    const uint64_t pick = rng.below(6);
    for (int b = 0; b < in_planes; ++b)
      for (int64_t q = 0; q < cw; ++q) {
        const int64_t valid = std::clamp<int64_t>(c.n - 64 * q, 0, 64);
        const uint64_t mask = valid == 64 ? ~uint64_t{0} : (uint64_t{1} << valid) - 1;
        src[static_cast<size_t>((b * pixels + px) * cw + q)] = mask & (pick == 0 ? ~uint64_t{0} : pick == 1 ? 0 : rng.next_u64());
      }
  }
  const int64_t out_words = c.m * out_size(c.h, c.kh, 0, c.stride) * out_size(c.w, c.kh, 0, c.stride) * cw;
  const U64 start = random_fill<uint64_t>(rng, out_planes * out_words);
  U64 want(start), got(start);
  sum_pool_planes_ref(c.m, c.h, c.w, c.n, c.kh, c.stride, in_planes, src.data(), out_planes, want.data());
  sum_pool_planes(c.m, c.h, c.w, c.n, c.kh, c.stride, in_planes, src.data(), out_planes, got.data());
  maybe_corrupt(c, got, 0);
  return first_diff(got, want, "sums");
}

std::string check_im2col_bits(const KernelCase& c) {
  Rng rng(c.seed);
  const int64_t cw = packed_words(c.n);
  const U64 src = random_rows(rng, c.m * c.h * c.w, c.n, cw);
  const int64_t rows = c.m * out_size(c.h, c.kh, c.ph, c.stride) * out_size(c.w, c.kw, c.pw, c.stride);
  const U64 start = random_fill<uint64_t>(rng, rows * c.kh * c.kw * cw);
  U64 want(start), got(start);
  im2col_bits_ref(c.m, c.h, c.w, c.n, c.kh, c.kw, c.stride, src.data(), want.data(), c.ph, c.pw);
  im2col_bits(c.m, c.h, c.w, c.n, c.kh, c.kw, c.stride, src.data(), got.data(), c.ph, c.pw);
  maybe_corrupt(c, got, 0);
  return first_diff(got, want, "patches");
}

std::string check_im2col_bytes(const KernelCase& c) {
  Rng rng(c.seed);
  const std::vector<uint8_t> src = random_fill<uint8_t>(rng, c.m * c.h * c.w * c.n);
  const int64_t rows = c.m * out_size(c.h, c.kh, c.ph, c.stride) * out_size(c.w, c.kw, c.pw, c.stride);
  const std::vector<uint8_t> start = random_fill<uint8_t>(rng, rows * c.kh * c.kw * c.n + 8);
  std::vector<uint8_t> want(start), got(start);
  im2col_bytes_ref(c.m, c.h, c.w, c.n, c.kh, c.kw, c.stride, src.data(), want.data(), c.ph, c.pw);
  im2col_bytes(c.m, c.h, c.w, c.n, c.kh, c.kw, c.stride, src.data(), got.data(), c.ph, c.pw);
  maybe_corrupt(c, got, 0);
  return first_diff(got, want, "patches");
}

// Rows of +-1 floats (variant 0), or with one value that is not +-1 (variant 1: 0, -0,
// 0.5, -2, NaN or a denormal, placed at random): the two must agree on the answer, and on
// the packed words when it is true. pack_rows_pm1 on c.m rows of c.n floats; pack_cols_pm1
// on the same matrix word-major, rows [m/3, m) (a thread's share) into a filled buffer.
std::string check_pack_pm1(const KernelCase& c, bool cols) {
  Rng rng(c.seed);
  const int64_t m = c.m, k = c.n, words = packed_words(k);
  std::vector<float> x(static_cast<size_t>(m * k));
  for (float& v : x) v = rng.below(2) ? 1.f : -1.f;
  const int64_t j0 = cols ? m / 3 : 0;  // the rows packed: [j0, m)
  if (c.variant == 1) {
    const float odd[] = {0.f, -0.f, 0.5f, -2.f, std::numeric_limits<float>::quiet_NaN(), 1e-40f};
    x[static_cast<size_t>(j0 * k + static_cast<int64_t>(rng.below(static_cast<uint64_t>((m - j0) * k))))] =
        odd[rng.below(6)];
  }
  const U64 start = random_fill<uint64_t>(rng, m * words);
  U64 want(start), got(start);
  bool want_ok, got_ok;
  if (cols) {
    want_ok = pack_cols_pm1_ref(x.data(), m, k, want.data(), j0, m);
    got_ok = pack_cols_pm1(x.data(), m, k, got.data(), j0, m);
  } else {
    want_ok = pack_rows_pm1_ref(x.data(), m, k, want.data());
    got_ok = pack_rows_pm1(x.data(), m, k, got.data());
  }
  if (c.corrupt && !want_ok) got_ok = !got_ok;  // no words to corrupt: the answer instead
  if (got_ok != want_ok) return cat("returned ", got_ok, ", the twin ", want_ok);
  if (c.variant == 1 && want_ok) return "the twin accepted a value that is not +-1";
  if (!want_ok) return "";
  maybe_corrupt(c, got, 0);
  return first_diff(got, want, "words");
}
std::string check_pack_rows_pm1(const KernelCase& c) { return check_pack_pm1(c, false); }
std::string check_pack_cols_pm1(const KernelCase& c) { return check_pack_pm1(c, true); }

std::string check_xnor_gemm(const KernelCase& c) {
  Rng rng(c.seed);
  const int64_t m = c.m, n = c.n, k = c.k, words = packed_words(k), ldc = n + c.pad;
  const U64 a = random_rows(rng, m, k, words), rows = random_rows(rng, n, k, words);
  U64 bt(rows.size());  // word-major: bt[w * n + j] = word w of row j
  for (int64_t j = 0; j < n; ++j)
    for (int64_t q = 0; q < words; ++q) bt[static_cast<size_t>(q * n + j)] = rows[static_cast<size_t>(j * words + q)];
  const std::vector<float> start = random_fill<float>(rng, m * ldc);
  std::vector<float> want(start), got(start);
  xnor_gemm_ref(m, n, k, a.data(), bt.data(), want.data(), ldc);
  xnor_gemm(m, n, k, a.data(), bt.data(), got.data(), ldc);
  maybe_corrupt(c, got, 0);
  return first_diff(got, want, "products");
}

// Sparse ternary operands (bit_sparse.hpp): codes with 0%, 50%, 90% or 100% zeros (by
// seed); on bit-planes (planes >= 1) the columns lie as in a patch row of `ch` channels
// per pixel, each pixel whole words (gaps between), and every operand bit is random, the
// gaps too (no weight reads them); on bytes (planes = 0) column t is byte t of rows lda =
// k + pad apart. The work buffer starts as stale bytes.
struct SparseCase {
  I32 codes;
  std::vector<int64_t> position;
  int64_t positions = 0;
  U64 bits;
  std::vector<uint8_t> bytes;
  SparseOperand a;
  std::vector<uint8_t> work;
  int32_t coef = 1;
  I32 offset;
};

SparseCase sparse_operands(Rng& rng, const KernelCase& c, int planes) {
  SparseCase s;
  const uint64_t zeros = std::array<uint64_t, 4>{0, 500, 900, 1000}[c.seed % 4];  // per mille
  for (int64_t i = 0; i < c.n * c.k; ++i)
    s.codes.push_back(rng.below(1000) < zeros ? 0 : rng.below(2) ? 1 : -1);
  s.a.planes = planes;
  if (planes > 0) {
    const int64_t ch = std::array<int64_t, 3>{c.k, 3, 65}[(c.seed / 4) % 3], cw = packed_words(ch);
    for (int64_t t = 0; t < c.k; ++t) s.position.push_back((t / ch) * cw * 64 + t % ch);
    s.a.words = (c.k + ch - 1) / ch * cw + (c.pad ? 1 : 0);
    // Positions up to the last one used, or the whole rows.
    s.positions = (c.seed & 16) ? s.position.back() + 1 : 64 * s.a.words;
    s.bits = random_rows(rng, planes * c.m, 64 * s.a.words, s.a.words);
    s.a.bits = s.bits.data();
  } else {
    s.positions = c.k;
    s.a.lda = c.k + c.pad;
    for (int64_t i = 0; i < c.m * s.a.lda; ++i)
      s.bytes.push_back(rng.below(4) == 0 ? 255 : rng.below(4) == 0 ? 0 : static_cast<uint8_t>(rng.below(256)));
    s.a.bytes = s.bytes.data();
  }
  s.coef = (c.seed & 2) ? random_i32(rng, 1, 5) : 1 + (planes == 1);
  if (c.seed & 1)
    for (int64_t j = 0; j < c.n; ++j) s.offset.push_back(random_i32(rng, -300, 300));
  return s;
}

std::string check_sparse_ternary_gemm(const KernelCase& c) {
  Rng rng(c.seed);
  SparseCase s = sparse_operands(rng, c, c.variant);
  const int64_t m = c.m, n = c.n, k = c.k, ldc = n + c.pad, j0 = c.j0, j1 = col_end(c);
  const int64_t* pos = s.position.empty() ? nullptr : s.position.data();
  const SparseTernaryMatrix w(s.codes.data(), n, k, pos, s.positions);
  s.work.assign(static_cast<size_t>(sparse_work_bytes(w)), 0xa5);  // stale contents the kernel must overwrite
  const int32_t* offset = s.offset.empty() ? nullptr : s.offset.data();
  const I32 start = random_fill<int32_t>(rng, m * ldc);
  I32 full(start), got(start);
  sparse_ternary_gemm_ref(m, n, k, s.codes.data(), pos, s.a, s.coef, offset, full.data(), ldc);
  sparse_ternary_gemm(m, s.a, w, s.coef, offset, got.data(), ldc, j0, j1, s.work.data());
  maybe_corrupt(c, got, static_cast<size_t>(j0 < j1 ? j0 : 0));
  return first_diff(got, columns_of(start, full, m, ldc, j0, j1), "sums");
}

// variant: operand planes * 100 + levels.
std::string check_sparse_ternary_threshold(const KernelCase& c) {
  Rng rng(c.seed);
  const int planes = c.variant / 100, levels = c.variant % 100;
  SparseCase s = sparse_operands(rng, c, planes);
  const int64_t m = c.m, n = c.n, k = c.k, j0 = c.j0, j1 = col_end(c);
  const int64_t* pos = s.position.empty() ? nullptr : s.position.data();
  const SparseTernaryMatrix w(s.codes.data(), n, k, pos, s.positions);
  s.work.assign(static_cast<size_t>(sparse_work_bytes(w)), 0xa5);  // stale contents the kernel must overwrite
  const int32_t* offset = s.offset.empty() ? nullptr : s.offset.data();
  I32 acc(static_cast<size_t>(m * n));  // the twin's sums, for thresholds that meet them
  sparse_ternary_gemm_ref(m, n, k, s.codes.data(), pos, s.a, s.coef, offset, acc.data(), n);
  I32 thr(static_cast<size_t>(n * levels));
  for (int64_t j = 0; j < n; ++j) {
    int32_t* t = thr.data() + j * levels;
    for (int l = 0; l < levels; ++l) t[l] = threshold_near(rng, acc, m, n, j);
    std::sort(t, t + levels);
  }
  const int64_t bits = threshold_bits(levels), words = packed_words(n);
  const U64 start = random_fill<uint64_t>(rng, bits * m * words);
  U64 full(start), got(start);
  sparse_ternary_threshold_ref(m, n, k, s.codes.data(), pos, s.a, s.coef, offset, levels, thr.data(), full.data());
  sparse_ternary_threshold(m, s.a, w, s.coef, offset, levels, thr.data(), got.data(), j0, j1, s.work.data());
  maybe_corrupt(c, got, static_cast<size_t>(j0 < j1 ? j0 / 64 : 0));
  U64 want(start);  // per plane, the words of columns [j0, j1)
  for (int64_t b = 0; b < bits; ++b)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t q = j0 / 64; q < (j1 + 63) / 64; ++q) {
        const size_t at = static_cast<size_t>((b * m + i) * words + q);
        want[at] = full[at];
      }
  return first_diff(got, want, "planes");
}

}  // namespace

std::string KernelCase::str() const {
  std::string s = cat("m=", m, " n=", n, " k=", k, " variant=", variant);
  if (j0 != 0 || j1 >= 0) s += cat(" cols=[", j0, ",", j1 < 0 ? n : j1, ")");
  if (pad != 0) s += cat(" pad=", pad);
  if (kh > 1 || kw > 1 || h > 1 || w > 1)
    s += cat(" map=", h, "x", w, " window=", kh, "x", kw, " stride=", stride, " padding=", ph, "x", pw);
  return s + cat(" seed=", seed);
}

const std::vector<KernelEntry>& bit_kernels() {
  constexpr int64_t kSpan = 31 * 64;  // bits the 8-bit popcount accumulators take before widening (bit_gemm.cpp)
  constexpr int64_t kGemmRows = 4;    // rows of the largest register tile (AVX3_DL; 2 elsewhere)
  static const std::vector<KernelEntry> entries = {
      {.name = "bgemm_pm1",
       .ref = "bgemm_pm1_ref",
       .header = "lowbit/kernels/bit_gemm.hpp",
       .layout = "a: m packed rows of words = packed_words(k) u64 (bit t of a row = element t, 1 = +1, bits past k "
                 "0); w: BinaryMatrix of n such rows (32-column blocks, word-major); c: int32 [m][ldc], only "
                 "columns [j0, j1) read or written",
       .description = "C (+)= coef * (k - 2 popcount(a_i XOR w_j)): the dot products of a binary layer",
       .shape = KernelShape::kGemm,
       .columns = ColumnRanges::kAny,
       .variant_name = "",
       .variants = {0},
       .tile_m = kGemmRows,
       .tile_n = BinaryMatrix::kBlock,
       .tile_k = kSpan,
       .check = check_bgemm_pm1},
      {.name = "bgemm_planes",
       .ref = "bgemm_planes_ref",
       .header = "lowbit/kernels/bit_gemm.hpp",
       .layout = "a: `planes` (1..16) bit-planes of unsigned codes, each m packed rows of words u64, plane b (the 2^b "
                 "bit) at a + b * m * words; w, c: as bgemm_pm1",
       .description = "C (+)= coef * sum_b 2^b (2 popcount(a_b,i AND w_j) - popcount(a_b,i)): k-bit codes times "
                      "+-1 weights",
       .shape = KernelShape::kGemm,
       .columns = ColumnRanges::kAny,
       .variant_name = "planes",
       .variants = {1, 2, 3, 8},
       .tile_m = kGemmRows,
       .tile_n = BinaryMatrix::kBlock,
       .tile_k = kSpan,
       .check = check_bgemm_planes},
      {.name = "bgemm_threshold",
       .ref = "bgemm_threshold_ref",
       .header = "lowbit/kernels/bit_gemm.hpp",
       .layout = "a: +-1 rows as bgemm_pm1 (planes = 0) or bit-planes as bgemm_planes; w: BinaryMatrix of n rows; "
                 "thr: int32 [w.blocks() * 32]; out: m packed rows of packed_words(n) u64, the words of columns "
                 "[j0, j1) written, bits past n 0",
       .description = "bit (i, j) = (dot(a_i, w_j) >= thr[j]): the GEMM with a fused one-level threshold, no int32 "
                      "stored",
       .shape = KernelShape::kGemm,
       .columns = ColumnRanges::kWords,
       .variant_name = "planes",
       .variants = {0, 1, 2, 3, 8},
       .tile_m = kGemmRows,
       .tile_n = BinaryMatrix::kBlock,
       .tile_k = kSpan,
       .check = check_bgemm_threshold},
      {.name = "bgemm_codes",
       .ref = "bgemm_codes_ref",
       .header = "lowbit/kernels/bit_gemm.hpp",
       .layout = "a: +-1 rows (planes = 0) or bit-planes as bgemm_planes; w: wplanes (1..8) BinaryMatrix of the same n "
                 "rows (twin: canonical rows, plane p at w + p * n * words); coef: wplanes int32; offset: n int32 or "
                 "null; thr: int32 [n][levels] ascending; out: threshold_bits(levels) planes of m packed rows of "
                 "packed_words(n) u64, plane b at out + b * m * packed_words(n), the words of columns [j0, j1) written",
       .description = "code(i, j) = #{l : sum_p coef_p dot(a_i, w_p,j) + offset_j >= thr[j][l]} as bit-planes: the "
                      "GEMM of multi-bit weights with fused multi-level thresholds, no int32 stored",
       .shape = KernelShape::kGemm,
       .columns = ColumnRanges::kWords,
       .variant_name = "planes*1000+wplanes*100+levels",
       .variants = {101, 103, 207, 1101, 2103, 2203, 3315, 8102},
       .tile_m = kGemmRows,
       .tile_n = BinaryMatrix::kBlock,
       .tile_k = kSpan,
       .check = check_bgemm_codes},
      {.name = "threshold_planes",
       .ref = "threshold_planes_ref",
       .header = "lowbit/kernels/bit_gemm.hpp",
       .layout = "acc: int32 [m][ldc]; thr: int32 [n][levels], ascending per channel; out: threshold_bits(levels) "
                 "planes of m packed rows of packed_words(n) u64, plane b at out + b * m * packed_words(n)",
       .description = "code(i, j) = #{l : acc(i, j) >= thr[j][l]} as bit-planes (FINN MultiThreshold); vector "
                      "compares up to 15 levels, a binary search above",
       .shape = KernelShape::kRows,
       .columns = ColumnRanges::kNone,
       .variant_name = "levels",
       .variants = {1, 2, 3, 7, 15, 16, 255},
       .tile_m = 1,
       .tile_n = 64,
       .check = check_threshold_planes},
      {.name = "threshold_bytes",
       .ref = "threshold_bytes_ref",
       .header = "lowbit/kernels/bit_gemm.hpp",
       .layout = "acc: int32 [m][ldc]; thr: int32 [n][levels], ascending per channel; out: u8 [m][ldo], bytes past n "
                 "untouched",
       .description = "code(i, j) = #{l : acc(i, j) >= thr[j][l]} as bytes (the integer GEMM's input layout); the "
                      "loop of threshold_planes",
       .shape = KernelShape::kRows,
       .columns = ColumnRanges::kNone,
       .variant_name = "levels",
       .variants = {1, 2, 3, 7, 15, 16, 255},
       .tile_m = 1,
       .tile_n = 64,
       .check = check_threshold_bytes},
      {.name = "int_gemm_codes",
       .ref = "int_gemm_codes_ref",
       .header = "lowbit/kernels/bit_gemm.hpp",
       .layout = "a: m rows of k byte codes, lda apart; w: IntMatrix of n rows of k int16-range weights and a bias "
                 "(tap pairs / quads, outputs padded to 16); c: int32 [m][ldc], only columns [j0, j1) written, j0 "
                 "a multiple of 64",
       .description = "C = bias + sum_t a[i][t] w_j[t], exact int32: the first layer on 8-bit input (VNNI on "
                      "AVX3_DL when every |w| <= 127)",
       .shape = KernelShape::kGemm,
       .columns = ColumnRanges::kWordStart,
       .variant_name = "|w| <=",
       .variants = {127, 32767},
       .tile_m = 2,
       .tile_n = IntMatrix::kPad,
       .tile_k = 4,
       .check = check_int_gemm_codes},
      {.name = "int_gemm_codes_threshold",
       .ref = "int_gemm_codes_threshold_ref",
       .header = "lowbit/kernels/bit_gemm.hpp",
       .layout = "a, w: as int_gemm_codes; thr: int32 [w.padded_rows()] (levels > 1: [n][levels] ascending); out: "
                 "threshold_bits(levels) planes of m packed rows of packed_words(n) u64, the words of columns [j0, j1) "
                 "written, bits past n 0",
       .description = "bit (i, j) = (bias + sum_t a[i][t] w_j[t] >= thr[j]): int_gemm_codes with a fused threshold; "
                      "with levels > 1 the codes #{l : sum >= thr[j][l]} as threshold_planes' bit-planes",
       .shape = KernelShape::kGemm,
       .columns = ColumnRanges::kWords,
       .variant_name = "|w| <= x100 + levels",
       .variants = {12701, 12703, 12707, 3276701, 3276703, 3276715},
       .tile_m = 2,
       .tile_n = IntMatrix::kPad,
       .tile_k = 4,
       .check = check_int_gemm_codes_threshold},
      {.name = "pack_planes",
       .ref = "pack_planes_ref",
       .header = "lowbit/kernels/bit_gemm.hpp",
       .layout = "codes: 64 * words bytes; out: `planes` (1..8) planes of `words` u64, plane b at out + b * "
                 "plane_stride (>= words)",
       .description = "bit t of word j of plane b = bit b of codes[64 j + t]: the runtime's input packing",
       .shape = KernelShape::kWords,
       .columns = ColumnRanges::kNone,
       .variant_name = "planes",
       .variants = {1, 2, 3, 4, 5, 6, 7, 8},
       .tile_n = 1,
       .check = check_pack_planes},
      {.name = "maxpool_or",
       .ref = "maxpool_or_ref",
       .header = "lowbit/kernels/bit_gemm.hpp",
       .layout = "src: packed NHWC map bits[m][h][w][packed_words(c)] (1 = +1); dst: bits[m][oh][ow][packed_words(c)], "
                 "oh = (h - k) / s + 1, ow likewise",
       .description = "k x k max pooling, stride s, no padding, of +-1 values: the OR of the window's words",
       .shape = KernelShape::kWindow,
       .columns = ColumnRanges::kNone,
       .square = true,
       .variant_name = "",
       .variants = {0},
       .tile_n = 8 * 64,  // channels of one AVX-512 vector of words
       .check = check_maxpool_or},
      {.name = "maxpool_planes",
       .ref = "maxpool_planes_ref",
       .header = "lowbit/kernels/bit_gemm.hpp",
       .layout = "src: `planes` (1..8) bit-planes of a packed NHWC map of codes, plane b at src + b * m*h*w*cw, each "
                 "bits[m][h][w][cw], cw = packed_words(c), bits past c 0; dst: the same planes of bits[m][oh][ow][cw] "
                 "at dst + b * m*oh*ow*cw, oh = (h - k) / s + 1, ow likewise",
       .description = "k x k max pooling, stride s, no padding, of unsigned k-bit codes held as bit-planes (compared "
                      "bit-sliced): the pooling of a multi-level layer whose GEMM writes codes",
       .shape = KernelShape::kWindow,
       .columns = ColumnRanges::kNone,
       .square = true,
       .variant_name = "planes",
       .variants = {1, 2, 3, 8},
       .tile_n = 8 * 64,  // channels of one AVX-512 vector of words
       .check = check_maxpool_planes},
      {.name = "maxpool_i32",
       .ref = "maxpool_i32_ref",
       .header = "lowbit/kernels/bit_gemm.hpp",
       .layout = "src: int32 NHWC map [m][h][w][c]; dst: int32 [m][oh][ow][c], oh = (h - k) / s + 1, ow likewise",
       .description = "k x k max pooling, stride s, no padding, of int32 accumulators",
       .shape = KernelShape::kWindow,
       .columns = ColumnRanges::kNone,
       .square = true,
       .variant_name = "",
       .variants = {0},
       .tile_n = 16,  // int32 lanes of AVX-512
       .check = check_maxpool_i32},
      {.name = "sum_pool_planes",
       .ref = "sum_pool_planes_ref",
       .header = "lowbit/kernels/bit_gemm.hpp",
       .layout = "src: in_planes (1..8) bit-planes of a packed NHWC map, plane b (bit 2^b of each level) at src + b * "
                 "m*h*w*cw, each bits[m][h][w][cw], cw = packed_words(c), bits past c 0; dst: out_planes (<= 16, "
                 "holding k*k*(2^in_planes - 1)) planes of bits[m][oh][ow][cw], plane b at dst + b * m*oh*ow*cw, "
                 "oh = (h - k) / s + 1, ow likewise",
       .description = "level(dst) = the sum of the k x k window's levels, stride s, no padding, by bit-sliced adds: "
                      "the IR's sum pooling (average pooling's window sums; +-1 codes: the count of +1s)",
       .shape = KernelShape::kWindow,
       .columns = ColumnRanges::kNone,
       .square = true,
       .variant_name = "in planes",
       .variants = {1, 2, 3, 8},
       .tile_n = 8 * 64,  // channels of one AVX-512 vector of words
       .check = check_sum_pool_planes},
      {.name = "im2col_bits",
       .ref = "im2col_bits_ref",
       .header = "lowbit/kernels/bit_gemm.hpp",
       .layout = "src: packed NHWC map bits[m][h][w][cw], cw = packed_words(c); dst: one row of kh * kw * cw words "
                 "per output pixel [(img * oh + y) * ow + x], taps (dy, dx) row-major, zero words for padding; oh = "
                 "(h + 2 ph - kh) / s + 1, ow likewise",
       .description = "the patches of a binary convolution, the rows bgemm_pm1 / bgemm_planes multiply",
       .shape = KernelShape::kWindow,
       .columns = ColumnRanges::kNone,
       .padding = true,
       .variant_name = "",
       .variants = {0},
       .tile_n = 8 * 64,  // channels of one AVX-512 vector of words
       .check = check_im2col_bits},
      {.name = "im2col_bytes",
       .ref = "im2col_bytes_ref",
       .header = "lowbit/kernels/bit_gemm.hpp",
       .layout = "src: byte NHWC map u8[m][h][w][c]; dst: one row of kh * kw * c bytes per output pixel [(img * oh + y) "
                 "* ow + x], taps (dy, dx) row-major, 0 for padding; oh = (h + 2 ph - kh) / s + 1, ow likewise",
       .description = "the patches of a convolution on byte codes, the rows int_gemm_codes multiplies",
       .shape = KernelShape::kWindow,
       .columns = ColumnRanges::kNone,
       .padding = true,
       .variant_name = "",
       .variants = {0},
       .tile_n = 64,
       .check = check_im2col_bytes},
      {.name = "sparse_ternary_gemm",
       .ref = "sparse_ternary_gemm_ref",
       .header = "lowbit/kernels/bit_sparse.hpp",
       .layout = "a: SparseOperand, `planes` (1..8) bit-planes of m packed rows (plane b at bits + b * m * words) or "
                 "byte rows lda apart (planes = 0); w: SparseTernaryMatrix of n columns (per column its +1 then -1 "
                 "positions); c: int32 [m][ldc], only columns [j0, j1) written; work: sparse_work_bytes(w)",
       .description = "C = coef * (sum_{p in P_j} level_i(p) - sum_{p in N_j} level_i(p)) + offset_j: a ternary "
                      "layer's accumulators, its zero weights skipped (0-100% zeros by seed)",
       .shape = KernelShape::kGemm,
       .columns = ColumnRanges::kAny,
       .variant_name = "planes (0 = bytes)",
       .variants = {0, 1, 2, 8},
       .tile_m = 64,  // rows per transposed block
       .tile_n = 64,  // columns per output tile
       .tile_k = 127, // +-1 operands: nonzeros per int8 partial sum
       .check = check_sparse_ternary_gemm},
      {.name = "sparse_ternary_threshold",
       .ref = "sparse_ternary_threshold_ref",
       .header = "lowbit/kernels/bit_sparse.hpp",
       .layout = "a, w, work: as sparse_ternary_gemm; thr: int32 [n][levels] ascending; out: threshold_bits(levels) "
                 "planes of m packed rows of packed_words(n) u64, plane b at out + b * m * packed_words(n), the words "
                 "of columns [j0, j1) written",
       .description = "code(i, j) = #{l : coef * s(i, j) + offset_j >= thr[j][l]} as bit-planes: the sparse ternary "
                      "GEMM with fused thresholds, no int32 stored",
       .shape = KernelShape::kGemm,
       .columns = ColumnRanges::kWords,
       .variant_name = "planes*100+levels",
       .variants = {1, 101, 103, 203, 315, 807},
       .tile_m = 64,
       .tile_n = 64,
       .tile_k = 127,
       .check = check_sparse_ternary_threshold},
      {.name = "xnor_gemm",
       .ref = "xnor_gemm_ref",
       .header = "lowbit/kernels/xnor_gemm.hpp",
       .layout = "a: m packed rows of packed_words(k) u64 (1 = +1, bits past k 0); bt: the n weight rows "
                 "word-major [packed_words(k)][n]; c: float [m][ldc]",
       .description = "C = k - 2 popcount(a_i XOR b_j) as float: the training library's binary products (exact)",
       .shape = KernelShape::kGemm,
       .columns = ColumnRanges::kNone,
       .variant_name = "",
       .variants = {0},
       .tile_m = 1,
       .tile_n = 8,  // u64 lanes of AVX-512; the rest of a row goes one column at a time
       .tile_k = 64,
       .check = check_xnor_gemm},
      {.name = "pack_rows_pm1",
       .ref = "pack_rows_pm1_ref",
       .header = "lowbit/kernels/xnor_gemm.hpp",
       .layout = "x: float [m][n], +-1 exactly; a: m packed rows of packed_words(n) u64",
       .description = "bit j of row i = (x[i][j] >= 0), false when a value is not +-1: the training library's "
                      "activation packing for xnor_gemm (variant 1 plants one such value)",
       .shape = KernelShape::kRows,
       .columns = ColumnRanges::kNone,
       .variant_name = "non-pm1",
       .variants = {0, 1},
       .tile_m = 1,
       .tile_n = 64,
       .check = check_pack_rows_pm1},
      {.name = "pack_cols_pm1",
       .ref = "pack_cols_pm1_ref",
       .header = "lowbit/kernels/xnor_gemm.hpp",
       .layout = "w: float [m][n] (m weight rows of n = k values), +-1 exactly; bt: word-major [packed_words(n)][m], "
                 "rows [m/3, m) written",
       .description = "bit t of bt[q][j] = (w[j][64 q + t] >= 0), false when a value is not +-1: xnor_gemm's "
                      "weight packing, a thread's rows",
       .shape = KernelShape::kRows,
       .columns = ColumnRanges::kNone,
       .variant_name = "non-pm1",
       .variants = {0, 1},
       .tile_m = 1,
       .tile_n = 64,
       .check = check_pack_cols_pm1},
  };
  return entries;
}

}  // namespace lowbit::kernels
