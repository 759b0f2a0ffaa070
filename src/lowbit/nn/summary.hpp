// A Larq-style model summary: one row per layer with its output shape, parameter
// count and multiply-accumulates per sample, then totals.
#pragma once
#include <string>

#include "lowbit/nn/model.hpp"

namespace lowbit::nn {

struct SummaryRow {
  std::string name, type;
  Shape output;
  int64_t params = 0;
  int64_t macs = 0;
  int depth = 0;  // nesting inside residual blocks
};

std::vector<SummaryRow> summary_rows(Model& model);
std::string summary_table(Model& model);
// The same as JSON (for tools): {"name","input","layers":[...],"total_params","total_macs"}.
json summary_json(Model& model);

}  // namespace lowbit::nn
