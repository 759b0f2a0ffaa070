// The streaming dataflow graph of a deployed model (docs/HARDWARE.md, "The dataflow graph"):
// one hardware unit per step, in FINN's vocabulary (Umuroglu et al., FPGA 2017; Blott et al.,
// FINN-R, TRETS 2018), built from the IR (format/model_desc.hpp) and nothing else:
//   Thresholding          the input quantizer, when the first layer reads fewer than 8 bits
//                         per pixel (the IR's input table as 2^B - 1 thresholds on UINT8)
//   FMPadding             a convolution's padding, filled with the layer's pad value
//   ConvolutionInputGenerator (SWU)  the sliding window of a convolution (kernel, stride)
//   MVAU                  a matrix-vector-threshold unit per dense/conv layer: MW = K*K*Cin
//                         (or fan-in) columns, MH = outputs, weights W bits, inputs A bits,
//                         2^B - 1 thresholds per row into B-bit outputs, or the raw
//                         accumulators of the score layer (noActivation)
//   StreamingMaxPool      a max pool (window = stride) of the MVAU's output codes: the IR
//                         pools accumulators before thresholds, which commutes with `>=`
//                         thresholds on sign-corrected channels
//   LabelSelect           the top-1 class of the scores
// Folding attributes (PE, SIMD, ram_style, resType) live on the nodes; folding.hpp sets them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lowbit/format/model_desc.hpp"

namespace lowbit::hw {

// A FINN/QONNX datatype of a stream or a weight matrix: BINARY {0,1}, BIPOLAR {-1,+1},
// UINTk, INTk.
struct DataType {
  enum class Kind { kBinary, kBipolar, kUint, kInt };
  Kind kind = Kind::kBinary;
  int bits = 1;

  static DataType binary() { return {Kind::kBinary, 1}; }
  static DataType bipolar() { return {Kind::kBipolar, 1}; }
  static DataType uint(int b) { return {Kind::kUint, b}; }
  static DataType sint(int b) { return {Kind::kInt, b}; }
  // QONNX's signed(): BIPOLAR and INTk are signed, BINARY and UINTk are not.
  bool is_signed() const { return kind == Kind::kBipolar || kind == Kind::kInt; }
  int64_t min() const;
  int64_t max() const;
  std::string name() const;  // "BINARY", "BIPOLAR", "UINT8", "INT2"
  bool operator==(const DataType& o) const { return kind == o.kind && bits == o.bits; }
};

// The smallest UINTk/INTk holding [lo, hi] (QONNX's rule for accumulators: unsigned when
// lo >= 0, k = ceil(log2(hi + 1)); else k = ceil(log2(max(-lo, hi + 1))) + 1).
DataType datatype_for_range(int64_t lo, int64_t hi);

enum class NodeKind { kThresholding, kFmPadding, kSwu, kMvau, kMaxPool, kLabelSelect };

// FINN's op type of a kind, as in node names: "Thresholding_hls", "FMPadding_hls",
// "ConvolutionInputGenerator_hls", "MVAU_hls", "StreamingMaxPool_hls", "LabelSelect_hls".
const char* op_type(NodeKind k);

struct Node {
  NodeKind kind = NodeKind::kMvau;
  std::string name;        // unique: op_type + "_" + index among nodes of that kind (FINN's GiveUniqueNodeNames)
  int layer = -1;          // the IR layer it belongs to (-1: the input quantizer)
  std::string layer_name;  // the IR layer's name, e.g. "conv2d@0"

  // Geometry. Thresholding: channels x pixels; FMPadding: ifm -> ofm; SWU: ifm (padded) ->
  // ofm windows; MaxPool: ifm -> ofm; LabelSelect: channels = labels.
  int64_t channels = 0;               // NumChannels / IFMChannels (MVAU: MH)
  int64_t ifm_h = 1, ifm_w = 1, ofm_h = 1, ofm_w = 1;
  int64_t kernel_h = 1, kernel_w = 1, stride = 1;  // SWU and MaxPool (MaxPool: stride = kernel)
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;  // FMPadding
  int pad_value = 0;                  // FMPadding: the value padded taps read (IR pad_value)

