#include "lowbit/hw/folding.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "lowbit/core/error.hpp"
#include "lowbit/core/json_get.hpp"
#include "lowbit/hw/finn_model.hpp"

namespace lowbit::hw {

namespace {

std::vector<int64_t> divisors(int64_t n) {
  std::vector<int64_t> d;
  for (int64_t x = 1; x <= n; ++x)
    if (n % x == 0) d.push_back(x);
  return d;
}

std::string unit(const Node& n) { return n.layer_name.empty() ? n.name : n.name + " (" + n.layer_name + ")"; }

}  // namespace

std::string folding_problem(const Node& n) {
  const std::string u = unit(n);
  if (n.pe < 1 || n.simd < 1) return cat(u, ": PE and SIMD must be at least 1");
  switch (n.kind) {
    case NodeKind::kMvau:
      if (n.mh % n.pe) return cat(u, ": PE ", n.pe, " does not divide MH ", n.mh);
      if (n.mw % n.simd) return cat(u, ": SIMD ", n.simd, " does not divide MW ", n.mw);
      break;
    case NodeKind::kSwu:
    case NodeKind::kFmPadding:
      if (n.channels % n.simd) return cat(u, ": SIMD ", n.simd, " does not divide its ", n.channels, " channels");
      break;
    case NodeKind::kThresholding:
    case NodeKind::kLabelSelect:
      if (n.channels % n.pe)
        return cat(u, ": PE ", n.pe, " does not divide its ", n.channels,
                   n.kind == NodeKind::kLabelSelect ? " labels" : " channels");
      break;
    case NodeKind::kMaxPool: break;
  }
  if (n.instream_bits() > kMaxStreamBits)
    return cat(u, ": input stream of ", n.instream_bits(), " bits is wider than ", kMaxStreamBits);
  if (n.outstream_bits() > kMaxStreamBits)
    return cat(u, ": output stream of ", n.outstream_bits(), " bits is wider than ", kMaxStreamBits);
  if (n.weightstream_bits() > kMaxStreamBits)
    return cat(u, ": weight stream of PE x SIMD x W = ", n.weightstream_bits(), " bits is wider than ", kMaxStreamBits);
  return "";
}

void check_folding(const Graph& g) {
  std::string all;
  for (const Node& n : g.nodes) {
    const std::string p = folding_problem(n);
    if (!p.empty()) all += (all.empty() ? "" : "; ") + p;
  }
  LOWBIT_CHECK(all.empty(), "invalid folding: ", all);
}

namespace {

// FINN op names (current and older) of each unit kind.
bool kind_of_op(const std::string& op, NodeKind& k) {
  static const std::map<std::string, NodeKind> ops = {
      {"MVAU", NodeKind::kMvau},
      {"MVAU_hls", NodeKind::kMvau},
      {"MVAU_rtl", NodeKind::kMvau},
      {"MatrixVectorActivation", NodeKind::kMvau},
      {"StreamingFCLayer_Batch", NodeKind::kMvau},
      {"ConvolutionInputGenerator", NodeKind::kSwu},
      {"ConvolutionInputGenerator_hls", NodeKind::kSwu},
      {"ConvolutionInputGenerator_rtl", NodeKind::kSwu},
      {"Thresholding", NodeKind::kThresholding},
      {"Thresholding_hls", NodeKind::kThresholding},
      {"Thresholding_rtl", NodeKind::kThresholding},
      {"Thresholding_Batch", NodeKind::kThresholding},
      {"FMPadding", NodeKind::kFmPadding},
      {"FMPadding_hls", NodeKind::kFmPadding},
      {"FMPadding_rtl", NodeKind::kFmPadding},
      {"FMPadding_Batch", NodeKind::kFmPadding},
      {"StreamingMaxPool", NodeKind::kMaxPool},
      {"StreamingMaxPool_hls", NodeKind::kMaxPool},
      {"StreamingMaxPool_Batch", NodeKind::kMaxPool},
      {"LabelSelect", NodeKind::kLabelSelect},
      {"LabelSelect_hls", NodeKind::kLabelSelect},
      {"LabelSelect_Batch", NodeKind::kLabelSelect},
  };
  auto it = ops.find(op);
  if (it == ops.end()) return false;
  k = it->second;
  return true;
}

// Splits "MVAU_hls_3" into ("MVAU_hls", 3); false when there is no "_<index>".
bool split_name(const std::string& key, std::string& op, int& index) {
  const size_t us = key.rfind('_');
  if (us == std::string::npos || us + 1 >= key.size() || key.size() - us > 7) return false;
  for (size_t i = us + 1; i < key.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(key[i]))) return false;
  op = key.substr(0, us);
  index = std::stoi(key.substr(us + 1));
  return true;
}

// The folding-file attributes each unit takes, for errors.
const char* attributes_of(NodeKind k) {
  switch (k) {
    case NodeKind::kMvau:
      return "PE, SIMD, ram_style, ram_style_thresholds, resType, mem_mode, runtime_writeable_weights";
    case NodeKind::kSwu: return "SIMD, ram_style";
    case NodeKind::kFmPadding: return "SIMD";
    case NodeKind::kThresholding: return "PE, ram_style, mem_mode, runtime_writeable_weights";
    case NodeKind::kLabelSelect: return "PE";
    case NodeKind::kMaxPool: return "none";
  }
  return "";
}

bool is_finn_infrastructure(const std::string& key) {
  return key.rfind("StreamingFIFO", 0) == 0 || key.rfind("StreamingDataWidthConverter", 0) == 0 ||
         key.rfind("StreamingDataflowPartition", 0) == 0 || key.rfind("IODMA", 0) == 0;
}

}  // namespace

