// Kernels of the deployment runtime: integer accumulators of binary and few-bit layers by
// popcount, thresholding into packed bits / bit-planes, and max pooling, sum pooling and
// patch gathering (im2col) of packed maps.
// Pure functions on raw buffers, single-threaded (the runtime splits rows and columns
// across threads); every dispatched kernel has a plain scalar `_ref` twin that is its
// specification, and an entry in kernel_inventory.hpp, the list the shared tester runs on
// every target (a kernel declared here without one fails that test; docs/KERNELS.md).
// Bit convention (ARCHITECTURE.md): bit 1 = +1, bit 0 = -1 for +-1 data;
// bit 1 = 1, bit 0 = 0 for the bit-planes of unsigned codes.
//
// Packed rows: a matrix of `rows` vectors is stored row-major with `words` uint64 per
// row; element t of a row is bit (t % 64) of word t / 64. `k` counts the valid elements of
// a row; every bit that is not a valid element is 0 in both operands (so K not a multiple
// of 64, and conv patches whose channel groups leave gaps, both just work).
// Bit-planes: unsigned p-bit codes are stored as p packed matrices, plane b (the 2^b bit)
// at planes + b * rows * words.
// Packed maps (NHWC): a binary feature map of N images, H x W pixels, C channels is
// bits[N][H][W][packed_words(C)]: each pixel is one packed row of its C channels.
//
// SIMD through Highway with run-time dispatch (AVX-512 with VPOPCNTDQ, AVX-512, AVX2,
// SSE4, NEON, scalar); bit_kernel_targets() lists the targets compiled in and usable here,
// and hwy::SetSupportedTargetsForTest caps them (tests run every one).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "lowbit/core/tensor.hpp"       // detail::aligned_alloc_bytes
#include "lowbit/kernels/xnor_gemm.hpp"  // packed_words

namespace lowbit::kernels {

// Weights prepared once for the GEMM kernels: n rows of +-1 values (or, seen by
// bgemm_planes, of 0/1 multiplied as +-1), given as canonical packed rows [n][words].
//
// Kernel layout (data()): columns are grouped in blocks of kBlock = 32 rows of the
// weight matrix, each block stored word-major, so one word of an activation row meets
// 32 consecutive weight words (SIMD lanes = output columns, no horizontal sums):
//   data()[(jb * words + w) * kBlock + jj] = word w of weight row jb * kBlock + jj,
// for jb < blocks() = ceil(n / kBlock); rows past n are zero. 64-byte aligned.
// row_popcounts()[j] = popcount of row j (padded with zeros to blocks() * kBlock).
class BinaryMatrix {
 public:
  static constexpr int64_t kBlock = 32;

  BinaryMatrix() = default;
  BinaryMatrix(const uint64_t* rows, int64_t n, int64_t words);
  BinaryMatrix(const BinaryMatrix& other);
  BinaryMatrix& operator=(const BinaryMatrix& other);
  BinaryMatrix(BinaryMatrix&& other) noexcept;  // leaves `other` empty (0 x 0)
  BinaryMatrix& operator=(BinaryMatrix&& other) noexcept;

  int64_t rows() const { return n_; }
  int64_t words() const { return words_; }
  int64_t blocks() const { return (n_ + kBlock - 1) / kBlock; }
  const uint64_t* data() const { return data_.get(); }  // kernel layout (above)
  const int32_t* row_popcounts() const { return popcounts_.data(); }
  uint64_t word(int64_t row, int64_t w) const { return data_.get()[((row / kBlock) * words_ + w) * kBlock + row % kBlock]; }
  // Back to canonical packed rows [n][words].
  void unpack(uint64_t* rows) const;

