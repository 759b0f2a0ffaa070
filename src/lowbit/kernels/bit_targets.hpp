// The SIMD targets every bit kernel file compiles for, included by each before
// <hwy/foreach_target.h> (the macros must be set first, and be the same in every file so
// that bit_kernel_targets() and --max-isa describe them all).
#pragma once

// AVX-512 with VPOPCNTDQ/BITALG/VNNI (Zen 4, Ice Lake): Highway 1.0 leaves it out unless asked.
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
// Vectors live in small arrays (register tiles), which sizeless SVE/RVV vectors cannot;
// ARM runs the NEON code.
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128 | HWY_RVV)
#endif
