// pack_planes with Highway's run-time dispatch (one compile per SIMD target, see
// bit_gemm.cpp): the runtime's input packing. Per 64 codes, bit b of every code becomes one
// word of plane b: a vector test of bit b over the codes, stored as a mask (one bit per
// lane, lane t -> bit t), i.e. 8 mask stores per word instead of 64 shifts and ORs per
// plane.
#include "lowbit/kernels/bit_targets.hpp"  // before Highway: the targets of every bit kernel
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lowbit/kernels/bit_pack.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

#include <cstring>

#include "lowbit/core/error.hpp"
#include "lowbit/kernels/bit_gemm.hpp"

HWY_BEFORE_NAMESPACE();
namespace lowbit::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void PackImpl(int64_t words, int planes, const uint8_t* HWY_RESTRICT codes, uint64_t* HWY_RESTRICT out,
              int64_t plane_stride) {
  const hn::ScalableTag<uint8_t> d;
  constexpr int64_t kMaxVecs = 64 / 8;  // vectors of at least 8 lanes cover 64 codes in <= 8 loads
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  if (L < 8 || 64 % L != 0) {  // the scalar target: mask bits would not fill whole bytes
    pack_planes_ref(words, planes, codes, out, plane_stride);
    return;
  }
  const int64_t vecs = 64 / L;
  for (int64_t j = 0; j < words; ++j) {
    const uint8_t* q = codes + j * 64;
    hn::Vec<decltype(d)> v[kMaxVecs];
    for (int64_t k = 0; k < vecs; ++k) v[k] = hn::LoadU(d, q + k * L);
    for (int b = 0; b < planes; ++b) {
      const auto bit = hn::Set(d, static_cast<uint8_t>(1u << b));
      uint8_t bytes[8];
      for (int64_t k = 0; k < vecs; ++k) hn::StoreMaskBits(d, hn::TestBit(v[k], bit), bytes + k * L / 8);
      uint64_t word;
      std::memcpy(&word, bytes, 8);  // little-endian: mask byte k holds codes 8k .. 8k + 7
      out[b * plane_stride + j] = word;
    }
  }
}

}  // namespace lowbit::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lowbit::kernels {

HWY_EXPORT(PackImpl);

namespace {
void check_pack(const char* what, int64_t words, int planes, int64_t plane_stride) {
  LOWBIT_CHECK(words >= 0 && planes >= 1 && planes <= 8 && (planes == 1 || plane_stride >= words), what, ": ", words,
               " words, ", planes, " planes (1..8), plane stride ", plane_stride);
}
}  // namespace

void pack_planes(int64_t words, int planes, const uint8_t* codes, uint64_t* out, int64_t plane_stride) {
  check_pack("pack_planes", words, planes, plane_stride);
  if (words == 0) return;
  HWY_DYNAMIC_DISPATCH(PackImpl)(words, planes, codes, out, plane_stride);
}

void pack_planes_ref(int64_t words, int planes, const uint8_t* codes, uint64_t* out, int64_t plane_stride) {
  check_pack("pack_planes_ref", words, planes, plane_stride);
  for (int b = 0; b < planes; ++b)
    for (int64_t j = 0; j < words; ++j) {
      uint64_t word = 0;
      for (int t = 0; t < 64; ++t) word |= static_cast<uint64_t>((codes[j * 64 + t] >> b) & 1u) << t;
      out[b * plane_stride + j] = word;
    }
}

}  // namespace lowbit::kernels
#endif  // HWY_ONCE