std::vector<std::string> apply_folding(Graph& g, const nlohmann::json& j, const std::string& where) {
  LOWBIT_CHECK(j.is_object(), where, ": a folding file holds one JSON object of units");
  std::vector<std::string> skipped;
  std::string names;
  for (const Node& n : g.nodes) names += (names.empty() ? "" : ", ") + n.name;
  static const std::set<std::string> ignored_attrs = {
      "inFIFODepths",       "outFIFODepths",       "depth",                     "depth_trigger_uram",
      "depth_trigger_bram", "parallel_window",     "preferred_impl_style",      "impl_style",
      "accDataType",        "uram_threshold",      "uram_efficiency_threshold", "cycles_estimate",
      "cycles_rtlsim",      "res_estimate",        "res_hls",                   "res_synth",
      "dynamic_mode",       "partition_id",        "slr",                       "mem_port",
      "backend",            "exec_mode",           "rtlsim_trace",              "code_gen_dir_ipgen"};
  std::map<std::string, std::string> seen;  // unit -> the key that set it
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    if (key == "Defaults") {
      LOWBIT_CHECK(it->is_object(), where, ": 'Defaults' must be an object ({} in FINN's generated files)");
      LOWBIT_CHECK(it->empty(), where, ": 'Defaults' with entries is not supported (give each unit its attributes)");
      continue;
    }
    if (is_finn_infrastructure(key)) {
      skipped.push_back(key + " (FINN infrastructure the plan does not model)");
      continue;
    }
    std::string op;
    int index = 0;
    NodeKind kind{};
    LOWBIT_CHECK(split_name(key, op, index) && kind_of_op(op, kind), where, ": unknown unit '", key,
                 "' (this design has: ", names, ")");
    Node* n = g.find(cat(op_type(kind), "_", index));
    LOWBIT_CHECK(n != nullptr, where, ": unit '", key, "' does not exist in this design (it has: ", names, ")");
    LOWBIT_CHECK(!seen.count(n->name), where, ": '", seen[n->name], "' and '", key, "' both name unit ", n->name);
    seen[n->name] = key;
    const std::string at = cat(where, ": ", key, n->layer_name.empty() ? "" : cat(" (", n->layer_name, ")"));
    LOWBIT_CHECK(it->is_object(), at, ": must be an object of attributes, e.g. {\"PE\": 4}");
    for (auto a = it->begin(); a != it->end(); ++a) {
      const std::string& attr = a.key();
      const std::string attr_at = cat(at, ": '", attr, "'");
      auto whole = [&](int64_t& out, bool allowed, const char* has) {
        LOWBIT_CHECK(allowed, at, ": ", op_type(n->kind), " has no ", attr, " (", has, ")");
        out = json_int(*a, 1, 1 << 20, attr_at);
      };
      auto choice = [&](std::string& out, std::initializer_list<const char*> allowed) {
        std::string list;
        bool ok = false;
        for (const char* s : allowed) {
          list += (list.empty() ? "" : ", ") + std::string(s);
          ok |= a->is_string() && a->get<std::string>() == s;
        }
        LOWBIT_CHECK(ok, at, ": '", attr, "' must be one of ", list, ", got ", a->dump());
        out = a->get<std::string>();
      };
      const char* folds = n->has_pe() && n->has_simd() ? "it folds by PE and SIMD"
                          : n->has_pe()                ? "it folds by PE only"
                          : n->has_simd()              ? "it folds by SIMD only"
                                                       : "it has no folding";
      const bool mvau = n->kind == NodeKind::kMvau;
      const bool swu = n->kind == NodeKind::kSwu, thr = n->kind == NodeKind::kThresholding;
      if (attr == "PE") whole(n->pe, n->has_pe(), folds);
      else if (attr == "SIMD") whole(n->simd, n->has_simd(), folds);
      else if (attr == "ram_style" && (mvau || swu)) choice(n->ram_style, {"auto", "block", "distributed", "ultra"});
      else if (attr == "ram_style" && thr) choice(n->ram_style, {"distributed", "block"});
      else if (attr == "ram_style_thresholds" && mvau) choice(n->ram_style_thresholds, {"auto", "block", "distributed"});
      else if (attr == "resType" && mvau) choice(n->res_type, {"auto", "lut", "dsp"});
      else if (attr == "mem_mode" && mvau)
        choice(n->mem_mode, {"internal_embedded", "internal_decoupled", "external", "const", "decoupled"});
      else if (attr == "mem_mode" && thr) {
        std::string m;  // where the thresholds live: no term of FINN's Thresholding estimate reads it
        choice(m, {"internal_embedded", "internal_decoupled", "const", "decoupled"});
      } else if (attr == "runtime_writeable_weights" && (mvau || thr)) {
        const bool writeable = json_int(*a, 0, 1, attr_at) == 1;
        if (mvau) {
          n->runtime_writeable_weights = writeable;
          if (n->runtime_writeable_weights) n->acc = worst_case_accumulator(*n);
          if (n->runtime_writeable_weights && n->thresholds == 0) n->out = n->acc;
        }
      } else if (ignored_attrs.count(attr)) skipped.push_back(key + "." + attr + " (does not change this model)");
      else
        fail(at, ": unknown attribute '", attr, "' for ", op_type(n->kind), " (it takes ", attributes_of(n->kind), ")");
    }
    // FINN's older names of the memory modes.
    if (n->mem_mode == "const") n->mem_mode = "internal_embedded";
    if (n->mem_mode == "decoupled") n->mem_mode = "internal_decoupled";
    if (n->res_type == "auto") n->res_type = "lut";
  }
  try {
    check_folding(g);
  } catch (const Error& e) {
    fail(where, ": ", e.what());
  }
  return skipped;
}

