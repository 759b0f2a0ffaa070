#include "lowbit/hw/plan.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "lowbit/core/error.hpp"

namespace lowbit::hw {

Resources CostModel::budget() const {
  auto part = [&](int64_t v) { return static_cast<int64_t>(std::floor(static_cast<double>(v) * utilization + 1e-9)); };
  Resources b;
  b.lut = part(device.luts), b.bram18 = part(device.bram18()), b.uram = part(device.uram), b.dsp = part(device.dsp);
  b.ebr = part(device.ebr);
  return b;
}

std::string CostModel::model_name() const {
  if (model == ResourceModel::kFinn) return "FINN analytical (FINN-R formulas, finn_model.hpp)";
  return cat("lowbit structural, ", calibration.calibrated ? "calibrated: " : "uncalibrated: ", calibration.source);
}

Plan evaluate(const Graph& g, const CostModel& cm) {
  Plan p;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    UnitReport u;
    u.cycles = exp_cycles(g.nodes[i]);
    u.res = cm.of(g.nodes[i]);
    p.total += u.res;
    p.latency_cycles += u.cycles;
    if (p.bottleneck < 0 || u.cycles > p.max_cycles) p.max_cycles = u.cycles, p.bottleneck = static_cast<int>(i);
    p.units.push_back(u);
  }
  for (UnitReport& u : p.units) u.share = p.max_cycles ? static_cast<double>(u.cycles) / static_cast<double>(p.max_cycles) : 0;
  const double hz = cm.clock_mhz * 1e6;
  p.fps = p.max_cycles ? hz / static_cast<double>(p.max_cycles) : 0;
  p.latency_us = static_cast<double>(p.latency_cycles) / cm.clock_mhz;
  const Resources b = cm.budget();
  auto check = [&](const char* what, int64_t used, int64_t avail, int64_t device_total) {
    if (used <= avail) return;
    p.over.push_back(cat(what, " ", used, " > ", avail,
                         device_total ? cat(" (", static_cast<int64_t>(std::lround(100.0 * static_cast<double>(used) /
                                                                                   static_cast<double>(device_total))),
                                            "% of the device)")
                                      : std::string(" (the device has none)")));
  };
  const Device& d = cm.device;
  check(d.fabric == Fabric::kIce40 ? "logic cells" : "LUT", p.total.lut, b.lut, d.luts);
  check("BRAM18", p.total.bram18, b.bram18, d.bram18());
  check("URAM", p.total.uram, b.uram, d.uram);
  check("DSP", p.total.dsp, b.dsp, d.dsp);
  check("EBR", p.total.ebr, b.ebr, d.ebr);
  p.fits = p.over.empty();
  return p;
}

std::string fixed_point(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

namespace {

std::string pct(int64_t used, int64_t total) {
  return total ? cat(fixed_point(100.0 * static_cast<double>(used) / static_cast<double>(total), 1), "%") : std::string("-");
}

}  // namespace

std::string pad(const std::string& s, size_t w) { return s.size() >= w ? s : s + std::string(w - s.size(), ' '); }
std::string rpad(const std::string& s, size_t w) { return s.size() >= w ? s : std::string(w - s.size(), ' ') + s; }

std::string plan_text(const Graph& g, const Plan& p, const CostModel& cm) {
  const Device& d = cm.device;
  const bool ice = d.fabric == Fabric::kIce40;
  std::ostringstream os;
  os << "Dataflow plan of '" << g.model << "' on " << device_line(d) << "\n";
  os << "Clock " << fixed_point(cm.clock_mhz, 1) << " MHz; resources: " << cm.model_name();
  if (cm.utilization < 1) os << "; budget " << fixed_point(100 * cm.utilization, 0) << "% of the device";
  os << "\n\n";
  size_t wn = 4, wl = 5;
  for (const Node& n : g.nodes) wn = std::max(wn, n.name.size()), wl = std::max(wl, n.layer_name.size());
  os << pad("unit", wn) << "  " << pad("layer", wl) << "  " << rpad("MW", 5) << " " << rpad("MH", 5) << " " << rpad("PE", 4)
     << " " << rpad("SIMD", 4) << " " << rpad("cycles", 9) << " " << rpad(ice ? "cells" : "LUT", 8) << " "
     << rpad(ice ? "EBR" : "BRAM18", 6) << (d.uram ? cat(" ", rpad("URAM", 5)) : "") << " " << rpad("DSP", 4) << "  share\n";
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    const UnitReport& u = p.units[i];
    const bool mv = n.kind == NodeKind::kMvau;
    os << pad(n.name, wn) << "  " << pad(n.layer_name, wl) << "  " << rpad(mv ? std::to_string(n.mw) : "", 5) << " "
       << rpad(mv ? std::to_string(n.mh) : "", 5) << " " << rpad(n.has_pe() ? std::to_string(n.pe) : "", 4) << " "
       << rpad(n.has_simd() ? std::to_string(n.simd) : "", 4) << " " << rpad(std::to_string(u.cycles), 9) << " "
       << rpad(std::to_string(u.res.lut), 8) << " " << rpad(std::to_string(ice ? u.res.ebr : u.res.bram18), 6)
       << (d.uram ? cat(" ", rpad(std::to_string(u.res.uram), 5)) : "") << " " << rpad(std::to_string(u.res.dsp), 4) << "  "
       << rpad(cat(fixed_point(100 * u.share, 0), "%"), 5) << (static_cast<int>(i) == p.bottleneck ? "  <- bottleneck" : "") << "\n";
  }
  os << "\nTotal: " << (ice ? "logic cells " : "LUT ") << p.total.lut << " / " << d.luts << " (" << pct(p.total.lut, d.luts)
     << ")";
  if (ice) os << ", EBR " << p.total.ebr << " / " << d.ebr << " (" << pct(p.total.ebr, d.ebr) << ")";
  else os << ", BRAM18 " << p.total.bram18 << " / " << d.bram18() << " (" << pct(p.total.bram18, d.bram18()) << ")";
  if (d.uram || p.total.uram) os << ", URAM " << p.total.uram << " / " << d.uram;
  os << ", DSP " << p.total.dsp << " / " << d.dsp << "\n";
  os << "Memory: weights " << g.weight_bits() << " bits, thresholds " << g.threshold_bits() << " bits ("
     << fixed_point(static_cast<double>(g.weight_bits() + g.threshold_bits()) / 8192.0, 1) << " KiB)\n";
  if (p.bottleneck >= 0)
    os << "Throughput: " << fixed_point(p.fps, 1) << " frames/s at " << fixed_point(cm.clock_mhz, 1) << " MHz (bottleneck "
       << g.nodes[static_cast<size_t>(p.bottleneck)].name << ", " << p.max_cycles << " cycles per frame); latency "
       << p.latency_cycles << " cycles = " << fixed_point(p.latency_us, 1) << " us\n";
  if (p.fits) os << "Fits " << d.name << ".\n";
  for (const std::string& o : p.over) os << "warning: does not fit " << d.name << ": " << o << "\n";
  return os.str();
}

