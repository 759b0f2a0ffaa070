// The exact arithmetic every consumer of a trained model shares (docs/DEPLOYMENT.md):
// training's evaluation (nn/, data/), export (export/), the runtime (runtime/) and later
// the hardware generator and interop writers. One definition each, header-only and
// dependency-free, so the runtime and hw/ use it without training code.
//
// Why one place: the runtime equals training bit for bit only while every copy of these
// rules agrees; they used to be written out three or four times (score map, BatchNorm,
// argmax tie rule, centre padding) and a change to one copy broke the others silently.
//
// Float expressions below are evaluated in the floating-point contract (core/fp_env.hpp:
// FTZ/DAZ, round to nearest) and the project is compiled with -ffp-contract=off, so each
// operation rounds on its own, in the order written, in every build and on every target.
#pragma once
#include <algorithm>
#include <bit>
#include <cstdint>
#include <string>

namespace lowbit::format {

// How integer codes travel between layers (FINN: the datatype of a stream).
//   pm1:  values -1/+1, one bit each; level 0 means -1, level 1 means +1 (bit 1 = +1).
//   else: unsigned codes 0 .. 2^bits - 1 with a zero point Z (Jacob et al., CVPR 2018,
//         eq. 1: r = S (q - Z)): level = code q, value q - Z. Z = 0 is plain unsigned
//         codes (value = level); int:k activations with an asymmetric range have Z > 0.
// A threshold set with `levels()` thresholds per channel produces level 0 .. levels().
struct CodeFormat {
  bool pm1 = true;
  int bits = 1;        // unsigned codes only: 1..8 (format/limits.hpp kMaxCodeBits)
  int zero_point = 0;  // unsigned codes only: 0 .. 2^bits - 1

  static CodeFormat plus_minus_one() { return {true, 1, 0}; }
  static CodeFormat unsigned_bits(int bits, int zero_point = 0) { return {false, bits, zero_point}; }
  // Thresholds per channel: 1 for +-1 codes, 2^bits - 1 for unsigned codes.
  int levels() const { return pm1 ? 1 : (1 << bits) - 1; }
  // Bit-planes one value takes.
  int planes() const { return pm1 ? 1 : bits; }
  // The integer value of a level: 2 l - 1 for +-1 codes, l - zero_point otherwise.
  int32_t value(int level) const { return pm1 ? 2 * level - 1 : level - zero_point; }
  // The largest |value|.
  int32_t max_abs_value() const { return pm1 ? 1 : std::max(zero_point, (1 << bits) - 1 - zero_point); }
  bool operator==(const CodeFormat& o) const {
    return pm1 == o.pm1 && (pm1 || (bits == o.bits && zero_point == o.zero_point));
  }
  // "+-1", "k-bit" or "k-bit (zero point Z)", for messages and summaries.
  std::string str() const {
    if (pm1) return "+-1";
    const std::string s = std::to_string(bits) + "-bit";
    return zero_point ? s + " (zero point " + std::to_string(zero_point) + ")" : s;
  }
};

// The unsigned code format of codes 0..max_code: the fewest bits that hold max_code.
inline CodeFormat unsigned_codes_for(int32_t max_code) {
  return CodeFormat::unsigned_bits(std::max(1, static_cast<int>(std::bit_width(static_cast<uint32_t>(max_code)))));
}

// FINN's MultiThreshold: the level of accumulator `acc` under the ascending thresholds
// t[0..levels) of one channel is #{l : acc >= t[l]}. INT32_MIN means "always reached",
// INT32_MAX "never" (export writes them for levels the accumulator range cannot miss or
// reach).
inline int threshold_level(const int32_t* t, int levels, int64_t acc) {
  return static_cast<int>(std::upper_bound(t, t + levels, acc) - t);
}

// BatchNorm's evaluation map of one value (PyTorch's BatchNorm2d in eval mode with its
// constants folded: scale = gamma / sqrt(var + eps), shift = beta): (x - mean) * scale + shift,
// in that order.
inline float bn_eval(float x, float mean, float scale, float shift) { return (x - mean) * scale + shift; }

// A weighted layer's exact output scaling (nn::LayerQuantizers::scale_output): the float of
// the integer accumulator times the product of the weight and input steps, plus the bias.
inline float scale_acc(float acc, float scale) { return acc * scale; }
inline float scale_acc(float acc, float scale, float bias) { return acc * scale + bias; }

// The score of class c from the last layer's integer accumulator: scale_acc, then
// bn_eval when the layer has a BatchNorm. `bias`, `bn_*` may be null (absent).
inline float score(int64_t acc, int64_t c, const float* scale, const float* bias, const float* bn_mean,
                   const float* bn_scale, const float* bn_shift) {
  const float a = static_cast<float>(acc);
  float y = bias ? scale_acc(a, scale[c], bias[c]) : scale_acc(a, scale[c]);
  if (bn_mean) y = bn_eval(y, bn_mean[c], bn_scale[c], bn_shift[c]);
  return y;
}

// The predicted class of k scores: the first highest (std::max_element's rule; a NaN
// score is never chosen over an earlier number, as in training's argmax).
inline int32_t argmax_first(const float* scores, int64_t k) {
  return static_cast<int32_t>(std::max_element(scores, scores + k) - scores);
}

// Centre padding of a smaller image into the model's input (data::make_batch, the runtime's
// input stage): the first row/column of an `inner`-sized image inside an `outer`-sized one;
// an odd extra pixel goes to the bottom/right. Padding pixels read raw pixel 0.
inline int64_t centre_offset(int64_t outer, int64_t inner) { return (outer - inner) / 2; }

}  // namespace lowbit::format
