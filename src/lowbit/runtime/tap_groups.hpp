// Convolutions with SYQ's row or pixel scales in the runtime (format::LayerDesc::tap_group;
// docs/DEPLOYMENT.md, "SYQ row and pixel scales"). The weight scale varies along each dot
// product in groups of kernel taps, so the layer is one GEMM per group: each group's taps are
// a slice of every patch row (whole words per tap in bit-planes, c bytes per tap in byte
// codes), gathered into a compact operand for a GEMM implementation chosen for that slice as
// for any layer (gemm.hpp). Their accumulators combine in float in group order
// (format::group_first / group_next) and float thresholds give the levels.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lowbit/format/model_desc.hpp"
#include "lowbit/runtime/engine.hpp"  // SparseGemm
#include "lowbit/runtime/gemm.hpp"

namespace lowbit::runtime {

struct LayerPlan;

struct TapGroupPlan {
  std::vector<int64_t> taps;      // the group's kernel taps (ky * kw + kx), ascending
  format::LayerDesc slice;        // the group as a dense layer over its taps' columns: what `gemm` packs
  std::unique_ptr<GemmImpl> gemm;
  float scale = 0.f;              // group_scale / 2^shift (exact: a power of two)
  // The padding fix of this group's taps (LayerPlan::pad_fix's rule): pad_fix[p * out + o]
  // added to output pixel pad_pixels[p].
  std::vector<int64_t> pad_pixels;
  std::vector<int32_t> pad_fix;
};

// The groups of layer `l` whose plan `d` has its geometry, input layout (`byte_codes`) and
// shift-independent fields set; each slice's GEMM as plan.hpp's wants_sparse picks it under
// `sparse`. Throws lowbit::Error naming `where` when no GEMM takes a slice.
std::vector<TapGroupPlan> plan_tap_groups(const format::LayerDesc& l, const LayerPlan& d, bool byte_codes,
                                          SparseGemm sparse, const std::string& where);

// Words (bit-planes) or bytes (byte codes) of one image's largest gathered slice.
int64_t tap_group_operand_size(const LayerPlan& d);

// The levels (rows x out, rows = m oh ow) of layer `d` on m images: per group, its slice of
// the operand `a` (im2col patches in bit-planes, or byte code rows of K codes) gathered into
// `operand`, its GEMM into `acc` (rows x out), its padding fix, the float combination into
// `y`, then the float thresholds. `trace`, when given, receives the partial sums in the
// trained sign, (row, o, group) order.
void run_tap_groups(const LayerPlan& d, int64_t m, const GemmInput& a, uint64_t* operand, int32_t* acc, float* y,
                    int32_t* levels, std::vector<int32_t>* trace);

}  // namespace lowbit::runtime
