// The runtime's plan of a model: everything decided once at load from the validated IR
// (format::ModelDesc), so that running is only kernel calls. Per layer: its geometry, the
// GEMM implementation chosen for it (gemm.hpp, packing its weights), the padding fix, the
// thresholds scaled to that GEMM's accumulators (or fused into it), and the score map.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lowbit/format/model_desc.hpp"
#include "lowbit/runtime/engine.hpp"
#include "lowbit/runtime/gemm.hpp"
#include "lowbit/runtime/input_stage.hpp"
#include "lowbit/runtime/tap_groups.hpp"

namespace lowbit::runtime {

// One weighted layer: acc = GEMM, [padding fix], [max pooling of acc], then thresholds into
// the next layer's codes or the float score map. Activations are maps (h, w, c) in one of
// two layouts, chosen per layer boundary: bit-planes (per image h*w pixels of
// packed_words(c) words, per plane) or bytes (h*w*c levels, one byte each), the latter for
// layers the integer GEMM runs (wants_byte_codes in plan.cpp).
struct LayerPlan {
  bool conv = false;
  int64_t h = 1, w = 1, c = 0;         // input map
  int64_t kh = 1, kw = 1, stride = 1;  // conv window
  int64_t pad_h = 0, pad_w = 0;
  int pad_value = 0;                   // what padded taps read: 0, or -1/+1 on +-1 codes
  int64_t oh = 1, ow = 1;              // conv output (before pooling)
  int64_t pool = 0, pool_stride = 0;   // max pooling of the accumulators (0 = none)
  int64_t ph = 1, pw = 1;              // the map the thresholds write (after max pooling)
  // Sum pooling of the output codes (average pooling's window sums; 0 = none) into the map
  // sh x sw the next layer reads, as `sums` codes.
  int64_t sum_pool = 0, sum_stride = 0;
  int64_t sh = 1, sw = 1;
  format::CodeFormat sums;
  int64_t in = 0, out = 0;             // K and output channels
  format::CodeFormat input, output;
  std::unique_ptr<GemmImpl> gemm;
  int shift = 0;                       // accumulators are 2^shift x the IR's (gemm->shift())
  bool first = false;                  // the first layer (its byte codes come from the input stage)
  bool output_bytes = false;           // thresholds write bytes (the next layer reads byte codes)
  // Padded taps read level 0 (im2col and the input stage pad with it), of value v0 = -1 for
  // +-1 codes and -Z for codes with zero point Z: a layer padding with another value adds
  // pad_fix[p * out + o] = (pad_value - v0) * 2^shift * the sum of the weights of its
  // padded taps to each border pixel pad_pixels[p].
  std::vector<int32_t> pad_fix;
  std::vector<int64_t> pad_pixels;
  std::vector<uint8_t> negated;        // per output channel: export negated its weights
  bool scores = false;
  int levels = 0;
  // out x sets x levels, on 2^shift x the IR's accumulators: sets = 1, or per shortcut level.
  std::vector<int32_t> thresholds;
  // Residual shortcuts (shortcut.hpp): this layer's thresholds read the levels of layer
  // shortcut_from's input map (-1: none); a layer whose input a later one reads keeps its
  // levels (save_shortcut), from bit-planes or, when input_bytes, bytes.
  int shortcut_from = -1;
  int sets = 1;
  // SYQ row / pixel scales (tap_groups.hpp): one GEMM per group of kernel taps and float
  // thresholds (out x levels) on their float sum; `gemm` then only decides the input layout.
  std::vector<TapGroupPlan> groups;
  std::vector<float> float_thresholds;
  bool grouped() const { return !groups.empty(); }
  bool save_shortcut = false;
  bool input_bytes = false;
  // One threshold, a GEMM that fuses it and no padding fix: the GEMM writes the output bits
  // (thresholds padded to its tiles); pooling then ORs bits.
  bool fused = false;
  std::vector<int32_t> fused_thresholds;
  std::vector<float> scale, bias, bn_mean, bn_scale, bn_shift;  // scale / 2^shift

