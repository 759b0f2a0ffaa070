// ONNX writers of the deployment IR (docs/INTEROP.md has every node, with the reasons):
//   - QONNX (OnnxDialect::kQonnx), the quantized dialect FINN's frontend reads (Brevitas'
//     export; FINN's `step_qonnx_to_finn`): opset 13 plus `qonnx.custom_op.general` v1 with
//     BipolarQuant, Quant and MultiThreshold nodes, `finn_datatype` annotations and a
//     value_info for every tensor; batch 1.
//   - standard ONNX (OnnxDialect::kStandard), opset 13, standard operators only, batch `N`:
//     thresholds as GreaterOrEqual + Cast + ReduceSum, weights as float constants of their
//     codes; outputs the scores and `label` (ArgMax, first highest). ONNX Runtime's float32
//     arithmetic gives the runtime's integers exactly (every accumulator below 2^24).
//   - standard ONNX with integer operators (OnnxDialect::kStandardInteger): the same, but
//     each weighted layer is ConvInteger / MatMulInteger on uint8 codes with zero points
//     (the operators ONNX Runtime's dynamic quantization emits), int32 accumulators. A
//     QDQ graph does not apply: it requantizes each accumulator to 8 bits before the next
//     operator, which loses the integers the thresholds compare.
// Both read only the IR: the graph input `global_in` holds raw 8-bit pixels (0..255) as
// float32, [B, C, H, W] (or [B, features] for a flat input), and `global_out` holds the
// float scores [B, classes], bit-equal to semantics.hpp score().
//
//   std::string bytes = interop::onnx_model_bytes(desc, interop::OnnxDialect::kQonnx);
//   interop::write_onnx(desc, interop::OnnxDialect::kStandard, "m.onnx");
#pragma once
#include <string>

#include "lowbit/format/model_desc.hpp"

namespace lowbit::interop {

enum class OnnxDialect { kQonnx, kStandard, kStandardInteger };

// "qonnx" / "onnx" / "onnx-int8".
const char* dialect_name(OnnxDialect d);

// The serialized ModelProto of a description, checked by ONNX's own C++ checker (with
// strict shape inference) and, for QONNX, by validate_qonnx (onnx_check.hpp) before it is
// returned. Throws lowbit::Error naming the layer when the IR has a part neither dialect
// expresses yet (residual shortcuts, SYQ tap groups), when an accumulator could reach 2^24
// (float32 would no longer be exact), or when the input table is not monotone.
std::string onnx_model_bytes(const format::ModelDesc& desc, OnnxDialect dialect);

// onnx_model_bytes written atomically to `path` (core/file_io.hpp).
void write_onnx(const format::ModelDesc& desc, OnnxDialect dialect, const std::string& path);

}  // namespace lowbit::interop
