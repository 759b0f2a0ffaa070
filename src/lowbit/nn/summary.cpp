#include "lowbit/nn/summary.hpp"

#include <bit>
#include <iomanip>
#include <sstream>

#include "lowbit/nn/quant_act.hpp"
#include "lowbit/nn/weighted_layer.hpp"
#include "lowbit/quant/quantizer.hpp"

namespace lowbit::nn {

namespace {

int64_t count_params(Layer& l) {
  int64_t n = 0;
  for (Param* p : l.params()) n += p->value.size();
  return n;
}

// Layers that only move or select values keep the incoming bit width.
bool keeps_bits(const std::string& type) {
  return type == "flatten" || type == "dropout" || type == "maxpool2d";
}

void walk(Layer& l, const Shape& in, int depth, int& bits, std::vector<SummaryRow>& rows) {
  if (l.type() == "sequential") {
    Shape s = in;
    for (Layer* c : l.children()) {
      walk(*c, s, depth, bits, rows);
      s = c->output_shape(s);
    }
    return;
  }
  if (l.type() == "residual") {
    auto kids = l.children();
    int body_bits = bits, short_bits = bits;
    walk(*kids[0], in, depth + 1, body_bits, rows);
    if (kids.size() > 1) walk(*kids[1], in, depth + 1, short_bits, rows);
    bits = 32;
    SummaryRow add;
    add.name = l.name();
    add.type = "residual add";
    add.output = l.output_shape(in);
    add.depth = depth;
    rows.push_back(add);
    return;
  }
  SummaryRow r;
  r.name = l.name();
  r.type = l.type();
  r.output = l.output_shape(in);
  r.params = count_params(l);
  r.macs = l.macs(in);
  r.depth = depth;
  r.input_bits = bits;
  if (auto* w = dynamic_cast<WeightedLayer*>(&l)) {
    const quant::Quantizer* wq = w->quant().weight_quantizer();
    const quant::Quantizer* iq = w->quant().input_quantizer();
    r.weight_bits = wq ? wq->bits() : 32;
    r.weight_count = w->weight().value.size();
    if (iq) r.input_bits = iq->bits();
    r.quantizer = "w=" + w->quant().weight_spec() + (iq ? " in=" + w->quant().input_spec() : "");
    r.output_bits = 32;
  } else if (auto* q = dynamic_cast<QuantAct*>(&l)) {
    r.output_bits = q->quantizer().bits();
    r.quantizer = q->quantizer().spec().str();
  } else if (bits < 32 && l.type() == "avgpool2d") {
    // On a grid, average pooling sums n codes (the next layer reads the sums, the 1/n goes
    // into its scale: docs/DEPLOYMENT.md): levels 0..n (2^b - 1) take bit_width of that
    // (3 bits for 2x2 sums of +-1 codes). Where it leaves the grid (padding), float.
    quant::Grid g{{1.f}, 0, (int32_t{1} << bits) - 1};
    r.output_bits = l.map_grid(g).empty() ? static_cast<int>(std::bit_width(static_cast<uint32_t>(g.code_max))) : 32;
  } else {
    r.output_bits = keeps_bits(l.type()) ? bits : 32;
  }
  bits = r.output_bits;
  rows.push_back(r);
}

std::string with_commas(int64_t v) {
  const std::string digits = std::to_string(v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && digits[i - 1] != '-' && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

struct Totals {
  int64_t params = 0, macs = 0, binary_macs = 0;
  double memory_bytes = 0;  // weights at their bit width, everything else as float32
  std::map<std::string, int64_t> macs_by_precision;
};

Totals totals(const std::vector<SummaryRow>& rows) {
  Totals t;
  for (const auto& r : rows) {
    t.params += r.params;
    t.macs += r.macs;
    t.memory_bytes += static_cast<double>(r.weight_count) * r.weight_bits / 8.0 +
                      static_cast<double>(r.params - r.weight_count) * 4.0;
    if (r.macs > 0) {
      const std::string p = mac_precision(r.weight_bits, r.input_bits);
      t.macs_by_precision[p] += r.macs;
      if (p == "W1A1") t.binary_macs += r.macs;
    }
  }
  return t;
}

std::string bits_str(int b) { return b >= 32 ? "32" : std::to_string(b); }

}  // namespace

std::string mac_precision(int weight_bits, int input_bits) {
  if (weight_bits >= 32 && input_bits >= 32) return "float";
  return "W" + bits_str(weight_bits) + "A" + bits_str(input_bits);
}

std::vector<SummaryRow> summary_rows(Model& model) {
  std::vector<SummaryRow> rows;
  int bits = 32;
  walk(model.net(), model.input_shape(), 0, bits, rows);
  return rows;
}

std::string summary_table(Model& model) {
  auto rows = summary_rows(model);
  std::ostringstream os;
  os << "Model: " << model.name() << "   input " << shape_str(model.input_shape()) << "\n";
  const int w1 = 20, w2 = 14, w3 = 18, w4 = 12, w5 = 8, w6 = 24;
  std::string rule(w1 + w2 + w3 + w4 * 2 + w5 + 2 + w6, '-');
  os << rule << "\n"
     << std::left << std::setw(w1) << "Layer" << std::setw(w2) << "Type" << std::setw(w3) << "Output shape"
     << std::right << std::setw(w4) << "Params" << std::setw(w4) << "MACs" << std::setw(w5) << "Prec" << "  "
     << std::left << std::setw(w6) << "Quantizer" << "\n"
     << rule << "\n";
  for (const auto& r : rows) {
    std::string indent(static_cast<size_t>(2 * r.depth), ' ');
    std::string shape = "[N";
    for (int64_t d : r.output) shape += ", " + std::to_string(d);
    shape += "]";
    std::string prec = r.macs > 0 ? mac_precision(r.weight_bits, r.input_bits) : (r.output_bits < 32 ? "A" + bits_str(r.output_bits) : "");
    os << std::left << std::setw(w1) << indent + r.name << std::setw(w2) << r.type << std::setw(w3) << shape
       << std::right << std::setw(w4) << with_commas(r.params) << std::setw(w4) << with_commas(r.macs)
       << std::setw(w5) << prec << "  " << std::left << r.quantizer << "\n";
  }
  const Totals t = totals(rows);
  os << rule << "\n";
  os << std::fixed << std::setprecision(2);
  os << "Total params: " << with_commas(t.params) << "; memory " << t.memory_bytes / (1024.0 * 1024.0)
     << " MiB at the trained bit widths (" << static_cast<double>(t.params) * 4.0 / (1024.0 * 1024.0)
     << " MiB as float32)\n";
  os << "Total MACs per sample: " << with_commas(t.macs);
  if (t.macs > 0) {
    os << " (";
    bool first = true;
    for (const auto& [p, n] : t.macs_by_precision) {
      os << (first ? "" : ", ") << p << " " << with_commas(n);
      first = false;
    }
    os << "); binary share " << 100.0 * static_cast<double>(t.binary_macs) / static_cast<double>(t.macs) << "%";
  }
  os << "\n";
  return os.str();
}

json summary_json(Model& model) {
  json layers = json::array();
  const auto rows = summary_rows(model);
  for (const auto& r : rows) {
    json l = {{"name", r.name},   {"type", r.type}, {"output", r.output}, {"params", r.params},
              {"macs", r.macs},   {"depth", r.depth}, {"input_bits", r.input_bits}, {"output_bits", r.output_bits}};
    if (r.weight_bits) l["weight_bits"] = r.weight_bits;
    if (!r.quantizer.empty()) l["quantizer"] = r.quantizer;
    layers.push_back(l);
  }
  const Totals t = totals(rows);
  return {{"name", model.name()},
          {"input", model.input_shape()},
          {"layers", layers},
          {"total_params", t.params},
          {"total_macs", t.macs},
          {"memory_bytes", t.memory_bytes},
          {"float_memory_bytes", static_cast<double>(t.params) * 4.0},
          {"macs_by_precision", t.macs_by_precision},
          {"binary_mac_share", t.macs ? static_cast<double>(t.binary_macs) / static_cast<double>(t.macs) : 0.0}};
}

}  // namespace lowbit::nn
