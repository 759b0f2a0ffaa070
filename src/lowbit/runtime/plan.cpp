#include "lowbit/runtime/plan.hpp"

#include <algorithm>
#include <climits>
#include <cmath>

#include "lowbit/core/error.hpp"
#include "lowbit/kernels/bit_gemm.hpp"
#include "lowbit/kernels/bit_isa.hpp"

namespace lowbit::runtime {

namespace {

// One line per layer for `lowbit summary`: shape, input codes, weights, output and how the
// runtime computes it.
std::string describe(const LayerPlan& d) {
  auto str = [](int64_t v) { return std::to_string(v); };
  std::string s = d.conv ? "conv " + str(d.kh) + "x" + str(d.kw) + " " + str(d.h) + "x" + str(d.w) + "x" + str(d.c)
                         : "dense " + str(d.in);
  if (d.pad_h || d.pad_w) s += " pad " + str(d.pad_h) + "x" + str(d.pad_w) + (d.pad_value ? " of " + str(d.pad_value) : "");
  if (d.conv && d.stride > 1) s += " stride " + str(d.stride);
  s += " -> " + str(d.out);
  if (d.pool) s += " + maxpool " + str(d.pool);
  if (d.sum_pool) s += " + sum pool " + str(d.sum_pool) + (d.sum_stride != d.sum_pool ? " stride " + str(d.sum_stride) : "");
  s += "  (input " + d.input.str() + ", " + d.gemm->describe();
  if (d.shift) s += " (doubled)";
  s += ", " + (d.scores ? std::string("scores") : str(d.levels) + " threshold(s)");
  if (d.shortcut_from >= 0)
    s += ", " + str(d.sets) + " threshold sets by the shortcut = the input of layer " + str(d.shortcut_from);
  if (d.grouped()) {
    s += ", float thresholds on the float sum of " + str(static_cast<int64_t>(d.groups.size())) + " tap groups [";
    std::vector<int> group(static_cast<size_t>(d.kh * d.kw));
    for (size_t g = 0; g < d.groups.size(); ++g)
      for (int64_t t : d.groups[g].taps) group[static_cast<size_t>(t)] = static_cast<int>(g);
    for (size_t t = 0; t < group.size(); ++t) {  // not (t ? " " : "") + str(..): GCC 12's false -Wrestrict
      if (t) s += ' ';
      s += str(group[t]);
    }
    s += "]";
  }
  if (d.fused) s += ", fused";
  if (d.output_bytes) s += ", byte output";
  return s + ")";
}

// A threshold on the IR's accumulator as one on 2^shift times it (INT32_MIN/MAX keep
// their meaning "always"/"never"; |acc| < 2^29 by format::accumulators_fit_int32).
int32_t shifted_threshold(int32_t t, int shift) {
  if (t == INT32_MIN || t == INT32_MAX) return t;
  return static_cast<int32_t>(std::clamp<int64_t>(int64_t{t} * (int64_t{1} << shift), INT32_MIN + 1, INT32_MAX - 1));
}

}  // namespace

// The padding fix of a convolution whose padded taps read pad_value instead of the value
// of level 0 its patches hold (-1 for +-1 codes, -Z for codes with a zero point Z).
void padding_fix(const format::LayerDesc& l, const LayerPlan& d, int shift, const std::vector<uint8_t>& use_tap,
                 std::vector<int64_t>& pixels, std::vector<int32_t>& fixes) {
  const int32_t fix_per_weight = d.pad_value - d.input.value(0);
  if (!d.conv || !(d.pad_h || d.pad_w) || fix_per_weight == 0) return;
  const int64_t taps = d.kh * d.kw, M = d.out, K = d.in;
  std::vector<int32_t> tap_sum(static_cast<size_t>(M * taps), 0);  // [o][tap]: summed over channels
  for (int64_t o = 0; o < M; ++o)
    for (int64_t k = 0; k < K; ++k) tap_sum[static_cast<size_t>(o * taps + k / d.c)] += l.weight(o, k) * (1 << shift);
  for (int64_t y = 0; y < d.oh; ++y)
    for (int64_t x = 0; x < d.ow; ++x) {
      std::vector<int32_t> fix(static_cast<size_t>(M), 0);
      bool border = false;
      for (int64_t dy = 0; dy < d.kh; ++dy)
        for (int64_t dx = 0; dx < d.kw; ++dx) {
          const int64_t iy = y * d.stride + dy - d.pad_h, ix = x * d.stride + dx - d.pad_w;
          if ((iy >= 0 && iy < d.h && ix >= 0 && ix < d.w) || !use_tap[static_cast<size_t>(dy * d.kw + dx)]) continue;
          border = true;
          for (int64_t o = 0; o < M; ++o)
            fix[static_cast<size_t>(o)] += fix_per_weight * tap_sum[static_cast<size_t>(o * taps + dy * d.kw + dx)];
        }
      if (!border) continue;
      pixels.push_back(y * d.ow + x);
      fixes.insert(fixes.end(), fix.begin(), fix.end());
    }
}

namespace {

// Hidden layers whose bit-plane GEMM would take byte_plane_product popcount passes per 64
// products or more (input planes x weight planes: 8-bit codes on binary weights, 4-bit on
// int:4) read byte codes and run the integer GEMM instead (PlanOptions, byte_plane_product_for).
bool wants_byte_codes(const format::LayerDesc& l, const format::LayerDesc& before, int byte_plane_product) {
  // Window sums come from the bit-plane sum pooling kernel: they stay bit-planes.
  return !l.input.pm1 && !before.sum_pool.kernel && l.input.planes() * weight_planes(l.weights) >= byte_plane_product;
}

LayerPlan plan_layer(const format::LayerDesc& l, bool byte_codes, SparseGemm sparse, const std::string& where) {
  LayerPlan d;
  d.conv = l.kind == format::LayerKind::kConv;
  d.h = l.in_h, d.w = l.in_w, d.c = l.in_c;
  d.kh = l.window_h(), d.kw = l.window_w(), d.stride = l.stride;
  d.pad_h = l.pad_h, d.pad_w = l.pad_w, d.pad_value = l.pad_value;
  d.oh = l.conv_h(), d.ow = l.conv_w();
  d.pool = l.pool.kernel, d.pool_stride = l.pool.stride;
  d.ph = l.pooled_h(), d.pw = l.pooled_w();
  d.sum_pool = l.sum_pool.kernel, d.sum_stride = l.sum_pool.stride;
  d.sh = l.out_h(), d.sw = l.out_w();
  d.sums = l.out_codes();
  d.in = l.in_fan(), d.out = l.out;
  d.input = l.input;
  d.gemm = choose_gemm(sparse_problem(l, where, byte_codes, sparse));
  d.shift = d.gemm->shift();
  if (d.im2col())
    LOWBIT_CHECK(d.oh * d.ow * d.kh * d.kw * kernels::packed_words(d.c) <= (int64_t{1} << 26), where,
                 ": per-image patch buffers of this layer would be too large");
  d.negated = l.negated;
  if (l.grouped()) {  // SYQ row / pixel: its own GEMMs, padding fixes and float thresholds
    d.groups = plan_tap_groups(l, d, byte_codes, sparse, where);
    d.output = l.output;
    d.levels = l.levels;
    d.float_thresholds = l.float_thresholds;
    return d;
  }
  padding_fix(l, d, d.shift, std::vector<uint8_t>(static_cast<size_t>(d.kh * d.kw), 1), d.pad_pixels, d.pad_fix);
  d.scores = l.scores;
  if (d.scores) {
    // float(2^s acc) * (scale / 2^s) == float(acc) * scale exactly (powers of two).
    for (float s : l.score.scale) d.scale.push_back(std::ldexp(s, -d.shift));
    d.bias = l.score.bias, d.bn_mean = l.score.bn_mean, d.bn_scale = l.score.bn_scale, d.bn_shift = l.score.bn_shift;
  } else {
    d.output = l.output;
    d.levels = l.levels;
    d.shortcut_from = l.shortcut_from;
    d.sets = l.threshold_sets();
    for (int32_t t : l.thresholds) d.thresholds.push_back(shifted_threshold(t, d.shift));
  }
  const int64_t fused_size = d.scores ? 0 : d.gemm->fused_threshold_size(d.levels);
  d.fused = !d.scores && d.sets == 1 && fused_size > 0 && d.pad_pixels.empty() && !d.sum_pool &&
            d.output.planes() == kernels::threshold_bits(d.levels);
  if (d.fused) {
    d.fused_thresholds.assign(static_cast<size_t>(fused_size * d.levels), INT32_MAX);
    std::copy(d.thresholds.begin(), d.thresholds.end(), d.fused_thresholds.begin());
  }
  return d;
}

}  // namespace

GemmProblem sparse_problem(const format::LayerDesc& l, const std::string& where, bool byte_codes, SparseGemm policy) {
  GemmProblem p{&l, where, byte_codes, wants_sparse(l, policy)};
  if (policy == SparseGemm::kAlways) p.sparse_min_rows = 0;
  return p;
}

bool wants_sparse(const format::LayerDesc& l, SparseGemm policy) {
  if (policy == SparseGemm::kNever) return false;
  int64_t zeros = 0;
  for (int32_t w : l.weights) {
    if (w < -1 || w > 1) return false;
    zeros += w == 0;
  }
  if (policy == SparseGemm::kAlways) return true;
  return !l.weights.empty() && static_cast<double>(zeros) >= kSparseMinZeros * static_cast<double>(l.weights.size());
}

int byte_plane_product_for(int requested) {
  if (requested > 0) return requested;
  return kernels::active_isa() == "AVX3_DL" ? kBytePlaneProductVnni : kBytePlaneProductNoVnni;
}

Plan make_plan(const format::ModelDesc& desc, const PlanOptions& opt) {
  const int byte_plane_product = byte_plane_product_for(opt.byte_plane_product);
  Plan p;
  ModelInfo& info = p.info;
  info.name = desc.name;
  info.input_shape = desc.input.shape;
  const bool image = info.input_shape.size() == 3;
  info.channels = image ? info.input_shape[0] : 1;
  info.height = image ? info.input_shape[1] : 1;
  info.width = image ? info.input_shape[2] : info.input_shape[0];
  info.classes = desc.classes();
  info.input_quantizer = desc.input.quantizer;
  info.normalize = desc.input.normalize;
  p.input = InputStage(desc);
  for (size_t i = 0; i < desc.layers.size(); ++i) {
    const format::LayerDesc& l = desc.layers[i];
    // The first layer reads what the input stage gives it (a convolution's byte patches,
    // else bit-planes); a hidden layer bytes when the integer GEMM suits it better.
    const bool byte_codes = i == 0 ? p.input.patches() : wants_byte_codes(l, desc.layers[i - 1], byte_plane_product);
    LayerPlan d = plan_layer(l, byte_codes, opt.sparse, "layer " + std::to_string(i));
    d.first = i == 0;
    if (i > 0 && d.gemm->reads_codes()) {  // the layer before writes bytes, unfused
      p.layers.back().output_bytes = true;
      p.layers.back().fused = false;
    }
    d.input_bytes = i > 0 && d.gemm->reads_codes();
    p.layers.push_back(std::move(d));
  }
  for (const LayerPlan& d : p.layers)
    if (d.shortcut_from >= 0) p.layers[static_cast<size_t>(d.shortcut_from)].save_shortcut = true;
  for (const LayerPlan& d : p.layers) info.layers.push_back(describe(d));
  for (const format::LayerDesc& l : desc.layers) {
    info.binary_macs += l.macs();
    const int64_t in_planes = l.input.pm1 && l.input.count == 1 ? 1 : l.input.planes();
    info.bit_macs += l.macs() * in_planes * weight_planes(l.weights);
  }
  p.latency_mode = std::none_of(p.layers.begin(), p.layers.end(), [](const LayerPlan& d) { return d.conv; });
  p.max_words = p.input.codes().planes() * p.input.words();
  for (const LayerPlan& d : p.layers) {
    if (d.fused && d.pool)
      p.max_bits = std::max(p.max_bits, kernels::threshold_bits(d.levels) * d.oh * d.ow * kernels::packed_words(d.out));
    p.max_acc = std::max(p.max_acc, d.oh * d.ow * d.out);
    if (d.im2col())
      p.max_patch = std::max(p.max_patch, d.input.planes() * d.oh * d.ow * d.kh * d.kw * kernels::packed_words(d.c));
    if (d.im2col_bytes()) p.max_byte_patch = std::max(p.max_byte_patch, d.oh * d.ow * d.in);
    if (!d.scores)
      p.max_words = std::max(p.max_words, d.output_bytes ? (d.sh * d.sw * d.out + 7) / 8
                                                         : d.sums.planes() * d.sh * d.sw * kernels::packed_words(d.out));
    if (d.shortcut_from >= 0) p.max_levels = std::max(p.max_levels, d.ph * d.pw * d.out);
    if (d.grouped()) {
      p.max_levels = std::max(p.max_levels, d.ph * d.pw * d.out);
      p.max_group_acc = std::max(p.max_group_acc, d.oh * d.ow * d.out);
      p.max_group_operand = std::max(p.max_group_operand, tap_group_operand_size(d));
    }
    if (d.sum_pool) p.max_unpooled = std::max(p.max_unpooled, d.output.planes() * d.ph * d.pw * kernels::packed_words(d.out));
  }
  return p;
}

}  // namespace lowbit::runtime