std::vector<std::string> apply_folding_file(Graph& g, const std::string& path) {
  return apply_folding(g, read_json_file(path), path);
}

nlohmann::json folding_json(const Graph& g) {
  nlohmann::json j = {{"Defaults", nlohmann::json::object()}};
  for (const Node& n : g.nodes) {
    nlohmann::json a = nlohmann::json::object();
    if (n.has_pe()) a["PE"] = n.pe;
    if (n.has_simd()) a["SIMD"] = n.simd;
    if (n.kind == NodeKind::kMvau) {
      a["ram_style"] = n.ram_style, a["ram_style_thresholds"] = n.ram_style_thresholds;
      a["resType"] = n.res_type, a["mem_mode"] = n.mem_mode;
    } else if (n.kind == NodeKind::kSwu || n.kind == NodeKind::kThresholding) {
      a["ram_style"] = n.ram_style;
    }
    if (!a.empty()) j[n.name] = a;
  }
  return j;
}

int64_t target_cycles_per_frame(double clock_mhz, double fps) {
  LOWBIT_CHECK(clock_mhz > 0 && fps > 0, "the clock and the target fps must be positive");
  const double period_ns = 1000.0 / clock_mhz;
  const double cycles_per_sec = 1e9 / period_ns;
  const double cycles = cycles_per_sec / fps;
  LOWBIT_CHECK(cycles < 1e15, "a target of ", fps, " frames/s at ", clock_mhz, " MHz is ", cycles,
               " cycles per frame: more than any design needs (at most 10^15)");
  return static_cast<int64_t>(cycles);
}

