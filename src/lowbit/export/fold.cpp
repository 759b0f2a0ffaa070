#include "lowbit/export/fold.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <functional>
#include <cmath>
#include <cstring>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/core/fp_env.hpp"
#include "lowbit/format/lbm.hpp"
#include "lowbit/format/limits.hpp"
#include "lowbit/kernels/xnor_gemm.hpp"
#include "lowbit/nn/batchnorm.hpp"
#include "lowbit/nn/builder.hpp"
#include "lowbit/nn/conv2d.hpp"
#include "lowbit/nn/dense.hpp"
#include "lowbit/nn/quant_act.hpp"

namespace lowbit::exporter {

namespace {

using nn::json;

template <class T>
std::vector<uint8_t> to_bytes(const std::vector<T>& v) {
  static_assert(std::endian::native == std::endian::little, "blobs are little-endian; add byte swapping for this host");
  std::vector<uint8_t> out(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  return out;
}

// How a quantizer's output codes travel between runtime layers.
struct CodeFormat {
  bool pm1 = false;  // codes -1/+1 as one bit each (bit 1 = +1)
  int bits = 0;      // else unsigned codes 0..2^bits-1 in `bits` bit-planes
  int32_t code_min = 0, code_max = 0;
  float step = 1.f;
  int levels() const { return pm1 ? 1 : code_max; }  // thresholds per channel
  // Level index 0..levels() of a code.
  int level(int32_t code) const { return pm1 ? (code > 0 ? 1 : 0) : code; }
  json to_json() const { return pm1 ? json{{"format", "pm1"}} : json{{"format", "planes"}, {"bits", bits}}; }
};

CodeFormat code_format(const quant::Quantizer& q, const std::string& where) {
  quant::Grid g;
  if (!q.grid(g)) fail(where, ": the runtime needs integer codes, and ", q.no_grid_reason());
  LOWBIT_CHECK(g.step.size() == 1, where, ": quantizer '", q.spec().str(), "' has ", g.step.size(),
               " scales; the runtime needs one per tensor");
  CodeFormat f;
  f.code_min = g.code_min, f.code_max = g.code_max, f.step = g.step[0];
  if (q.spec().is_sign()) {
    f.pm1 = true;
    return f;
  }
  LOWBIT_CHECK(g.code_min == 0 && g.code_max >= 1 && g.code_max <= 255, where, ": quantizer '", q.spec().str(),
               "' has codes ", g.code_min, "..", g.code_max,
               "; the runtime takes +-1 or unsigned codes 0..255 (e.g. binary, dorefa:k, fixed:k,f, int:k:unsigned "
               "or int:k after a ReLU)");
  f.bits = std::bit_width(static_cast<uint32_t>(g.code_max));
  return f;
}

// The code a quantizer gives each of `values` in evaluation.
std::vector<int32_t> eval_codes(quant::Quantizer& q, const std::vector<float>& values, const CodeFormat& f) {
  Tensor x({static_cast<int64_t>(values.size())}), y;
  std::copy(values.begin(), values.end(), x.data());
  q.forward(x, y, Context{false, nullptr});
  std::vector<int32_t> codes(values.size());
  for (size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<int32_t>(std::nearbyint(y[static_cast<int64_t>(i)] / f.step));
  return codes;
}

// The code a quantizer gives one value in evaluation. Export bisects and checks thresholds
// with millions of these: the tensors are reused, not allocated per call.
int32_t eval_code(quant::Quantizer& q, float value, const CodeFormat& f) {
  thread_local Tensor x({1}), y;
  x[0] = value;
  q.forward(x, y, Context{false, nullptr});
  return static_cast<int32_t>(std::nearbyint(y[0] / f.step));
}

// The float map evaluation applies to one channel's integer accumulator, ending in the
// value the next quantizer sees (or the score): y = acc * scale (+ bias), then BatchNorm.
// `shift`: the runtime's accumulator is 2^shift times the trained one (weights with even
// codes, see weight_planes); an odd runtime value (never produced) maps to the floor.
struct ChannelMap {
  float scale = 1.f, bias = 0.f;
  bool has_bias = false, has_bn = false;
  float bn_mean = 0.f, bn_scale = 1.f, bn_shift = 0.f;
  int shift = 0;
  float operator()(int64_t acc) const {
    float y = static_cast<float>(acc >> shift) * scale;  // LayerQuantizers::scale_output
    if (has_bias) y = y + bias;
    if (has_bn) y = nn::bn_eval(y, bn_mean, bn_scale, bn_shift);
    return y;
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

// Monotone float activations (ReLU, HardTanh) between BatchNorm and an activation quantizer,
// applied with the layers' own forward (the arithmetic evaluation uses): a non-decreasing
// map of the value, so the thresholds absorb it (a preset's `--acts int:8` puts a ReLU there).
bool is_monotone_activation(const nn::Layer& l) { return l.type() == "relu" || l.type() == "hardtanh"; }

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
std::string layer_problem(const nn::Layer& l) {
  const std::string t = l.type();
  if (t == "avgpool2d") return "average pooling is not supported by the runtime (use maxpool2d after the activation quantizer)";
  if (t == "residual") return "residual blocks are not supported by the runtime";
  if (t == "maxpool2d") return "max pooling is supported only after a convolution's activation quantizer";
  if (t == "batchnorm") return "BatchNorm is supported only directly after a conv2d or dense layer";
  if (t == "quant_act") return "an activation quantizer is supported only first or after a conv2d/dense layer (+ BatchNorm)";
  return t + " is not supported by the runtime here";
}

// The structure the runtime executes, for error messages.
constexpr const char* kRuntimeStructure =
    "the runtime runs an input quantizer, then blocks of conv2d/dense + BatchNorm [+ ReLU/HardTanh] + activation "
    "quantizer [+ max pooling], and a last dense [+ BatchNorm]";

class Folder {
 public:
  Folder(nn::Model& model, const ExportOptions& opt) : model_(model), opt_(opt), net_(model.net()) {}

  FoldedModel run() {
    enter_fp_contract_all_threads();  // bisection on evaluation's float arithmetic, in its mode
    const Shape in = model_.input_shape();
    LOWBIT_CHECK(in.size() == 3 || in.size() == 1, "export: model input ", shape_str(in),
                 " is neither an image [C, H, W] nor a vector");
    // One evaluation forward settles the quantizers' state (weight codes and scales).
    Shape batch = {1};
    batch.insert(batch.end(), in.begin(), in.end());
    Tensor x(batch, 0.f);
    model_.forward(x, Context{false, nullptr});

    fold_input();
    for (size_t i = 1; i < net_.size();) i = fold_from(i);
    LOWBIT_CHECK(scores_done_, "export: model '", model_.name(), "' does not end in a dense layer (+ BatchNorm)");
    out_.meta = {{"kind", "lowbit-model"},
                 {"name", model_.name()},
                 {"input", input_},
                 {"classes", classes_},
                 {"layers", layers_}};
    return std::move(out_);
  }

 private:
  std::string where(size_t i) { return "export: layer " + std::to_string(i) + " (" + net_.at(i).type() + ")"; }

  void add_blob(const std::string& name, std::vector<uint8_t> bytes) { out_.blobs.emplace_back(name, std::move(bytes)); }

  // Layer 0 must quantize the input: its codes for the 256 pixel values are a table.
  void fold_input() {
    auto* q = dynamic_cast<nn::QuantAct*>(&net_.at(0));
    LOWBIT_CHECK(q != nullptr, "export: the first layer of '", model_.name(), "' is ", net_.at(0).type(),
                 ", not an input quantizer; the runtime takes integer inputs: train with --input-bits 8 (or 1)");
    fmt_ = code_format(q->quantizer(), where(0));
    std::vector<float> pixels(256);
    for (int p = 0; p < 256; ++p) pixels[static_cast<size_t>(p)] = data::normalize_pixel(static_cast<uint8_t>(p), opt_.normalize);
    const std::vector<int32_t> codes = eval_codes(q->quantizer(), pixels, fmt_);
    std::vector<uint8_t> lut(256);
    for (size_t p = 0; p < 256; ++p) lut[p] = static_cast<uint8_t>(fmt_.level(codes[p]));
    add_blob("input.lut", lut);
    const Shape in = model_.input_shape();
    // The runtime's activations are maps (h, w, c) of packed pixels. A convolutional first
    // layer takes the image as its patch rows (patch_columns); a dense one as one pixel of
    // C*H*W channels (training's flattening order).
    bool conv_first = false;
    for (size_t i = 1; i < net_.size(); ++i)
      if (dynamic_cast<nn::WeightedLayer*>(&net_.at(i))) {
        conv_first = dynamic_cast<nn::Conv2d*>(&net_.at(i)) != nullptr;
        break;
      }
    map_ = conv_first ? std::array<int64_t, 3>{in[1], in[2], in[0]} : std::array<int64_t, 3>{1, 1, shape_numel(in)};
    input_ = fmt_.to_json();
    input_["layout"] = conv_first ? "patches" : "flat";
    input_["shape"] = in;
    input_["normalize"] = data::normalize_name(opt_.normalize);
    input_["lut"] = "input.lut";
    input_["quantizer"] = q->quantizer().spec().str();
  }

  // Folds the block starting at layer i; returns the index after it.
  size_t fold_from(size_t i) {
    nn::Layer& l = net_.at(i);
    const std::string type = l.type();
    if (type == "flatten" || type == "dropout") return i + 1;  // identity on the runtime's layout (dense only)
    if (auto* d = dynamic_cast<nn::WeightedLayer*>(&l)) return fold_weighted(i, *d);
    fail(where(i), ": ", layer_problem(l), " (", kRuntimeStructure, ")");
  }

  // Where training's input element `col` of a weight row lands in the runtime's packed row.
  struct Columns {
    int64_t valid = 0, words = 0;             // K and the words of a packed row
    std::function<int64_t(int64_t)> bit;      // training column -> bit position
  };

  // Training orders a weight row (ci, y, x) over a wh x ww window of c channels; the runtime
  // packs the window pixel by pixel, packed_words(c) words each (gaps are zero bits).
  static Columns window_columns(int64_t wh, int64_t ww, int64_t c) {
    const int64_t cw = kernels::packed_words(c);
    Columns cols;
    cols.valid = wh * ww * c;
    cols.words = wh * ww * cw;
    cols.bit = [=](int64_t col) {
      const int64_t ci = col / (wh * ww), y = (col / ww) % wh, x = col % ww;
      return (y * ww + x) * cw * 64 + ci;
    };
    return cols;
  }

  // The first convolution's patch rows come from the runtime's input stage with the
  // kh x kw x c codes of a window packed densely, in (dy, dx, ci) order: an image of few
  // channels costs a word per patch, not a word per pixel.
  static Columns patch_columns(int64_t kh, int64_t kw, int64_t c) {
    Columns cols;
    cols.valid = kh * kw * c;
    cols.words = kernels::packed_words(cols.valid);
    cols.bit = [=](int64_t col) {
      const int64_t ci = col / (kh * kw), dy = (col / kw) % kh, dx = col % kw;
      return (dy * kw + dx) * c + ci;
    };
    return cols;
  }

  size_t fold_weighted(size_t i, nn::WeightedLayer& layer) {
    LOWBIT_CHECK(!scores_done_, where(i), ": layers after the score layer");
    const std::string name = "layer" + std::to_string(layers_.size());
    nn::LayerQuantizers& q = layer.quant();
    auto* conv = dynamic_cast<nn::Conv2d*>(&layer);
    auto* dense = dynamic_cast<nn::Dense*>(&layer);
    const Param* bias_param = nullptr;
    const auto [h, w, c] = map_;
    Columns cols;
    json op;
    int64_t M = 0, oh = 1, ow = 1;
    if (conv) {
      LOWBIT_CHECK(conv->stride_h() == conv->stride_w(), where(i), ": unequal strides are not supported by the runtime");
      const int64_t kh = conv->kernel_h(), kw = conv->kernel_w(), st = conv->stride_h();
      // Training pads with exact zeros (after the quantizer): the runtime pads with bit 0 and
      // corrects +-1 inputs to exact 0 per output pixel (docs/DEPLOYMENT.md).
      const int64_t ph = conv->pad_h(), pw = conv->pad_w();
      LOWBIT_CHECK(ph < kh && pw < kw, where(i), ": padding ", ph, "x", pw, " not smaller than the ", kh, "x", kw,
                   " kernel (the runtime needs a valid tap in every window)");
      LOWBIT_CHECK(conv->in_channels() == c && kh <= h + 2 * ph && kw <= w + 2 * pw, where(i), ": input map ", h, "x",
                   w, "x", c, " does not fit its ", conv->in_channels(), " input channels and ", kh, "x", kw, " kernel");
      M = conv->out_channels();
      oh = (h + 2 * ph - kh) / st + 1, ow = (w + 2 * pw - kw) / st + 1;
      // weight (o, ci, dy, dx): tap (dy, dx) of the patch
      cols = layers_.empty() ? patch_columns(kh, kw, c) : window_columns(kh, kw, c);
      bias_param = conv->bias();
      op = {{"op", "conv"}, {"in_shape", {h, w, c}}, {"kernel", {kh, kw}}, {"stride", st}};
      if (ph || pw) op["padding"] = {ph, pw};
      if ((ph || pw) && conv->pad_value() != 0.f) {
        // The padded code: +-1 codes pad with +-1 (the value, their step being 1); unsigned
        // k-bit codes have no -1 and a +1 pad would need their step to be 1.
        LOWBIT_CHECK(fmt_.pm1, where(i), ": pad_value ", conv->pad_value(),
                     " on k-bit codes is not supported by the runtime (pad +-1 is for +-1 inputs)");
        op["pad_value"] = static_cast<int>(conv->pad_value());
      }
    } else {
      M = dense->out_features();
      LOWBIT_CHECK(dense->in_features() == h * w * c, where(i), ": takes ", dense->in_features(),
                   " features but its input has ", h * w * c);
      cols = window_columns(h, w, c);  // training flattens (c, y, x): the whole map is the window
      bias_param = dense->bias();
      op = {{"op", "dense"}, {"in_shape", {h, w, c}}};
    }
    LOWBIT_CHECK(q.input_quantizer() == nullptr, where(i), ": input quantizers inside dense layers are not exported; "
                 "use a quant_act layer before it");
    LOWBIT_CHECK(q.last_exact(), where(i), ": the runtime needs integer evaluation, and ", q.inexact_reason());
    const int64_t K = cols.valid;
    const Tensor& wc = q.weight_codes();
    quant::Grid wg;
    q.weight_quantizer()->grid(wg);
    // Even weight codes (ternary, int:k) are exported doubled (weight_planes): the runtime's
    // accumulators are then twice the trained ones, and so is everything compared with them.
    bool even_codes = false;
    for (int64_t j = 0; j < wc.size() && !even_codes; ++j) even_codes = static_cast<int32_t>(wc[j]) % 2 == 0;
    const int shift = even_codes ? 1 : 0;
    const int64_t range = (K * wg.max_abs_code() * (fmt_.pm1 ? 1 : fmt_.code_max)) << shift;

    // Per-channel float maps, and what follows: BatchNorm? then quantizer or the end.
    size_t next = i + 1;
    const std::string kind = conv ? "convolution" : "dense layer";
    if (next + 1 < net_.size() && net_.at(next).type() == "maxpool2d" && net_.at(next + 1).type() == "batchnorm")
      fail(where(next), ": max pooling between a ", kind, " and its BatchNorm (Larq's order) is not supported by the "
           "runtime, which pools after the activation quantizer (FINN's order: conv2d, batchnorm, quant_act, "
           "maxpool2d); the two orders differ for channels with a negative BatchNorm gamma. Move the maxpool2d after "
           "the quant_act in the topology and train again");
    nn::BatchNorm* bn = next < net_.size() ? dynamic_cast<nn::BatchNorm*>(&net_.at(next)) : nullptr;
    std::vector<float> bn_mean, bn_scale, bn_shift;
    if (bn) {
      bn->eval_constants(bn_mean, bn_scale, bn_shift);
      ++next;
    }
    std::vector<ChannelMap> maps(static_cast<size_t>(M));
    for (int64_t c = 0; c < M; ++c) {
      ChannelMap& m = maps[static_cast<size_t>(c)];
      m.scale = q.output_scales()[static_cast<size_t>(c)];
      m.shift = shift;
      m.has_bias = bias_param != nullptr;
      if (m.has_bias) m.bias = bias_param->value[c];
      m.has_bn = bn != nullptr;
      if (bn) m.bn_mean = bn_mean[c], m.bn_scale = bn_scale[c], m.bn_shift = bn_shift[c];
      const std::string bad = m.non_finite();
      LOWBIT_CHECK(bad.empty(), where(i), ", channel ", c, ": ", bad, "; the checkpoint holds non-finite values (did "
                   "its training diverge?). Export an earlier checkpoint or train again");
    }
    std::vector<nn::Layer*> float_acts;  // ReLU / HardTanh before the quantizer
    while (next < net_.size() && is_monotone_activation(net_.at(next))) float_acts.push_back(&net_.at(next++));
    op["name"] = net_.at(i).type() + "@" + std::to_string(i);
    op["in"] = K;
    op["out"] = M;
    op["input"] = fmt_.to_json();

    nn::QuantAct* act = next < net_.size() ? dynamic_cast<nn::QuantAct*>(&net_.at(next)) : nullptr;
    std::vector<int8_t> flip(static_cast<size_t>(M), 0);
    if (act) {
      const CodeFormat out = code_format(act->quantizer(), where(next));
      const int levels = out.levels();
      std::vector<int32_t> thr(static_cast<size_t>(M * levels));
      for (int64_t c = 0; c < M; ++c) {
        const ChannelMap& m = maps[static_cast<size_t>(c)];
        auto level_of = [&](int64_t acc) {
          return out.level(eval_code(act->quantizer(), apply_activations(float_acts, m(acc)), out));
        };
        // A decreasing map (BatchNorm gamma < 0) is made increasing by negating the weights.
        const bool decreasing = level_of(range) < level_of(-range);
        flip[static_cast<size_t>(c)] = decreasing;
        auto level = [&](int64_t acc) { return level_of(decreasing ? -acc : acc); };
        std::vector<int32_t> t = channel_thresholds(level, range, levels);
        check_thresholds(level, t, range, where(i), c);
        std::copy(t.begin(), t.end(), thr.begin() + c * levels);
      }
      add_blob(name + ".thresholds", to_bytes(thr));
      op["output"] = out.to_json();
      op["output"]["levels"] = levels;
      op["output"]["thresholds"] = name + ".thresholds";
      op["output"]["quantizer"] = act->quantizer().spec().str();
      fmt_ = out;
      next++;
      // Max pooling after the quantizer equals pooling the accumulators before the
      // thresholds: every channel's level is non-decreasing in its (sign-corrected) accumulator.
      while (next < net_.size() && net_.at(next).type() == "dropout") ++next;
      if (next < net_.size() && net_.at(next).type() == "maxpool2d") {
        const json p = net_.at(next).spec();
        const int64_t k = p.at("kernel"), st = p.value("stride", 0) == 0 ? k : p.at("stride").get<int64_t>();
        LOWBIT_CHECK(p.value("padding", 0) == 0, where(next), ": padded max pooling is not supported by the runtime");
        LOWBIT_CHECK(conv != nullptr, where(next), ": max pooling after a dense layer");
        op["pool"] = {{"kernel", k}, {"stride", st}};
        oh = (oh - k) / st + 1, ow = (ow - k) / st + 1;
        ++next;
      }
    } else {
      LOWBIT_CHECK(float_acts.empty(), where(next - 1), ": a float activation the runtime cannot represent: it "
                   "needs an activation quantizer after it (integer codes between layers), e.g. --acts binary or a "
                   "quant_act layer");
      LOWBIT_CHECK(next == net_.size(), where(next), ": ", layer_problem(net_.at(next)), "; after a ", kind,
                   " (+ BatchNorm) the runtime needs an activation quantizer (e.g. --acts binary) or the end of the network");
      std::vector<float> scale(static_cast<size_t>(M)), bias(static_cast<size_t>(M));
      // float(2^s acc) * (scale / 2^s) == float(acc) * scale exactly (powers of two).
      for (int64_t c = 0; c < M; ++c)
        scale[static_cast<size_t>(c)] = std::ldexp(maps[static_cast<size_t>(c)].scale, -shift);
      add_blob(name + ".scale", to_bytes(scale));
      op["output"] = {{"format", "scores"}, {"scale", name + ".scale"}};
      LOWBIT_CHECK(!conv, where(i), ": the score layer must be dense");
      if (bias_param) {
        for (int64_t c = 0; c < M; ++c) bias[static_cast<size_t>(c)] = bias_param->value[c];
        add_blob(name + ".bias", to_bytes(bias));
        op["output"]["bias"] = name + ".bias";
      }
      if (bn) {
        add_blob(name + ".bn_mean", to_bytes(bn_mean));
        add_blob(name + ".bn_scale", to_bytes(bn_scale));
        add_blob(name + ".bn_shift", to_bytes(bn_shift));
        op["output"]["bn"] = {{"mean", name + ".bn_mean"}, {"scale", name + ".bn_scale"}, {"shift", name + ".bn_shift"}};
      }
      scores_done_ = true;
      classes_ = M;
    }
    op["weights"] = weight_planes(wc, M, cols, flip, shift, name, where(i));
    layers_.push_back(op);
    map_ = {oh, ow, M};
    return next;
  }

  // Weight codes as +-1 bit-planes s_j with coefficients, sum_j coef_j s_j = 2^shift w:
  // shift 0 (all codes odd: binary, dorefa:k): q planes, coef 2^j, s_j = 2 u_j - 1 for the
  //   bits u_j of u = (w + 2^q - 1) / 2, |w| <= 2^q - 1;
  // shift 1 (some code even: ternary, int:k): 2w = s_0 + r with s_0 = +1 for w >= 0 and -1
  //   below, so r = 2w - s_0 is odd, |r| <= 2 max|w| - 1, and takes the q planes above
  //   (coef 1, 1, 2, ..., 2^(q-1)). Ternary: two planes.
  json weight_planes(const Tensor& wc, int64_t M, const Columns& cols, const std::vector<int8_t>& flip, int shift,
                     const std::string& name, const std::string& where) {
    const int64_t K = cols.valid;
    int32_t max_odd = 0, max_abs = 0;
    for (int64_t i = 0; i < wc.size(); ++i) {
      const auto w = static_cast<int32_t>(wc[i]);
      max_odd = std::max(max_odd, shift ? std::abs(2 * w - (w >= 0 ? 1 : -1)) : std::abs(w));
      max_abs = std::max(max_abs, std::abs(w));
    }
    const int q = std::max(1, static_cast<int>(std::bit_width(static_cast<uint32_t>(max_odd))));  // 2^q - 1 >= max_odd
    const int planes = q + shift;
    // The runtime's bounds (format/limits.hpp), checked before anything is written.
    LOWBIT_CHECK(planes <= format::kMaxWeightPlanes, where, ": its weight codes reach ", max_abs, " and need ", planes,
                 " weight bit-planes", (shift ? " (even codes are stored doubled)" : ""), "; the runtime takes at most ",
                 format::kMaxWeightPlanes, " (int:8 or fewer weight bits)");
    LOWBIT_CHECK(M <= format::kMaxOutputs, where, ": ", M, " outputs, the runtime takes at most ", format::kMaxOutputs);
    const int32_t offset = (int32_t{1} << q) - 1;
    const int64_t words = cols.words;
    std::vector<uint64_t> bits(static_cast<size_t>(planes * M * words), 0);
    auto set = [&](int plane, int64_t r, int64_t b) {
      bits[static_cast<size_t>((plane * M + r) * words + b / 64)] |= uint64_t{1} << (b % 64);
    };
    for (int64_t r = 0; r < M; ++r)
      for (int64_t k = 0; k < K; ++k) {
        int32_t w = static_cast<int32_t>(wc[r * K + k]);
        if (flip[static_cast<size_t>(r)]) w = -w;
        const int64_t b = cols.bit(k);
        int32_t odd = w;
        if (shift) {
          const int32_t s0 = w >= 0 ? 1 : -1;
          if (s0 > 0) set(0, r, b);
          odd = 2 * w - s0;
        }
        const auto u = static_cast<uint32_t>((odd + offset) / 2);
        for (int j = 0; j < q; ++j)
          if ((u >> j) & 1u) set(shift + j, r, b);
      }
    add_blob(name + ".weights", to_bytes(bits));
    std::vector<int32_t> coefs;
    if (shift) coefs.push_back(1);
    for (int j = 0; j < q; ++j) coefs.push_back(1 << j);
    LOWBIT_CHECK(format::accumulators_fit_int32(K, coefs), where, ": ", K, " inputs with weight codes up to ", max_odd,
                 " could overflow the runtime's int32 accumulators");
    const json coef = coefs;
    json neg = json::array();
    for (int64_t r = 0; r < M; ++r) if (flip[static_cast<size_t>(r)]) neg.push_back(r);
    return {{"blob", name + ".weights"}, {"planes", planes}, {"coef", coef}, {"shift", shift}, {"negated_rows", neg}};
  }

  // Thresholds must reproduce the level function: checked on every accumulator when the
  // range is small, else on a sweep and around each threshold.
  template <class LevelFn>
  void check_thresholds(LevelFn&& level, const std::vector<int32_t>& t, int64_t range, const std::string& where,
                        int64_t channel) {
    auto check = [&](int64_t acc) {
      if (acc < -range || acc > range) return;
      // #{l : acc >= t_l}, the thresholds being sorted (the runtime's count, by bisection).
      const int count = static_cast<int>(std::upper_bound(t.begin(), t.end(), acc) - t.begin());
      LOWBIT_CHECK(count == level(acc), where, ", channel ", channel, ": thresholds give level ", count, " at acc ",
                   acc, " but evaluation gives ", level(acc), " (its map is not monotone)");
    };
    const int64_t step = std::max<int64_t>(1, range / 512);
    for (int64_t acc = -range; acc <= range; acc += step) check(acc);
    for (int32_t v : t) check(int64_t{v} - 1), check(v);
  }

  nn::Model& model_;
  ExportOptions opt_;
  nn::Sequential& net_;
  FoldedModel out_;
  json input_, layers_ = json::array();
  CodeFormat fmt_;
  std::array<int64_t, 3> map_{};  // the runtime's activation map (h, w, c) before the next layer
  int64_t classes_ = 0;
  bool scores_done_ = false;
};

}  // namespace

FoldedModel fold(nn::Model& model, const ExportOptions& opt) { return Folder(model, opt).run(); }

std::vector<uint8_t> lbm_bytes(nn::Model& model, const ExportOptions& opt) {
  FoldedModel f = fold(model, opt);
  format::LbmWriter w;
  w.add_json("model", f.meta.dump(1));
  for (auto& [name, bytes] : f.blobs) w.add_blob(name, bytes.data(), bytes.size());
  return w.bytes();
}

void write_lbm(nn::Model& model, const ExportOptions& opt, const std::string& path) {
  write_file_atomic(path, lbm_bytes(model, opt));
}

std::string export_problem(const nn::json& topology) {
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
    (void)fold(*model, {});
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

}  // namespace lowbit::exporter
