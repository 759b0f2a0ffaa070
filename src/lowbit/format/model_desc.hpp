// The deployment IR: a trained, quantized network as integers (docs/FORMAT.md, "The model
// description"). `lowbit export` builds it from a checkpoint (export/fold.hpp); the runtime,
// `lowbit summary` and later the hardware generator and interop writers read it through
// read_model_desc() below and nothing else. It holds no consumer's layout: the runtime packs
// its own bit-planes at load, the hardware its own PE/SIMD folding.
//
// The network is a chain of weighted layers on integer activation maps (h, w, c):
//   acc[o] = sum_k W[o][k] * x[k]          (x: the values of the input codes, CodeFormat)
//   dense: k runs over the whole input map in (y, x, c) order;
//   conv:  per output pixel, k runs over its kernel window in (ky, kx, c) order; padded
//          taps read the value `pad_value`;
//   then optional max pooling of acc, then either thresholds (`acc >= t`, FINN's
//   MultiThreshold) into output codes, optionally sum-pooled (the values of each window
//   added: average pooling's integer form) into the next layer's codes, or, for the last
//   layer, the float score map (semantics.hpp score()).
// A residual block (a shortcut) is one field of the layer that closes it: its thresholds
// also read the level of an earlier map at the same (y, x, c) (LayerDesc::shortcut_from).
// A convolution with SYQ's row or pixel scales computes one accumulator per group of kernel
// taps and thresholds their float combination (LayerDesc::tap_group).
// Weights are per-channel sign-corrected: a channel whose trained map decreases (BatchNorm
// gamma < 0) has its weights negated (listed in `negated`), so every threshold compares
// with >= (FINN does the same).
//
//   format::ModelDesc d = format::read_model_desc(format::LbmFile::read("m.lbm"));
//   for (const format::LayerDesc& l : d.layers) ... l.weight(o, k) ...
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "lowbit/format/semantics.hpp"

