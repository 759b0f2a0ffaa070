#include "lowbit/hw/finn_model.hpp"

#include <algorithm>
#include <cmath>

namespace lowbit::hw {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
// Python's math.ceil of a float quotient, for FINN's formulas that divide floats.
int64_t fceil(double v) { return static_cast<int64_t>(std::ceil(v)); }

int64_t mvau_wmem(const Node& n) { return n.mw * n.mh / (n.pe * n.simd); }

// MVAU.bram_estimation: one memory of WMEM words of PE*SIMD*W bits in RAMB18s.
int64_t mvau_bram18(const Node& n) {
  const int64_t p = n.pe, q = n.simd, w = n.weight.bits;
  const double omega = static_cast<double>(n.mw * n.mh) / static_cast<double>(q * p);
  const int64_t mem_width = q * w * p;
  if ((n.mem_mode == "internal_decoupled" && (n.ram_style == "distributed" || n.ram_style == "ultra")) ||
      (n.mem_mode == "internal_embedded" && mvau_wmem(n) <= 128) || n.mem_mode == "external")
    return 0;
  if (mem_width == 1) return fceil(omega / 16384);
  if (mem_width == 2) return fceil(omega / 8192);
  if (mem_width <= 4) return fceil(omega / 4096) * ceil_div(mem_width, 4);
  if (mem_width <= 9) return fceil(omega / 2048) * ceil_div(mem_width, 9);
  if (mem_width <= 18 || omega > 512) return fceil(omega / 1024) * ceil_div(mem_width, 18);
  return fceil(omega / 512) * ceil_div(mem_width, 36);
}

int64_t mvau_uram(const Node& n) {
  const double omega = static_cast<double>(n.mw * n.mh) / static_cast<double>(n.simd * n.pe);
  const int64_t mem_width = n.simd * n.weight.bits * n.pe;
  if ((n.mem_mode == "internal_decoupled" && n.ram_style != "ultra") ||
      (n.mem_mode == "internal_embedded" && mvau_wmem(n) <= 128) || n.mem_mode == "external")
    return 0;
  return ceil_div(mem_width, 72) * fceil(omega / 4096);
}

// ConvolutionInputGenerator_hls (2D): the line buffer of (K + stride) blocks of
// IFMDim * IFMChannels / SIMD words of SIMD * A bits.
Resources swu_resources(const Node& n) {
  Resources r;
  const int64_t simd = n.simd, ch = n.channels, dim = n.ifm_h, k = n.kernel_h, stride = n.stride, a = n.in.bits;
  if (n.ram_style == "block" || n.ram_style == "auto") {
    const double ram_depth = static_cast<double>(dim * ch) / static_cast<double>(simd);
    int64_t ram_width = 1;
    if (ram_depth <= 512) ram_width = 36;
    else if (ram_depth <= 1024) ram_width = 18;
    else if (ram_depth <= 2048) ram_width = 9;
    else if (ram_depth <= 4096) ram_width = 4;
    else if (ram_depth <= 8192) ram_width = 2;
    const int64_t width_mul = ceil_div(simd * a, ram_width);
    const int64_t depth_mul = fceil(static_cast<double>(dim * ch) / static_cast<double>(simd) / ram_depth);
    r.bram18 = (k + stride) * width_mul * depth_mul;
  }
  int64_t ram_luts = 0;
  if (n.ram_style == "distributed")
    ram_luts = (k + stride) * (simd * a * fceil(static_cast<double>(dim * ch) / static_cast<double>(simd) / 64));
  r.lut = 300 + ram_luts;
  if (n.ram_style == "ultra")
    r.uram = (k + stride) * (ceil_div(simd * a, 64) * fceil(static_cast<double>(dim * ch) / static_cast<double>(simd) / 4096));
  return r;
}

// Thresholding_hls: comparators of A bits per PE, thresholds in LUTRAM or BRAM.
Resources thresholding_resources(const Node& n) {
  Resources r;
  const int64_t p = n.pe, a = n.in.bits, tmem = n.channels / n.pe;
  r.lut = a * p + (n.ram_style == "distributed" && tmem > 1 ? p * a * ceil_div(tmem, 64) : 0);
  if (n.ram_style == "block" && tmem > 1) r.bram18 = ceil_div(a * p, 16) * ceil_div(tmem, 1024);
  return r;
}

}  // namespace

