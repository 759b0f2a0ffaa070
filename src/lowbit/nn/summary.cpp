#include "lowbit/nn/summary.hpp"

#include <iomanip>
#include <sstream>

namespace lowbit::nn {

namespace {

int64_t count_params(Layer& l) {
  int64_t n = 0;
  for (Param* p : l.params()) n += p->value.size();
  return n;
}

void walk(Layer& l, const Shape& in, int depth, std::vector<SummaryRow>& rows) {
  if (l.type() == "sequential") {
    Shape s = in;
    for (Layer* c : l.children()) {
      walk(*c, s, depth, rows);
      s = c->output_shape(s);
    }
    return;
  }
  if (l.type() == "residual") {
    auto kids = l.children();
    walk(*kids[0], in, depth + 1, rows);
    if (kids.size() > 1) walk(*kids[1], in, depth + 1, rows);
    rows.push_back({l.name(), "residual add", l.output_shape(in), 0, 0, depth});
    return;
  }
  rows.push_back({l.name(), l.type(), l.output_shape(in), count_params(l), l.macs(in), depth});
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

}  // namespace

std::vector<SummaryRow> summary_rows(Model& model) {
  std::vector<SummaryRow> rows;
  walk(model.net(), model.input_shape(), 0, rows);
  return rows;
}

std::string summary_table(Model& model) {
  auto rows = summary_rows(model);
  std::ostringstream os;
  os << "Model: " << model.name() << "   input " << shape_str(model.input_shape()) << "\n";
  const int w1 = 24, w2 = 18, w3 = 16, w4 = 14;
  std::string rule(w1 + w2 + w3 + w4 * 2 + 2, '-');
  os << rule << "\n"
     << std::left << std::setw(w1) << "Layer" << std::setw(w2) << "Type" << std::setw(w3) << "Output shape"
     << std::right << std::setw(w4) << "Params" << std::setw(w4) << "MACs" << "\n"
     << rule << "\n";
  int64_t params = 0, macs = 0;
  for (const auto& r : rows) {
    std::string indent(static_cast<size_t>(2 * r.depth), ' ');
    std::string shape = "[N";
    for (int64_t d : r.output) shape += ", " + std::to_string(d);
    shape += "]";
    os << std::left << std::setw(w1) << indent + r.name << std::setw(w2) << r.type << std::setw(w3) << shape
       << std::right << std::setw(w4) << with_commas(r.params) << std::setw(w4) << with_commas(r.macs) << "\n";
    params += r.params;
    macs += r.macs;
  }
  os << rule << "\n";
  os << "Total params: " << with_commas(params) << " (" << std::fixed << std::setprecision(2)
     << static_cast<double>(params) * 4.0 / (1024.0 * 1024.0) << " MiB as float32)\n";
  os << "Total MACs per sample: " << with_commas(macs) << "\n";
  return os.str();
}

json summary_json(Model& model) {
  json layers = json::array();
  int64_t params = 0, macs = 0;
  for (const auto& r : summary_rows(model)) {
    layers.push_back({{"name", r.name}, {"type", r.type}, {"output", r.output}, {"params", r.params},
                      {"macs", r.macs}, {"depth", r.depth}});
    params += r.params;
    macs += r.macs;
  }
  return {{"name", model.name()}, {"input", model.input_shape()}, {"layers", layers},
          {"total_params", params}, {"total_macs", macs}};
}

}  // namespace lowbit::nn