namespace lowbit::format {

class LbmFile;
class LbmWriter;

// Version of the model description (the "model" section's "version"). Version 1 (files
// written before the IR, with the runtime's packed bit-planes inside) is refused with a
// message to export the checkpoint again: they are re-exported in seconds, and a
// migration would keep the old packing rules alive in the reader. Version 3 added
// shortcuts (residual blocks); a description without one is written as version 2, which
// every reader since the IR reads, so plain models still load in older binaries, while a
// reader that does not know shortcuts refuses a file that has one instead of ignoring it.
inline constexpr int kModelDescVersion = 3;
inline constexpr int kModelDescMinVersion = 2;

// How the raw 8-bit pixels become the first layer's codes.
struct InputDesc {
  std::vector<int64_t> shape;         // [C, H, W], or [features] for a flat model
  CodeFormat codes;                   // the first layer's input codes
  std::array<uint8_t, 256> table{};   // level of each raw pixel value 0..255
  std::string quantizer;              // the training quantizer, e.g. "dorefa:8" (informative)
  std::string normalize;              // training's pixel normalization, e.g. "zero_one" (informative)
};

enum class LayerKind { kDense, kConv };

// A square pooling window: kernel x kernel, stride on both axes, no padding; kernel 0 = none.
struct PoolDesc {
  int64_t kernel = 0, stride = 0;
};

// The last layer's float score map (semantics.hpp score()): per output channel.
struct ScoresDesc {
  std::vector<float> scale, bias, bn_mean, bn_scale, bn_shift;  // bias and bn_* empty when absent
};

struct LayerDesc {
  LayerKind kind = LayerKind::kDense;
  std::string name;                  // e.g. "conv2d@1" (the training layer and its index)
  int64_t in_h = 1, in_w = 1, in_c = 0;  // input map
  int64_t out = 0;                   // output channels (units)
  CodeFormat input;                  // codes of the input map (the previous layer's output)
  // conv only
  int64_t kernel_h = 1, kernel_w = 1, stride = 1, pad_h = 0, pad_w = 0;
  int pad_value = 0;                 // value of padded taps: 0, or -1/+1 on +-1 inputs
  PoolDesc pool;                     // max pooling of the accumulators, before the thresholds
  // Sum pooling of the output codes, after the thresholds (conv only): each output value
  // is the sum of the values of a window of output codes, so the next layer reads codes
  // out_codes() = output summed over sum_window() codes. Average pooling exports as this
  // (the 1/n folds into the next layer's scale); the next layer's thresholds absorb it.
  PoolDesc sum_pool;
  // out x K weight codes, row-major; K = in_fan() in (ky, kx, c) order (dense: (y, x, c)).
  std::vector<int32_t> weights;
  std::vector<uint8_t> negated;      // per output channel: 1 when export negated its weights
  // Either thresholds (out x levels, ascending per channel) into `output` codes (count 1:
  // one code per output, before any sum pooling) ...
  CodeFormat output;
  int levels = 0;
  std::vector<int32_t> thresholds;
  // ... or, on the last layer only, the score map.
  bool scores = false;
  ScoresDesc score;
  // A residual shortcut (docs/DEPLOYMENT.md, "Residual blocks"): -1 for none, else the index
  // of this layer or an earlier one (>= 1: not the first, which reads the input table) whose
  // input map, with codes `shortcut` (that layer's `input`,
  // single codes), has this layer's threshold map's shape (pooled_h, pooled_w, out; no max
  // pooling here). The level of output (y, x, o) is then threshold_level(threshold_set(o, s),
  // levels, acc) with s the shortcut map's level at (y, x, o): a Bi-Real block's BatchNorm
  // output plus its input, quantized, is a different threshold set per input level.
  // `thresholds` holds out x threshold_sets() x levels values.
  int shortcut_from = -1;
  CodeFormat shortcut;
  // SYQ's grouped scales (conv only, docs/FORMAT.md "Grouped scales"): when tap_group is not
  // empty (kh x kw entries, kernel tap ky * kw + kx -> its group 0..G-1), the layer computes
  // one accumulator P_g per group (the sum over the taps of group g only), combines them in
  // float in group order (semantics.hpp group_first / group_next with group_scale[g]) into y,
  // max-pools y, and thresholds it: level = #{l : y >= float_thresholds[o][l]} (out x levels,
  // ascending; -inf / +inf for always / never). `thresholds` is then empty; no shortcut.
  std::vector<int32_t> tap_group;
  std::vector<float> group_scale;
  std::vector<float> float_thresholds;
  bool grouped() const { return !tap_group.empty(); }
  int groups() const { return static_cast<int>(group_scale.size()); }

  bool has_shortcut() const { return shortcut_from >= 0; }
  // Threshold sets per output channel: one per shortcut level, else one.
  int threshold_sets() const { return has_shortcut() ? shortcut.levels() + 1 : 1; }
  // The ascending thresholds (levels of them) of output channel o for shortcut level s.
  const int32_t* threshold_set(int64_t o, int s) const {
    return thresholds.data() + (o * threshold_sets() + s) * levels;
  }

