// Checks of an ONNX file as the tools that read it would check it, plus what they cannot
// see. Used by the writers before they return a file, by `lowbit import` before it reads
// one, and by the tests.
//
//   1. ONNX's own C++ checker (onnx::checker::check_model: names, types, opsets, the
//      standard operators' schemas) and strict shape inference with type checks (what
//      Python's onnx.checker.check_model(full_check=True) runs);
//   2. for QONNX, the structure of the custom domain, which neither of them knows
//      (qonnx.custom_op.general is not a registered schema):
//      - the domain is imported at version 1 beside the standard opset (13 or later);
//      - only Quant, BipolarQuant and MultiThreshold nodes in it (FINN's frontend matches
//        `Quant`, not Brevitas' newer `IntQuant`), and none of them in the standard domain;
//      - BipolarQuant: 2 inputs, scale a constant 1.0 (FINN converts only unit-scale
//        bipolar quantizers into BIPOLAR datatypes);
//      - Quant: 4 inputs, scale / zero point / bit width scalar constants (bit width a
//        whole number 1..32, zero point 0), attributes signed, narrow (0 or 1) and
//        rounding_mode (ROUND, CEIL or FLOOR); signed when it quantizes an activation that
//        no Relu precedes (FINN's QuantIdentityHandler refuses unsigned ones);
//      - MultiThreshold: 2 inputs, thresholds a constant [C or 1, L] ascending per row,
//        out_dtype a FINN datatype, data_layout NCHW / NHWC / NC;
//      - every custom node's output, and the graph input, has a finn_datatype annotation
//        naming a FINN datatype; every node output has a value_info or is a graph output;
//   3. for standard ONNX: no node outside the standard domain, opset 13 or later.
#pragma once
#include <string>
#include <vector>

#include "lowbit/interop/onnx_export.hpp"

namespace lowbit::interop {

// Every problem found in a serialized ModelProto (empty: none). `dialect` says which rules
// of (2) and (3) apply. A file that is not a ModelProto is one problem.
std::vector<std::string> onnx_problems(const std::string& bytes, OnnxDialect dialect);

// Throws lowbit::Error "WHAT: not a valid DIALECT file: PROBLEM; PROBLEM ..." when
// onnx_problems finds any.
void check_onnx(const std::string& bytes, OnnxDialect dialect, const std::string& what);

}  // namespace lowbit::interop
