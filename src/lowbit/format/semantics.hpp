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

// How integer codes travel between layers (FINN: the datatype of a stream). A value is
// stored as its level, an unsigned integer 0..levels(), in planes() bit-planes:
//   pm1:  values -1/+1, one bit each; level 0 means -1, level 1 means +1 (bit 1 = +1).
//   else: unsigned codes 0 .. 2^bits - 1 with a zero point Z (Jacob et al., CVPR 2018,
//         eq. 1: r = S (q - Z)): level = code q, value q - Z. Z = 0 is plain unsigned
//         codes (value = level); int:k activations with an asymmetric range have Z > 0.
// With a window count n = `count` > 1 (sum pooling, LayerDesc::sum_pool) a value is the sum
// of n such codes:
//   pm1:  the sum of n values -1/+1: level u = the number of +1s (0..n), value 2u - n;
//   else: the sum of n codes: level = the sum of the codes, 0 .. n (2^bits - 1), value
//         level - n Z.
// A threshold set with `levels()` thresholds per channel produces level 0 .. levels()
// (thresholds only produce codes of count 1; the sums come from pooling them).
struct CodeFormat {
  bool pm1 = true;
  int bits = 1;        // unsigned codes only: bits of one code, 1..8 (format/limits.hpp kMaxCodeBits)
  int count = 1;       // codes summed into one value: 1, or the window of a sum pooling (1..255)
  int zero_point = 0;  // unsigned codes only: Z of one code, 0 .. 2^bits - 1

  static CodeFormat plus_minus_one() { return {true, 1, 1, 0}; }
  static CodeFormat unsigned_bits(int bits, int zero_point = 0) { return {false, bits, 1, zero_point}; }
  // The sums of n values of this format (n windows of a sum pooling).
  CodeFormat summed(int n) const { return {pm1, bits, count * n, zero_point}; }
  // The largest level: 1 for +-1 codes, 2^bits - 1 for unsigned codes, times count. Also
  // the thresholds per channel of a threshold set producing these codes (count 1).
  int levels() const { return count * (pm1 ? 1 : (1 << bits) - 1); }
  // Bit-planes one value takes: the bits of the largest level (1 for +-1, bits for k-bit
  // codes; a 2x2 sum of +-1 codes, levels 0..4, takes 3).
  int planes() const { return static_cast<int>(std::bit_width(static_cast<unsigned>(levels()))); }
  // The integer value of a level: 2 l - count for +-1 codes (2 l - 1 for one),
  // l - count * zero_point otherwise.
  int32_t value(int level) const { return pm1 ? 2 * level - count : level - count * zero_point; }
  // The level of a value (the inverse of value()).
  int level(int32_t value) const { return pm1 ? (value + count) / 2 : value + count * zero_point; }
  // The largest |value|: count for +-1 codes, else the larger of the ends' magnitudes.
  int32_t max_abs_value() const {
    return pm1 ? count : std::max(count * zero_point, levels() - count * zero_point);
  }
  bool operator==(const CodeFormat& o) const {
    return pm1 == o.pm1 && count == o.count && (pm1 || (bits == o.bits && zero_point == o.zero_point));
  }
  // "+-1", "k-bit", "k-bit (zero point Z)", or "sums of 4 +-1" / "sums of 4 2-bit", for
  // messages and summaries.
  std::string str() const {
    std::string one = pm1 ? "+-1" : std::to_string(bits) + "-bit";
    if (!pm1 && zero_point) one += " (zero point " + std::to_string(zero_point) + ")";
    return count == 1 ? one : "sums of " + std::to_string(count) + " " + one;
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

// The same on a float value y (a layer with SYQ's grouped scales compares the float sum of
// its partial sums): #{l : y >= t[l]}; -inf is always reached, +inf never.
inline int threshold_level(const float* t, int levels, float y) {
  int n = 0;  // the count itself (not a bisection): few levels, and it vectorizes
  for (int l = 0; l < levels; ++l) n += y >= t[l];
  return n;
}

// BatchNorm's evaluation map of one value (PyTorch's BatchNorm2d in eval mode with its
// constants folded: scale = gamma / sqrt(var + eps), shift = beta): (x - mean) * scale + shift,
// in that order.
inline float bn_eval(float x, float mean, float scale, float shift) { return (x - mean) * scale + shift; }

// A weighted layer's exact output scaling (nn::LayerQuantizers::scale_output): the float of
// the integer accumulator times the product of the weight and input steps, plus the bias.
inline float scale_acc(float acc, float scale) { return acc * scale; }
inline float scale_acc(float acc, float scale, float bias) { return acc * scale + bias; }

// SYQ's grouped scales (Faraone et al., CVPR 2018; Faraone's thesis section 5.4.2: y_j =
// alpha_g Q_j for the group g of kernel taps of element j): a layer whose weight scale varies along each dot product computes one exact
// integer partial sum P_g per group and combines them in float in group order, each product
// and each sum rounded on its own: y = P_0 s_0, then y = y + P_g s_g for g = 1, 2, ...
inline float group_first(float partial, float scale) { return partial * scale; }
inline float group_next(float y, float partial, float scale) { return y + partial * scale; }

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