 private:
  int64_t n_ = 0, words_ = 0;
  std::unique_ptr<uint64_t, detail::AlignedFree> data_;
  std::vector<int32_t> popcounts_;
};

// C[i * ldc + j] (+)= coef * dot(a_i, w_j) for i < m, j0 <= j < j1, exact int32 (wrapping
// like int32 arithmetic if coef * dot does not fit):
//   bgemm_pm1:    a is +-1 bits:         dot = k - 2 popcount(a_i XOR w_j)
//   bgemm_planes: a is p unsigned planes: dot = sum_b 2^b (2 popcount(a_b,i AND w_j) - popcount(a_b,i))
// a: m packed rows of w.words() words (bgemm_planes: `planes` such matrices, plane b at
// a + b * m * words; 1 <= planes <= 16). Columns default to all (j1 = -1 means w.rows());
// only columns [j0, j1) of C are read or written, so threads may split rows (pm1: pass
// a + i0 * words and c + i0 * ldc) or columns (both; fastest at multiples of
// BinaryMatrix::kBlock). `accumulate` adds to C instead of overwriting (multi-plane
// weights: w = sum_j coef_j s_j). Never allocates.
void bgemm_pm1(int64_t m, int64_t k, const uint64_t* a, const BinaryMatrix& w, int32_t coef, bool accumulate,
               int32_t* c, int64_t ldc, int64_t j0 = 0, int64_t j1 = -1);
void bgemm_planes(int64_t m, int64_t k, int planes, const uint64_t* a, const BinaryMatrix& w, int32_t coef,
                  bool accumulate, int32_t* c, int64_t ldc, int64_t j0 = 0, int64_t j1 = -1);
// Scalar twins on canonical packed weight rows (w: n rows of `words`).
void bgemm_pm1_ref(int64_t m, int64_t n, int64_t k, int64_t words, const uint64_t* a, const uint64_t* w, int32_t coef,
                   bool accumulate, int32_t* c, int64_t ldc);
void bgemm_planes_ref(int64_t m, int64_t n, int64_t k, int64_t words, int planes, const uint64_t* a,
                      const uint64_t* w, int32_t coef, bool accumulate, int32_t* c, int64_t ldc);

// The GEMM with a fused threshold (one level): bit (i, j) of out = (dot(a_i, w_j) >= thr[j])
// for j < n = w.rows(), as m packed rows of packed_words(n) words (bits past n are 0),
// dot as bgemm_pm1 (planes = 0: +-1 rows) or bgemm_planes (planes >= 1). No int32
// accumulators are stored. thr must hold w.blocks() * BinaryMatrix::kBlock values (the
// kernel reads whole tiles; values past n are ignored). Columns [j0, j1) only (j1 = -1:
// n), on output word boundaries (multiples of 64, or j1 = n), so threads may split them.
void bgemm_threshold(int64_t m, int64_t k, int planes, const uint64_t* a, const BinaryMatrix& w, const int32_t* thr,
                     uint64_t* out, int64_t j0 = 0, int64_t j1 = -1);
// Scalar twin on canonical weight rows w[n][words] (thr: n values).
void bgemm_threshold_ref(int64_t m, int64_t n, int64_t k, int64_t words, int planes, const uint64_t* a,
                         const uint64_t* w, const int32_t* thr, uint64_t* out);

// A layer's GEMM and its thresholds fused, for multi-bit weights and multi-level codes
// (W2A2, W1A2, ...): with `wplanes` +-1 weight planes w[0..wplanes) (BinaryMatrix of the
// same n rows and words) and coefficients coef[p],
//   acc(i, j) = sum_p coef[p] * dot(a_i, w[p]_j) + (offset ? offset[j] : 0)   (int32, wrapping)
// dot as bgemm_pm1 (planes = 0: +-1 rows) or bgemm_planes (planes >= 1), and out = the codes
// #{l < levels : acc(i, j) >= thr[j * levels + l]} as threshold_planes writes them:
// threshold_bits(levels) planes of m packed rows of packed_words(n) words, plane b at
// out + b * m * packed_words(n), bits past n 0. No int32 accumulators are stored. thr:
// n * levels values, ascending per column (INT32_MIN / INT32_MAX as always / never);
// offset: n values or null. 1 <= wplanes <= 8, 1 <= levels <= 15. Columns [j0, j1) (j1 =
// -1: n) on output word boundaries (multiples of 64, or j1 = n), so threads may split them.
// planes: 0 (+-1 rows) or 1..16 activation bit-planes; coef: wplanes values, not null.
// Throws lowbit::Error for planes, wplanes or levels out of range, weight planes of other
// shapes than w[0], or [j0, j1) off the output words (and as bgemm_pm1 for a, k, m).
void bgemm_codes(int64_t m, int64_t k, int planes, const uint64_t* a, int wplanes, const BinaryMatrix* w,
                 const int32_t* coef, const int32_t* offset, int levels, const int32_t* thr, uint64_t* out,
                 int64_t j0 = 0, int64_t j1 = -1);
// Scalar twin on canonical weight rows: plane p of w at w + p * n * words.
void bgemm_codes_ref(int64_t m, int64_t n, int64_t k, int64_t words, int planes, const uint64_t* a, int wplanes,
                     const uint64_t* w, const int32_t* coef, const int32_t* offset, int levels, const int32_t* thr,
                     uint64_t* out);

// Output codes: code(i, j) = #{l < levels : acc[i * ldc + j] >= thr[j * levels + l]} with
// thr sorted ascending per channel (FINN MultiThreshold, `x >= t`; INT32_MIN / INT32_MAX
// work as always / almost never). levels = 1 gives one bit per value; out is
// `bits = threshold_bits(levels)` planes of m rows x packed_words(n) words, plane b (bit
// 2^b of the code) at out + b * m * packed_words(n); bits past n in each row are 0.
// 1 <= levels <= 255 (lowbit::Error otherwise).
inline int threshold_bits(int levels) {
  int b = 0;
  while ((levels >> b) != 0) ++b;
  return b;
}
void threshold_planes(int64_t m, int64_t n, const int32_t* acc, int64_t ldc, int levels, const int32_t* thr,
                      uint64_t* out);
void threshold_planes_ref(int64_t m, int64_t n, const int32_t* acc, int64_t ldc, int levels, const int32_t* thr,
                          uint64_t* out);
// The same codes as bytes: out[i * ldo + j] = code(i, j) for j < n (bytes past n in each
// row untouched), the layout int_gemm_codes reads (8-bit activations between layers).
void threshold_bytes(int64_t m, int64_t n, const int32_t* acc, int64_t ldc, int levels, const int32_t* thr,
                     uint8_t* out, int64_t ldo);
void threshold_bytes_ref(int64_t m, int64_t n, const int32_t* acc, int64_t ldc, int levels, const int32_t* thr,
                         uint8_t* out, int64_t ldo);

// Integer weights for int_gemm_codes: n rows of k values in int16 range (row j = output
// j) and an optional per-output int32 bias. Stored by tap pairs, outputs contiguous and
// padded with zeros to a multiple of kPad, each output's two taps adjacent:
//   data()[((t / 2) * padded_rows() + j) * 2 + t % 2] = w_j[t]  (0 past k),
// so SIMD lanes are output channels and one int16 multiply-add takes two taps.
class IntMatrix {
 public:
  static constexpr int64_t kPad = 16;
  IntMatrix() = default;
  IntMatrix(const int32_t* rows, const int32_t* bias, int64_t n, int64_t k);  // bias may be null
  int64_t rows() const { return n_; }
  int64_t cols() const { return k_; }
  int64_t padded_rows() const { return n_pad_; }
  const int16_t* data() const { return w_.data(); }
  // The same weights by tap quads (data8()[((t / 4) * padded_rows() + j) * 4 + t % 4]) when
  // every |w| <= 127, for VNNI's u8 x s8 products; else null.
  const int8_t* data8() const { return w8_.empty() ? nullptr : w8_.data(); }
  const int32_t* bias() const { return bias_.data(); }

