#include "lowbit/export/fold.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/core/fp_env.hpp"
#include "lowbit/format/limits.hpp"
#include "lowbit/format/model_desc.hpp"
#include "lowbit/format/semantics.hpp"
#include "lowbit/nn/batchnorm.hpp"
#include "lowbit/nn/builder.hpp"
#include "lowbit/nn/conv2d.hpp"
#include "lowbit/nn/dense.hpp"
#include "lowbit/nn/quant_act.hpp"
#include "lowbit/nn/sequential.hpp"

namespace lowbit::exporter {

namespace {

using nn::json;

// A quantizer's output codes as the IR carries them (format::CodeFormat), with the step
// that turns its float values into integer codes. The grid's codes are values (an int:k
// grid with zero point Z has codes q - Z, quant::IntQuantizer::grid); the IR's levels
// are code - code_min, with zero point -code_min.
struct QuantCodes {
  format::CodeFormat codes;
  int32_t code_min = 0;
  int32_t max_level = 1;  // the largest level (unsigned codes); thresholds above it are never reached
  float step = 1.f;
  // Level index 0..codes.levels() of an integer code.
  int level(int32_t code) const { return codes.pm1 ? (code > 0 ? 1 : 0) : code - code_min; }
};

QuantCodes code_format(const quant::Quantizer& q, const std::string& where) {
  quant::Grid g;
  if (!q.grid(g)) fail(where, ": the runtime needs integer codes, and ", q.no_grid_reason());
  LOWBIT_CHECK(g.step.size() == 1, where, ": quantizer '", q.spec().str(), "' has ", g.step.size(),
               " scales; the runtime needs one per tensor");
  QuantCodes f;
  f.step = g.step[0];
  if (q.spec().is_sign()) return f;
  LOWBIT_CHECK(g.code_min <= 0 && g.code_max >= 0 && g.code_max - g.code_min >= 1 && g.code_max - g.code_min <= 255,
               where, ": quantizer '", q.spec().str(), "' has codes ", g.code_min, "..", g.code_max,
               "; the runtime takes +-1 codes or at most 256 integer codes around 0 (binary, dorefa:k, fixed:k,f, "
               "int:k with k <= 8)");
  f.code_min = g.code_min;
  f.max_level = g.code_max - g.code_min;
  f.codes = format::unsigned_codes_for(f.max_level);
  f.codes.zero_point = -g.code_min;
  return f;
}

// The code a quantizer gives each of `values` in evaluation.
std::vector<int32_t> eval_codes(quant::Quantizer& q, const std::vector<float>& values, const QuantCodes& f) {
  Tensor x({static_cast<int64_t>(values.size())}), y;
  std::copy(values.begin(), values.end(), x.data());
  q.forward(x, y, Context{false, nullptr});
  std::vector<int32_t> codes(values.size());
  for (size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<int32_t>(std::nearbyint(y[static_cast<int64_t>(i)] / f.step));
  return codes;
}

// The float a quantizer gives one value in evaluation, and its code. Export bisects and
// checks thresholds with millions of these: the tensors are reused, not allocated per call.
float eval_value(quant::Quantizer& q, float value) {
  thread_local Tensor x({1}), y;
  x[0] = value;
  q.forward(x, y, Context{false, nullptr});
  return y[0];
}

int32_t eval_code(quant::Quantizer& q, float value, const QuantCodes& f) {
  return static_cast<int32_t>(std::nearbyint(eval_value(q, value) / f.step));
}

// The float value evaluation holds for each level 0..levels() of quantizer q's codes `f`
// (what a residual block adds to its body's output): the quantizer's own output for the
// code's grid value, which must give that code back.
std::vector<float> level_values(quant::Quantizer& q, const QuantCodes& f, const std::string& where) {
  std::vector<float> values;
  for (int l = 0; l <= f.codes.levels(); ++l) {
    const int32_t code = f.codes.pm1 ? (l ? 1 : -1) : l + f.code_min;
    const float v = eval_value(q, static_cast<float>(code) * f.step);
    LOWBIT_CHECK(std::isfinite(v) && std::nearbyint(v / f.step) == static_cast<float>(code) && eval_value(q, v) == v,
                 where, ": quantizer '", q.spec().str(), "' does not map its grid value of code ", code,
                 " to itself (", v, "), so the runtime cannot tell which value a shortcut adds");
    values.push_back(v);
  }
  return values;
}

// The float map evaluation applies to one channel's integer accumulator, ending in the
// value the next quantizer sees (or the score): format::score's map (scale, bias, BatchNorm).
struct ChannelMap {
  float scale = 1.f, bias = 0.f;
  bool has_bias = false, has_bn = false;
  float bn_mean = 0.f, bn_scale = 1.f, bn_shift = 0.f;
  float operator()(int64_t acc) const {
    return format::score(acc, 0, &scale, has_bias ? &bias : nullptr, has_bn ? &bn_mean : nullptr, &bn_scale,
                         &bn_shift);
  }
  // The same after a layer with SYQ's grouped scales, whose float sum y of its partial sums
  // (format::group_next) is already scaled: the bias (Conv2d adds it to y), then BatchNorm.
  float of_sum(float y) const {
    if (has_bias) y = y + bias;
    return has_bn ? format::bn_eval(y, bn_mean, bn_scale, bn_shift) : y;
  }
  // Every constant is finite: a NaN or infinity (a checkpoint of a diverged run) makes the
  // map meaningless, and export says so instead of finding nonsense thresholds. "" when fine.
  std::string non_finite() const {
    const std::pair<const char*, float> constants[] = {{"the layer's output scale", scale}, {"its bias", bias},
                                                       {"BatchNorm's running mean", bn_mean},
                                                       {"BatchNorm's scale gamma / sqrt(var + eps)", bn_scale},
                                                       {"BatchNorm's shift beta", bn_shift}};
    for (const auto& [what, v] : constants)
      if (!std::isfinite(v)) return cat(what, " is ", v);
    return "";
  }
};

// Floats in their order as integers (the bit pattern, negatives mirrored: -0 and +0 are
// both 0), so that the threshold search bisects float thresholds like integer ones.
int64_t float_key(float f) {
  const auto b = std::bit_cast<int32_t>(f);
  return b >= 0 ? b : -static_cast<int64_t>(b & 0x7fffffff);
}
float key_float(int64_t k) {
  return k >= 0 ? std::bit_cast<float>(static_cast<int32_t>(k))
                : std::bit_cast<float>(static_cast<uint32_t>(-k) | 0x80000000u);
}

// Monotone float activations (ReLU, HardTanh) between BatchNorm and an activation quantizer,
// applied with the layers' own forward (the arithmetic evaluation uses): a non-decreasing
// map of the value, so the thresholds absorb it (a preset's `--acts int:8` puts a ReLU there).
bool is_monotone_activation(const nn::Layer& l) {
  return l.monotone_in_evaluation() && !l.identity_in_evaluation() && !l.keeps_grid();
}

float apply_activations(const std::vector<nn::Layer*>& acts, float y) {
  thread_local Tensor x({1}), out;
  for (nn::Layer* a : acts) {
    x[0] = y;
    a->forward(x, out, Context{false, nullptr});
    y = out[0];
  }
  return y;
}

// Why the runtime cannot run layer `l` where it stands: what the user can change.
// `first`: no weighted layer has been folded yet (the layer reads the input codes).
std::string layer_problem(const nn::Layer& l, bool first = false) {
  const std::string t = l.type();
  if (t == "avgpool2d" && first)
    return "average pooling before the first conv2d/dense layer is not supported by the runtime, whose first layer "
           "reads the input table's codes of single pixels (put the pooling after the first layer's activation "
           "quantizer, or pool the images before training)";
  if (t == "avgpool2d")
    return "average pooling is supported only right after a convolution's activation quantizer (conv2d [+ "
           "BatchNorm] + quant_act [+ maxpool2d] + avgpool2d, no padding), where the runtime sums each window's codes";
  if (t == "residual") return "a residual block ends here without a conv2d/dense layer closing it";
  if (t == "maxpool2d") return "max pooling is supported only after a convolution's activation quantizer";
  if (t == "batchnorm") return "BatchNorm is supported only directly after a conv2d or dense layer";
  if (t == "quant_act") return "an activation quantizer is supported only first or after a conv2d/dense layer (+ BatchNorm)";
  return t + " is not supported by the runtime here";
}

// The structure the runtime executes, for error messages.
constexpr const char* kRuntimeStructure =
    "the runtime runs an input quantizer, then blocks of conv2d/dense + BatchNorm [+ ReLU/HardTanh] + activation "
    "quantizer [+ max pooling] [+ average pooling], residual blocks of them (docs/DEPLOYMENT.md), and a last dense "
    "[+ BatchNorm]";

// Which residual blocks deploy (docs/DEPLOYMENT.md, "Residual blocks").
constexpr const char* kResidualRule =
    "a residual block deploys when its input is an activation quantizer's codes, its shortcut is the identity, its "
    "body is blocks that start with a conv2d/dense layer and end with a conv2d/dense [+ BatchNorm] [+ ReLU/HardTanh] "
    "[+ activation quantizer], and an activation quantizer follows the block ([+ ReLU/HardTanh] before it)";

// The network in evaluation order with residual blocks opened: each block's body between a
// begin and an end mark (nested blocks opened too). A mark's layer is the block itself.
struct Item {
  enum Mark { kLayer, kBegin, kEnd };
  nn::Layer* layer = nullptr;
  Mark mark = kLayer;
};

void flatten(nn::Sequential& net, std::vector<Item>& out) {
  for (size_t i = 0; i < net.size(); ++i) {
    nn::Layer& l = net.at(i);
    if (auto* r = dynamic_cast<nn::Residual*>(&l)) {
      out.push_back({&l, Item::kBegin});
      flatten(r->body(), out);
      out.push_back({&l, Item::kEnd});
    } else {
      out.push_back({&l, Item::kLayer});
    }
  }
}

// An open residual block: where its shortcut comes from and what it adds.
struct Block {
  size_t item = 0;                   // its begin mark
  int from = 0;                      // the IR layer whose input map is the shortcut
  format::CodeFormat codes;          // the shortcut's codes
  std::array<int64_t, 3> map{};      // and their map
  std::vector<float> values;         // the float evaluation adds, per level
};

class Folder {
 public:
  Folder(nn::Model& model, const ExportOptions& opt) : model_(model), opt_(opt) {
    flatten(model.net(), items_);
    has_blocks_ = std::any_of(items_.begin(), items_.end(), [](const Item& t) { return t.mark != Item::kLayer; });
  }

  format::ModelDesc run() {
    enter_fp_contract_all_threads();  // bisection on evaluation's float arithmetic, in its mode
    const Shape in = model_.input_shape();
    LOWBIT_CHECK(in.size() == 3 || in.size() == 1, "export: model input ", shape_str(in),
                 " is neither an image [C, H, W] nor a vector");
    out_.name = model_.name();
    fold_input();
    for (size_t i = 1; i < items_.size();) i = fold_from(i);
    LOWBIT_CHECK(blocks_.empty(), "export: a residual block is left open");  // every end mark closes one
    LOWBIT_CHECK(scores_done_, "export: model '", model_.name(), "' does not end in a dense layer (+ BatchNorm)");
    return std::move(out_);
  }

 private:
  nn::Layer& at(size_t i) { return *items_.at(i).layer; }
  size_t size() const { return items_.size(); }
  Item::Mark mark(size_t i) const { return i < items_.size() ? items_[i].mark : Item::kLayer; }
  // A layer (not a block's mark) at i.
  template <class T>
  T* layer_at(size_t i) {
    return i < items_.size() && items_[i].mark == Item::kLayer ? dynamic_cast<T*>(items_[i].layer) : nullptr;
  }

  // "export: layer 4 (relu)": the index in the model's layer list. With residual blocks
  // (whose bodies the flat list opens) the layer's name instead, as `lowbit summary` prints
  // it: "export: layer maxpool2d_1 (maxpool2d)", "export: end of residual_2".
  std::string where(size_t i) {
    if (!has_blocks_) return "export: layer " + std::to_string(i) + " (" + at(i).type() + ")";
    if (mark(i) == Item::kEnd) return "export: end of " + at(i).name();
    return "export: layer " + at(i).name() + " (" + at(i).type() + ")";
  }

  // Layer 0 must quantize the input: its codes for the 256 pixel values are a table.
  void fold_input() {
    auto* q = layer_at<nn::QuantAct>(0);
    LOWBIT_CHECK(q != nullptr, "export: the first layer of '", model_.name(), "' is ", at(0).type(),
                 ", not an input quantizer; the runtime takes integer inputs: train with --input-bits 8 (or 1)");
    fmt_ = code_format(q->quantizer(), where(0));
    codes_source_ = &q->quantizer();
    std::vector<float> pixels(256);
    for (int p = 0; p < 256; ++p) pixels[static_cast<size_t>(p)] = data::normalize_pixel(static_cast<uint8_t>(p), opt_.normalize);
    const std::vector<int32_t> codes = eval_codes(q->quantizer(), pixels, fmt_);
    format::InputDesc& input = out_.input;
    for (size_t p = 0; p < 256; ++p) input.table[p] = static_cast<uint8_t>(fmt_.level(codes[p]));
    const Shape in = model_.input_shape();
    input.shape = in;
    input.codes = fmt_.codes;
    input.normalize = data::normalize_name(opt_.normalize);
    input.quantizer = q->quantizer().spec().str();
    // The IR's maps are (h, w, c). A convolutional first layer reads the image as such a
    // map; a dense one as one pixel of C*H*W channels (training's flattening order).
    bool conv_first = false;
    for (size_t i = 1; i < size(); ++i)
      if (layer_at<nn::WeightedLayer>(i)) {
        conv_first = layer_at<nn::Conv2d>(i) != nullptr;
        break;
      }
    map_ = format::input_map(in, conv_first ? format::LayerKind::kConv : format::LayerKind::kDense);
  }

  // Folds the block starting at layer i; returns the index after it.
  size_t fold_from(size_t i) {
    if (mark(i) == Item::kBegin) return open_block(i);
    nn::Layer& l = at(i);
    if (mark(i) == Item::kEnd) fail(where(i), ": ", layer_problem(l), " (", kResidualRule, ")");
    if (l.identity_in_evaluation()) return i + 1;  // dropout; flatten: the IR's (y, x, c) weight order absorbs it
    if (auto* d = dynamic_cast<nn::WeightedLayer*>(&l)) return fold_weighted(i, *d);
    fail(where(i), ": ", layer_problem(l, out_.layers.empty()), " (", kRuntimeStructure, ")");
  }

  // A residual block's begin mark at i: its input (the codes folded so far) is the shortcut
  // the layer closing its body reads (fold_weighted). Returns the index after the mark.
  size_t open_block(size_t i) {
    auto& r = dynamic_cast<nn::Residual&>(at(i));
    LOWBIT_CHECK(r.shortcut() == nullptr, where(i), ": a shortcut branch (e.g. a projection) does not deploy: the "
                 "runtime adds the block's input codes, not a second branch's float output (", kResidualRule, ")");
    LOWBIT_CHECK(!out_.layers.empty(), where(i), ": a residual block on the input quantizer's codes does not deploy "
                 "(the runtime's first layer reads the input table): put a conv2d/dense block before it");
    LOWBIT_CHECK(fmt_.codes.count == 1, where(i), ": the block's input is the window sums of an average pooling; "
                 "a shortcut needs an activation quantizer's codes (", kResidualRule, ")");
    const size_t first = skip_identities(i + 1);
    LOWBIT_CHECK(layer_at<nn::WeightedLayer>(first) != nullptr, where(i), ": its body starts with ",
                 first < size() ? where(first) : std::string("nothing"), "; a conv2d/dense layer must read the "
                 "block's input codes (", kResidualRule, ")");
    Block b;
    b.item = i;
    b.from = static_cast<int>(out_.layers.size());
    b.codes = fmt_.codes;
    b.map = map_;
    b.values = level_values(*codes_source_, fmt_, where(i));
    blocks_.push_back(std::move(b));
    return i + 1;
  }

  // The first item at or after i that is not a layer that is the identity in evaluation
  // (dropout, flatten).
  size_t skip_identities(size_t i) {
    while (i < size() && mark(i) == Item::kLayer && at(i).identity_in_evaluation()) ++i;
    return i;
  }

  bool is(size_t i, const char* type) { return i < size() && mark(i) == Item::kLayer && at(i).type() == type; }
  bool is_float_act(size_t i) { return i < size() && mark(i) == Item::kLayer && is_monotone_activation(at(i)); }

  // Pooling after layer `d`'s activation quantizer `q` (whose codes `fmt_` holds), from
  // layer `next` on: max pooling, then average pooling (each optional). Max pooling of the
  // codes equals max pooling of the accumulators before the thresholds: every channel's
  // level is non-decreasing in its (sign-corrected) accumulator. Average pooling becomes the
  // IR's sum pooling of the codes: the next layer reads the window sums and its scale, from
  // evaluation's own grid (LayerQuantizers, quant::averages_grid), takes the 1/n. Returns
  // the first layer after them.
  size_t fold_pooling(size_t next, const quant::Quantizer& q, bool conv, format::LayerDesc& d) {
    next = skip_identities(next);
    if (is(next, "maxpool2d")) {
      const json p = at(next).spec();
      const int64_t k = p.at("kernel"), st = p.value("stride", 0) == 0 ? k : p.at("stride").get<int64_t>();
      LOWBIT_CHECK(p.value("padding", 0) == 0, where(next), ": padded max pooling is not supported by the runtime");
      LOWBIT_CHECK(conv, where(next), ": max pooling after a dense layer");
      d.pool = {k, st};
      next = skip_identities(next + 1);
    }
    if (!is(next, "avgpool2d")) return next;
    LOWBIT_CHECK(conv, where(next), ": average pooling after a dense layer");
    const nn::Layer& avg = at(next);
    quant::Grid g;
    LOWBIT_CHECK(q.grid(g), where(next), ": ", q.no_grid_reason());
    // Evaluation's own rule for the grid of the averages (padding, float rounding).
    const std::string why = avg.map_grid(g);
    LOWBIT_CHECK(why.empty(), where(next), ": the runtime needs integer window sums, and ", why);
    const json p = avg.spec();
    const int64_t k = p.at("kernel"), st = p.at("stride");
    LOWBIT_CHECK(k * k == g.count, where(next), ": a ", k, "x", k, " window sums ", g.count, " codes");
    const format::CodeFormat sums = d.output.summed(g.count);
    LOWBIT_CHECK(sums.planes() <= format::kMaxCodeBits, where(next), ": ", k, "x", k, " average pooling of ",
                 d.output.str(), " codes needs ", sums.planes(), "-bit sums; the runtime takes up to ",
                 format::kMaxCodeBits, " (use a smaller window or fewer activation bits)");
    d.sum_pool = {k, st};
    fmt_.codes = sums;
    next = skip_identities(next + 1);
    if (is(next, "maxpool2d"))
      fail(where(next), ": max pooling after average pooling is not supported by the runtime (it max-pools before "
           "the thresholds and sums after them): put the maxpool2d before the avgpool2d");
    if (is(next, "avgpool2d"))
      fail(where(next), ": average pooling of averages is not supported by the runtime: use one avgpool2d (two "
           "tiling ones, kernel = stride, equal one with the product of their kernels)");
    return next;
  }

  size_t fold_weighted(size_t i, nn::WeightedLayer& layer) {
    LOWBIT_CHECK(!scores_done_, where(i), ": layers after the score layer");
    nn::LayerQuantizers& q = layer.quant();
    auto* conv = dynamic_cast<nn::Conv2d*>(&layer);
    auto* dense = dynamic_cast<nn::Dense*>(&layer);
    const Param* bias_param = nullptr;
    format::LayerDesc d;
    d.name = at(i).type() + "@" + std::to_string(i);
    d.in_h = map_[0], d.in_w = map_[1], d.in_c = map_[2];
    d.input = fmt_.codes;
    if (conv) {
      LOWBIT_CHECK(conv->stride_h() == conv->stride_w(), where(i), ": unequal strides are not supported by the runtime");
      d.kind = format::LayerKind::kConv;
      d.kernel_h = conv->kernel_h(), d.kernel_w = conv->kernel_w(), d.stride = conv->stride_h();
      // Training pads with exact zeros (after the quantizer) or conv2d's pad_value.
      d.pad_h = conv->pad_h(), d.pad_w = conv->pad_w();
      LOWBIT_CHECK(d.pad_h < d.kernel_h && d.pad_w < d.kernel_w, where(i), ": padding ", d.pad_h, "x", d.pad_w,
                   " not smaller than the ", d.kernel_h, "x", d.kernel_w, " kernel (the runtime needs a valid tap in "
                   "every window)");
      LOWBIT_CHECK(conv->in_channels() == d.in_c && d.kernel_h <= d.in_h + 2 * d.pad_h &&
                       d.kernel_w <= d.in_w + 2 * d.pad_w,
                   where(i), ": input map ", d.in_h, "x", d.in_w, "x", d.in_c, " does not fit its ", conv->in_channels(),
                   " input channels and ", d.kernel_h, "x", d.kernel_w, " kernel");
      d.out = conv->out_channels();
      bias_param = conv->bias();
      if ((d.pad_h || d.pad_w) && conv->pad_value() != 0.f) {
        // +-1 codes pad with +-1 (the value, their step being 1); unsigned k-bit codes have
        // no -1, and a +1 pad would need their step to be 1.
        LOWBIT_CHECK(fmt_.codes.pm1 && fmt_.codes.count == 1, where(i), ": pad_value ", conv->pad_value(), " on ",
                     fmt_.codes.str(), " codes is not supported by the runtime (pad +-1 is for +-1 inputs)");
        d.pad_value = static_cast<int>(conv->pad_value());
      }
    } else {
      d.kind = format::LayerKind::kDense;
      d.out = dense->out_features();
      LOWBIT_CHECK(dense->in_features() == d.in_h * d.in_w * d.in_c, where(i), ": takes ", dense->in_features(),
                   " features but its input has ", d.in_h * d.in_w * d.in_c);
      bias_param = dense->bias();
    }
    LOWBIT_CHECK(d.out <= format::kMaxOutputs, where(i), ": ", d.out, " outputs, the runtime takes at most ",
                 format::kMaxOutputs);
    LOWBIT_CHECK(q.input_quantizer() == nullptr, where(i), ": input quantizers inside dense layers are not exported; "
                 "use a quant_act layer before it");
    Tensor wc;                      // training's weight codes (o, c, y, x)
    std::vector<float> out_scales;  // per output channel (none with grouped scales)
    nn::GroupedScales groups;       // SYQ row / pixel: per group of kernel taps
    const std::string inexact = layer.exact_form(wc, out_scales, &groups);
    LOWBIT_CHECK(inexact.empty(), where(i), ": the runtime needs integer evaluation, and ", inexact);
    const bool grouped = !groups.tap_group.empty();
    if (grouped) out_scales.assign(static_cast<size_t>(conv->out_channels()), 1.f);  // ChannelMap::of_sum ignores it
    const int64_t K = d.in_fan();
    const int64_t M = d.out;
    quant::Grid wg;  // the weight codes' range (grouped weights: that of their groups)
    if (quant::TapGroups tg; !q.weight_quantizer()->grid(wg) && q.weight_quantizer()->tap_groups(tg))
      wg = quant::Grid{tg.step, tg.code_min, tg.code_max};
    const int64_t range = K * wg.max_abs_code() * fmt_.codes.max_abs_value();

    // Per-channel float maps, and what follows: BatchNorm? then quantizer or the end.
    size_t next = i + 1;
    const std::string kind = conv ? "convolution" : "dense layer";
    if (is(next, "maxpool2d") && is(next + 1, "batchnorm"))
      fail(where(next), ": max pooling between a ", kind, " and its BatchNorm (Larq's order) is not supported by the "
           "runtime, which pools after the activation quantizer (FINN's order: conv2d, batchnorm, quant_act, "
           "maxpool2d); the two orders differ for channels with a negative BatchNorm gamma. Move the maxpool2d after "
           "the quant_act in the topology and train again");
    nn::BatchNorm* bn = layer_at<nn::BatchNorm>(next);
    std::vector<float> bn_mean, bn_scale, bn_shift;
    if (bn) {
      bn->eval_constants(bn_mean, bn_scale, bn_shift);
      ++next;
    }
    std::vector<ChannelMap> maps(static_cast<size_t>(M));
    for (int64_t c = 0; c < M; ++c) {
      ChannelMap& m = maps[static_cast<size_t>(c)];
      m.scale = out_scales[static_cast<size_t>(c)];
      m.has_bias = bias_param != nullptr;
      if (m.has_bias) m.bias = bias_param->value[c];
      m.has_bn = bn != nullptr;
      if (bn) m.bn_mean = bn_mean[c], m.bn_scale = bn_scale[c], m.bn_shift = bn_shift[c];
      const std::string bad = m.non_finite();
      LOWBIT_CHECK(bad.empty(), where(i), ", channel ", c, ": ", bad, "; the checkpoint holds non-finite values (did "
                   "its training diverge?). Export an earlier checkpoint or train again");
    }
    std::vector<nn::Layer*> float_acts;  // ReLU / HardTanh before the quantizer
    while (is_float_act(next)) float_acts.push_back(&at(next++));

    // A residual block closing here (the end of its body): [activation quantizer] end mark
    // [ReLU / HardTanh] activation quantizer. The block adds its input to the body's output
    // before the float activations and the quantizer after it.
    nn::QuantAct* body_q = nullptr;   // the body's own last quantizer (its output is added)
    std::vector<nn::Layer*> after_acts;
    Block* closing = nullptr;
    {
      size_t k = skip_identities(next);
      if (auto* q = layer_at<nn::QuantAct>(k); q && mark(skip_identities(k + 1)) == Item::kEnd) {
        body_q = q;
        k = skip_identities(k + 1);
      }
      if (mark(k) == Item::kEnd) {
        closing = &blocks_.back();
        next = skip_identities(k + 1);
        while (is_float_act(next)) after_acts.push_back(&at(next++));
        LOWBIT_CHECK(layer_at<nn::QuantAct>(next) != nullptr, where(k), ": ",
                     next < size() ? where(next) + " follows it" : std::string("the network ends after it"),
                     "; the runtime adds a shortcut before an activation quantizer (", kResidualRule, ")");
      }
    }

    nn::QuantAct* act = layer_at<nn::QuantAct>(next);
    d.negated.assign(static_cast<size_t>(M), 0);
    if (grouped) {
      LOWBIT_CHECK(act != nullptr, where(i), ": SYQ row / pixel scales on the last convolution need an activation "
                   "quantizer after it (the runtime thresholds their float sum)");
      LOWBIT_CHECK(closing == nullptr, where(i), ": SYQ row / pixel scales on the last layer of a residual body do "
                   "not deploy (use layer scales there)");
      fmt_ = fold_grouped_thresholds(i, d, maps, float_acts, *act, groups, wg, fmt_.codes.max_abs_value());
      codes_source_ = &act->quantizer();
      next = fold_pooling(next + 1, act->quantizer(), true, d);
    } else if (act) {
      const QuantCodes out = code_format(act->quantizer(), where(next));
      d.output = out.codes;
      d.levels = out.codes.levels();
      const int sets = closing ? closing->codes.levels() + 1 : 1;
      d.thresholds.assign(static_cast<size_t>(M * sets * d.levels), std::numeric_limits<int32_t>::max());
      const int reached = out.codes.pm1 ? 1 : out.max_level;  // levels above never occur: INT32_MAX
      for (int64_t c = 0; c < M; ++c) {
        const ChannelMap& m = maps[static_cast<size_t>(c)];
        // Evaluation's map of the accumulator, for shortcut level s (residual blocks only).
        auto level_of = [&](int64_t acc, int s) {
          float y = apply_activations(float_acts, m(acc));
          if (closing) {
            if (body_q) y = eval_value(body_q->quantizer(), y);
            y = y + closing->values[static_cast<size_t>(s)];  // Residual::forward's sum
            y = apply_activations(after_acts, y);
          }
          return out.level(eval_code(act->quantizer(), y, out));
        };
        // A decreasing map (BatchNorm gamma < 0) is made increasing by negating the weights.
        bool decreasing = false;
        for (int s = 0; s < sets; ++s) decreasing = decreasing || level_of(range, s) < level_of(-range, s);
        d.negated[static_cast<size_t>(c)] = decreasing;
        for (int s = 0; s < sets; ++s) {
          auto level = [&](int64_t acc) { return level_of(decreasing ? -acc : acc, s); };
          std::vector<int32_t> t = channel_thresholds(level, range, reached);
          format::check_thresholds(level, t, range, where(i), c, "evaluation");
          std::copy(t.begin(), t.end(), d.thresholds.begin() + (c * sets + s) * d.levels);
        }
      }
      fmt_ = out;
      codes_source_ = &act->quantizer();
      next = fold_pooling(next + 1, act->quantizer(), conv != nullptr, d);
      if (closing) close_block(*closing, d, next);
    } else {
      LOWBIT_CHECK(float_acts.empty(), where(next - 1), ": a float activation the runtime cannot represent: it "
                   "needs an activation quantizer after it (integer codes between layers), e.g. --acts binary or a "
                   "quant_act layer");
      LOWBIT_CHECK(next == size(), where(next), ": ", layer_problem(at(next)), "; after a ", kind,
                   " (+ BatchNorm) the runtime needs an activation quantizer (e.g. --acts binary) or the end of the network");
      LOWBIT_CHECK(!conv, where(i), ": the score layer must be dense");
      d.scores = true;
      format::ScoresDesc& s = d.score;
      for (const ChannelMap& m : maps) s.scale.push_back(m.scale);
      if (bias_param)
        for (int64_t c = 0; c < M; ++c) s.bias.push_back(bias_param->value[c]);
      if (bn) s.bn_mean = bn_mean, s.bn_scale = bn_scale, s.bn_shift = bn_shift;
      scores_done_ = true;
    }
    d.weights = canonical_weights(wc, d, where(i));
    map_ = {d.out_h(), d.out_w(), d.out};
    out_.layers.push_back(std::move(d));
    return next;
  }

  // SYQ's grouped scales (docs/DEPLOYMENT.md, "SYQ row and pixel scales"): the layer's
  // float sum y of its partial sums (format::group_next) goes through the channel's map and
  // the quantizer `act`; for each channel the level is monotone in y, so float thresholds,
  // found by bisecting the floats in their order (float_key), reproduce it. Returns the
  // output codes.
  QuantCodes fold_grouped_thresholds(size_t i, format::LayerDesc& d, const std::vector<ChannelMap>& maps,
                               const std::vector<nn::Layer*>& float_acts, nn::QuantAct& act,
                               const nn::GroupedScales& groups, const quant::Grid& wg, int32_t max_input) {
    const QuantCodes out = code_format(act.quantizer(), where(i));
    d.output = out.codes;
    d.levels = out.codes.levels();
    d.tap_group = groups.tap_group;
    d.group_scale = groups.scale;
    // |y| is at most sum_g K |w| |x| s_g; bisect within twice that (and within the floats).
    double bound = 0;
    for (float s : groups.scale) bound += static_cast<double>(d.in_fan()) * wg.max_abs_code() * max_input * s;
    const int64_t range = float_key(static_cast<float>(std::min<double>(2 * bound + 1, 1e38)));
    const int reached = out.codes.pm1 ? 1 : out.max_level;
    const float inf = std::numeric_limits<float>::infinity();
    for (int64_t c = 0; c < d.out; ++c) {
      const ChannelMap& m = maps[static_cast<size_t>(c)];
      auto level_of = [&](float y) {
        return out.level(eval_code(act.quantizer(), apply_activations(float_acts, m.of_sum(y)), out));
      };
      const bool decreasing = level_of(key_float(range)) < level_of(key_float(-range));
      d.negated[static_cast<size_t>(c)] = decreasing;
      auto level = [&](int64_t key) { return level_of(decreasing ? -key_float(key) : key_float(key)); };
      const std::vector<int32_t> t = channel_thresholds(level, range, reached);
      format::check_thresholds(level, t, range, where(i), c, "evaluation");
      for (int32_t k : t)
        d.float_thresholds.push_back(k == std::numeric_limits<int32_t>::min()   ? -inf
                                     : k == std::numeric_limits<int32_t>::max() ? inf
                                                                                : key_float(k));
    }
    return out;
  }

  // Layer d closes the innermost open block (its thresholds read the shortcut): the shortcut
  // map must be d's threshold map, so no max pooling after the block's quantizer (the
  // runtime pools accumulators before the thresholds, which here depend on each pixel's
  // shortcut code).
  void close_block(const Block& b, format::LayerDesc& d, size_t next) {
    LOWBIT_CHECK(d.pool.kernel == 0, where(next - 1), ": max pooling right after a residual block's activation "
                 "quantizer does not deploy (the runtime max-pools accumulators before the thresholds, which depend "
                 "on each pixel's shortcut code): use a strided conv2d or average pooling, or max-pool after the "
                 "quantizer of a plain (non-residual) conv2d block");
    const std::array<int64_t, 3> out = {d.pooled_h(), d.pooled_w(), d.out};
    LOWBIT_CHECK(b.map == out, where(b.item), ": its input map ", b.map[0], "x", b.map[1], "x", b.map[2],
                 " differs from its body's output map ", out[0], "x", out[1], "x", out[2]);
    d.shortcut_from = b.from;
    d.shortcut = b.codes;
    blocks_.pop_back();
  }

  // Training's weight codes (o, c, y, x) over the layer's window (a convolution's kernel, a
  // dense layer's whole input map) in the IR's order (o, y, x, c), negated rows applied.
  static std::vector<int32_t> canonical_weights(const Tensor& wc, const format::LayerDesc& d, const std::string& where) {
    const int64_t M = d.out, K = d.in_fan(), wh = d.window_h(), ww = d.window_w(), c = d.in_c;
    LOWBIT_CHECK(wc.size() == M * K, where, ": ", wc.size(), " weight codes for ", M, " x ", K);
    std::vector<int32_t> w(static_cast<size_t>(M * K));
    int32_t max_abs = 0;
    for (int64_t o = 0; o < M; ++o) {
      const int32_t sign = d.negated[static_cast<size_t>(o)] ? -1 : 1;
      for (int64_t col = 0; col < K; ++col) {
        const int64_t ci = col / (wh * ww), y = (col / ww) % wh, x = col % ww;
        const auto v = static_cast<int32_t>(wc[o * K + col]);
        max_abs = std::max(max_abs, std::abs(v));
        w[static_cast<size_t>(o * K + (y * ww + x) * c + ci)] = sign * v;
      }
    }
    // The IR's bounds (format/limits.hpp), checked before anything is written.
    LOWBIT_CHECK(max_abs <= format::kMaxWeightCode, where, ": its weight codes reach ", max_abs,
                 "; the deployment format takes codes up to +-", format::kMaxWeightCode,
                 " (int:8 or fewer weight bits)");
    LOWBIT_CHECK(format::accumulators_fit_int32(K, max_abs), where, ": ", K, " inputs with weight codes up to ",
                 max_abs, " could overflow the runtime's int32 accumulators");
    return w;
  }

  nn::Model& model_;
  ExportOptions opt_;
  std::vector<Item> items_;  // the network, residual blocks opened (flatten)
  bool has_blocks_ = false;
  format::ModelDesc out_;
  std::vector<Block> blocks_;  // the residual blocks open at the current item, innermost last
  quant::Quantizer* codes_source_ = nullptr;  // the quantizer that made fmt_'s codes
  // Codes of the activation map before the next layer (after a sum pooling, only `codes`
  // changes: code_max and step stay those of the quantizer that made the summed codes).
  QuantCodes fmt_;
  std::array<int64_t, 3> map_{};  // that map (h, w, c)
  bool scores_done_ = false;
};

}  // namespace

format::ModelDesc fold(nn::Model& model, const ExportOptions& opt) {
  format::ModelDesc d = Folder(model, opt).run();
  format::validate(d);  // what the readers will check, before anyone writes it
  return d;
}

std::vector<uint8_t> lbm_bytes(nn::Model& model, const ExportOptions& opt) {
  return format::model_desc_bytes(fold(model, opt));
}

void write_lbm(nn::Model& model, const ExportOptions& opt, const std::string& path) {
  write_file_atomic(path, lbm_bytes(model, opt));
}

std::string export_problem(const nn::json& topology, const ExportOptions& opt, format::ModelDesc* desc) {
  try {
    std::unique_ptr<nn::Model> model = nn::build_model(topology);
    model->init(1);
    // One training step's forward on random images sets what training would (activation
    // ranges of int:k quantizers, BatchNorm statistics), so the dry run folds a model in the
    // state export will see.
    Shape batch = {std::max<int64_t>(2, model->min_training_batch())};
    batch.insert(batch.end(), model->input_shape().begin(), model->input_shape().end());
    Tensor x(batch);
    Rng rng(1);
    for (float& v : x) v = rng.uniform(0.f, 1.f);
    model->forward(x, Context{true, &rng});
    format::ModelDesc d = fold(*model, opt);
    if (desc) *desc = std::move(d);
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

}  // namespace lowbit::exporter
