#include "lowbit/hw/pruning_cost.hpp"

#include <algorithm>
#include <numeric>
#include <sstream>

#include "lowbit/core/error.hpp"
#include "lowbit/hw/finn_model.hpp"

namespace lowbit::hw {

namespace {

int64_t checked_mul(int64_t a, int64_t b, const char* what) {
  int64_t r = 0;
  LOWBIT_CHECK(!__builtin_mul_overflow(a, b, &r), what, " overflows int64");
  return r;
}

}  // namespace

int64_t layer_ops(int64_t kernel_h, int64_t kernel_w, int64_t in_channels, int64_t filters, int64_t out_h, int64_t out_w) {
  LOWBIT_CHECK(kernel_h > 0 && kernel_w > 0 && in_channels > 0 && filters > 0 && out_h > 0 && out_w > 0,
               "layer_ops (eq 4.5): every size must be positive, got K ", kernel_h, "x", kernel_w, ", I ", in_channels,
               ", N ", filters, ", F_out ", out_h, "x", out_w);
  int64_t ops = 1;
  for (int64_t f : {kernel_h, kernel_w, in_channels, filters, out_h, out_w}) ops = checked_mul(ops, f, "OPS (eq 4.5)");
  return ops;
}

int64_t pe_reuse(int64_t ops, int64_t pe) {
  LOWBIT_CHECK(ops >= 0 && pe >= 1, "pe_reuse (eq 4.6): needs OPS >= 0 and PE >= 1, got ", ops, " and ", pe);
  return ops / pe + (ops % pe != 0);
}

int64_t fm_bram(int64_t in_channels, int64_t in_h, int64_t in_w, int64_t reuse, int64_t words_per_bram) {
  LOWBIT_CHECK(in_channels > 0 && in_h > 0 && in_w > 0 && reuse >= 1 && words_per_bram >= 1,
               "fm_bram (eq 4.7): needs I, F_in > 0, Reuse >= 1 and B_w >= 1, got I ", in_channels, ", F_in ", in_h, "x",
               in_w, ", Reuse ", reuse, ", B_w ", words_per_bram);
  // ceil(M (R-1) / (R B_w)) in integers: M (R - 1) can exceed int64 for large maps and
  // reuse, so split M (R-1) / R = M - M / R (as rationals) and round once at the end.
  const int64_t map = checked_mul(checked_mul(in_channels, in_h, "I*F_in*F_in"), in_w, "I*F_in*F_in");
  const int64_t num = checked_mul(map, reuse - 1, "I*F_in*F_in*(Reuse-1)");
  const int64_t den = checked_mul(reuse, words_per_bram, "Reuse*B_w");
  return num / den + (num % den != 0);
}

int64_t bram18_words(int bits) {
  LOWBIT_CHECK(bits >= 1 && bits <= 36, "bram18_words: a RAMB18 word is 1..36 bits wide, got ", bits);
  if (bits == 1) return 16384;
  if (bits == 2) return 8192;
  if (bits <= 4) return 4096;
  if (bits <= 9) return 2048;
  if (bits <= 18) return 1024;
  return 512;
}

int64_t filter_step(const Graph& g, int layer) {
  const Node* mvau = nullptr;
  int64_t step = 1;
  for (const Node& n : g.nodes) {
    if (n.layer == layer && n.kind == NodeKind::kMvau) mvau = &n, step = std::lcm(step, n.pe);
    if (n.layer != layer + 1) continue;
    if (n.kind == NodeKind::kSwu || n.kind == NodeKind::kFmPadding) step = std::lcm(step, n.simd);
    if (n.kind == NodeKind::kMvau) {
      // MW = window x N: SIMD | window x N' iff SIMD / gcd(SIMD, window) | N'. The window
      // is MW / N of the current graph (K*K of a conv, H*W of a dense layer after a map).
      const int64_t prev_n = mvau ? mvau->mh : 0;
      LOWBIT_CHECK(prev_n > 0 && n.mw % prev_n == 0, "filter_step: ", n.name, " does not read layer ", layer,
                   "'s outputs as its input channels");
      const int64_t window = n.mw / prev_n;
      step = std::lcm(step, n.simd / std::gcd(n.simd, window));
    }
  }
  LOWBIT_CHECK(mvau != nullptr, "filter_step: layer ", layer, " has no MVAU in the graph of '", g.model, "'");
  return step;
}

int64_t round_filters_to_pe(int64_t wanted, int64_t step, FilterRounding rounding) {
  LOWBIT_CHECK(wanted >= 1, "round_filters_to_pe: the wanted filter count must be at least 1, got ", wanted);
  LOWBIT_CHECK(step >= 1, "round_filters_to_pe: the PE (step) must be at least 1, got ", step);
  const int64_t down = wanted / step * step;
  int64_t n = down;
  if (rounding == FilterRounding::kNearest && wanted - down > step - (wanted - down)) n = down + step;  // ties down
  return std::max(n, step);
}

namespace {

const char* kResourceNames[] = {"LUT", "DSP", "BRAM18", "URAM", "EBR"};

int64_t get(const Resources& r, const std::string& what) {
  if (what == "LUT") return r.lut;
  if (what == "DSP") return r.dsp;
  if (what == "BRAM18") return r.bram18;
  if (what == "URAM") return r.uram;
  if (what == "EBR") return r.ebr;
  return 0;
}

bool pe_resource(const std::string& what) { return what == "LUT" || what == "DSP"; }

std::string pct(double v) {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(0);
  os << 100 * v << "%";
  return os.str();
}

// The resource with the largest used/budget ratio; `over_only`: only those above budget.
std::string largest_share(const Resources& used, const Resources& budget, const Device& d, bool over_only, double& ratio) {
  std::string best;
  ratio = -1;
  for (const char* what : kResourceNames) {
    const int64_t u = get(used, what), b = get(budget, what);
    const bool device_has = get(Resources{d.luts, d.bram18(), d.uram, d.dsp, d.ebr}, what) > 0;
    if (!device_has || u == 0) continue;
    const double s = b > 0 ? static_cast<double>(u) / static_cast<double>(b) : 1e12;
    if (over_only && u <= b) continue;
    if (s > ratio) ratio = s, best = what;
  }
  return best;
}

}  // namespace

PruningReport pruning_report(const format::ModelDesc& desc, const Graph& g, const Plan& p, const CostModel& cm,
                             const FitResult* fit) {
  LOWBIT_CHECK(p.units.size() == g.nodes.size(), "pruning_report: the plan has ", p.units.size(), " units, the graph ",
               g.nodes.size());
  PruningReport r;
  const int layers = static_cast<int>(desc.layers.size());
  r.layers.resize(desc.layers.size());
  std::vector<bool> seen(desc.layers.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.layer < 0) continue;  // the input quantizer
    LOWBIT_CHECK(n.layer < layers, "pruning_report: unit ", n.name, " names layer ", n.layer, " but '", desc.name,
                 "' has ", layers, " layers (the graph is not this model's)");
    LayerCost& c = r.layers[static_cast<size_t>(n.layer)];
    c.all += p.units[i].res;
    c.cycles = std::max(c.cycles, p.units[i].cycles);
    if (n.kind != NodeKind::kMvau) continue;
    const format::LayerDesc& l = desc.layers[static_cast<size_t>(n.layer)];
    LOWBIT_CHECK(n.mh == l.out && n.mw == l.in_fan(), "pruning_report: ", n.name, " is ", n.mw, " x ", n.mh, " but layer ",
                 n.layer, " (", l.name, ") is ", l.in_fan(), " x ", l.out, " (the graph is not this model's)");
    seen[static_cast<size_t>(n.layer)] = true;
    c.layer = n.layer, c.name = l.name, c.conv = l.kind == format::LayerKind::kConv;
    c.kernel_h = c.conv ? l.kernel_h : 1, c.kernel_w = c.conv ? l.kernel_w : 1;
    c.in_channels = c.conv ? l.in_c : l.in_fan();
    c.filters = l.out;
    c.in_h = c.conv ? l.in_h : 1, c.in_w = c.conv ? l.in_w : 1;
    c.out_h = l.conv_h(), c.out_w = l.conv_w();
    c.ops = layer_ops(c.kernel_h, c.kernel_w, c.in_channels, c.filters, c.out_h, c.out_w);
    c.pe = n.pe, c.simd = n.simd, c.macs_per_cycle = n.pe * n.simd;
    c.reuse = pe_reuse(c.ops, c.macs_per_cycle);
    c.act_bits = std::max(1, l.input.planes());
    c.words_per_bram = bram18_words(c.act_bits);
    c.fm_bram18 = fm_bram(c.in_channels, c.in_h, c.in_w, c.reuse, c.words_per_bram);
    c.mvau = p.units[i].res;
    c.prunable = !l.scores;
    c.filter_step = c.prunable ? filter_step(g, n.layer) : 1;
  }
  for (int i = 0; i < layers; ++i)
    LOWBIT_CHECK(seen[static_cast<size_t>(i)], "pruning_report: layer ", i, " (", desc.layers[static_cast<size_t>(i)].name,
                 ") has no MVAU in the graph");

