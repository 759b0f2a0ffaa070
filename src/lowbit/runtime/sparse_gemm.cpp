// The sparse ternary GEMM (kernels/bit_sparse.hpp): for layers whose weight codes are all
// in {-1, 0, +1} with enough zeros (the plan's rule, plan.hpp wants_sparse), each output
// adds the operand levels at its +1 weights and subtracts those at its -1 weights; the
// zeros cost nothing. It reads the operand the plan gives the layer (bit-planes, +-1 rows
// included, or byte codes), as the dense implementations do. The kernel's cost per call is
// nearly flat up to 64 rows (it transposes blocks of 64), the dense GEMMs' grows with the
// rows: calls of fewer than GemmProblem::sparse_min_rows rows (a small batch, batch-1
// latency) run the dense implementation the layer would have had, packed alongside. Its
// shift is the layer's (the bit-plane GEMM doubles ternary accumulators): the sparse
// kernel gets coef and offset times 2^shift, so both give the same accumulators.
#include <algorithm>
#include <memory>

#include "lowbit/core/error.hpp"
#include "lowbit/core/tensor.hpp"
#include "lowbit/kernels/bit_gemm.hpp"
#include "lowbit/kernels/bit_sparse.hpp"
#include "lowbit/runtime/gemm.hpp"

namespace lowbit::runtime {

namespace {

// The calling thread's work buffer of at least `bytes` (grown, never shrunk): threads that
// split one layer's columns, or run their own chunks, each transpose into their own.
void* thread_work(int64_t bytes) {
  thread_local std::unique_ptr<uint8_t, detail::AlignedFree> buf;
  thread_local int64_t size = 0;
  if (size < bytes) {
    buf.reset(static_cast<uint8_t*>(detail::aligned_alloc_bytes(static_cast<size_t>(bytes))));
    size = bytes;
  }
  return buf.get();
}

class SparseTernaryGemm final : public GemmImpl {
 public:
  explicit SparseTernaryGemm(const GemmProblem& p)
      : k_(p.layer->in_fan()), codes_(p.byte_codes), min_rows_(p.sparse_min_rows) {
    const format::LayerDesc& l = *p.layer;
    const int64_t M = l.out, K = k_;
    GemmProblem dense = p;
    dense.sparse = false;
    dense_ = choose_gemm(dense);
    shift_ = dense_->shift();
    // Values a level + b (+-1 codes: 2 level - 1; zero points: level - Z): acc = a s + b
    // (|P| - |N|), s the kernel's signed sum of levels; times 2^shift.
    coef_ = (l.input.value(1) - l.input.value(0)) * (1 << shift_);
    const int32_t b = l.input.value(0) * (1 << shift_);
    std::vector<int64_t> position;
    int64_t positions = K;
    if (!codes_) {
      // IR column k = (y * ww + x) * c + ch at bit (y * ww + x) * cw * 64 + ch of a packed
      // row (bit_plane_gemm.cpp): each window pixel in whole words.
      const int64_t c = l.in_c, cw = kernels::packed_words(c);
      planes_ = l.input.planes();
      words_ = l.window_h() * l.window_w() * cw;
      positions = 64 * words_;
      position.resize(static_cast<size_t>(K));
      for (int64_t k = 0; k < K; ++k) position[static_cast<size_t>(k)] = (k / c) * cw * 64 + k % c;
    }
    w_ = kernels::SparseTernaryMatrix(l.weights.data(), M, K, codes_ ? nullptr : position.data(), positions);
    if (b != 0) {
      offset_.assign(static_cast<size_t>(M), 0);
      for (int64_t o = 0; o < M; ++o) {
        const int64_t plus = w_.split()[o] - w_.start()[o], minus = w_.start()[o + 1] - w_.split()[o];
        offset_[static_cast<size_t>(o)] = static_cast<int32_t>(b * (plus - minus));
      }
    }
    zeros_ = M * K > 0 ? 1.0 - static_cast<double>(w_.nonzeros()) / static_cast<double>(M * K) : 1.0;
  }

  std::string describe() const override {
    return cat("sparse ternary weights (", static_cast<int>(zeros_ * 1000) / 10.0, "% zeros)",
               codes_ ? " on byte codes" : "");
  }
  bool reads_codes() const override { return codes_; }
  int shift() const override { return shift_; }
  void accumulate(int64_t rows, const GemmInput& a, int32_t* acc, int64_t j0, int64_t j1) const override {
    if (rows < min_rows_) return dense_->accumulate(rows, a, acc, j0, j1);
    kernels::sparse_ternary_gemm(rows, operand(a), w_, coef_, offset(), acc, w_.rows(), j0, j1,
                                 thread_work(kernels::sparse_work_bytes(w_)));
  }
  // Up to 15 levels where the dense implementation fuses them too; its thresholds array
  // (whole tiles), of which the kernel reads the layer's columns.
  int64_t fused_threshold_size(int levels) const override {
    const int64_t dense = dense_->fused_threshold_size(levels);
    return levels >= 1 && levels <= 15 && dense > 0 ? std::max(dense, w_.rows()) : 0;
  }
  void accumulate_threshold(int64_t rows, const GemmInput& a, int levels, const int32_t* thr, uint64_t* bits,
                            int64_t j0, int64_t j1) const override {
    if (rows < min_rows_) return dense_->accumulate_threshold(rows, a, levels, thr, bits, j0, j1);
    kernels::sparse_ternary_threshold(rows, operand(a), w_, coef_, offset(), levels, thr, bits, j0, j1,
                                      thread_work(kernels::sparse_work_bytes(w_)));
  }

 private:
  kernels::SparseOperand operand(const GemmInput& a) const {
    kernels::SparseOperand op;
    if (codes_) {
      op.bytes = a.codes, op.lda = k_;
    } else {
      op.planes = planes_, op.bits = a.bits, op.words = words_;
    }
    return op;
  }
  const int32_t* offset() const { return offset_.empty() ? nullptr : offset_.data(); }

  int64_t k_;
  bool codes_;
  int64_t min_rows_;
  std::unique_ptr<GemmImpl> dense_;  // small calls
  int shift_ = 0;
  int planes_ = 0;
  int64_t words_ = 0;
  int32_t coef_ = 1;
  double zeros_ = 0;
  kernels::SparseTernaryMatrix w_;
  std::vector<int32_t> offset_;  // per channel: b (|P| - |N|) 2^shift, empty when b = 0
};

}  // namespace

std::unique_ptr<GemmImpl> make_sparse_ternary_gemm(const GemmProblem& p, std::string& why_not) {
  if (!p.sparse) {
    why_not = "sparse ternary GEMM: not chosen for this layer (plan.hpp, wants_sparse)";
    return nullptr;
  }
  const format::LayerDesc& l = *p.layer;
  for (int32_t w : l.weights)
    if (w < -1 || w > 1) {
      why_not = cat("sparse ternary GEMM: weight code ", w, " is not ternary");
      return nullptr;
    }
  if (!p.byte_codes && l.input.planes() > 8) {
    why_not = cat("sparse ternary GEMM: ", l.input.planes(), " input bit-planes (at most 8)");
    return nullptr;
  }
  return std::make_unique<SparseTernaryGemm>(p);
}

}  // namespace lowbit::runtime
