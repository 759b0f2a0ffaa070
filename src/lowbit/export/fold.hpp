// Folding a trained model into the deployment IR, format::ModelDesc (docs/DEPLOYMENT.md):
//   - the input quantizer becomes a 256-entry table from raw pixel to input code;
//   - each conv2d/dense layer keeps its integer weight codes, in the IR's (o, y, x, c) order;
//   - BatchNorm + the following activation quantizer become, per output channel, sorted
//     integer thresholds on the layer's accumulator (FINN MultiThreshold, `acc >= t`),
//     found by bisection on the very float arithmetic evaluation uses, so the runtime's
//     codes equal the trainer's evaluation bit for bit (channels whose map decreases have
//     their weights negated, so every threshold compares with >=);
//   - the last layer keeps its integer accumulator and the float affine (scale, bias,
//     BatchNorm) that turns it into the scores evaluation ranks.
// Anything the runtime cannot execute exactly is an error naming the layer.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lowbit/data/batch.hpp"
#include "lowbit/format/model_desc.hpp"
#include "lowbit/format/threshold_search.hpp"
#include "lowbit/nn/model.hpp"

namespace lowbit::exporter {

struct ExportOptions {
  data::Normalize normalize = data::Normalize::ZeroOne;  // how training turned pixels into floats
};

// A function of the model's parameters and trained state alone: each layer answers for its
// exact integer form (nn::WeightedLayer::exact_form: weight codes, per-channel scales), no
// forward pass runs and no cache of an earlier one is read. Folds in the floating-point mode
// of the contract (core/fp_env.hpp) and validates the result as its readers will
// (format::validate). Throws lowbit::Error naming the layer (and channel) and
// what to change when the IR cannot express the model exactly, or when a value exceeds its
// bounds (format/limits.hpp).
format::ModelDesc fold(nn::Model& model, const ExportOptions& opt);

// fold() as the bytes of a .lbm file; nothing is written.
std::vector<uint8_t> lbm_bytes(nn::Model& model, const ExportOptions& opt);
// fold() written as a .lbm file, atomically: when fold() fails nothing is written and an
// existing file at `path` is left as it was.
void write_lbm(nn::Model& model, const ExportOptions& opt, const std::string& path);

// A dry run of export on a fresh, untrained model built from `topology` (build_model, init,
// fold): "" when export's checks pass, else export's error message. `lowbit summary` and
// `lowbit train` use it to say before any training whether the model can be deployed.
// Checks that depend on trained values (non-finite constants of a diverged run, weight
// codes that grew past the runtime's planes) can only fail at the real export.
// With `desc`, the folded description is stored there when export would take the model
// (what `lowbit summary` checks against the BNN-PYNQ overlays); `opt` as export's.
std::string export_problem(const nn::json& topology, const ExportOptions& opt = {}, format::ModelDesc* desc = nullptr);

// The threshold search (format/threshold_search.hpp), shared with the QONNX importer.
using format::channel_thresholds;

}  // namespace lowbit::exporter