  // The binding resource.
  const Resources budget = cm.budget();
  double ratio = 0;
  if (fit && fit->found && fit->blocked_cycles > 0 && fit->blocked_cycles < p.max_cycles) {
    r.bound = largest_share(fit->blocked_total, budget, cm.device, /*over_only=*/true, ratio);
    if (!r.bound.empty())
      r.bound_why = cat("the next faster design the search tried (bottleneck ", fit->blocked_cycles, " cycles) needs ",
                        get(fit->blocked_total, r.bound), " ", r.bound, ", ", pct(ratio), " of the budget");
  }
  if (r.bound.empty()) {
    r.bound = largest_share(p.total, budget, cm.device, /*over_only=*/false, ratio);
    if (!r.bound.empty())
      r.bound_why = cat("the design's largest share of the budget: ", get(p.total, r.bound), " ", r.bound, ", ", pct(ratio));
  }

  // The ranking.
  const int64_t total = r.bound.empty() ? 0 : get(p.total, r.bound);
  for (const LayerCost& c : r.layers) {
    if (!c.prunable) continue;
    LayerChoice ch;
    ch.layer = c.layer, ch.name = c.name, ch.resource = r.bound;
    ch.filters = c.filters, ch.pe = c.pe, ch.filter_step = c.filter_step;
    const bool pe_bound = pe_resource(r.bound);
    ch.used = r.bound.empty() ? 0 : get(pe_bound ? c.mvau : c.all, r.bound);
    ch.share = total > 0 ? static_cast<double>(ch.used) / static_cast<double>(total) : 0;
    ch.reason = r.bound.empty()
                    ? std::string("no resource is used")
                    : cat(r.bound, "-bound: ",
                          pe_bound ? cat("its MVAU (PE ", c.pe, " x SIMD ", c.simd, ") uses ")
                                   : std::string("its units (feature-map buffers, weights, thresholds) use "),
                          ch.used, " ", r.bound, ", ", pct(ch.share), " of the design's");
    r.ranking.push_back(ch);
  }
  std::stable_sort(r.ranking.begin(), r.ranking.end(), [&](const LayerChoice& a, const LayerChoice& b) {
    if (a.used != b.used) return a.used > b.used;
    return r.layers[static_cast<size_t>(a.layer)].cycles > r.layers[static_cast<size_t>(b.layer)].cycles;
  });
  return r;
}