  // Reads im2col patches of packed bits (a convolution not on byte codes) ...
  bool im2col() const { return conv && !gemm->reads_codes(); }
  // ... or of bytes (a hidden convolution on byte codes; the first one's come from the input stage).
  bool im2col_bytes() const { return conv && gemm->reads_codes() && !first; }
};

struct Plan {
  ModelInfo info;
  InputStage input;
  std::vector<LayerPlan> layers;
  // Batch-1 latency mode (threads share each layer's output channels) for dense networks
  // only: a convolutional network's steps between GEMMs (patches, pooling, k-bit
  // thresholds) stay on one thread, and its many small layers cost more in barriers than
  // the split gains (measured: CNV W1A1 batch 1, 72 vs 74 us; W1A2 251 vs 156 us).
  bool latency_mode = true;
  // Per-image buffer sizes (elements) for the executor's workspaces.
  int64_t max_words = 0;  // activation words (all planes)
  int64_t max_acc = 0;    // int32 accumulators
  int64_t max_patch = 0;  // im2col words (all planes)
  int64_t max_bits = 0;   // a fused layer's output words before pooling
  int64_t max_byte_patch = 0;  // byte im2col rows (bytes)
  int64_t max_unpooled = 0;    // a sum-pooling layer's codes before the pooling (words, all planes)
  int64_t max_levels = 0;      // a shortcut or grouped layer's output levels (bytes)
  int64_t max_group_operand = 0;  // a grouped layer's gathered slice (words)
  int64_t max_group_acc = 0;      // a grouped layer's accumulators, float sums and levels (per value)
};

// The padding fix (LayerPlan::pad_fix) over the kernel taps with use_tap[tap] set, for
// accumulators 2^shift times the IR's: the border pixels and per pixel `out` fixes.
void padding_fix(const format::LayerDesc& l, const LayerPlan& d, int shift, const std::vector<uint8_t>& use_tap,
                 std::vector<int64_t>& pixels, std::vector<int32_t>& fix);

// Where a hidden layer on unsigned codes leaves the bit-plane GEMM (input planes x weight
// planes popcount passes per 64 products) for byte codes and the integer GEMM (one int16
// multiply-add per product, or VNNI's int8 quads): from this product of planes up. Chosen by
// measurement (`bench/byte_vs_planes.sh`, docs/BENCHMARKS.md "Integer path vs bit-serial"):
// on Zen 3 (AVX2) the integer path ran at 0.22-0.75x the bit-planes' frames/s for every
// product measured, 2 to 9, so CPUs without AVX-512 VNNI switch at 10, the first product not
// measured to lose. With VNNI (the AVX3_DL target) it stays at the earlier rule's 8 (8-bit
// codes on binary weights, 4-bit on 2-bit, 3-bit on 3-bit), not yet measured there.
// Both paths give the same predictions bit for bit: only the speed differs.
inline constexpr int kBytePlaneProductVnni = 8;
inline constexpr int kBytePlaneProductNoVnni = 10;
// The product a plan uses for `requested` (PlanOptions::byte_plane_product): itself when
// positive; for 0, the default of the bit kernels' active target (kernels::active_isa(), so
// `--max-isa` caps count): kBytePlaneProductVnni on AVX3_DL, else kBytePlaneProductNoVnni.
int byte_plane_product_for(int requested);

// Where a ternary layer (weight codes in {-1, 0, +1}) leaves the dense GEMMs (two +-1
// weight planes on bit-planes, int16 multiply-adds on byte codes) for the sparse ternary
// GEMM (sparse_gemm.cpp): from this fraction of zero weights up. Chosen by measurement
// (`build/bin/lowbit_bench --benchmark_filter='TernaryGemm' --benchmark_repetitions=3`,
// docs/BENCHMARKS.md "Sparse ternary GEMM", Zen 3 AVX2): per layer shape the sparse
// kernel was faster from 50% zeros (LFC's layers: 1.07x at 50% on K = 1024, 1.26x on K =
// 784; W2A2, 3x3 x 64 convolutions, byte codes) or from 60% (3x3 x 256 convolutions,
// K = 2304: 0.76x at 50%, 1.12x at 60%), so every measured shape gains from 60% up.
// Byte-code layers cross lower (below 50%) but are rare among ternary ones: one rule.
// Both give the same predictions bit for bit: only the speed differs.
inline constexpr double kSparseMinZeros = 0.6;
// Whether layer `l` runs the sparse ternary GEMM under `policy` (EngineOptions::sparse):
// never for a layer with a code outside {-1, 0, +1}; else kAlways: yes; kNever: no;
// kAuto: from kSparseMinZeros zero weights up.
bool wants_sparse(const format::LayerDesc& l, SparseGemm policy);

// The GemmProblem of layer `l` (`where` names it in errors) under `policy`: wants_sparse's
// choice, and under kAlways every call on the sparse kernel (sparse_min_rows 0).
GemmProblem sparse_problem(const format::LayerDesc& l, const std::string& where, bool byte_codes, SparseGemm policy);

struct PlanOptions {
  // 1: every such layer on bytes; 81: none (at most 8 code planes x 10 weight planes: 9 odd
  // planes and a shift plane for even codes up to +-255); 0: the CPU's default (byte_plane_product_for).
  int byte_plane_product = 0;
  SparseGemm sparse = SparseGemm::kAuto;  // wants_sparse's policy
};

// The plan of a validated description (format::read_model_desc). Throws lowbit::Error
// naming the layer ("layer 2: ...") when a buffer would be too large or no GEMM
// implementation takes a layer.
Plan make_plan(const format::ModelDesc& desc, const PlanOptions& opt = {});

}  // namespace lowbit::runtime
