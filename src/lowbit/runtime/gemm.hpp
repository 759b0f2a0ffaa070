// How the runtime computes a layer's integer accumulators: GEMM implementations, each
// packing the IR's weight codes once at load into its kernel's layout. The plan asks them
// in order (choose_gemm); each accepts the layer or declines with a reason, as oneDNN's
// primitive implementations do, so a new kernel (VNNI int8, sparse ternary weights) is a
// new implementation in the list, not a new flag in every loop.
//
// Accumulators are exact int32: acc[i][o] = 2^shift() * sum_k W[o][k] * x[i][k], with W
// the IR's weight codes (format/model_desc.hpp) and x the values of the input codes; the
// plan scales the layer's thresholds and score constants by the chosen implementation's
// shift (the bit-plane GEMM doubles even weight codes, the integer and sparse GEMMs do not).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lowbit/format/model_desc.hpp"

namespace lowbit::runtime {

// The sparse ternary GEMM's kernel costs about the same for 1 to 64 operand rows (it
// transposes blocks of 64), the dense GEMMs' cost grows with the rows: below this many rows
// in one call the sparse implementation runs the dense one. Measured
// (`build/bin/lowbit_bench --benchmark_filter='TernaryGemm/./9[0-9]0/0/1/[1-9]'`,
// docs/BENCHMARKS.md "Sparse ternary GEMM"): LFC's hidden layer (K = 1024, out = 1024,
// fused) runs sparse faster from about 14 rows at 90% zeros, 8 at 95%, 4 at 98%.
inline constexpr int64_t kSparseMinRows = 16;

// What a layer's GEMM reads for one chunk of images.
struct GemmInput {
  // Packed bit rows (kernels/bit_gemm.hpp): a dense layer's activations, or a
  // convolution's im2col patches, one row per output pixel; `planes` planes of rows.
  const uint64_t* bits = nullptr;
  // Byte code rows from the input stage (the first convolution's patches, K codes each).
  const uint8_t* codes = nullptr;
};

// Where a layer's input comes from, and the weights it multiplies.
struct GemmProblem {
  const format::LayerDesc* layer = nullptr;
  std::string where;  // "layer 2", for errors
  // The layer's input arrives as byte code rows (GemmInput::codes: the input stage's, or
  // the previous layer's threshold_bytes and im2col_bytes) instead of bit-planes. The plan
  // decides (plan.cpp, wants_byte_codes); implementations take the layout they are given.
  bool byte_codes = false;
  // The plan chose the sparse ternary GEMM for this layer (plan.hpp, wants_sparse): only
  // then does make_sparse_ternary_gemm take it (a ternary layer with few zeros is faster
  // on the dense implementations).
  bool sparse = false;
  // Calls of fewer rows than this run the dense implementation the layer would have had
  // (kSparseMinRows, or 0 when the sparse kernel is forced: SparseGemm::kAlways).
  int64_t sparse_min_rows = kSparseMinRows;
};

class GemmImpl {
 public:
  virtual ~GemmImpl() = default;
  // For `lowbit summary`: e.g. "2 weight planes (doubled)".
  virtual std::string describe() const = 0;
  // Reads GemmInput::codes (true) or GemmInput::bits (false).
  virtual bool reads_codes() const = 0;
  // Accumulators are 2^shift() times the IR's.
  virtual int shift() const { return 0; }
  // acc (rows x out, row-major): columns [j0, j1) only, so threads may split them (j0 a
  // multiple of 64).
  virtual void accumulate(int64_t rows, const GemmInput& a, int32_t* acc, int64_t j0, int64_t j1) const = 0;
  // The number of columns of thresholds accumulate_threshold reads for `levels` levels
  // (whole tiles; thresholds [column][levels]), or 0 when this implementation cannot fuse
  // that many threshold levels into the GEMM.
  virtual int64_t fused_threshold_size(int levels) const {
    (void)levels;
    return 0;
  }
  // The output codes #{l : acc[i][o] >= thr[o * levels + l]} as kernels::threshold_planes
  // writes them (threshold_bits(levels) planes of rows x packed_words(out) words), no int32
  // accumulators stored; columns [j0, j1) on 64-bit word boundaries. Only when
  // fused_threshold_size(levels) > 0.
  virtual void accumulate_threshold(int64_t rows, const GemmInput& a, int levels, const int32_t* thr, uint64_t* bits,
                                    int64_t j0, int64_t j1) const;
};

// An implementation's factory: the packed implementation, or null with `why_not` set.
using GemmFactory = std::unique_ptr<GemmImpl> (*)(const GemmProblem& p, std::string& why_not);

// The implementations in the order they are tried (sparse_gemm.cpp, int_code_gemm.cpp,
// bit_plane_gemm.cpp).
std::unique_ptr<GemmImpl> make_sparse_ternary_gemm(const GemmProblem& p, std::string& why_not);
std::unique_ptr<GemmImpl> make_int_code_gemm(const GemmProblem& p, std::string& why_not);
std::unique_ptr<GemmImpl> make_bit_plane_gemm(const GemmProblem& p, std::string& why_not);

// The first implementation that accepts the layer; lowbit::Error naming p.where and every
// implementation's reason when none does.
std::unique_ptr<GemmImpl> choose_gemm(const GemmProblem& p);

// The bit-plane GEMM's decomposition of weight codes (bit_plane_gemm.cpp): shift 1 when
// some code is even (ternary, int:k: 2w is split into a sign plane and an odd rest), else
// 0; and the number of +-1 weight planes it takes.
int weight_shift(const std::vector<int32_t>& codes);
int weight_planes(const std::vector<int32_t>& codes);

}  // namespace lowbit::runtime