std::vector<LayerChoice> rank_layers_for_pruning(const format::ModelDesc& desc, const CostModel& cm) {
  Graph g = build_graph(desc);
  const FitResult fit = fit_folding(g, cm);
  return pruning_report(desc, g, evaluate(g, cm), cm, &fit).ranking;
}

std::string pruning_text(const PruningReport& r) {
  std::ostringstream os;
  os << "Pruning costs (thesis eqs 4.5-4.7): OPS = K*K*I*N*F_out^2 MACs, Reuse = ceil(OPS / (PE*SIMD)), "
        "FM BRAM18 = ceil(I*F_in^2*(Reuse-1) / (Reuse*B_w))\n";
  size_t wl = 5;
  for (const LayerCost& c : r.layers) wl = std::max(wl, c.name.size());
  os << pad("layer", wl) << "  " << rpad("K", 3) << " " << rpad("I", 6) << " " << rpad("N", 5) << " " << rpad("F_in", 5)
     << " " << rpad("F_out", 5) << " " << rpad("OPS", 10) << " " << rpad("PE*SIMD", 9) << " " << rpad("Reuse", 8) << " "
     << rpad("B_w", 5) << " " << rpad("FM_BRAM", 7) << " " << rpad("W_BRAM", 6) << " " << rpad("BRAM18", 6) << " "
     << rpad("PE_LUT", 7) << " " << rpad("step", 4) << "\n";
  for (const LayerCost& c : r.layers) {
    auto dim = [](int64_t h, int64_t w) { return h == w ? std::to_string(h) : cat(h, "x", w); };
    os << pad(c.name, wl) << "  " << rpad(dim(c.kernel_h, c.kernel_w), 3) << " " << rpad(std::to_string(c.in_channels), 6)
       << " " << rpad(std::to_string(c.filters), 5) << " " << rpad(dim(c.in_h, c.in_w), 5) << " "
       << rpad(dim(c.out_h, c.out_w), 5) << " " << rpad(std::to_string(c.ops), 10) << " "
       << rpad(cat(c.pe, "*", c.simd), 9) << " " << rpad(std::to_string(c.reuse), 8) << " "
       << rpad(std::to_string(c.words_per_bram), 5) << " " << rpad(std::to_string(c.fm_bram18), 7) << " "
       << rpad(std::to_string(c.mvau.bram18), 6) << " " << rpad(std::to_string(c.all.bram18), 6) << " "
       << rpad(std::to_string(c.mvau.lut), 7) << " " << rpad(c.prunable ? std::to_string(c.filter_step) : "-", 4) << "\n";
  }
  os << "(OPS, Reuse: eqs 4.5, 4.6; B_w: RAMB18 words of the input's bits; FM_BRAM: eq 4.7 with the layer's Reuse, the "
        "thesis's inter-layer buffer, not in this design; W_BRAM: the MVAU's weight memory; BRAM18, PE_LUT: all the "
        "layer's units / its MVAU under the plan's model; step: N' a multiple of it keeps the whole folding, while the "
        "thesis asks N' % PE == 0 and a re-fit picks the next layer's SIMD anew)\n";
  if (r.bound.empty()) {
    os << "No resource binds; nothing to rank.\n";
    return os.str();
  }
  os << "\nBinding resource: " << r.bound << " (" << r.bound_why << ")\n";
  os << "Layers to prune, in order (thesis 4.5.1: " << (pe_resource(r.bound) ? "PE" : "memory") << "-bound):\n";
  int rank = 1;
  for (const LayerChoice& c : r.ranking)
    os << "  " << rank++ << ". " << pad(c.name, wl) << "  N " << c.filters << ", N' % PE " << c.pe << " == 0 (step "
       << c.filter_step << " keeps the folding): " << c.reason << "\n";
  return os.str();
}

