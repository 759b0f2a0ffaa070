#include "lowbit/hw/calibrated_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "lowbit/core/error.hpp"
#include "lowbit/core/json_get.hpp"

namespace lowbit::hw {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct Aspect {
  int64_t depth, width;
};

int64_t tiles(int64_t depth, int64_t width, const Aspect* aspects, size_t n) {
  int64_t best = -1;
  for (size_t i = 0; i < n; ++i) {
    const int64_t c = ceil_div(depth, aspects[i].depth) * ceil_div(width, aspects[i].width);
    if (best < 0 || c < best) best = c;
  }
  return best;
}

// A memory's cost in each style. LUTRAM: 64 x 1 per 6-LUT (a ROM the synthesizer builds
// from LUTs costs the same: one 6-LUT per 64 bits of a column); a single-port memory of at
// most 32 words packs 32 x 2 per LUT (RAM32M: four LUTs, eight bits, one address). iCE40
// has none: its "distributed" memory is one register (a logic cell) per bit.
int64_t lutram_luts(int64_t depth, int64_t width, const Device& dev, bool single_port = false) {
  if (depth == 0 || width == 0) return 0;
  if (dev.fabric == Fabric::kIce40) return depth * width;
  return single_port && depth <= 32 ? ceil_div(width, 2) : ceil_div(depth, 64) * width;
}
int64_t uram_count(int64_t depth, int64_t width) {
  if (depth == 0 || width == 0) return 0;
  return ceil_div(depth, 4096) * ceil_div(width, 72);
}

// Adds `copies` memories of depth x width in `style` to r.
void add_memory(Resources& r, int64_t copies, int64_t depth, int64_t width, std::string style, const Device& dev,
                bool single_port = false) {
  if (depth == 0 || width == 0 || copies == 0) return;
  if (style == "ultra" && dev.uram == 0) style = "block";
  if (style == "auto") {
    // The smaller share of the device wins (what yosys's memory mapping chose at every point
    // of the calibration sweep, docs/SYNTHESIS.md).
    const double lut_share = static_cast<double>(lutram_luts(depth, width, dev, single_port)) / static_cast<double>(dev.luts);
    const int64_t blocks = dev.fabric == Fabric::kIce40 ? dev.ebr : dev.bram18();
    const double bram_share =
        blocks ? static_cast<double>(block_ram_count(depth, width, dev)) / static_cast<double>(blocks) : 1e9;
    style = lut_share <= bram_share ? "distributed" : "block";
  }
  if (style == "distributed") r.lut += copies * lutram_luts(depth, width, dev, single_port);
  else if (style == "ultra") r.uram += copies * uram_count(depth, width);
  else if (dev.fabric == Fabric::kIce40) r.ebr += copies * block_ram_count(depth, width, dev);
  else r.bram18 += copies * block_ram_count(depth, width, dev);
}

int64_t bits_of(int64_t v) { return v <= 1 ? 1 : static_cast<int64_t>(std::ceil(std::log2(static_cast<double>(v)))); }

}  // namespace

int64_t block_ram_count(int64_t depth, int64_t width, const Device& dev) {
  if (depth == 0 || width == 0) return 0;
  static const Aspect ramb18[] = {{16384, 1}, {8192, 2}, {4096, 4}, {2048, 9}, {1024, 18}, {512, 36}};
  static const Aspect ebr[] = {{2048, 2}, {1024, 4}, {512, 8}, {256, 16}};
  return dev.fabric == Fabric::kIce40 ? tiles(depth, width, ebr, 4) : tiles(depth, width, ramb18, 6);
}

Calibration read_calibration(const std::string& path) {
  const nlohmann::json j = read_json_file(path);
  LOWBIT_CHECK(j.is_object(), path, ": a calibration file holds one JSON object");
  Calibration c;
  c.calibrated = true;
  c.source = path;
  struct Field {
    const char* key;
    double* value;
  };
  const Field fields[] = {{"xnor_lane", &c.xnor_lane},     {"mac_bit", &c.mac_bit},         {"add_bit", &c.add_bit},
                          {"acc_bit", &c.acc_bit},         {"compare_bit", &c.compare_bit}, {"unit_control", &c.unit_control},
                          {"ice40_factor", &c.ice40_factor}};
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "source") {
      c.source = json_string(j, "source", path);
      continue;
    }
    const Field* f = std::find_if(std::begin(fields), std::end(fields), [&](const Field& x) { return it.key() == x.key; });
    LOWBIT_CHECK(f != std::end(fields), path, ": unknown key '", it.key(),
                 "' (source, xnor_lane, mac_bit, add_bit, acc_bit, compare_bit, unit_control, ice40_factor)");
    *f->value = json_number(j, it.key(), 0, 1e6, path);
  }
  return c;
}

