// `lowbit import`: a QONNX graph read into the deployment IR (format::ModelDesc,
// docs/FORMAT.md "The model description"), so that a model quantized and trained elsewhere
// runs in lowbit's runtime and goes through `lowbit hw` (docs/INTEROP.md, "Import").
//
//   format::ModelDesc d = interop::import_qonnx("lfc.onnx", {.input_scale = 2.f / 255, .input_bias = -1});
//
// What it reads: an ONNX ModelProto (protobuf; the ONNX project's classes), one graph with
// one float32 input, [N, C, H, W] (images) or [N, F] (flat), N = 1 or symbolic, and one
// output, the class scores [N, classes]. The graph is a chain from the input to the output
// (every tensor on it read by exactly one node; weights, thresholds and other constants are
// initializers or Constant nodes). Two layouts, and mixtures of them:
//   - lowbit's own (`lowbit export --format qonnx`, docs/INTEROP.md): raw pixels in; the
//     input quantizer as Add(-t) + BipolarQuant, Quant (+ Add(-Z)) or MultiThreshold; per
//     layer the weights initializer -> BipolarQuant or Quant, [Pad], Conv ([O, C, kh, kw],
//     NCHW) or [Flatten] MatMul ([K, O], K in the NCHW flattening order (c, y, x)),
//     [MaxPool], then Add(-t) + BipolarQuant or MultiThreshold, [a depthwise all-ones Conv:
//     sum pooling], and the last layer's score map Mul, [Add], [Sub, Mul, Add]. Exported and
//     imported again, a model gives the same IR (weights, thresholds, input table, score
//     constants, shapes) up to the informative fields the graph does not carry: layer names,
//     the `negated` list (the graph holds the sign-corrected weights, so every channel comes
//     back not negated), the input's quantizer / normalize strings; the predictions and
//     scores are bit-equal.
//   - Brevitas' QONNX export (e.g. BNN-PYNQ's LFC / CNV, brevitas_examples/bnn_pynq): the
//     graph input is a float the caller defines from the raw pixel p as
//     input = p * opts.input_scale + opts.input_bias (float32); then elementwise Add / Sub /
//     Mul / Div by constants (one value, or one per channel), Flatten / Reshape, the input
//     quantizer (BipolarQuant, Quant or MultiThreshold); per layer MatMul / Gemm (transB 0
//     or 1, alpha folded into the scale, beta * C as a bias) / Conv with weights =
//     initializer -> BipolarQuant or Quant [-> Transpose], an optional bias (Add of a
//     constant, Gemm's C, Conv's B), BatchNormalization (inference, opsets 9..15) and any
//     elementwise constants, an activation quantizer (BipolarQuant, Quant or MultiThreshold),
//     MaxPool before or after it; the last MatMul followed by BatchNormalization and/or
//     elementwise constants (the scores).
// Identity and Dropout (inference) nodes pass through anywhere.
//
// The IR it builds (exact, by evaluating the graph's own float32 arithmetic):
//   - the input table: every raw pixel 0..255 through the input chain and quantizer
//     (float32, in graph order) gives its level; every input element must get the same table.
//   - weights: the quantizer's integer codes (BipolarQuant: sign, +1 for w >= 0; Quant: the
//     clamped, rounded w / scale with zero point 0), in the IR's (o, ky, kx, c) / (y, x, c)
//     order; the quantizer's scale (one per output channel at most) times the input codes'
//     step becomes the accumulator's float scale: the graph's MatMul output is taken as
//     float(acc) * scale[o] (exact for scale 1, as in lowbit's own files and BNN-PYNQ's
//     binary layers; with other scales the graph's float sum of products differs from it by
//     rounding only).
//   - thresholds: per output channel o, the level the graph gives each integer accumulator
//     acc, level(acc) = Q(op_n(... op_1(float(acc) * scale[o]))) with every operation in
//     float32 as ONNX defines it, is searched over acc in [-R, R], R = K * max|w| * max|x|
//     (export's format::channel_thresholds, same search): t[l] = the smallest acc whose
//     level is above l (INT32_MIN / INT32_MAX: always / never). BatchNormalization is
//     evaluated as the ONNX operator's definition writes it (Operators.md,
//     BatchNormalization-9..15, training_mode = 0: "Y = (X - input_mean) /
//     sqrt(input_var + epsilon) * scale + B"), in that order, each step rounded to float32:
//     d = x - mean; r = sqrt(var + epsilon); q = d / r; p = q * scale; y = p + B. (ONNX
//     Runtime folds it into x * s + b first, and PyTorch evaluates (x - mean) * (scale /
//     sqrt(var + eps)) + B; either can round a value that lies within an ulp of a
//     quantizer's step to the other side: the levels then differ at that accumulator.)
//     A channel whose level decreases with acc (BatchNorm scale < 0, a negative Mul) has
//     its weights negated and is listed in `negated` (export's rule), so every threshold
//     compares with >=. Quantizers as QONNX executes them (qonnx.custom_op.general):
//     BipolarQuant: +scale for x >= 0, else -scale; Quant: clamp(x / scale + zeropt) to the
//     bit width's range, then round (ROUND = half to even, CEIL, FLOOR, UP, DOWN, HALF_UP,
//     HALF_DOWN), a signed 1-bit Quant executing as bipolar; MultiThreshold:
//     #{l : x >= T[c][l]} * out_scale + out_bias. The output codes: +-1 (BipolarQuant, a
//     MultiThreshold with one threshold, out_scale 2s, out_bias -s), else k-bit codes with
//     zero point (Quant: level = q - qmin, Z = zeropt - qmin; MultiThreshold: Z =
//     -out_bias / out_scale).
//   - max pooling: a MaxPool of the accumulators, or of the codes after the quantizer
//     (equal: every level is non-decreasing in the sign-corrected accumulator), becomes the
//     layer's pool; a depthwise Conv with all-ones weights on a layer's codes its sum_pool.
//   - scores: the last layer's float(acc) * scale[o] and the operations after it become
//     ScoresDesc. Exact (bit-equal scores) when they are the IR's own operations: [Mul],
//     [Add or Sub], [Sub, Mul, Add] with accumulator scale 1. A BatchNormalization there
//     becomes bn_mean = mean, bn_scale = scale / sqrt(var + epsilon) (float32), bn_shift = B,
//     evaluated by the runtime as (x - mean) * bn_scale + bn_shift (semantics.hpp score()),
//     which is not ONNX's (x - mean) / sqrt(var + eps) * scale + B rounding: scores differ
//     in the last bits and a prediction can differ only where two classes' scores tie
//     within that rounding. Any other chain of elementwise constants (Brevitas' TensorNorm:
//     Sub, Div, Mul, Add) is composed in double into scale and bias (the same caveat).
//     ImportReport::exact_scores says which case it was.
//
// Errors (lowbit::Error; import_qonnx prefixes the path): a file that is empty, larger than
// 2 GiB, not a protobuf ModelProto or truncated ("not an ONNX model"), has no graph, or whose
// tensors' sizes are out of range (each constant at most 2^27 values, every size checked
// before anything is allocated); a graph that is not one chain ("tensor 'x' is read by 2
// nodes"); an unsupported node, attribute or domain, named:
//   "import: node 'Relu_3' (Relu) is not supported: ..."
// (Relu and other float activations, Gemm with transA, Conv with dilations, grouped Conv
// that is not sum pooling, auto_pad SAME_*, non-constant weights, weights with a zero point
// or per-input scales, activation quantizers with per-channel scales, a quantizer on codes,
// Softmax, residual branches, domains other than ONNX's and QONNX's); a malformed node
// ("import: node 'q' (BipolarQuant): its scale input (input 1) is missing"); a graph the IR
// cannot hold (format::validate's checks: codes of more than 8 bits, the score layer not a
// MatMul, ...). Sources: QONNX's operator docs and reference code (docs/qonnx-custom-ops,
// src/qonnx/custom_op/general/{quant,bipolar_quant,multithreshold}.py), ONNX's
// Operators.md (BatchNormalization, Gemm, Conv, MaxPool, Pad), Brevitas' BNN-PYNQ models
// (brevitas_examples/bnn_pynq/models: FC's `2 * x - 1` input, QuantLinear without bias,
// BatchNorm1d, QuantIdentity, TensorNorm scores).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lowbit/format/model_desc.hpp"

namespace lowbit::interop {

struct ImportOptions {
  // How a raw pixel p (0..255) maps to the graph's input: p * input_scale + input_bias,
  // float32. lowbit's own files take raw pixels (1, 0); BNN-PYNQ's Brevitas models take
  // p / 255 (input_scale 1/255; FC then computes 2x - 1 itself).
  float input_scale = 1.f;
  float input_bias = 0.f;
};

// What the import found, for the command line to report.
struct ImportReport {
  bool exact_scores = true;  // false: the score map is rounded differently from the graph (see above)
  std::vector<std::string> notes;  // one line each: what was folded where
};

// Reads the QONNX file at `path` (errors are prefixed with it). Validated (format::validate).
format::ModelDesc import_qonnx(const std::string& path, const ImportOptions& opts = {}, ImportReport* report = nullptr);
// The same from the file's bytes (errors unprefixed).
format::ModelDesc import_qonnx_bytes(const void* data, size_t size, const ImportOptions& opts = {},
                                     ImportReport* report = nullptr);

}  // namespace lowbit::interop