  // MVAU: the matrix and its streams.
  int64_t mw = 0, mh = 0;             // columns (fan-in), rows (outputs)
  int64_t vectors = 1;                // input vectors per frame: output pixels of a conv, 1 for dense
  DataType in, weight, out, acc;      // acc: FINN's accDataType after MinimizeAccumulatorWidth; FMPadding: out = in or INT2
  int64_t in_lo = 0, in_hi = 1;       // the values one input element takes (the codes' values)
  bool xnor = false;                  // binaryXnorMode: BINARY inputs and weights, XNOR-popcount
  int thresholds = 0;                 // 2^B - 1 per row (Thresholding, MVAU), 0: noActivation
  int64_t weight_bits_total = 0;      // MW x MH x W
  int64_t threshold_bits_total = 0;   // MH x thresholds x acc bits

  // Folding (folding.hpp). PE: rows (MVAU) / channels (Thresholding) / labels in parallel;
  // SIMD: columns (MVAU) / channels (SWU, FMPadding) in parallel.
  int64_t pe = 1, simd = 1;
  std::string ram_style = "auto";             // MVAU weights: auto|block|distributed|ultra; SWU, Thresholding: their buffer
  std::string ram_style_thresholds = "auto";  // MVAU thresholds: auto|block|distributed
  std::string res_type = "lut";               // MVAU multipliers: lut|dsp
  std::string mem_mode = "internal_decoupled";  // MVAU weights: internal_embedded|internal_decoupled|external
  bool runtime_writeable_weights = false;      // MVAU: the accumulator is sized for any weights of its type

  bool has_pe() const { return kind == NodeKind::kMvau || kind == NodeKind::kThresholding || kind == NodeKind::kLabelSelect; }
  bool has_simd() const { return kind == NodeKind::kMvau || kind == NodeKind::kSwu || kind == NodeKind::kFmPadding; }
  // The largest PE / SIMD (the folding's divisor range): MH, channels, labels / MW, channels.
  int64_t max_pe() const { return kind == NodeKind::kMvau ? mh : channels; }
  int64_t max_simd() const { return kind == NodeKind::kMvau ? mw : channels; }
  // Bits of one beat of the input / output stream (FINN's get_instream_width /
  // get_outstream_width) and of the MVAU weight stream (PE * SIMD * W).
  int64_t instream_bits() const;
  int64_t outstream_bits() const;
  int64_t weightstream_bits() const { return kind == NodeKind::kMvau ? pe * simd * weight.bits : 0; }
  // Ops per frame: 2 per multiply-accumulate (MVAU), 0 elsewhere.
  int64_t ops() const { return kind == NodeKind::kMvau ? 2 * mw * mh * vectors : 0; }
};

struct Graph {
  std::string model;          // the IR's name
  std::vector<int64_t> input;  // [C, H, W] or [features]
  int64_t input_bytes = 0;    // bytes of one input frame (8-bit pixels)
  std::vector<Node> nodes;    // in stream order

  // Node by name (FINN's or an alias: folding.hpp), nullptr when none.
  Node* find(const std::string& name);
  const Node* find(const std::string& name) const;
  int64_t weight_bits() const;     // all MVAUs' weights
  int64_t threshold_bits() const;  // all thresholds (MVAU and input quantizer)
  int64_t ops() const;             // per frame
};

// The dataflow graph of a model. Throws lowbit::Error naming the layer when a layer has no
// unit here: a residual shortcut, SYQ's grouped scales, sum (average) pooling, a max pool
// whose stride differs from its window or does not tile the map, or an input table that is
// not monotone (no thresholds). Exact-zero padding of +-1 inputs makes the FMPadding's output
// INT2 (-1, 0, +1: `out`), read by the SWU and a multiplying (not XNOR) MVAU.
Graph build_graph(const format::ModelDesc& desc);

// FINN's accumulator type for runtime-writeable weights (MinimizeAccumulatorWidth with
// runtime_writeable_weights = 1): the range of an all-min and an all-max weight matrix of
// the weight type over the input's range, as FINN combines them (its maximum is the
// all-max matrix's).
DataType worst_case_accumulator(const Node& mvau);

// One unit per line: "MVAU_hls_0  conv2d@0  MW 27 MH 64  UINT8 x BIPOLAR -> BIPOLAR, 900 vectors".
std::string describe(const Node& n);

}  // namespace lowbit::hw
