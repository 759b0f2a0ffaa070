// The general GEMM: +-1 weight bit-planes against packed activation rows (XNOR-popcount
// for +-1 inputs, AND-popcount per input bit-plane for k-bit codes; kernels/bit_gemm.hpp).
// Takes every layer whose input arrives as packed bits: dense layers on activation rows,
// convolutions on im2col patch rows.
#include <algorithm>
#include <bit>
#include <cstdlib>

#include "lowbit/core/error.hpp"
#include "lowbit/kernels/bit_gemm.hpp"
#include "lowbit/runtime/gemm.hpp"

namespace lowbit::runtime {

namespace {

// The largest |odd code| the planes hold and their count q (see the constructor).
int odd_planes(const std::vector<int32_t>& codes, int shift) {
  int32_t max_odd = 0;
  for (int32_t w : codes) max_odd = std::max(max_odd, shift ? std::abs(2 * w - (w >= 0 ? 1 : -1)) : std::abs(w));
  return std::max(1, static_cast<int>(std::bit_width(static_cast<uint32_t>(max_odd))));
}

class BitPlaneGemm final : public GemmImpl {
 public:
  BitPlaneGemm(const GemmProblem& p, const std::string& where)
      : k_(p.layer->in_fan()), shift_(weight_shift(p.layer->weights)) {
    const format::LayerDesc& l = *p.layer;
    // Single +-1 codes: XNOR-popcount on their values. Every other format (k-bit codes,
    // zero points, window sums) is multiplied as its levels' bit-planes, value = a level + b.
    const bool xnor = l.input.pm1 && l.input.count == 1;
    input_bits_ = xnor ? 0 : l.input.planes();
    const int32_t a = xnor ? 1 : l.input.value(1) - l.input.value(0), b = xnor ? 0 : l.input.value(0);
    // Weight codes as +-1 bit-planes s_j with coefficients, sum_j coef_j s_j = 2^shift w:
    // shift 0 (all codes odd: binary, dorefa:k): q planes, coef 2^j, s_j = 2 u_j - 1 for the
    //   bits u_j of u = (w + 2^q - 1) / 2, |w| <= 2^q - 1;
    // shift 1 (some code even: ternary, int:k): 2w = s_0 + r with s_0 = +1 for w >= 0 and -1
    //   below, so r = 2w - s_0 is odd, |r| <= 2 max|w| - 1, and takes the q planes above
    //   (coef 1, 1, 2, ..., 2^(q-1)). Ternary: two planes.
    const int64_t M = l.out, K = k_, c = l.in_c, cw = kernels::packed_words(c);
    const int q = odd_planes(l.weights, shift_);
    const int planes = q + shift_;
    if (shift_) coef_.push_back(a);
    for (int j = 0; j < q; ++j) coef_.push_back(a << j);
    // IR column k = (y * ww + x) * c + ch lands at bit (y * ww + x) * cw * 64 + ch of a
    // packed row: each window pixel in whole words, as activations and patches are stored.
    const int64_t words = l.window_h() * l.window_w() * cw;
    LOWBIT_CHECK(static_cast<double>(planes) * static_cast<double>(M) * static_cast<double>(words) <= double(1 << 28),
                 where, ": weights of ", planes, " x ", M, " x ", words, " words are too large");
    std::vector<uint64_t> bits(static_cast<size_t>(planes * M * words), 0);
    auto set = [&](int plane, int64_t r, int64_t b) {
      bits[static_cast<size_t>((plane * M + r) * words + b / 64)] |= uint64_t{1} << (b % 64);
    };
    const int32_t offset = (int32_t{1} << q) - 1;
    for (int64_t r = 0; r < M; ++r)
      for (int64_t k = 0; k < K; ++k) {
        const int32_t w = l.weight(r, k);
        const int64_t b = (k / c) * cw * 64 + k % c;
        int32_t odd = w;
        if (shift_) {
          const int32_t s0 = w >= 0 ? 1 : -1;
          if (s0 > 0) set(0, r, b);
          odd = 2 * w - s0;
        }
        const auto u = static_cast<uint32_t>((odd + offset) / 2);
        for (int j = 0; j < q; ++j)
          if ((u >> j) & 1u) set(shift_ + j, r, b);
      }
    for (int j = 0; j < planes; ++j) planes_.emplace_back(bits.data() + j * M * words, M, words);
    // Values a level + b: the planes (coefficients times a) give a sum w level, and each
    // channel adds b 2^shift sum_k w: for codes with a zero point Z, b = -Z (the zero-point
    // term of Jacob et al. eq. 7); for sums of n +-1 codes, a = 2 and b = -n.
    if (b != 0) {
      offset_.assign(static_cast<size_t>(M), 0);
      for (int64_t r = 0; r < M; ++r)
        for (int64_t k = 0; k < K; ++k) offset_[static_cast<size_t>(r)] += b * l.weight(r, k) * (1 << shift_);
    }
  }

