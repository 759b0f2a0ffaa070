// Bit-sliced integer arithmetic shared by the bit kernels (per SIMD target, Highway's
// "-inl.h" pattern: included by each kernel file after <hwy/highway.h>, once per target).
// Integers stored bit-sliced: plane b holds bit 2^b of every lane (each bit of a word, or
// of a vector of words, is one lane's counter).
#if defined(LOWBIT_KERNELS_BIT_SLICED_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOWBIT_KERNELS_BIT_SLICED_INL_H_
#undef LOWBIT_KERNELS_BIT_SLICED_INL_H_
#else
#define LOWBIT_KERNELS_BIT_SLICED_INL_H_
#endif

#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace lowbit::kernels::HWY_NAMESPACE {

// acc += in, lane by lane (acc: planes [0, top), in: planes [0, in_planes)): ripple-carry
// from each input plane up. The caller keeps every sum below 2^top, so no carry leaves
// plane top - 1. T: a word, or a vector of words (& and ^ lane-wise). Used by sum pooling
// (window sums) and by the multi-level threshold epilogues (in = one word of the lanes that
// pass a level: the codes count the levels passed).
template <class T>
HWY_INLINE void AddSliced(T* HWY_RESTRICT acc, int top, const T* HWY_RESTRICT in, int in_planes) {
  for (int b = 0; b < in_planes; ++b) {
    T carry = in[b];
    for (int j = b; j < top; ++j) {
      const T next = acc[j] & carry;
      acc[j] = acc[j] ^ carry;
      carry = next;
    }
  }
}

}  // namespace lowbit::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // LOWBIT_KERNELS_BIT_SLICED_INL_H_