Resources calibrated_resources(const Node& n, const Device& dev, const Calibration& cal) {
  Resources r;
  double logic = cal.unit_control;
  switch (n.kind) {
    case NodeKind::kMvau: {
      const double w = n.weight.bits, a = n.in.bits, acc = n.acc.bits;
      // A lane's adder is as wide as lb_mvau's SIMD-wide sum (its SW: the bits of
      // +-SIMD x max|w| x max|x|, at most the accumulator's).
      const int64_t wabs = std::max(std::abs(n.weight.min()), std::abs(n.weight.max()));
      const int64_t xabs = std::max(std::abs(n.in_lo), std::abs(n.in_hi));
      const double sw = std::min<int64_t>(n.acc.bits, datatype_for_range(-n.simd * wabs * xabs, n.simd * wabs * xabs).bits);
      double lane = 0;
      if (n.xnor) lane = cal.xnor_lane;
      else if (n.res_type != "dsp") lane = cal.mac_bit * w * a + cal.add_bit * sw;
      else lane = cal.add_bit * sw;
      logic += static_cast<double>(n.pe) * (static_cast<double>(n.simd) * lane + cal.acc_bit * acc +
                                            cal.compare_bit * n.thresholds * acc);
      if (n.res_type == "dsp" && !n.xnor) r.dsp += n.pe * n.simd;
      // lowbit's lb_mvau reads all PEs at one address: one weight memory of NF*SF words of
      // PE*SIMD*W bits, one threshold memory of NF words of PE*T*acc bits, and (NF > 1) the
      // input buffer the later row folds replay, SF single-port words of SIMD*A bits.
      const int64_t nf = n.mh / n.pe, sf = n.mw / n.simd;
      if (n.mem_mode != "external") add_memory(r, 1, nf * sf, n.pe * n.simd * n.weight.bits, n.ram_style, dev);
      add_memory(r, 1, nf, n.pe * n.thresholds * n.acc.bits, n.ram_style_thresholds, dev);
      if (nf > 1) add_memory(r, 1, sf, n.simd * n.in.bits, "auto", dev, /*single_port=*/true);
      break;
    }
    case NodeKind::kSwu:
      // lb_swu: one memory of K + max(S, K) rows of IFMDim*C/SIMD words of SIMD*A bits.
      add_memory(r, 1, (n.kernel_h + std::max(n.stride, n.kernel_h)) * (n.ifm_w * n.channels / n.simd),
                 n.simd * n.in.bits, n.ram_style, dev);
      break;
    case NodeKind::kThresholding:
      // lb_thresholding: the input table's thresholds are constants shared by every channel
      // (no memory), so each of the PE lanes is a fixed function of its A-bit pixel: a ROM of
      // 2^A words of B bits, 2^A / 64 6-LUTs per output bit (yosys: 50 LUTs for CNV's 8-bit
      // lane, docs/SYNTHESIS.md), whatever the number of thresholds.
      logic += static_cast<double>(n.pe * n.out.bits) * std::ceil(std::ldexp(1.0, static_cast<int>(n.in.bits)) / 64.0);
      break;
    case NodeKind::kMaxPool:
      // One comparator per channel and bit; a row of partial maxima (ofm_w x C values).
      logic += cal.compare_bit * 2 * static_cast<double>(n.channels * n.in.bits);
      add_memory(r, 1, n.ofm_w, n.channels * n.in.bits, "auto", dev);
      break;
    case NodeKind::kLabelSelect:
      logic += static_cast<double>(n.pe) * cal.compare_bit * 2 * static_cast<double>(n.in.bits + bits_of(n.channels));
      break;
    case NodeKind::kFmPadding: break;
  }
  if (dev.fabric == Fabric::kIce40) logic *= cal.ice40_factor;
  r.lut += static_cast<int64_t>(std::ceil(logic));
  return r;
}

}  // namespace lowbit::hw