 private:
  int64_t n_ = 0, k_ = 0, n_pad_ = 0;
  std::vector<int16_t> w_;
  std::vector<int8_t> w8_;
  std::vector<int32_t> bias_;
};

// C[i * ldc + j] = bias_j + sum_t a[i * lda + t] * w_j[t] for i < m, j < w.rows(), on byte
// codes a (m rows of w.cols() codes, lda apart), exact int32 (wrapping like int32 if a
// sum does not fit). The first convolution on 8-bit input: short rows, many planes.
// Columns [j0, j1) only (j1 = -1: all), j0 a multiple of 64, so threads may split them.
void int_gemm_codes(int64_t m, const uint8_t* a, int64_t lda, const IntMatrix& w, int32_t* c, int64_t ldc,
                    int64_t j0 = 0, int64_t j1 = -1);
// The same with a fused threshold: bit (i, j) of out = (sum >= thr[j]), m packed rows of
// packed_words(n) words (bits past n are 0; no int32 sums stored). thr must hold
// w.padded_rows() values (whole vectors are read; values past n are ignored). With
// levels > 1 (up to 15): the codes #{l : sum >= thr[j * levels + l]} (thr ascending per
// column, n * levels values) as threshold_planes writes them, threshold_bits(levels) such
// planes, plane b at out + b * m * packed_words(n).
void int_gemm_codes_threshold(int64_t m, const uint8_t* a, int64_t lda, const IntMatrix& w, const int32_t* thr,
                              uint64_t* out, int64_t j0 = 0, int64_t j1 = -1, int levels = 1);
// Scalar twins on row-major weights w[n][k] (bias may be null; thr: n values).
void int_gemm_codes_ref(int64_t m, int64_t n, int64_t k, const uint8_t* a, int64_t lda, const int32_t* w,
                        const int32_t* bias, int32_t* c, int64_t ldc);
void int_gemm_codes_threshold_ref(int64_t m, int64_t n, int64_t k, const uint8_t* a, int64_t lda, const int32_t* w,
                                  const int32_t* bias, const int32_t* thr, uint64_t* out, int levels = 1);

// Bit-planes of unsigned byte codes (the runtime's input packing): word j of plane b holds
// bit b of codes[64 j + t] at bit t, for j < words, b < planes (1..8); plane b goes to
// out + b * plane_stride (plane_stride >= words when planes > 1). codes: 64 * words bytes.
void pack_planes(int64_t words, int planes, const uint8_t* codes, uint64_t* out, int64_t plane_stride);
void pack_planes_ref(int64_t words, int planes, const uint8_t* codes, uint64_t* out, int64_t plane_stride);

// Max pooling of a packed binary NHWC map (max of +-1 values = OR, bit 1 = +1):
// src bits[n][h][w][packed_words(c)], window k x k, stride s, no padding;
// dst bits[n][oh][ow][packed_words(c)] with oh = (h - k) / s + 1, ow = (w - k) / s + 1.
// Requires 1 <= k <= h, w and s >= 1.
void maxpool_or(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, const uint64_t* src, uint64_t* dst);
void maxpool_or_ref(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, const uint64_t* src,
                    uint64_t* dst);

// Max pooling of a bit-plane NHWC map of unsigned codes (the runtime's k-bit activations,
// as threshold_planes / bgemm_codes write them): src `planes` (1..8) planes, plane b (bit
// 2^b of each code) at src + b * n*h*w*cw, each bits[n][h][w][cw], cw = packed_words(c);
// dst the same planes of bits[n][oh][ow][cw] at dst + b * n*oh*ow*cw; code(dst) = the
// largest code of its k x k window (stride s, no padding), compared bit-sliced from the
// top plane down. Same windows and requirements as maxpool_or (planes = 1 is maxpool_or).
void maxpool_planes(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, int planes, const uint64_t* src,
                    uint64_t* dst);
void maxpool_planes_ref(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, int planes,
                        const uint64_t* src, uint64_t* dst);

// Max pooling of an int32 NHWC map (accumulators; channels contiguous), same windows as
// maxpool_or: src[n][h][w][c] -> dst[n][oh][ow][c].
void maxpool_i32(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, const int32_t* src, int32_t* dst);
void maxpool_i32_ref(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, const int32_t* src,
                     int32_t* dst);

// Sum pooling of a bit-plane NHWC map of levels (the runtime's activations after the
// thresholds: +-1 codes are levels 0/1 (bit 1 = +1) in one plane, unsigned k-bit codes
// their k planes), the IR's `sum_pool` (format/model_desc.hpp):
//   src: in_planes (1..8) planes, plane b (bit 2^b of each level) at src + b * n*h*w*cw,
//        each a packed map bits[n][h][w][cw], cw = packed_words(c), bits past c 0;
//   dst: out_planes planes, plane b at dst + b * n*oh*ow*cw, each bits[n][oh][ow][cw],
//        oh = (h - k) / s + 1, ow = (w - k) / s + 1;
//   level(dst) = the sum of the levels of its k x k window (stride s, no padding): for +-1
//   codes the number of +1s u (the sum's value is 2u - k*k), for unsigned codes the sum of
//   the codes (format::CodeFormat::summed(k * k)); bits past c are 0 in every plane.
// Requires 1 <= k <= h, w, s >= 1 and k*k*(2^in_planes - 1) < 2^out_planes, out_planes <=
// 16 (planes above the largest sum's are written as zeros). lowbit::Error otherwise.
void sum_pool_planes(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, int in_planes,
                     const uint64_t* src, int out_planes, uint64_t* dst);
void sum_pool_planes_ref(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, int in_planes,
                         const uint64_t* src, int out_planes, uint64_t* dst);

// Patches of a binary convolution (kh x kw, stride s, no padding) on a packed NHWC map
// src bits[n][h][w][cw], cw = packed_words(c): one packed row per output pixel,
// dst[(img * oh + y) * ow + x][kh * kw * cw], oh = (h - kh) / s + 1, ow = (w - kw) / s + 1,
// the row being the kh * kw input pixels of the window in (dy, dx) row-major order, each
// its cw words copied as is. So a row holds k = kh * kw * c valid bits in
// words = kh * kw * cw words, the channel gaps zero in both operands when the weights of
// output channel o are packed the same way (tap (dy, dx) of o in words
// [(dy * kw + dx) * cw, +cw)), and bgemm_pm1(oh * ow * n, kh * kw * c, dst, weights...)
// computes the convolution. Padding ph rows and pw columns (0 <= ph < kh, 0 <= pw < kw)
// adds zero words around the map (oh = (h + 2 ph - kh) / s + 1, likewise ow): bit 0, so a
// padded tap counts as -1 for +-1 data (the runtime corrects it to exact 0) and as code 0
// for bit-planes. Requires kh <= h + 2 ph, kw <= w + 2 pw, s >= 1.
void im2col_bits(int64_t n, int64_t h, int64_t w, int64_t c, int64_t kh, int64_t kw, int64_t s, const uint64_t* src,
                 uint64_t* dst, int64_t ph = 0, int64_t pw = 0);
void im2col_bits_ref(int64_t n, int64_t h, int64_t w, int64_t c, int64_t kh, int64_t kw, int64_t s,
                     const uint64_t* src, uint64_t* dst, int64_t ph = 0, int64_t pw = 0);

// The same patches on a byte map (one level per byte, the runtime's layout for codes the
// integer GEMM reads): src bytes[n][h][w][c]; dst one row of kh * kw * c bytes per output
// pixel [(img * oh + y) * ow + x], taps (dy, dx) row-major, each its c bytes, 0 for padded
// taps (level 0), oh = (h + 2 ph - kh) / s + 1, ow likewise: int_gemm_codes' rows
// (lda = kh * kw * c). Same requirements as im2col_bits.
void im2col_bytes(int64_t n, int64_t h, int64_t w, int64_t c, int64_t kh, int64_t kw, int64_t s, const uint8_t* src,
                  uint8_t* dst, int64_t ph = 0, int64_t pw = 0);
void im2col_bytes_ref(int64_t n, int64_t h, int64_t w, int64_t c, int64_t kh, int64_t kw, int64_t s,
                      const uint8_t* src, uint8_t* dst, int64_t ph = 0, int64_t pw = 0);

// The Highway targets (hwy::TargetName) the bit kernels were compiled for and this CPU
// supports, best first, and the one they dispatch to now ("AVX3_DL", "AVX2", ...).
std::vector<int64_t> bit_kernel_targets();
const char* bit_kernel_target();

}  // namespace lowbit::kernels