  std::string describe() const override {
    const size_t n = planes_.size();
    return std::to_string(n) + " weight plane" + (n > 1 ? "s" : "");
  }
  bool reads_codes() const override { return false; }
  int shift() const override { return shift_; }
  void accumulate(int64_t rows, const GemmInput& a, int32_t* acc, int64_t j0, int64_t j1) const override {
    const int64_t ldc = planes_[0].rows();
    for (size_t j = 0; j < planes_.size(); ++j) {
      const bool add = j > 0;
      if (input_bits_ == 0)
        kernels::bgemm_pm1(rows, k_, a.bits, planes_[j], coef_[j], add, acc, ldc, j0, j1);
      else
        kernels::bgemm_planes(rows, k_, input_bits_, a.bits, planes_[j], coef_[j], add, acc, ldc, j0, j1);
    }
    if (!offset_.empty())
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t o = j0; o < j1; ++o) acc[i * ldc + o] += offset_[static_cast<size_t>(o)];
  }
  // Every layer of up to 8 weight planes and 15 levels: one weight plane with coefficient
  // 1, no zero-point term and one level (binary weights, +-1 or k-bit input, +-1 output)
  // on bgemm_threshold, the rest (multi-bit weights or codes) on bgemm_codes, which
  // combines the weight planes and counts the levels in registers.
  int64_t fused_threshold_size(int levels) const override {
    if (levels < 1 || levels > 15 || planes_.size() > 8) return 0;
    return planes_[0].blocks() * kernels::BinaryMatrix::kBlock;
  }
  void accumulate_threshold(int64_t rows, const GemmInput& a, int levels, const int32_t* thr, uint64_t* bits,
                            int64_t j0, int64_t j1) const override {
    if (planes_.size() == 1 && coef_[0] == 1 && offset_.empty() && levels == 1)
      kernels::bgemm_threshold(rows, k_, input_bits_, a.bits, planes_[0], thr, bits, j0, j1);
    else
      kernels::bgemm_codes(rows, k_, input_bits_, a.bits, static_cast<int>(planes_.size()), planes_.data(),
                           coef_.data(), offset_.empty() ? nullptr : offset_.data(), levels, thr, bits, j0, j1);
  }

 private:
  int64_t k_;
  int shift_;
  int input_bits_ = 0;  // 0: +-1 rows; else unsigned code planes
  std::vector<kernels::BinaryMatrix> planes_;
  std::vector<int32_t> coef_;
  std::vector<int32_t> offset_;  // per channel: the zero-point term (empty when none)
};

}  // namespace

int weight_shift(const std::vector<int32_t>& codes) {
  return std::any_of(codes.begin(), codes.end(), [](int32_t w) { return w % 2 == 0; }) ? 1 : 0;
}

int weight_planes(const std::vector<int32_t>& codes) {
  const int shift = weight_shift(codes);
  return odd_planes(codes, shift) + shift;
}

std::unique_ptr<GemmImpl> make_bit_plane_gemm(const GemmProblem& p, std::string& why_not) {
  if (p.byte_codes) {
    why_not = "bit-plane GEMM: the layer's input arrives as byte codes";
    return nullptr;
  }
  return std::make_unique<BitPlaneGemm>(p, p.where);
}

}  // namespace lowbit::runtime
