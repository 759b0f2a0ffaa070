// bfloat16 rounding: the 16-bit float of Google Brain's TPUs and of AVX512_BF16 (Intel,
// "BFLOAT16 - Hardware Numerics Definition", 2018): float32's sign and 8-bit exponent with a
// 7-bit fraction, i.e. the top half of a float32's bits. round_to_bfloat16 returns the
// bfloat16 nearest to x (ties to even), still as a float32 value (its low 16 bits zero):
// the conversion of AVX512_BF16's VCVTNEPS2BF16 and of oneDNN's f32 -> bf16 reorders, so
// products computed from rounded operands in float32 are what bf16 hardware computes
// (a bf16 x bf16 product has at most 16 significant bits and is exact in float32).
// Overflow rounds to +-infinity like the hardware; NaN stays a (quiet) NaN; subnormals are
// kept and rounded (VCVTNEPS2BF16 flushes them to zero: the one documented difference).
#pragma once
#include <cstdint>
#include <cstring>

namespace lowbit {

inline float round_to_bfloat16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    u |= 0x00400000u;  // NaN: quiet it; adding the rounding bias could carry it into infinity
  } else {
    u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to the even upper half
  }
  u &= 0xffff0000u;
  float r;
  std::memcpy(&r, &u, sizeof r);
  return r;
}

}  // namespace lowbit
