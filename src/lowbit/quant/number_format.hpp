// Number formats of low-precision training (docs/NUMERICS.md): what QPyTorch calls a
// number (FixedPoint, FloatingPoint, BlockFloatingPoint) together with its rounding, and
// the function that rounds a float32 tensor onto it. The formats are simulated: values
// stay float32 tensors holding exactly the format's values (every value of every format
// below is a float32 value), so the rest of training computes with them unchanged.
//
// Spec strings (parse_number_format), the CLI's --lp-* values and the JSON's:
//   fixed:WL,FL[:symmetric][:noclamp]  two's complement, WL bits (2..24), FL fraction bits
//                      (-64..126): value q * 2^-FL, q in [-2^(WL-1), 2^(WL-1) - 1]
//                      (symmetric: [-(2^(WL-1) - 1), ...]; noclamp: any integer q).
//                      PBNN (seed 001) trains in fixed:8,* and fixed:16,*; QPyTorch's
//                      FixedPoint(wl, fl, clamp, symmetric).
//   float:E,M[:ieee|:ext]  a minifloat with E exponent bits (2..8), M mantissa bits (0..23),
//                      bias 2^(E-1) - 1, subnormals, IEEE 754's normal range
//                      [2^(1-bias), (2 - 2^-M) 2^(2^E - 2 - bias)]; values beyond it
//                      saturate to +-max (no Inf/NaN). ieee: overflow gives +-inf as IEEE
//                      754 does (float:5,10:ieee is binary16 exactly); ext: the all-ones
//                      exponent holds finite numbers too (max (2 - 2^-M) 2^(2^E - 1 - bias),
//                      the extended range of simulators without Inf/NaN such as QPyTorch's
//                      saturating float_quantize, and of ARM's alternative half precision).
//                      bf16 = float:8,7; fp16 = float:5,10. QPyTorch's FloatingPoint(exp, man).
//   bfp:WL[,AXIS]      block floating point: one shared exponent per block (the whole
//                      tensor, or each index along dimension AXIS of the tensor, e.g. 0 =
//                      per image of a batch, per output channel of a weight; a tensor
//                      without dimension AXIS is one block), e = floor(log2
//                      max|x|) over the block's finite values; mantissas in
//                      [-(2^(WL-1) - 1), 2^(WL-1) - 1] of step 2^(e - WL + 2), so the
//                      largest magnitude keeps WL - 1 significant bits. WL in 2..24.
//                      QPyTorch's BlockFloatingPoint(wl, dim); SWALP (Yang et al. 2019).
//   float32 (or none)  no rounding.
// A rounding may follow after '@' ("bfp:8@stochastic"); otherwise the caller's default
// applies. Rounding names (parse_rounding): nearest (= nearest-even), nearest-even,
// nearest-up, nearest-away, toward-zero, stochastic; their formulas are
// kernels/number_round.hpp's.
//
// The results are float32 values computed by the kernels in kernels/number_round.hpp, in
// the FP contract mode (core/fp_env.hpp): values below 2^-126 in magnitude are 0, which
// removes the subnormals of the E = 8 formats (bfloat16's, as AVX512_BF16 does too).
#pragma once
#include <cstdint>
#include <string>

#include "lowbit/core/tensor.hpp"
#include "lowbit/kernels/number_round.hpp"

namespace lowbit::quant {

using Rounding = kernels::RoundMode;

struct NumberFormat {
  enum class Kind : uint8_t { kFloat32, kFixed, kFloat, kBfp };
  Kind kind = Kind::kFloat32;
  int wl = 0, fl = 0;           // kFixed: word and fraction bits; kBfp: wl
  bool symmetric = false;       // kFixed
  bool clamp = true;            // kFixed
  int exp = 0, man = 0;         // kFloat: exponent and mantissa bits
  bool ieee = false;            // kFloat: overflow to inf
  bool extended = false;        // kFloat: the all-ones exponent is finite
  int axis = -1;                // kBfp: -1 = one block for the whole tensor
  bool has_rounding = false;    // a rounding was given after '@'
  Rounding rounding = Rounding::kNearestEven;

  bool active() const { return kind != Kind::kFloat32; }
  // The canonical spec ("fixed:8,6", "float:5,2:ext", "bfp:8,0@stochastic"); parses back.
  std::string str() const;
  // The rounding this format uses when the caller's default is `fallback`.
  Rounding rounding_or(Rounding fallback) const { return has_rounding ? rounding : fallback; }

  // kFloat: normal exponent range and the largest finite value.
  int float_emin() const;
  int float_emax() const;
  // The largest finite magnitude of kFixed (clamped) and kFloat; inf otherwise.
  float max_value() const;
};

bool operator==(const NumberFormat& a, const NumberFormat& b);

// Throws lowbit::Error naming `spec` and listing the valid forms and ranges on any
// malformed or out-of-range spec ("fixed:0,0", "float:9,30", "bfp:1", "fixed:8").
NumberFormat parse_number_format(const std::string& spec);
// "nearest", "nearest-even", "nearest-up", "nearest-away", "toward-zero", "stochastic";
// lowbit::Error listing them otherwise.
Rounding parse_rounding(const std::string& name);
std::string rounding_name(Rounding r);

// Where a rounding happens, for the stochastic bits (kernels::round_stream_key): the run's
// seed, the training step, and a site name hashed to the tensor id ("acts/conv2d_1").
struct RoundingSite {
  uint64_t seed = 0;
  uint64_t step = 0;
  std::string name;
};
// FNV-1a 64 of the name: the tensor id of a site.
uint64_t site_id(const std::string& name);

// Rounds t in place onto `format` with `rounding` (format.rounding_or(rounding)).
// Parallel over the calling thread's team (core/parallel.hpp) in blocks whose stochastic
// bits come from the element index, so results are identical for any thread count.
// kBfp with an axis: a tensor without that dimension (a bias or BatchNorm vector under
// bfp:8,1) is one block. Tensors of 2^32 or more elements are refused for stochastic
// rounding (lowbit::Error naming the site).
void round_tensor(Tensor& t, const NumberFormat& format, Rounding rounding, const RoundingSite& site);
// The same on a raw array of n elements in one block (kBfp's axis is ignored: one block).
void round_values(float* x, int64_t n, const NumberFormat& format, Rounding rounding, const RoundingSite& site);
// round_values when the block's largest finite magnitude is already known (kBfp: it must be
// max_abs_finite of x[0, n); ignored by the other formats).
void round_values_given_max(float* x, int64_t n, const NumberFormat& format, Rounding rounding,
                            const RoundingSite& site, float block_max);

// Rounds elements [first, first + n) of a tensor, held at x, on the calling thread alone:
// slices of one tensor rounded by any threads in any order give round_values' result on
// the whole tensor, given its block_max (kBfp: max_abs_finite of the whole tensor; ignored
// by the other formats) and key = kernels::round_stream_key(seed, step, site_id(name)).
// kBfp with an axis is refused (lowbit::Error): its blocks are not slices.
void round_slice(float* x, int64_t n, int64_t first, const NumberFormat& format, Rounding rounding,
                 const kernels::RoundStream& key, float block_max);
// kernels::max_abs_finite over the calling thread's team.
float max_abs_finite_parallel(const float* x, int64_t n);
// True for the formats round_slice takes (all but kBfp with an axis).
inline bool sliceable(const NumberFormat& f) { return f.kind != NumberFormat::Kind::kBfp || f.axis < 0; }
// True for the formats whose rounding of an element depends on that element alone.
inline bool elementwise(const NumberFormat& f) { return f.kind != NumberFormat::Kind::kBfp; }

}  // namespace lowbit::quant