nlohmann::json plan_json(const Graph& g, const Plan& p, const CostModel& cm) {
  using nlohmann::json;
  auto res = [](const Resources& r) {
    return json{{"LUT", r.lut}, {"BRAM_18K", r.bram18}, {"URAM", r.uram}, {"DSP", r.dsp}, {"EBR", r.ebr}};
  };
  json units = json::array();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    json u{{"name", n.name}, {"op_type", op_type(n.kind)}, {"layer", n.layer_name}, {"cycles", p.units[i].cycles},
           {"share", p.units[i].share}, {"resources", res(p.units[i].res)}, {"description", describe(n)}};
    if (n.kind == NodeKind::kMvau) {
      u["MW"] = n.mw, u["MH"] = n.mh, u["vectors"] = n.vectors;
      u["inputDataType"] = n.in.name(), u["weightDataType"] = n.weight.name(), u["outputDataType"] = n.out.name();
      u["accDataType"] = n.acc.name(), u["binaryXnorMode"] = n.xnor ? 1 : 0, u["noActivation"] = n.thresholds ? 0 : 1;
      u["resType"] = n.res_type, u["mem_mode"] = n.mem_mode, u["ram_style_thresholds"] = n.ram_style_thresholds;
    }
    if (n.has_pe()) u["PE"] = n.pe;
    if (n.has_simd()) u["SIMD"] = n.simd;
    if (n.kind != NodeKind::kFmPadding && n.kind != NodeKind::kMaxPool && n.kind != NodeKind::kLabelSelect)
      u["ram_style"] = n.ram_style;
    units.push_back(u);
  }
  const Device& d = cm.device;
  return json{{"model", g.model},
              {"device", {{"name", d.name}, {"boards", d.boards}, {"LUT", d.luts}, {"BRAM_18K", d.bram18()}, {"URAM", d.uram},
                          {"DSP", d.dsp}, {"EBR", d.ebr}}},
              {"clock_mhz", cm.clock_mhz},
              {"resource_model", cm.model == ResourceModel::kFinn ? "finn" : "calibrated"},
              {"calibrated", cm.model == ResourceModel::kCalibrated && cm.calibration.calibrated},
              {"utilization", cm.utilization},
              {"units", units},
              {"total", res(p.total)},
              {"budget", res(cm.budget())},
              {"max_cycles", p.max_cycles},
              {"bottleneck", p.bottleneck >= 0 ? g.nodes[static_cast<size_t>(p.bottleneck)].name : ""},
              {"fps", p.fps},
              {"latency_cycles", p.latency_cycles},
              {"latency_us", p.latency_us},
              {"weight_bits", g.weight_bits()},
              {"threshold_bits", g.threshold_bits()},
              {"ops_per_frame", g.ops()},
              {"fits", p.fits},
              {"over_budget", p.over}};
}

}  // namespace lowbit::hw
