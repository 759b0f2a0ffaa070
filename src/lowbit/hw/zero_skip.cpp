#include "lowbit/hw/zero_skip.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "lowbit/core/error.hpp"
#include "lowbit/hw/finn_model.hpp"

namespace lowbit::hw {

double effective_op_cost(double gamma, double op_luts, double decoder_luts, int64_t reuse) {
  LOWBIT_CHECK(gamma >= 0 && gamma <= 1, "effective_op_cost: gamma (the share of nonzero weights) must be in [0, 1], got ",
               gamma);
  LOWBIT_CHECK(std::isfinite(op_luts) && std::isfinite(decoder_luts) && op_luts >= 0 && decoder_luts >= 0,
               "effective_op_cost: C_op and C_dec must be finite and >= 0, got ", op_luts, " and ", decoder_luts);
  LOWBIT_CHECK(reuse >= 1, "effective_op_cost: the reuse R must be at least 1, got ", reuse);
  return gamma * (op_luts + decoder_luts / static_cast<double>(reuse));
}

int64_t zero_skip_cycles(const std::vector<int64_t>& row_nonzeros, int64_t pe, int64_t simd, int64_t vectors) {
  const int64_t rows = static_cast<int64_t>(row_nonzeros.size());
  LOWBIT_CHECK(pe >= 1 && simd >= 1 && vectors >= 1 && rows >= 1, "zero_skip_cycles: rows, PE, SIMD and vectors must be "
               "at least 1, got ", rows, ", ", pe, ", ", simd, ", ", vectors);
  LOWBIT_CHECK(rows % pe == 0, "zero_skip_cycles: PE ", pe, " does not divide the ", rows, " rows");
  int64_t per_vector = 0;
  for (int64_t f = 0; f < rows; f += pe) {
    int64_t worst = 0;
    for (int64_t r = f; r < f + pe; ++r) {
      const int64_t nnz = row_nonzeros[static_cast<size_t>(r)];
      LOWBIT_CHECK(nnz >= 0, "zero_skip_cycles: row ", r, " has ", nnz, " nonzeros");
      worst = std::max(worst, nnz);
    }
    per_vector += std::max<int64_t>(1, (worst + simd - 1) / simd);
  }
  return per_vector * vectors;
}

namespace {

// FINN's LUTs of one SIMD lane's multiplier and adder-tree share (MVAU_hls.lut_estimation
// without c1): (2 ceil((W+A)/6) - 1)(W+A) + 2(W+A).
double lane_luts(int w, int a) {
  const double wa = w + a;
  return (2 * std::ceil(wa / 6) - 1) * wa + 2 * wa;
}

int64_t ceil_mul(double cycles, double factor) { return static_cast<int64_t>(std::ceil(cycles * factor - 1e-9)); }

// zero_skip_cycles per vector with lanes sized continuously (the equal-LUT model re-sizes
// them anyway): a fold's densest row's nonzeros / SIMD, not rounded up to whole SIMD words
// nor to one cycle (an all-zero fold counts as one nonzero).
double lockstep_cycles_continuous(const std::vector<int64_t>& rows, int64_t pe, int64_t simd) {
  double c = 0;
  for (size_t f = 0; f < rows.size(); f += static_cast<size_t>(pe)) {
    const int64_t worst = *std::max_element(rows.begin() + static_cast<std::ptrdiff_t>(f),
                                            rows.begin() + static_cast<std::ptrdiff_t>(f) + pe);
    c += static_cast<double>(std::max<int64_t>(worst, 1)) / static_cast<double>(simd);
  }
  return c;
}

}  // namespace

bool has_zero_weights(const format::ModelDesc& desc) {
  for (const format::LayerDesc& l : desc.layers)
    if (std::find(l.weights.begin(), l.weights.end(), 0) != l.weights.end()) return true;
  return false;
}

ZeroSkipReport zero_skip_report(const format::ModelDesc& desc, const Graph& g, const Plan& p, const ZeroSkipOptions& opt) {
  LOWBIT_CHECK(opt.batch >= 1 && opt.batch <= (int64_t{1} << 20), "zero skipping: the batch must be in 1..2^20, got ",
               opt.batch);
  LOWBIT_CHECK(std::isfinite(opt.op_luts) && opt.op_luts > 0 && opt.op_luts <= 1e6,
               "zero skipping: the LUTs of a MAC (C_op) must be in (0, 10^6], got ", opt.op_luts);
  LOWBIT_CHECK(std::isfinite(opt.decoder_luts) && opt.decoder_luts >= 0 && opt.decoder_luts <= 1e6,
               "zero skipping: the LUTs of a decoder (C_dec) must be in [0, 10^6], got ", opt.decoder_luts);
  LOWBIT_CHECK(p.units.size() == g.nodes.size(), "zero skipping: the plan has ", p.units.size(), " units, the graph ",
               g.nodes.size());
  ZeroSkipReport r;
  r.options = opt;
  r.dense_fps = p.fps;
  // Cycles of every unit under the three variants.
  std::vector<int64_t> zs(g.nodes.size()), eq(g.nodes.size()), eq1(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    zs[i] = eq[i] = eq1[i] = p.units[i].cycles;
    if (n.kind != NodeKind::kMvau) continue;
    LOWBIT_CHECK(n.layer >= 0 && static_cast<size_t>(n.layer) < desc.layers.size(), "zero skipping: unit ", n.name,
                 " names layer ", n.layer, ", which '", desc.name, "' does not have");
    const format::LayerDesc& l = desc.layers[static_cast<size_t>(n.layer)];
    LOWBIT_CHECK(n.mh == l.out && n.mw == l.in_fan() && l.weights.size() == static_cast<size_t>(n.mw * n.mh),
                 "zero skipping: ", n.name, " is ", n.mw, " x ", n.mh, " but layer ", n.layer, " (", l.name, ") is ",
                 l.in_fan(), " x ", l.out, " (the graph is not this model's)");
    ZeroSkipUnit u;
    u.name = n.name, u.layer_name = n.layer_name, u.layer = n.layer;
    u.mw = n.mw, u.mh = n.mh, u.pe = n.pe, u.simd = n.simd, u.vectors = n.vectors;
    std::vector<int64_t> rows(static_cast<size_t>(n.mh));
    for (int64_t o = 0; o < n.mh; ++o) {
      int64_t nnz = 0;
      for (int64_t k = 0; k < n.mw; ++k) nnz += l.weight(o, k) != 0;
      rows[static_cast<size_t>(o)] = nnz;
      u.nonzeros += nnz;
      u.row_max = std::max(u.row_max, nnz);
    }
    const double macs = static_cast<double>(n.mw * n.mh) * static_cast<double>(n.vectors);
    u.gamma = static_cast<double>(u.nonzeros) / static_cast<double>(n.mw * n.mh);
    u.reuse = opt.batch * (l.kind == format::LayerKind::kConv ? n.vectors : 1);
    u.op_luts = n.xnor ? opt.op_luts : opt.op_luts * lane_luts(n.weight.bits, n.in.bits) / lane_luts(1, 1);
    u.decoders = (n.pe * n.simd + u.reuse - 1) / u.reuse;
    u.decoder_luts = static_cast<int64_t>(std::ceil(static_cast<double>(u.decoders) * opt.decoder_luts));
    u.cost_per_op = effective_op_cost(u.gamma, u.op_luts, opt.decoder_luts, u.reuse);
    u.effective_macs = u.gamma * macs;
    u.dense_cycles = p.units[i].cycles;
    u.zs_cycles = zero_skip_cycles(rows, n.pe, n.simd, n.vectors);
    u.zs_cycles_fixed = n.mh / n.pe * std::max<int64_t>(1, (u.row_max + n.simd - 1) / n.simd) * n.vectors;
    const double lanes_cycles = lockstep_cycles_continuous(rows, n.pe, n.simd) * static_cast<double>(n.vectors);
    u.eq_cycles = ceil_mul(lanes_cycles, 1 + opt.decoder_luts / (static_cast<double>(u.reuse) * u.op_luts));
    u.eq_cycles_r1 = ceil_mul(lanes_cycles, 1 + opt.decoder_luts / u.op_luts);
    const bool sparse = u.nonzeros < n.mw * n.mh;
    if (sparse) zs[i] = u.zs_cycles, r.extra_luts += u.decoder_luts;
    eq[i] = std::min(u.dense_cycles, u.eq_cycles);
    eq1[i] = std::min(u.dense_cycles, u.eq_cycles_r1);
    r.units.push_back(u);
  }
  const double hz = p.fps * static_cast<double>(p.max_cycles);  // the plan's clock
  r.clock_mhz = hz / 1e6;
  auto fps = [&](const std::vector<int64_t>& c) {
    const int64_t worst = c.empty() ? 0 : *std::max_element(c.begin(), c.end());
    return worst > 0 ? hz / static_cast<double>(worst) : 0;
  };
  r.zs_fps = fps(zs), r.eq_fps = fps(eq), r.eq_fps_r1 = fps(eq1);
  return r;
}

std::string zero_skip_text(const ZeroSkipReport& r) {
  const ZeroSkipOptions& o = r.options;
  std::ostringstream os;
  os << "Zero skipping (thesis 3.4): RLE weights, only nonzeros fed to the PEs; C_e = gamma (C_op + C_dec / R), C_op "
     << fixed_point(o.op_luts, 1) << " LUT (binary MAC), C_dec " << fixed_point(o.decoder_luts, 0) << " LUT, R = B x P (conv) or B, B = "
     << o.batch << "\n";
  size_t wn = 4, wl = 5;
  for (const ZeroSkipUnit& u : r.units) wn = std::max(wn, u.name.size()), wl = std::max(wl, u.layer_name.size());
  os << pad("unit", wn) << "  " << pad("layer", wl) << "  " << rpad("PE*SIMD", 8) << " " << rpad("gamma", 6) << " "
     << rpad("rowmax", 9) << " " << rpad("R", 5) << " " << rpad("dec", 4) << " " << rpad("decLUT", 6) << " "
     << rpad("C_e", 6) << " " << rpad("eff.MACs", 9) << " " << rpad("dense", 8) << " " << rpad("skip", 8) << " "
     << rpad("eq(R)", 8) << " " << rpad("eq(R=1)", 8) << "\n";
  for (const ZeroSkipUnit& u : r.units)
    os << pad(u.name, wn) << "  " << pad(u.layer_name, wl) << "  " << rpad(cat(u.pe, "*", u.simd), 8) << " "
       << rpad(fixed_point(u.gamma, 3), 6) << " " << rpad(cat(u.row_max, "/", u.mw), 9) << " " << rpad(std::to_string(u.reuse), 5)
       << " " << rpad(std::to_string(u.decoders), 4) << " " << rpad(std::to_string(u.decoder_luts), 6) << " "
       << rpad(fixed_point(u.cost_per_op, 2), 6) << " " << rpad(std::to_string(static_cast<int64_t>(std::llround(u.effective_macs))), 9)
       << " " << rpad(std::to_string(u.dense_cycles), 8) << " " << rpad(std::to_string(u.zs_cycles), 8) << " "
       << rpad(std::to_string(u.eq_cycles), 8) << " " << rpad(std::to_string(u.eq_cycles_r1), 8) << "\n";
  os << "(gamma: nonzero share; rowmax: nonzeros of the densest row / MW; dec: decoders ceil(PE*SIMD/R); C_e: LUTs per "
        "dense-equivalent op; cycles per frame: dense; skip: same PE*SIMD, rows of a fold in lockstep; eq: at the "
        "dense MAC lanes' LUTs, lanes shared with decoders, lane counts continuous)\n";
  os << "Frames/s at " << fixed_point(r.clock_mhz, 1) << " MHz: dense " << fixed_point(r.dense_fps, 1) << "; skipping zeros at the same "
     << "folding " << fixed_point(r.zs_fps, 1) << " (+" << r.extra_luts << " decoder LUT); at equal LUTs " << fixed_point(r.eq_fps, 1)
     << " with reuse R, " << fixed_point(r.eq_fps_r1, 1) << " with R = 1 (FINN's streaming order)\n";
  return os.str();
}

nlohmann::json zero_skip_json(const ZeroSkipReport& r) {
  using nlohmann::json;
  json units = json::array();
  for (const ZeroSkipUnit& u : r.units)
    units.push_back({{"name", u.name},           {"layer", u.layer_name},
                     {"MW", u.mw},               {"MH", u.mh},
                     {"PE", u.pe},               {"SIMD", u.simd},
                     {"vectors", u.vectors},     {"nonzeros", u.nonzeros},
                     {"gamma", u.gamma},         {"row_max_nonzeros", u.row_max},
                     {"reuse", u.reuse},         {"op_luts", u.op_luts},
                     {"decoders", u.decoders},   {"decoder_luts", u.decoder_luts},
                     {"cost_per_op", u.cost_per_op}, {"effective_macs", u.effective_macs},
                     {"dense_cycles", u.dense_cycles}, {"zero_skip_cycles", u.zs_cycles},
                     {"zero_skip_cycles_fixed_schedule", u.zs_cycles_fixed},
                     {"equal_luts_cycles", u.eq_cycles}, {"equal_luts_cycles_r1", u.eq_cycles_r1}});
  return json{{"batch", r.options.batch},        {"op_luts", r.options.op_luts},
              {"decoder_luts", r.options.decoder_luts}, {"units", units},
              {"dense_fps", r.dense_fps},         {"zero_skip_fps", r.zs_fps},
              {"decoder_luts_total", r.extra_luts}, {"equal_luts_fps", r.eq_fps},
              {"equal_luts_fps_r1", r.eq_fps_r1}};
}

}  // namespace lowbit::hw