namespace {

void set_folding_pass(Graph& g, int64_t target, int64_t wwidth_max) {
  // optimize_attribute_val: raise the attribute through the divisors until below target.
  auto optimize = [&](Node& n, int64_t max_val, int64_t Node::*attr) {
    n.*attr = 1;
    for (int64_t v : divisors(max_val)) {
      n.*attr = v;
      if (exp_cycles(n) < target) break;
    }
  };
  for (Node& n : g.nodes) {
    switch (n.kind) {
      case NodeKind::kMvau: {
        n.pe = 1, n.simd = 1;
        for (int64_t s : divisors(n.mw)) {
          const int64_t prev = n.simd;
          n.simd = s;
          if (exp_cycles(n) < target) break;
          if (n.weight.bits * n.simd > wwidth_max) {
            n.simd = prev;
            break;
          }
        }
        optimize(n, n.mh, &Node::pe);
        break;
      }
      case NodeKind::kThresholding:
      case NodeKind::kLabelSelect: optimize(n, n.channels, &Node::pe); break;
      case NodeKind::kSwu:
      case NodeKind::kFmPadding: optimize(n, n.channels, &Node::simd); break;
      case NodeKind::kMaxPool: break;  // FINN: "SetFolding doesn't know how to handle" it
    }
  }
}

}  // namespace

std::vector<std::string> set_folding(Graph& g, const SetFoldingOptions& opt) {
  std::vector<std::string> warnings;
  set_folding_pass(g, opt.target_cycles, opt.mvau_wwidth_max);
  if (opt.two_pass_relaxation) {
    int64_t max_cycles = 0;
    std::string slowest;
    for (const Node& n : g.nodes) {
      const int64_t c = exp_cycles(n);
      if (c > max_cycles) max_cycles = c, slowest = n.name;
    }
    if (max_cycles > opt.target_cycles) {
      warnings.push_back(cat("Node ", slowest, " is bottleneck with ", max_cycles, " cycles, running second pass"));
      set_folding_pass(g, max_cycles, opt.mvau_wwidth_max);
    }
  }
  return warnings;
}

namespace {

struct Option {
  int64_t pe = 1, simd = 1;
  std::string ram_style;
  int64_t cycles = 0;
  Resources res;
  double cost = 0;
};

double resource_cost(const Resources& r, const Resources& b) {
  auto share = [](int64_t used, int64_t avail) {
    if (used == 0) return 0.0;
    return avail > 0 ? static_cast<double>(used) / static_cast<double>(avail) : 1e12;
  };
  return share(r.lut, b.lut) + share(r.bram18, b.bram18) + share(r.uram, b.uram) + share(r.dsp, b.dsp) +
         share(r.ebr, b.ebr);
}

bool within(const Resources& r, const Resources& b) {
  return r.lut <= b.lut && r.bram18 <= b.bram18 && r.uram <= b.uram && r.dsp <= b.dsp && r.ebr <= b.ebr;
}

std::vector<Option> options_of(const Node& base, const CostModel& cm, const Resources& scale) {
  std::vector<Option> out;
  std::vector<int64_t> pes = base.has_pe() ? divisors(base.max_pe()) : std::vector<int64_t>{base.pe};
  std::vector<int64_t> simds = base.has_simd() ? divisors(base.max_simd()) : std::vector<int64_t>{base.simd};
  std::vector<std::string> styles = {base.ram_style};
  if (base.kind == NodeKind::kMvau || base.kind == NodeKind::kSwu) {
    styles = {"block", "distributed"};
    if (cm.device.uram > 0) styles.push_back("ultra");
  } else if (base.kind == NodeKind::kThresholding) {
    styles = {"distributed", "block"};
  }
  Node n = base;
  for (int64_t pe : pes)
    for (int64_t simd : simds) {
      n.pe = pe, n.simd = simd;
      if (!folding_problem(n).empty()) continue;
      for (const std::string& s : styles) {
        n.ram_style = s;
        Option o;
        o.pe = pe, o.simd = simd, o.ram_style = s;
        o.cycles = exp_cycles(n);
        o.res = cm.of(n);
        o.cost = resource_cost(o.res, scale);
        out.push_back(o);
      }
    }
  return out;
}

}  // namespace

