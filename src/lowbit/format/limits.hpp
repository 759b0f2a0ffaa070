// What the deployment runtime executes: the bounds shared by export (which refuses a model
// beyond them before it writes anything, naming the layer and the limit) and the runtime's
// loader (which refuses a file beyond them). One definition, so an exported file always
// loads: exporting int:9 weights once wrote a .lbm the runtime then rejected.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace lowbit::format {

inline constexpr int kMaxCodeBits = 8;          // input and activation codes: 0..255 (or +-1)
inline constexpr int kMaxWeightPlanes = 9;      // +-1 weight planes of one layer (int:8 doubled: 9)
inline constexpr int64_t kMaxOutputs = 1 << 16; // outputs (channels, units, classes) of one layer
inline constexpr int64_t kMaxLayers = 4096;
inline constexpr int64_t kMaxInputDim = 1 << 16;         // one dimension of the input shape
inline constexpr int64_t kMaxInputValues = int64_t{1} << 24;  // values of one input image
inline constexpr int64_t kMaxKernel = 1 << 10, kMaxStride = 64, kMaxPool = 1 << 10;
inline constexpr int32_t kMaxWeightCoef = 1 << 16;       // |coefficient| of one weight plane

// |accumulator| <= in * sum_j |coef_j| * 255 (the largest input code), doubled for a +-1
// first convolution's integer weights: it must stay below 2^31 for int32 arithmetic.
inline bool accumulators_fit_int32(int64_t in, const std::vector<int32_t>& coef) {
  int64_t wmax = 0;
  for (int32_t c : coef) wmax += std::abs(int64_t{c});
  return in >= 0 && in <= (int64_t{1} << 31) && in * wmax * 255 * 2 < (int64_t{1} << 31);
}

}  // namespace lowbit::format
