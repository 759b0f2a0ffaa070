// Which SIMD instruction set the bit kernels run on (Google Highway dynamic dispatch), and a
// cap on it for benchmarking one path against another (`--max-isa avx2`).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::kernels {

// "avx3_dl" (AVX-512 with VPOPCNTDQ/BITALG), "avx3" (AVX-512), "avx2", "sse4", "ssse3",
// "neon", "scalar" -- those compiled into this build, best first, comma-separated.
std::string isa_choices();
// The same targets as Highway's bits (hwy::TargetName names them), whether or not this CPU
// supports them; bit_kernel_targets() (bit_gemm.hpp) is the subset it does. The kernel
// tester reports the difference as skipped.
std::vector<int64_t> bit_kernel_compiled_targets();
// Disables every compiled target better than `name` (case-insensitive; "" = no cap, and
// undoes an earlier cap). Throws lowbit::Error for a name not in isa_choices() or one this
// CPU does not support.
void set_max_isa(const std::string& name);
// The target dispatch picks now, as Highway names it (e.g. "AVX3_DL", "AVX2").
std::string active_isa();

}  // namespace lowbit::kernels
