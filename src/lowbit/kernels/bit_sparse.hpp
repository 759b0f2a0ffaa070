// Sparse ternary GEMM: layers whose weight codes are in {-1, 0, +1} and mostly 0 skip the
// zeros instead of multiplying them. Ternary networks trained for sparsity (Faraone's
// thesis, seed 003, ch. 3: eq. 3.1's thresholded weights, L2 regularization and
// quantization pruning) reach 90.1-97.6% zero weights (its Tables 3.2 and 3.3: MLPs with
// binary activations on MNIST, VGG-style CNNs on CIFAR10).
//
// Weights (SparseTernaryMatrix): per output column j, the operand positions of its +1
// weights, then those of its -1 weights (a compressed sparse column of each weight row;
// no values are stored). The dot product of one operand row x with column j is then
//   s(i, j) = sum_{p in P_j} level_i(p) - sum_{p in N_j} level_i(p),
// additions only. The kernels take 64 operand rows at a time, transpose them once into
// a position-major block of small integers (64 lanes per position: int8 for levels <= 3,
// else int16), and accumulate each column's nonzeros as whole vector loads of that block,
// so one added vector serves 64 rows (lanes = rows, no horizontal sums); the partial sums
// widen before they can overflow (int8 every floor(127 / max level) nonzeros). The bit
// operands are transposed 64 x 64 bits at a time.
//
// Operands (SparseOperand) are either of the bit GEMMs' layouts (bit_gemm.hpp: `planes`
// bit-planes of m packed rows, level = sum_b 2^b bit_b; +-1 rows are one plane, level
// 0/1) or byte code rows (int_gemm_codes' layout: level = the byte). The value a level
// stands for is `coef * level + b` for the layer's codes (format::CodeFormat), so
//   acc(i, j) = coef * s(i, j) + offset[j],  offset[j] = b * (|P_j| - |N_j|)
// is the layer's exact accumulator (the runtime passes both; runtime/sparse_gemm.cpp).
//
// The same conventions as bit_gemm.hpp: pure functions on raw buffers, single-threaded,
// columns [j0, j1) so threads may split the outputs; every kernel has a scalar `_ref`
// twin on the dense codes, listed in kernel_inventory.cpp (docs/KERNELS.md).
#pragma once
#include <cstdint>
#include <vector>

namespace lowbit::kernels {

// Ternary weights of n output columns over positions [0, positions) of an operand row.
// Built from dense codes w[n][k] (row j = output j, each in {-1, 0, +1}) and where each
// of the k IR columns lies in an operand row: position[t] < positions (null: t itself),
// e.g. the bit (t / c) * packed_words(c) * 64 + t % c of a packed patch row whose pixels
// are whole words. Throws lowbit::Error for a code outside {-1, 0, +1}, a position out
// of range, n or k negative, or positions above 2^23 (|s| must fit int32 with 8-bit levels).
class SparseTernaryMatrix {
 public:
  SparseTernaryMatrix() = default;
  SparseTernaryMatrix(const int32_t* w, int64_t n, int64_t k, const int64_t* position, int64_t positions);

  int64_t rows() const { return n_; }  // output columns
  int64_t positions() const { return positions_; }
  int64_t nonzeros() const { return static_cast<int64_t>(index_.size()); }
  // Column j's +1 positions are index()[start()[j] .. split()[j]), its -1 positions
  // index()[split()[j] .. start()[j + 1]) (start() has rows() + 1 entries).
  const uint32_t* index() const { return index_.data(); }
  const int64_t* start() const { return start_.data(); }
  const int64_t* split() const { return split_.data(); }
  // The most nonzeros of one column (bounds |s|, which picks the kernels' lane widths).
  int64_t max_column_nonzeros() const { return max_column_; }
  // Per group of 64 positions (positions [64 q, 64 q + 64)): 1 when some weight reads one
  // of them. The kernels transpose only those groups of an operand row.
  const std::vector<uint8_t>& used_groups() const { return used_; }

 private:
  int64_t n_ = 0, positions_ = 0, max_column_ = 0;
  std::vector<uint32_t> index_;
  std::vector<int64_t> start_{0}, split_;
  std::vector<uint8_t> used_;
};

// One chunk of m operand rows: bits (planes >= 1) or bytes (planes == 0).
struct SparseOperand {
  int planes = 0;                  // 1..8 bit-planes; 0: byte codes
  const uint64_t* bits = nullptr;  // plane b at bits + b * m * words, row i at + i * words
  int64_t words = 0;               // per row and plane; positions < 64 * words
  const uint8_t* bytes = nullptr;  // row i at bytes + i * lda; positions < lda
  int64_t lda = 0;
};

// Bytes of the work buffer the kernels need for w's positions (64 rows of int16 per
// position, positions rounded up to whole groups of 64): any alignment, contents ignored
// and overwritten.
inline int64_t sparse_work_bytes(const SparseTernaryMatrix& w) { return (w.positions() + 63) / 64 * 64 * 64 * 2; }

// C[i * ldc + j] = coef * s(i, j) + (offset ? offset[j] : 0) for i < m, j0 <= j < j1
// (j1 = -1: w.rows()), exact int32 (wrapping like int32 if it does not fit); only those
// columns of C are written. coef >= 1. `work`: sparse_work_bytes(w) bytes. Throws
// lowbit::Error for an operand that is too short for w's positions, planes outside 0..8,
// coef < 1 or a bad column range.
void sparse_ternary_gemm(int64_t m, const SparseOperand& a, const SparseTernaryMatrix& w, int32_t coef,
                         const int32_t* offset, int32_t* c, int64_t ldc, int64_t j0, int64_t j1, void* work);
// Scalar twin on the dense codes w[n][k] and their positions (as the matrix was built).
void sparse_ternary_gemm_ref(int64_t m, int64_t n, int64_t k, const int32_t* w, const int64_t* position,
                             const SparseOperand& a, int32_t coef, const int32_t* offset, int32_t* c, int64_t ldc);

// The GEMM with fused thresholds: the codes #{l < levels : acc(i, j) >= thr[j * levels + l]}
// (acc = coef * s + offset as above, compared exactly; thr ascending per column, INT32_MIN
// / INT32_MAX as always / never) as threshold_planes writes them: threshold_bits(levels)
// planes of m packed rows of packed_words(n) words, plane b at out + b * m *
// packed_words(n), bits past n 0. No int32 accumulators are stored. 1 <= levels <= 15;
// thr: n * levels values. Columns [j0, j1) on output word boundaries (multiples of 64, or
// j1 = n): only their words are written. Throws as sparse_ternary_gemm, and for levels
// out of range or a column range off the words.
void sparse_ternary_threshold(int64_t m, const SparseOperand& a, const SparseTernaryMatrix& w, int32_t coef,
                              const int32_t* offset, int levels, const int32_t* thr, uint64_t* out, int64_t j0,
                              int64_t j1, void* work);
void sparse_ternary_threshold_ref(int64_t m, int64_t n, int64_t k, const int32_t* w, const int64_t* position,
                                  const SparseOperand& a, int32_t coef, const int32_t* offset, int levels,
                                  const int32_t* thr, uint64_t* out);

}  // namespace lowbit::kernels