int64_t finn_mvau_luts(int64_t pe, int64_t simd, int64_t mw, int64_t mh, int w_bits, int a_bits, bool a_signed,
                       int acc_bits, int out_bits, bool no_activation, const std::string& mem_mode,
                       const std::string& ram_style, const std::string& ram_style_thresholds, const std::string& res_type) {
  // Every expression below is FINN's, in its order, in double precision as Python computes
  // it; the final int() truncates.
  const double P = static_cast<double>(pe), Q = static_cast<double>(simd);
  const double W = w_bits, A = a_bits;
  const double c0 = 300, c1 = 1.1;
  const int64_t wmem = mw * mh / (pe * simd);
  double c2 = 0;
  if ((mem_mode == "internal_decoupled" && ram_style == "distributed") || (mem_mode == "internal_embedded" && wmem <= 128))
    c2 = (P * Q * W) * static_cast<double>(ceil_div(wmem, 64));
  const double mult_luts = res_type == "dsp" ? 0 : Q * (2 * std::ceil((W + A) / 6) - 1) * (W + A);
  const double addertree_luts = (W + A) * (2 * Q - 1);
  const double alpha = std::log2(static_cast<double>(mw)) + W + A - 1 - (a_signed ? 1 : 0);
  const double acc_bits_d = std::min(static_cast<double>(acc_bits), std::ceil(alpha + std::log2(1 + std::pow(2, -alpha)) + 1));
  const double acc_luts = acc_bits_d;
  double thr_luts = 0, comp_luts = 0;
  if (!no_activation && ram_style_thresholds == "distributed") {
    const double levels = std::pow(2, out_bits) - 1;
    const int64_t tmem = mh / pe;
    thr_luts = levels * acc_bits_d * static_cast<double>(ceil_div(tmem, 64));
    comp_luts = levels * acc_bits_d;
  }
  return static_cast<int64_t>(c0 + c1 * (P * (mult_luts + addertree_luts + acc_luts + thr_luts + comp_luts)) + c2);
}

int64_t exp_cycles(const Node& n) {
  switch (n.kind) {
    case NodeKind::kMvau: return (n.mh / n.pe) * (n.mw / n.simd) * n.vectors;
    case NodeKind::kSwu: {
      // finn-hlslib slidingwindow.h, as ConvolutionInputGenerator_hls.get_exp_cycles (mmv 1,
      // dilation 1): fill K rows, then per output row the longer of writing its windows and
      // reading `stride` new input rows.
      const double ch_per_simd = static_cast<double>(n.channels) / static_cast<double>(n.simd);
      const double write_block = static_cast<double>(n.ofm_w * n.kernel_w * n.kernel_h) * ch_per_simd;
      const double read_block = static_cast<double>(n.stride * n.ifm_w) * ch_per_simd;
      return static_cast<int64_t>(static_cast<double>(n.ifm_w * n.kernel_h) * ch_per_simd +
                                  static_cast<double>(n.ofm_h) * std::max(write_block, read_block));
    }
    case NodeKind::kThresholding: return n.ifm_h * n.ifm_w * (n.channels / n.pe);
    case NodeKind::kFmPadding:
      return static_cast<int64_t>(static_cast<double>(n.channels) / static_cast<double>(n.simd) *
                                  static_cast<double>(n.ofm_h * n.ofm_w));
    case NodeKind::kMaxPool: {
      // FINN's 2D formula (it marks it "inaccurate"; it ignores the channels, which the HLS
      // unit processes in parallel): IFMDim^2 (1 + 1/k^2).
      const double dim = static_cast<double>(n.ifm_w), k = static_cast<double>(n.kernel_w);
      return static_cast<int64_t>(dim * dim * (1 + 1 / (k * k)));
    }
    case NodeKind::kLabelSelect: return n.channels / n.pe;
  }
  return 0;
}

Resources finn_resources(const Node& n) {
  Resources r;
  switch (n.kind) {
    case NodeKind::kMvau:
      r.lut = finn_mvau_luts(n.pe, n.simd, n.mw, n.mh, n.weight.bits, n.in.bits, n.in.is_signed(), n.acc.bits,
                             n.thresholds ? n.out.bits : 0, n.thresholds == 0, n.mem_mode, n.ram_style,
                             n.ram_style_thresholds, n.res_type);
      r.bram18 = mvau_bram18(n);
      r.uram = mvau_uram(n);
      if (n.res_type == "dsp") r.dsp = static_cast<int64_t>(n.pe * n.simd * std::ceil((n.weight.bits + n.in.bits) / 48.0));
      return r;
    case NodeKind::kSwu: return swu_resources(n);
    case NodeKind::kThresholding: return thresholding_resources(n);
    default: return r;
  }
}

}  // namespace lowbit::hw
