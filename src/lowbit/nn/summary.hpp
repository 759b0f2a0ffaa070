// A Larq-style model summary: one row per layer with its output shape, parameter count,
// multiply-accumulates per sample and precisions, then totals: memory at the trained bit
// widths, and MACs by precision with the share of binary (W1A1, XNOR-popcount) MACs.
//
// Precision bookkeeping: the activation flowing through the network is 32-bit float
// until a quant_act (or a layer's input quantizer) makes it k-bit; shape-only layers
// (flatten, dropout, max pooling) keep its bit width; unpadded average pooling of k-bit
// codes makes sums of n codes (bit_width(n (2^k - 1)) bits, as export and the runtime carry
// them); anything computing new real values (dense, conv, batchnorm, padded average
// pooling, float activations, residual add) makes it 32.
#pragma once
#include <map>
#include <string>

#include "lowbit/nn/model.hpp"

namespace lowbit::nn {

struct SummaryRow {
  std::string name, type;
  Shape output;
  int64_t params = 0;
  int64_t macs = 0;
  int depth = 0;          // nesting inside residual blocks
  int weight_bits = 0;    // bits per weight (dense/conv), 0 for layers without weights
  int input_bits = 32;    // bits per value of the input the layer's MACs see
  int output_bits = 32;   // bits per value of its output
  int64_t weight_count = 0;  // weights among params (stored at weight_bits; the rest at 32)
  std::string quantizer;     // the layer's quantizers, e.g. "w=binary in=none", "binary"
};

std::vector<SummaryRow> summary_rows(Model& model);
std::string summary_table(Model& model);
// The same as JSON (for tools): {"name", "input", "layers": [...], "total_params",
// "total_macs", "memory_bytes", "float_memory_bytes", "macs_by_precision", "binary_mac_share"}.
json summary_json(Model& model);

// "W1A1", "W2A2", "W1A32"... for MAC accounting; float x float is "float".
std::string mac_precision(int weight_bits, int input_bits);

}  // namespace lowbit::nn