  int64_t window_h() const { return kind == LayerKind::kConv ? kernel_h : in_h; }
  int64_t window_w() const { return kind == LayerKind::kConv ? kernel_w : in_w; }
  int64_t in_fan() const { return window_h() * window_w() * in_c; }  // K
  int64_t conv_h() const { return kind == LayerKind::kConv ? (in_h + 2 * pad_h - kernel_h) / stride + 1 : 1; }
  int64_t conv_w() const { return kind == LayerKind::kConv ? (in_w + 2 * pad_w - kernel_w) / stride + 1 : 1; }
  // The map the thresholds produce codes on: the conv output after max pooling.
  int64_t pooled_h() const { return pool.kernel ? (conv_h() - pool.kernel) / pool.stride + 1 : conv_h(); }
  int64_t pooled_w() const { return pool.kernel ? (conv_w() - pool.kernel) / pool.stride + 1 : conv_w(); }
  // The output map the next layer reads: after sum pooling too.
  int64_t out_h() const { return sum_pool.kernel ? (pooled_h() - sum_pool.kernel) / sum_pool.stride + 1 : pooled_h(); }
  int64_t out_w() const { return sum_pool.kernel ? (pooled_w() - sum_pool.kernel) / sum_pool.stride + 1 : pooled_w(); }
  // Codes summed into one output value: kernel^2 of the sum pooling, else 1.
  int64_t sum_window() const { return sum_pool.kernel ? sum_pool.kernel * sum_pool.kernel : 1; }
  // The codes of the output map (what the next layer's `input` must be): `output` summed
  // over sum_window() codes.
  CodeFormat out_codes() const { return output.summed(static_cast<int>(sum_window())); }
  int32_t weight(int64_t o, int64_t k) const { return weights[static_cast<size_t>(o * in_fan() + k)]; }
  int32_t max_abs_weight() const;
  // The largest |accumulator| any input can give: the largest over output channels of
  // sum_k |W[o][k]| times the largest |input value| (padded taps' `pad_value` included).
  // Also bounds every partial sum, in any order (the ONNX writers' float32 exactness).
  int64_t max_abs_accumulator() const;
  // Multiply-accumulates per image.
  int64_t macs() const { return out * in_fan() * conv_h() * conv_w(); }
};

struct ModelDesc {
  std::string name;
  InputDesc input;
  std::vector<LayerDesc> layers;
  int64_t classes() const { return layers.empty() ? 0 : layers.back().out; }
};

// The map (h, w, c) the first layer reads: an image [C, H, W] as (H, W, C) when that layer
// is a convolution, else the whole input as one pixel of all its values, (1, 1, C*H*W) in
// training's (c, y, x) flattening order.
std::array<int64_t, 3> input_map(const std::vector<int64_t>& shape, LayerKind first);

// Checks a description as read_model_desc does (export runs it before writing): shapes chain
// from layer to layer and stay within format/limits.hpp (window sums included: at most
// kMaxCodeBits planes), every vector has its size, weights fit their encoding and int32
// accumulators, thresholds ascend, score constants are finite, only the last layer scores
// (and does not sum-pool). Throws lowbit::Error naming the layer and the field.
void validate(const ModelDesc& desc);

// How the writer stores each layer's weight codes (docs/FORMAT.md, "Compressed weights").
enum class WeightCoding {
  kDense,    // `pm1` when every code is +-1, else `int8` / `int16`: what every lowbit reads
  kRle,      // `rle` for each layer whose codes are all -1, 0, +1; the others dense
  kHuffman,  // `huffman` likewise
  kAuto,     // per layer the smallest blob of dense, rle and huffman (dense on a tie)
};
const char* weight_coding_name(WeightCoding c);  // "dense", "rle", "huffman", "auto"
// The inverse; throws lowbit::Error listing the names.
WeightCoding parse_weight_coding(const std::string& name);

struct WriteOptions {
  // The default writes the same bytes as before compressed weights existed. A compressed
  // file is refused by an older reader ("unknown weight encoding 'rle'"), never misread.
  WeightCoding weights = WeightCoding::kDense;
};

// Adds the description to a .lbm writer: the JSON section "model" and its blobs (names
// "input.table", "layer<i>.weights", ...). Validates first. Throws lowbit::Error when
// `opt` asks for rle or huffman and the compressed layers would expand beyond
// kMaxDecodedWeightsPerByte (format/limits.hpp; auto then stores the sparsest layers dense
// instead).
void write_model_desc(const ModelDesc& desc, LbmWriter& w, const WriteOptions& opt = {});
// The whole .lbm file image of a description.
std::vector<uint8_t> model_desc_bytes(const ModelDesc& desc, const WriteOptions& opt = {});

// How a file stores each layer's weights: the encoding's name and the blob's bytes, in
// layer order (for `lowbit summary`). Throws lowbit::Error when the description has no
// readable layers; read_model_desc validates the rest.
struct StoredWeights {
  std::string encoding;
  uint64_t bytes = 0;
};
std::vector<StoredWeights> stored_weights(const LbmFile& file);

// Reads and validates the description of a .lbm file. Every size is range-checked before
// anything is allocated. Throws lowbit::Error naming the field ("layer 1: 'out' must be an
// integer in 1..65536, got 10.5"); the caller names the file.
ModelDesc read_model_desc(const LbmFile& file);

}  // namespace lowbit::format