nlohmann::json pruning_json(const PruningReport& r) {
  using nlohmann::json;
  auto res = [](const Resources& x) {
    return json{{"LUT", x.lut}, {"BRAM_18K", x.bram18}, {"URAM", x.uram}, {"DSP", x.dsp}, {"EBR", x.ebr}};
  };
  json layers = json::array();
  for (const LayerCost& c : r.layers)
    layers.push_back({{"layer", c.layer},
                      {"name", c.name},
                      {"K", {c.kernel_h, c.kernel_w}},
                      {"I", c.in_channels},
                      {"N", c.filters},
                      {"F_in", {c.in_h, c.in_w}},
                      {"F_out", {c.out_h, c.out_w}},
                      {"ops", c.ops},
                      {"PE", c.pe},
                      {"SIMD", c.simd},
                      {"macs_per_cycle", c.macs_per_cycle},
                      {"reuse", c.reuse},
                      {"act_bits", c.act_bits},
                      {"words_per_bram", c.words_per_bram},
                      {"fm_bram18", c.fm_bram18},
                      {"mvau", res(c.mvau)},
                      {"all_units", res(c.all)},
                      {"cycles", c.cycles},
                      {"filter_step", c.filter_step},
                      {"prunable", c.prunable}});
  json ranking = json::array();
  for (const LayerChoice& c : r.ranking)
    ranking.push_back({{"layer", c.layer},
                       {"name", c.name},
                       {"resource", c.resource},
                       {"used", c.used},
                       {"share", c.share},
                       {"filters", c.filters},
                       {"PE", c.pe},
                       {"filter_step", c.filter_step},
                       {"reason", c.reason}});
  return json{{"layers", layers}, {"bound", r.bound}, {"bound_why", r.bound_why}, {"ranking", ranking}};
}

}  // namespace lowbit::hw