FitResult fit_folding(Graph& g, const CostModel& cm, int64_t mvau_wwidth_max) {
  const Resources budget = cm.budget();
  // Options are ranked by their shares of the whole device (the same order as shares of the
  // budget, and still an order when a tiny --utilization floors the budget to 0).
  Resources device;
  device.lut = cm.device.luts, device.bram18 = cm.device.bram18(), device.uram = cm.device.uram;
  device.dsp = cm.device.dsp, device.ebr = cm.device.ebr;
  std::vector<std::vector<Option>> opts;
  std::set<int64_t> candidates;
  int64_t floor_cycles = 0;  // no design is faster than its slowest unit at full parallelism
  for (const Node& n : g.nodes) {
    opts.push_back(options_of(n, cm, device));
    LOWBIT_CHECK(!opts.back().empty(), unit(n), ": no valid folding (every stream would exceed ", kMaxStreamBits,
                 " bits)");
    int64_t fastest = std::numeric_limits<int64_t>::max();
    for (const Option& o : opts.back()) candidates.insert(o.cycles), fastest = std::min(fastest, o.cycles);
    floor_cycles = std::max(floor_cycles, fastest);
  }
  FitResult r;
  // lowbit's search: the smallest bottleneck T whose cheapest per-unit choices fit.
  std::vector<size_t> choice(g.nodes.size());
  for (int64_t t : candidates) {
    if (t < floor_cycles) continue;
    Resources total;
    for (size_t i = 0; i < opts.size(); ++i) {
      size_t best = opts[i].size();
      for (size_t k = 0; k < opts[i].size(); ++k)
        if (opts[i][k].cycles <= t && (best == opts[i].size() || opts[i][k].cost < opts[i][best].cost)) best = k;
      choice[i] = best;
      total += opts[i][best].res;
    }
    if (within(total, budget)) {
      r.found = true;
      break;
    }
    r.blocked_cycles = t, r.blocked_total = total;
  }
  if (!r.found) r.blocked_cycles = 0, r.blocked_total = {};
  Graph search = g;
  if (r.found) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Option& o = opts[i][choice[i]];
      search.nodes[i].pe = o.pe, search.nodes[i].simd = o.simd, search.nodes[i].ram_style = o.ram_style;
    }
    r.fps = evaluate(search, cm).fps;
  }
  // SetFolding's best: sweep its target over the candidates (fastest first) and keep the
  // first design that fits. Targets below the floor give the same design as the floor.
  for (int64_t t : candidates) {
    if (t < floor_cycles) continue;
    Graph sf = g;
    set_folding(sf, {t + 1, mvau_wwidth_max, true});  // SetFolding stops when cycles < target
    bool valid = true;
    for (const Node& n : sf.nodes) valid &= folding_problem(n).empty();
    if (!valid) continue;  // SetFolding does not look at stream widths
    const Plan p = evaluate(sf, cm);
    if (p.fits) {
      r.setfolding_fps = p.fps, r.setfolding_target = t + 1;
      if (!r.found || p.fps > r.fps) {
        search = sf, r.fps = p.fps, r.found = true, r.from_setfolding = true;
      }
      break;
    }
  }
  if (r.found) {
    g = search;
  } else {  // the smallest design: each unit's cheapest option, whatever its cycles
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Option* best = &opts[i][0];
      for (const Option& o : opts[i])
        if (o.cost < best->cost || (o.cost == best->cost && o.cycles < best->cycles)) best = &o;
      g.nodes[i].pe = best->pe, g.nodes[i].simd = best->simd, g.nodes[i].ram_style = best->ram_style;
    }
  }
  return r;
}

}  // namespace lowbit::hw
