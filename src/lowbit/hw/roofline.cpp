#include "lowbit/hw/roofline.hpp"

#include <algorithm>
#include <limits>
#include <sstream>

#include "lowbit/core/error.hpp"
#include "lowbit/hw/plan.hpp"

namespace lowbit::hw {

const std::vector<OpCost>& seed_op_costs() {
  static const std::vector<OpCost> table = {{1, 2.5, 0}, {4, 16, 0}, {8, 45, 0}, {16, 15, 0.5}, {32, 178, 2}};
  return table;
}

const OpCost& op_cost_for(int bits) {
  for (const OpCost& c : seed_op_costs())
    if (c.bits >= bits) return c;
  return seed_op_costs().back();
}

double peak_ops_per_s(const Device& dev, const OpCost& cost, double clock_mhz, double fill) {
  double per_cycle = std::numeric_limits<double>::infinity();
  if (cost.lut_per_op > 0) per_cycle = std::min(per_cycle, fill * static_cast<double>(dev.luts) / cost.lut_per_op);
  if (cost.dsp_per_op > 0) per_cycle = std::min(per_cycle, fill * static_cast<double>(dev.dsp) / cost.dsp_per_op);
  return per_cycle * clock_mhz * 1e6;
}

std::vector<PrecisionOps> ops_by_precision(const Graph& g) {
  std::vector<PrecisionOps> out;
  for (const Node& n : g.nodes) {
    if (n.kind != NodeKind::kMvau) continue;
    const std::string p = cat("W", n.weight.bits, "A", n.in.bits);
    auto it = std::find_if(out.begin(), out.end(), [&](const PrecisionOps& x) { return x.precision == p; });
    if (it == out.end()) out.push_back({p, std::max(n.weight.bits, n.in.bits), 0}), it = out.end() - 1;
    it->ops += n.ops();
  }
  return out;
}

Roofline roofline(const Graph& g, const Device& dev, double clock_mhz, double fill) {
  Roofline r;
  r.ops_per_frame = g.ops();
  int64_t out_bytes = 1;
  if (!g.nodes.empty()) out_bytes = std::max<int64_t>(1, (g.nodes.back().outstream_bits() + 7) / 8);
  r.bytes_on_chip = g.input_bytes + out_bytes;
  r.bytes_streamed = r.bytes_on_chip + (g.weight_bits() + g.threshold_bits() + 7) / 8;
  r.intensity_on_chip = static_cast<double>(r.ops_per_frame) / static_cast<double>(r.bytes_on_chip);
  r.intensity_streamed = static_cast<double>(r.ops_per_frame) / static_cast<double>(r.bytes_streamed);
  // The peak of this op mix: the device spends ops_p / peak_p seconds on each precision.
  double seconds = 0;
  for (const PrecisionOps& p : ops_by_precision(g))
    seconds += static_cast<double>(p.ops) / peak_ops_per_s(dev, op_cost_for(p.bits), clock_mhz, fill);
  r.peak_ops = seconds > 0 ? static_cast<double>(r.ops_per_frame) / seconds : 0;
  r.bandwidth = dev.ddr_gbps * 1e9;
  r.attainable_on_chip = std::min(r.peak_ops, r.intensity_on_chip * r.bandwidth);
  r.attainable_streamed = std::min(r.peak_ops, r.intensity_streamed * r.bandwidth);
  // No DRAM figure: no roofline (attainable 0 = unknown, the JSON's "dram_bytes_per_s" is 0).
  return r;
}

namespace {
std::string si(double ops) {  // ops/s with a prefix
  if (ops >= 1e12) return cat(fixed_point(ops / 1e12, 2), " TOPS");
  if (ops >= 1e9) return cat(fixed_point(ops / 1e9, 2), " GOPS");
  return cat(fixed_point(ops / 1e6, 2), " MOPS");
}
}  // namespace

std::string roofline_text(const Graph& g, const Device& dev, double clock_mhz, double design_fps) {
  std::ostringstream os;
  os << "Ops per frame (2 per MAC): " << g.ops() << "\n";
  for (const PrecisionOps& p : ops_by_precision(g)) os << "  " << p.precision << ": " << p.ops << "\n";
  os << "Cost per op and peak of " << dev.name << " at " << fixed_point(clock_mhz, 0)
     << " MHz, 70% of the device (seed 000's table):\n";
  for (const OpCost& c : seed_op_costs())
    os << "  " << c.bits << "b: " << fixed_point(c.lut_per_op, 1) << " LUT + " << fixed_point(c.dsp_per_op, 1) << " DSP per op -> "
       << si(peak_ops_per_s(dev, c, clock_mhz)) << "\n";
  const Roofline r = roofline(g, dev, clock_mhz);
  if (dev.ddr_gbps <= 0) {
    os << "Roofline (seed 002): " << dev.name << " has no DRAM figure (ddr_gbps); compute peak " << si(r.peak_ops) << "\n";
  } else {
    os << "Roofline (seed 002): DRAM " << fixed_point(dev.ddr_gbps, 1) << " GB/s, compute peak " << si(r.peak_ops) << "\n";
    os << "  weights on chip:  " << r.bytes_on_chip << " bytes/frame, intensity " << fixed_point(r.intensity_on_chip, 1)
       << " ops/byte -> attainable " << si(r.attainable_on_chip)
       << (r.attainable_on_chip < r.peak_ops ? " (memory-bound)" : " (compute-bound)") << "\n";
    os << "  weights streamed: " << r.bytes_streamed << " bytes/frame, intensity " << fixed_point(r.intensity_streamed, 1)
       << " ops/byte -> attainable " << si(r.attainable_streamed)
       << (r.attainable_streamed < r.peak_ops ? " (memory-bound)" : " (compute-bound)") << "\n";
  }
  if (design_fps > 0)
    os << "  this folding: " << fixed_point(design_fps, 1) << " frames/s = " << si(design_fps * static_cast<double>(g.ops()))
       << " (" << fixed_point(100 * design_fps * static_cast<double>(g.ops()) / r.peak_ops, 2)
       << "% of the peak; a design cheaper per op than the seed's table can pass 100%)\n";
  return os.str();
}

nlohmann::json roofline_json(const Graph& g, const Device& dev, double clock_mhz, double design_fps) {
  using nlohmann::json;
  json prec = json::array();
  for (const PrecisionOps& p : ops_by_precision(g)) prec.push_back({{"precision", p.precision}, {"ops", p.ops}});
  json costs = json::array();
  for (const OpCost& c : seed_op_costs())
    costs.push_back({{"bits", c.bits}, {"lut_per_op", c.lut_per_op}, {"dsp_per_op", c.dsp_per_op},
                     {"peak_ops_per_s", peak_ops_per_s(dev, c, clock_mhz)}});
  const Roofline r = roofline(g, dev, clock_mhz);
  json j{{"ops_per_frame", r.ops_per_frame},
         {"ops_by_precision", prec},
         {"op_costs", costs},
         {"fill", 0.7},
         {"peak_ops_per_s", r.peak_ops},
         {"dram_bytes_per_s", r.bandwidth},
         {"bytes_per_frame_weights_on_chip", r.bytes_on_chip},
         {"bytes_per_frame_weights_streamed", r.bytes_streamed},
         {"intensity_weights_on_chip", r.intensity_on_chip},
         {"intensity_weights_streamed", r.intensity_streamed},
         {"attainable_weights_on_chip", r.attainable_on_chip},
         {"attainable_weights_streamed", r.attainable_streamed}};
  if (design_fps > 0) j["design_ops_per_s"] = design_fps * static_cast<double>(g.ops());
  return j;
}

}  // namespace lowbit::hw
