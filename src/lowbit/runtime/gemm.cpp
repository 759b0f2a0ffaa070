#include "lowbit/runtime/gemm.hpp"

#include <algorithm>

#include "lowbit/core/error.hpp"

namespace lowbit::runtime {

void GemmImpl::accumulate_threshold(int64_t, const GemmInput&, int, const int32_t*, uint64_t*, int64_t, int64_t) const {
  fail("runtime: ", describe(), " cannot fuse thresholds (a plan that asked it to is a bug)");
}

std::unique_ptr<GemmImpl> choose_gemm(const GemmProblem& p) {
  // Specialised first: sparse ternary weights where the plan chose them, the integer GEMM
  // on byte codes, then the general bit-plane GEMM.
  static constexpr GemmFactory kImpls[] = {make_sparse_ternary_gemm, make_int_code_gemm, make_bit_plane_gemm};
  std::string reasons;
  for (GemmFactory make : kImpls) {
    std::string why;
    if (std::unique_ptr<GemmImpl> impl = make(p, why)) return impl;
    reasons += (reasons.empty() ? "" : "; ") + why;
  }
  fail(p.where, ": no runtime implementation takes this layer (", reasons, ")");
}

}  // namespace lowbit::runtime
