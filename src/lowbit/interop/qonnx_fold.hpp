// The importer's float maths (qonnx_import.hpp): the graph's elementwise operations and
// BatchNormalization as ONNX evaluates them in float32, its activation quantizers
// (BipolarQuant, Quant, MultiThreshold) as QONNX executes them, and their folding into the
// IR: the input table (every raw pixel 0..255 through the input chain), a layer's integer
// thresholds (the float map of each integer accumulator, searched like export's
// format::channel_thresholds), and the score map. Internal to the importer.
#pragma once
#include <onnx/onnx_pb.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "lowbit/format/model_desc.hpp"
#include "lowbit/interop/qonnx_graph_reader.hpp"

namespace lowbit::interop::qonnx {

// The tensor a node reads, as far as broadcasting a constant goes: [1, C, H, W] (a map) or
// [1, N] (flat: C = N, H = W = 1). Axis 1 is the channel axis.
struct TensorDims {
  bool flat = false;
  int64_t c = 1, h = 1, w = 1;
  std::vector<int64_t> dims() const { return flat ? std::vector<int64_t>{1, c} : std::vector<int64_t>{1, c, h, w}; }
  int64_t numel() const { return c * h * w; }
};

// A constant broadcast against a tensor of `t`: one value (a scalar or all dims 1) or one per
// channel (its only dim above 1 is the tensor's axis 1). Anything else (values varying over
// space, a rank above the tensor's) is an error naming the node and `role`.
std::vector<float> channel_constant(const ConstTensor& k, const TensorDims& t, const onnx::NodeProto& n,
                                    const std::string& role);

// One float operation of the graph on one channel's value, in float32, each step rounded on
// its own (the project is built with -ffp-contract=off; the importer runs in the float
// contract of core/fp_env.hpp, as export does).
struct FloatOp {
  enum class Kind { kAdd, kSub, kRSub, kMul, kDiv, kBatchNorm };
  Kind kind = Kind::kAdd;
  std::vector<float> c;                   // the constant, 1 or `channels` values (not kBatchNorm)
  std::vector<float> mean, var, gamma, beta;  // kBatchNorm, each 1 or `channels` values
  float eps = 1e-5f;
  std::string node;                       // its label, for messages
  // The input stage only: element e of the input (in the NCHW order of the graph input) is in
  // channel (e / per) % channels of this operation's constants.
  int64_t channels = 1, per = 1;

  // x + c, x - c, c - x, x * c, x / c; BatchNormalization (ONNX, opset 9..15, inference:
  // "Y = (X - input_mean) / sqrt(input_var + epsilon) * scale + B", evaluated as written:
  // d = x - mean; r = sqrt(var + eps); q = d / r; p = q * scale; y = p + B).
  float apply(float x, int64_t ch) const;
  // The same map as a real affine one, x -> a x + b, in double (for the score map).
  void affine(int64_t ch, double& a, double& b) const;
  int64_t channel_of(int64_t element) const { return channels == 1 ? 0 : (element / per) % channels; }
};

// An activation quantizer as QONNX executes it (qonnx.custom_op.general): BipolarQuant,
// Quant / IntQuant, MultiThreshold; with the IR codes it produces.
struct ActQuant {
  enum class Kind { kBipolar, kInt, kThresholds };
  Kind kind = Kind::kBipolar;
  std::string node;
  float scale = 1.f, zeropt = 0.f;        // kBipolar (scale), kInt
  int bits = 1;                           // kInt
  bool is_signed = true, narrow = false;  // kInt
  std::string rounding = "ROUND";         // kInt
  bool wide = false;                      // kInt: more than 256 codes declared (input_codes narrows)
  float qmin = 0.f, qmax = 1.f;           // kInt: the clamp range
  std::vector<float> thresholds;          // kThresholds: rows x cols, rows 1 or the channels
  int64_t rows = 1, cols = 0, per = 1;    // per: as FloatOp::per (input stage)
  float out_scale = 1.f, out_bias = 0.f;  // kThresholds

  // The IR codes of its output, the largest level it reaches (<= codes.levels()) and the step:
  // the graph's float value of a code is step * codes.value(level).
  format::CodeFormat codes;
  int max_level = 1;
  float step = 1.f;

  // The level 0..max_level of value y in channel ch (kThresholds: the row; others ignore it).
  int level(float y, int64_t ch) const;
  int64_t row_of(int64_t element) const { return rows == 1 ? 0 : (element / per) % rows; }
};

// Reads an activation quantizer node on a tensor of dims t: its constants must be
// initializers, its scale and zero point one value for all channels, its levels at most 256.
ActQuant read_act_quant(const Graph& g, const onnx::NodeProto& n, const TensorDims& t);
bool is_act_quant(const onnx::NodeProto& n);  // BipolarQuant, Quant, IntQuant, MultiThreshold

// What follows a layer's integer accumulator acc[o] up to its quantizer or the scores: the
// graph's float value float(acc) * acc_scale[o], then `ops` in order; a max pool read the
// value after the first `pool_at` ops (pool_at = ops.size() + 1 when there is none).
struct AccMap {
  std::vector<float> acc_scale;
  std::vector<FloatOp> ops;
  size_t pool_at = static_cast<size_t>(-1);
  std::string pool_node;
  float value(int64_t acc, int64_t o, size_t end) const;
};

// The thresholds of layer d (weights, in_fan, input codes set; weights not yet negated) for
// quantizer q: per channel, the smallest integer accumulator whose level is above l, by
// format::channel_thresholds over [-R, R] with R = in_fan * max|w| * max|input value|
// (export's range); a channel whose level decreases in acc gets its weights negated (listed
// in `negated`). Sets output, levels, thresholds, negated, weights. Errors name the node.
void fold_thresholds(const AccMap& m, const ActQuant& q, format::LayerDesc& d);

// The score map of the last layer d (format::score: float(acc) * scale (+ bias), then
// (y - mean) * bn_scale + bn_shift): exact when the graph's operations are the IR's own
// (acc_scale 1; Mul, Add or Sub, then Sub, Mul, Add), else rounded (see qonnx_import.hpp).
// Sets scores, score, negated. Returns true when exact.
bool fold_scores(const AccMap& m, format::LayerDesc& d);

// The input's levels: the level q gives every raw pixel p, through value = p * scale + bias
// (float32), then `ops`; every element of the input (numel of them) must get the same levels
// (a per-channel normalization giving channels different tables is an error: the IR has one).
std::array<int32_t, 256> input_levels(const std::vector<FloatOp>& ops, const ActQuant& q, float scale, float bias,
                                      int64_t numel);
// The IR's input table of those levels. A `wide` Quant (more than 8 bits declared, as
// lowbit's writer gives an 8-bit input with a zero point other than 128: INT9) gets the codes
// of the levels the pixels reach (at most 256 of them), q's codes and zero point set.
void input_codes(const std::array<int32_t, 256>& levels, ActQuant& q, std::array<uint8_t, 256>& table);

}  // namespace lowbit::interop::qonnx
