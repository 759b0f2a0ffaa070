// Integer GEMM on byte codes (kernels::int_gemm_codes: int16 multiply-adds, VNNI u8 x s8
// where the weights fit int8). Two uses the plan chooses: the first convolution, whose
// patches the input stage hands over as K = kh*kw*C codes (a 1-channel 3x3 patch is 9
// bytes, not nine 64-bit words of bit-planes with channel gaps), and hidden layers on
// many-bit codes (8-bit activations: one multiply-add per code instead of 8 input planes
// times the weight planes of popcounts).
#include "lowbit/kernels/bit_gemm.hpp"
#include "lowbit/runtime/gemm.hpp"

namespace lowbit::runtime {

namespace {

class IntCodeGemm final : public GemmImpl {
 public:
  explicit IntCodeGemm(const GemmProblem& p) : k_(p.layer->in_fan()) {
    // Weights v = w on values a code + b of the byte codes: +-1 codes (0/1 for
    // -1/+1) are 2 code - 1, codes with zero point Z are code - Z. So the sum is
    // a (code . v) + b sum_t v: weights a v and that bias.
    const format::LayerDesc& l = *p.layer;
    const int64_t M = l.out, K = k_;
    const int32_t a = l.input.value(1) - l.input.value(0), b = l.input.value(0);
    std::vector<int32_t> iw(static_cast<size_t>(M * K), 0), bias(static_cast<size_t>(M), 0);
    for (int64_t o = 0; o < M; ++o)
      for (int64_t t = 0; t < K; ++t) {
        const int32_t v = l.weight(o, t);
        iw[static_cast<size_t>(o * K + t)] = a * v;
        bias[static_cast<size_t>(o)] += b * v;
      }
    w_ = kernels::IntMatrix(iw.data(), bias.data(), M, K);
  }
  std::string describe() const override { return "integer weights on byte codes"; }
  bool reads_codes() const override { return true; }
  void accumulate(int64_t rows, const GemmInput& a, int32_t* acc, int64_t j0, int64_t j1) const override {
    kernels::int_gemm_codes(rows, a.codes, k_, w_, acc, w_.rows(), j0, j1);
  }
  // Up to 15 levels (4-bit codes) in the kernel's epilogue.
  int64_t fused_threshold_size(int levels) const override {
    return levels >= 1 && levels <= 15 ? w_.padded_rows() : 0;
  }
  void accumulate_threshold(int64_t rows, const GemmInput& a, int levels, const int32_t* thr, uint64_t* bits,
                            int64_t j0, int64_t j1) const override {
    kernels::int_gemm_codes_threshold(rows, a.codes, k_, w_, thr, bits, j0, j1, levels);
  }

 private:
  int64_t k_;
  kernels::IntMatrix w_;
};

}  // namespace

std::unique_ptr<GemmImpl> make_int_code_gemm(const GemmProblem& p, std::string& why_not) {
  if (!p.byte_codes) {
    why_not = "integer GEMM on byte codes: the layer's input arrives as bit-planes";
    return nullptr;
  }
  return std::make_unique<IntCodeGemm>(p);
}

}  // namespace lowbit::runtime
