// The lowering of the IR into ONNX nodes, one function per part of a layer; docs/INTEROP.md
// is the same list as a table. Both dialects share the walk; they differ only where a
// quantizer is written (QONNX's custom nodes or standard comparisons).
#include "lowbit/interop/onnx_export.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/interop/onnx_check.hpp"
#include "lowbit/interop/onnx_graph.hpp"

namespace lowbit::interop {

using format::CodeFormat;
using format::LayerDesc;
using format::LayerKind;
using format::ModelDesc;

const char* dialect_name(OnnxDialect d) {
  switch (d) {
    case OnnxDialect::kQonnx: return "qonnx";
    case OnnxDialect::kStandard: return "onnx";
    case OnnxDialect::kStandardInteger: return "onnx-int8";
  }
  return "?";
}

namespace {

// Float32 holds every integer up to 2^24 exactly; sums of such integers stay exact while
// they stay below it. Thresholds beyond every accumulator are written as +-2^24.
constexpr int64_t kExactLimit = int64_t{1} << 24;

// FINN's name of the smallest integer datatype holding [lo, hi] (qonnx.core.datatype):
// BINARY for {0, 1}, UINTk for non-negative ranges, INTk otherwise.
std::string int_type(int64_t lo, int64_t hi) {
  if (lo >= 0) {
    if (hi <= 1) return "BINARY";
    return cat("UINT", std::bit_width(static_cast<uint64_t>(hi)));
  }
  int bits = 2;
  while (lo < -(int64_t{1} << (bits - 1)) || hi > (int64_t{1} << (bits - 1)) - 1) ++bits;
  return cat("INT", bits);
}

// The datatype of the values of a code format: BIPOLAR for single +-1 codes.
std::string value_type(const CodeFormat& f) {
  if (f.pm1 && f.count == 1) return "BIPOLAR";
  return int_type(f.value(0), f.value(f.levels()));
}

// A threshold on values in [-range, range]: those below every value (INT32_MIN, "always")
// become -range, those above every value (INT32_MAX, "never") range + 1, so that every
// constant and every difference acc - t stays an exact float32 integer.
float clamp_threshold(int64_t t, int64_t range) { return static_cast<float>(std::clamp<int64_t>(t, -range, range + 1)); }

// The weights in ONNX's layout (Conv [O, C, kh, kw]; MatMul [K, O] with K in the NCHW
// flattening order (c, y, x)), with their range.
struct WeightMatrix {
  Dims dims;
  std::vector<float> values;
  int32_t lo = 0, hi = 0;
  bool bipolar = true;
};
WeightMatrix weight_matrix(const LayerDesc& l) {
  WeightMatrix m;
  const int64_t o_n = l.out, k_n = l.in_fan();
  m.values.resize(static_cast<size_t>(o_n * k_n));
  for (int64_t o = 0; o < o_n; ++o)
    for (int64_t y = 0; y < l.window_h(); ++y)
      for (int64_t x = 0; x < l.window_w(); ++x)
        for (int64_t c = 0; c < l.in_c; ++c) {
          const int32_t v = l.weight(o, (y * l.window_w() + x) * l.in_c + c);
          m.lo = std::min(m.lo, v);
          m.hi = std::max(m.hi, v);
          m.bipolar = m.bipolar && (v == 1 || v == -1);
          const int64_t chw = (c * l.window_h() + y) * l.window_w() + x;
          const int64_t at = l.kind == LayerKind::kConv ? o * k_n + chw : chw * o_n + o;
          m.values[static_cast<size_t>(at)] = static_cast<float>(v);
        }
  m.dims = l.kind == LayerKind::kConv ? Dims{o_n, l.in_c, l.kernel_h, l.kernel_w} : Dims{k_n, o_n};
  return m;
}

class Lowering {
 public:
  Lowering(const ModelDesc& d, OnnxDialect dialect, onnx::GraphProto* graph)
      : d_(d), qonnx_(dialect == OnnxDialect::kQonnx), integer_(dialect == OnnxDialect::kStandardInteger), g_(graph),
        batch_(qonnx_ ? 1 : -1),
        what_(cat("export --format ", dialect_name(dialect))) {}

  void run() {
    emit_input();
    for (size_t i = 0; i < d_.layers.size(); ++i) emit_layer(static_cast<int>(i));
    g_.output("global_out");
    if (!qonnx_) {
      g_.node("ArgMax", {"global_out"}, "label", {batch_},
              {Attr::integer("axis", 1), Attr::integer("keepdims", 0), Attr::integer("select_last_index", 0)}, "",
              onnx::TensorProto::INT64);
      g_.output("label");
    }
  }

 private:
  bool four_d() const { return shape_.size() == 4; }
  int64_t channels() const { return shape_[1]; }

  // The shape of a per-channel constant that broadcasts against the current tensor:
  // [1, C, 1, 1] or [1, C].
  Dims channel_dims(int64_t c) const { return four_d() ? Dims{1, c, 1, 1} : Dims{1, c}; }

  void set(std::string x, Dims shape) {
    x_ = std::move(x);
    shape_ = std::move(shape);
  }

  // y = x + c (one constant per channel, or one for all when `values` has one entry).
  std::string add(const std::string& out, const std::vector<float>& values, const char* op = "Add") {
    Dims cd = values.size() == 1 ? Dims{} : channel_dims(static_cast<int64_t>(values.size()));
    std::string c = g_.constant(out + "_c", cd, values);
    return g_.node(op, {x_, c}, out, shape_);
  }

  // The level of the current tensor under thresholds `t` (rows of `levels` per channel, or
  // one row for all channels), as the values of `codes`: FINN's MultiThreshold semantics
  // (#{l : x >= t_l}, semantics.hpp threshold_level). Integer tensors: values and
  // thresholds lie in [-range, range + 1]. A float tensor (`exact_int` false: SYQ's
  // grouped sums) is compared directly, never through a difference.
  void threshold(const std::string& prefix, const std::vector<float>& t, int levels, const CodeFormat& codes,
                 int64_t range, bool exact_int = true) {
    const int64_t rows = static_cast<int64_t>(t.size()) / levels;
    const std::string out = prefix + "_act";
    if (qonnx_) {
      if (codes.pm1 && exact_int) {
        // acc >= t  <=>  acc - t >= 0, and BipolarQuant is +1 exactly there (x >= 0).
        std::vector<float> neg(t.size());
        for (size_t i = 0; i < t.size(); ++i) neg[i] = -t[i];
        set(add(prefix + "_shift", neg), shape_);
        g_.annotate(x_, int_type(-2 * range - 1, 2 * range + 1));
        std::string s = g_.scalar(out + "_scale", 1.0f);
        set(g_.node("BipolarQuant", {x_, s}, out, shape_, {}, kQonnxDomain), shape_);
      } else {
        std::string tt = g_.constant(out + "_thresholds", {rows, levels}, t);
        std::vector<Attr> attrs = {Attr::text("out_dtype", value_type(codes)),
                                   Attr::real("out_scale", codes.pm1 ? 2.0f : 1.0f),
                                   Attr::real("out_bias", codes.pm1 ? -1.0f : static_cast<float>(-codes.zero_point)),
                                   Attr::text("data_layout", four_d() ? "NCHW" : "NC")};
        set(g_.node("MultiThreshold", {x_, tt}, out, shape_, attrs, kQonnxDomain), shape_);
      }
      g_.annotate(x_, value_type(codes));
      return;
    }
    set(count_levels(prefix, t, levels), shape_);
    to_values(prefix, codes, out);
  }

  // Standard ONNX: #{l : x >= t_l} of the current tensor, as float (compare, count).
  std::string count_levels(const std::string& prefix, const std::vector<float>& t, int levels) {
    const int64_t rows = static_cast<int64_t>(t.size()) / levels;
    if (levels == 1) {
      std::string tt = g_.constant(prefix + "_thresholds", rows == 1 ? Dims{} : channel_dims(rows), t);
      std::string ge = g_.node("GreaterOrEqual", {x_, tt}, prefix + "_ge", shape_, {}, "", onnx::TensorProto::BOOL);
      return g_.node("Cast", {ge}, prefix + "_level", shape_, {Attr::integer("to", onnx::TensorProto::FLOAT)});
    }
    Dims wide = shape_;
    wide.push_back(1);
    std::string u = g_.node("Unsqueeze", {x_, g_.int64_constant(prefix + "_last", {-1})}, prefix + "_wide", wide);
    std::string tt = g_.constant(prefix + "_thresholds", four_d() ? Dims{rows, 1, 1, levels} : Dims{rows, levels}, t);
    wide.back() = levels;
    std::string ge = g_.node("GreaterOrEqual", {u, tt}, prefix + "_ge", wide, {}, "", onnx::TensorProto::BOOL);
    std::string f = g_.node("Cast", {ge}, prefix + "_reached", wide, {Attr::integer("to", onnx::TensorProto::FLOAT)});
    return g_.node("ReduceSum", {f, g_.int64_constant(prefix + "_axis", {-1})}, prefix + "_level", shape_,
                   {Attr::integer("keepdims", 0)});
  }

  // The current tensor holds levels: their values in `codes` (2 l - 1, or l - Z).
  void to_values(const std::string& prefix, const CodeFormat& codes, const std::string& out) {
    if (codes.pm1) {
      set(g_.node("Mul", {x_, g_.scalar(prefix + "_two", 2.0f)}, prefix + "_twice", shape_), shape_);
      set(g_.node("Add", {x_, g_.scalar(prefix + "_minus_one", -1.0f)}, out, shape_), shape_);
    } else if (codes.zero_point) {
      set(g_.node("Add", {x_, g_.scalar(prefix + "_zp", static_cast<float>(-codes.zero_point))}, out, shape_), shape_);
    }
  }

  // The input table as thresholds on the raw pixel: t_l = the first pixel whose level is at
  // least l (256: never), the table being non-decreasing.
  void emit_input() {
    const format::InputDesc& in = d_.input;
    Dims dims = {batch_};
    for (int64_t s : in.shape) dims.push_back(s);
    g_.input("global_in", dims);
    set("global_in", dims);
    if (qonnx_) g_.annotate("global_in", "UINT8");
    const CodeFormat& codes = in.codes;
    const int levels = codes.levels();
    bool identity = !codes.pm1 && codes.bits == 8;
    for (int p = 0; p < 256; ++p) {
      LOWBIT_CHECK(p == 0 || in.table[p] >= in.table[p - 1], what_, ": the input table decreases at pixel ",
                   p, " (", int{in.table[p - 1]}, " then ", int{in.table[p]}, "); only monotone input quantizers "
                   "are thresholds");
      identity = identity && in.table[p] == p;
    }
    if (identity) {
      // 8-bit codes that are the pixel itself. Without a zero point the UINT8 annotation of
      // global_in is the whole quantizer (FINN's own convention for 8-bit inputs). With one,
      // the values pixel - Z go through a signed Quant, the identity on them: FINN's
      // QuantIdentityHandler refuses unsigned Quant nodes in the activation path.
      if (codes.zero_point) {
        set(add("in_shift", {static_cast<float>(-codes.zero_point)}), shape_);
        if (qonnx_) {
          const std::string type = value_type(codes);
          g_.annotate(x_, type);
          const int bits = std::stoi(type.substr(3));  // INTk
          std::vector<std::string> ins = {x_, g_.scalar("in_scale", 1.0f), g_.scalar("in_zeropt", 0.0f),
                                          g_.scalar("in_bitwidth", static_cast<float>(bits))};
          set(g_.node("Quant", ins, "in_act", shape_,
                      {Attr::integer("signed", 1), Attr::integer("narrow", 0), Attr::text("rounding_mode", "ROUND")},
                      kQonnxDomain),
              shape_);
          g_.annotate(x_, type);
        }
      }
      return;
    }
    std::vector<float> t(static_cast<size_t>(levels), 256.0f);
    for (int l = 1; l <= levels; ++l)
      for (int p = 255; p >= 0 && in.table[p] >= l; --p) t[static_cast<size_t>(l - 1)] = static_cast<float>(p);
    threshold("in", t, levels, codes, 255);
  }

  void emit_layer(int i) {
    const LayerDesc& l = d_.layers[static_cast<size_t>(i)];
    const std::string p = cat("l", i);
    const bool conv = l.kind == LayerKind::kConv;
    layer_inputs_.push_back({x_, shape_});  // a later shortcut may read this map

    // Exactness: the largest |accumulator|, and so every partial sum in any order, must be
    // an exact float32 integer.
    const int64_t max_acc = l.max_abs_accumulator();
    LOWBIT_CHECK(max_acc < kExactLimit, what_, ": layer ", i, " (", l.name, ") can accumulate up to ",
                 max_acc, ", beyond float32's exact integers (2^24)");
    const std::string acc_type = int_type(-max_acc, max_acc);

    if (!conv && four_d()) {
      set(g_.node("Flatten", {x_}, p + "_flat", {batch_, shape_[1] * shape_[2] * shape_[3]},
                  {Attr::integer("axis", 1)}),
          {batch_, shape_[1] * shape_[2] * shape_[3]});
      if (qonnx_) g_.annotate(x_, value_type(l.input));
    }
    const Dims expect = conv ? Dims{batch_, l.in_c, l.in_h, l.in_w} : Dims{batch_, l.in_fan()};
    LOWBIT_CHECK(shape_ == expect, what_, ": layer ", i, " (", l.name, ") does not read its predecessor's map");

    const WeightMatrix all = weight_matrix(l);
    if (!l.grouped()) {
      set(accumulate(l, p, all, acc_type), acc_dims(l));
      return finish_layer(l, p, max_acc, acc_type);
    }
    // SYQ's grouped scales: one exact partial sum per group of kernel taps (the weights of
    // the other taps zeroed), combined in float in group order, each product and each sum
    // rounded on its own (semantics.hpp group_first / group_next). The float dialects compute
    // all groups in one Conv of G x out channels and Slice them apart: a Conv followed
    // directly by a Mul with a constant is what ONNX Runtime's Conv-Mul fusion folds into
    // the weights (measured: scores off by up to 0.4 on SYQ CNV), and a Slice between them
    // keeps each product rounded on its own. The integer dialect has one ConvInteger per
    // group (its Cast already stands between).
    const int64_t G = l.groups(), kk = l.kernel_h * l.kernel_w;
    auto group_weights = [&](WeightMatrix& w, int64_t row0, int gi) {
      for (int64_t o = 0; o < l.out; ++o)
        for (int64_t c = 0; c < l.in_c; ++c)
          for (int64_t tap = 0; tap < kk; ++tap)
            w.values[static_cast<size_t>(((row0 + o) * l.in_c + c) * kk + tap)] =
                l.tap_group[static_cast<size_t>(tap)] == gi ? all.values[static_cast<size_t>((o * l.in_c + c) * kk + tap)]
                                                            : 0.0f;
    };
    std::vector<std::string> parts;
    if (integer_) {
      const std::string input = x_;
      const Dims in_shape = shape_;
      for (int gi = 0; gi < G; ++gi) {
        WeightMatrix wg = all;
        wg.bipolar = false;
        group_weights(wg, 0, gi);
        set(input, in_shape);
        parts.push_back(accumulate(l, cat(p, "_g", gi), wg, acc_type));
      }
    } else {
      WeightMatrix stacked = all;
      stacked.bipolar = false;
      stacked.dims[0] = G * l.out;
      stacked.values.assign(static_cast<size_t>(G) * all.values.size(), 0.0f);
      for (int gi = 0; gi < G; ++gi) group_weights(stacked, gi * l.out, gi);
      LayerDesc lg = l;
      lg.out = G * l.out;
      std::string acc = accumulate(lg, p + "_groups", stacked, acc_type);
      for (int gi = 0; gi < G; ++gi) {
        const std::string pg = cat(p, "_g", gi);
        std::vector<std::string> ins = {acc, g_.int64_constant(pg + "_start", {gi * l.out}),
                                        g_.int64_constant(pg + "_end", {(gi + 1) * l.out}),
                                        g_.int64_constant(pg + "_axis", {1})};
        parts.push_back(g_.node("Slice", ins, pg + "_acc", acc_dims(l)));
        if (qonnx_) g_.annotate(parts.back(), acc_type);
      }
    }
    set(parts[0], acc_dims(l));
    std::string y;
    for (int gi = 0; gi < G; ++gi) {
      const std::string pg = cat(p, "_g", gi);
      std::string scaled = g_.node("Mul", {parts[static_cast<size_t>(gi)],
                                           g_.scalar(pg + "_scale", l.group_scale[static_cast<size_t>(gi)])},
                                   pg + "_scaled", shape_);
      if (qonnx_) g_.annotate(scaled, "FLOAT32");
      y = gi == 0 ? scaled : g_.node("Add", {y, scaled}, pg + "_sum", shape_);
      if (qonnx_ && gi) g_.annotate(y, "FLOAT32");
    }
    set(y, acc_dims(l));
    finish_layer(l, p, max_acc, "FLOAT32");
  }

  // The accumulator map of a layer (before max pooling).
  Dims acc_dims(const LayerDesc& l) const {
    return l.kind == LayerKind::kConv ? Dims{batch_, l.out, l.conv_h(), l.conv_w()} : Dims{batch_, l.out};
  }

  // The integer accumulators of the current tensor under weights `wm` (float32 holding
  // integers; the integer dialect computes them in int32 and casts).
  std::string accumulate(const LayerDesc& l, const std::string& p, const WeightMatrix& wm, const std::string& acc_type) {
    const bool conv = l.kind == LayerKind::kConv;
    const Dims out = acc_dims(l);
    if (integer_) return integer_accumulate(l, p, wm);
    std::string w = emit_weights(p, wm);
    if (!conv) {
      std::string acc = g_.node("MatMul", {x_, w}, p + "_acc", out);
      if (qonnx_) g_.annotate(acc, acc_type);
      return acc;
    }
    std::vector<Attr> attrs = {Attr::integers("kernel_shape", {l.kernel_h, l.kernel_w}),
                               Attr::integers("strides", {l.stride, l.stride})};
    std::string x = x_;
    if ((l.pad_h || l.pad_w) && l.pad_value != 0) {
      // ONNX Conv pads with 0; other pad values (+-1 maps) are an explicit Pad.
      Dims padded = {batch_, l.in_c, l.in_h + 2 * l.pad_h, l.in_w + 2 * l.pad_w};
      std::string pads = g_.int64_constant(p + "_pads", {0, 0, l.pad_h, l.pad_w, 0, 0, l.pad_h, l.pad_w});
      std::string v = g_.scalar(p + "_pad_value", static_cast<float>(l.pad_value));
      x = g_.node("Pad", {x, pads, v}, p + "_padded", padded, {Attr::text("mode", "constant")});
      if (qonnx_) g_.annotate(x, value_type(l.input));
    } else if (l.pad_h || l.pad_w) {
      attrs.push_back(Attr::integers("pads", {l.pad_h, l.pad_w, l.pad_h, l.pad_w}));
    }
    std::string acc = g_.node("Conv", {x, w}, p + "_acc", out, attrs);
    if (qonnx_) g_.annotate(acc, acc_type);
    return acc;
  }

  // Max pooling, then the thresholds (and sum pooling) or the scores, on the accumulator.
  void finish_layer(const LayerDesc& l, const std::string& p, int64_t max_acc, const std::string& acc_type) {
    if (l.pool.kernel) {
      LOWBIT_CHECK(four_d(), what_, ": layer ", l.name, " pools a dense output");
      Dims out = {batch_, l.out, l.pooled_h(), l.pooled_w()};
      set(g_.node("MaxPool", {x_}, p + "_pool", out,
                  {Attr::integers("kernel_shape", {l.pool.kernel, l.pool.kernel}),
                   Attr::integers("strides", {l.pool.stride, l.pool.stride})}),
          out);
      if (qonnx_) g_.annotate(x_, acc_type);
    }
    if (l.scores) return emit_scores(l, p);

    if (l.grouped()) {
      threshold(p, l.float_thresholds, l.levels, l.output, max_acc, /*exact_int=*/false);
    } else if (l.has_shortcut()) {
      emit_shortcut_thresholds(l, p, max_acc);
    } else {
      std::vector<float> t(l.thresholds.size());
      for (size_t k = 0; k < t.size(); ++k) t[k] = clamp_threshold(l.thresholds[k], max_acc);
      threshold(p, t, l.levels, l.output, max_acc);
    }
    if (l.sum_pool.kernel) {
      // Sum pooling: a depthwise convolution with all-ones weights, the exact integer sum.
      const int64_t k = l.sum_pool.kernel;
      std::string ones = g_.constant(p + "_sum_ones", {l.out, 1, k, k},
                                     std::vector<float>(static_cast<size_t>(l.out * k * k), 1.0f));
      Dims out = {batch_, l.out, l.out_h(), l.out_w()};
      set(g_.node("Conv", {x_, ones}, p + "_sum", out,
                  {Attr::integers("kernel_shape", {k, k}), Attr::integers("strides", {l.sum_pool.stride, l.sum_pool.stride}),
                   Attr::integer("group", l.out)}),
          out);
      if (qonnx_) g_.annotate(x_, value_type(l.out_codes()));
    }
  }

  // A residual block's thresholds (model_desc.hpp, LayerDesc::shortcut_from): one threshold
  // set per level s of the shortcut map; the level is the count under the set that map's
  // level selects: sum over s of [shortcut level == s] * count_s. Standard operators in
  // every dialect (FINN has no node that selects thresholds by a second input).
  void emit_shortcut_thresholds(const LayerDesc& l, const std::string& p, int64_t max_acc) {
    const auto& [src, src_shape] = layer_inputs_[static_cast<size_t>(l.shortcut_from)];
    LOWBIT_CHECK(src_shape == shape_, what_, ": layer ", l.name, "'s shortcut map does not have its threshold map's shape");
    // The shortcut's levels from its values: (v + 1) / 2 for +-1 codes, v + Z otherwise.
    std::string s_level = src;
    if (l.shortcut.pm1) {
      s_level = g_.node("Add", {s_level, g_.scalar(p + "_sc_one", 1.0f)}, p + "_sc_plus", shape_);
      s_level = g_.node("Mul", {s_level, g_.scalar(p + "_sc_half", 0.5f)}, p + "_sc_level", shape_);
    } else if (l.shortcut.zero_point) {
      s_level = g_.node("Add", {s_level, g_.scalar(p + "_sc_zp", static_cast<float>(l.shortcut.zero_point))},
                        p + "_sc_level", shape_);
    }
    const std::string acc = x_;
    std::vector<std::string> terms;
    for (int s = 0; s < l.threshold_sets(); ++s) {
      const std::string ps = cat(p, "_set", s);
      std::vector<float> t;
      for (int64_t o = 0; o < l.out; ++o)
        for (int k = 0; k < l.levels; ++k) t.push_back(clamp_threshold(l.threshold_set(o, s)[k], max_acc));
      set(acc, shape_);
      std::string count = count_levels(ps, t, l.levels);
      std::string eq = g_.node("Equal", {s_level, g_.scalar(ps + "_s", static_cast<float>(s))}, ps + "_is", shape_, {}, "",
                               onnx::TensorProto::BOOL);
      std::string mask = g_.node("Cast", {eq}, ps + "_mask", shape_, {Attr::integer("to", onnx::TensorProto::FLOAT)});
      terms.push_back(g_.node("Mul", {mask, count}, ps + "_term", shape_));
    }
    set(g_.node("Sum", terms, p + "_level", shape_), shape_);
    to_values(p, l.output, p + "_act");
    if (qonnx_) {
      for (const std::string& t : terms) g_.annotate(t, int_type(0, l.levels));
      g_.annotate(x_, value_type(l.output));
    }
  }

  // A weighted layer with ONNX's integer operators: the values x as uint8 codes x + zx
  // (zx = -the smallest value), the weights as uint8 w + zw, and ConvInteger / MatMulInteger
  // computing sum (x - zx)(w - zw) in int32, exactly (ONNX Runtime's u8u8 integer GEMMs).
  // Padding is an explicit Pad of the code of the pad value. The codes of one layer's
  // input are made once (SYQ's groups share them).
  std::string integer_accumulate(const LayerDesc& l, const std::string& p, const WeightMatrix& wm) {
    const int32_t zx = -l.input.value(0);
    const bool conv = l.kind == LayerKind::kConv;
    const std::string lp = p.substr(0, p.find('_'));  // the layer's prefix, "l3"
    if (codes_of_ != x_) {
      LOWBIT_CHECK(l.input.value(l.input.levels()) + zx <= 255 && l.pad_value + zx >= 0 && l.pad_value + zx <= 255, what_,
                   ": layer ", l.name, "'s input values (", l.input.str(), ") do not fit 8-bit codes");
      std::string xq = x_;
      if (zx) xq = g_.node("Add", {xq, g_.scalar(lp + "_xshift", static_cast<float>(zx))}, lp + "_xcode_f", shape_);
      xq = g_.node("Cast", {xq}, lp + "_xcode", shape_, {Attr::integer("to", onnx::TensorProto::UINT8)}, "",
                   onnx::TensorProto::UINT8);
      if (conv && (l.pad_h || l.pad_w)) {
        Dims padded = {batch_, l.in_c, l.in_h + 2 * l.pad_h, l.in_w + 2 * l.pad_w};
        std::string pads = g_.int64_constant(lp + "_pads", {0, 0, l.pad_h, l.pad_w, 0, 0, l.pad_h, l.pad_w});
        std::string v = g_.uint8_constant(lp + "_pad_code", {}, {static_cast<uint8_t>(l.pad_value + zx)});
        xq = g_.node("Pad", {xq, pads, v}, lp + "_padded", padded, {Attr::text("mode", "constant")}, "",
                     onnx::TensorProto::UINT8);
      }
      codes_of_ = x_;
      codes_ = xq;
    }
    const int32_t zw = -std::min(wm.lo, 0);
    LOWBIT_CHECK(wm.hi + zw <= 255, what_, ": layer ", l.name, "'s weights (", wm.lo, "..", wm.hi,
                 ") do not fit 8-bit codes");
    std::vector<uint8_t> wq(wm.values.size());
    for (size_t k = 0; k < wq.size(); ++k) wq[k] = static_cast<uint8_t>(static_cast<int32_t>(wm.values[k]) + zw);
    std::string w = g_.uint8_constant(p + "_wcode", wm.dims, wq);
    std::string xz = g_.uint8_constant(p + "_xzero", {}, {static_cast<uint8_t>(zx)});
    std::string wz = g_.uint8_constant(p + "_wzero", {}, {static_cast<uint8_t>(zw)});
    const Dims out = acc_dims(l);
    std::vector<Attr> attrs;
    if (conv)
      attrs = {Attr::integers("kernel_shape", {l.kernel_h, l.kernel_w}), Attr::integers("strides", {l.stride, l.stride})};
    std::string acc = g_.node(conv ? "ConvInteger" : "MatMulInteger", {codes_, w, xz, wz}, p + "_acc_i32", out, attrs, "",
                              onnx::TensorProto::INT32);
    return g_.node("Cast", {acc}, p + "_acc", out, {Attr::integer("to", onnx::TensorProto::FLOAT)});
  }

  // The weight constant, behind its quantizer in QONNX.
  std::string emit_weights(const std::string& p, const WeightMatrix& m) {
    const Dims& dims = m.dims;
    std::string init = g_.constant(p + "_weights", dims, m.values);
    if (!qonnx_) return init;
    if (m.bipolar) {
      std::string q = g_.node("BipolarQuant", {init, g_.scalar(p + "_wscale", 1.0f)}, p + "_wq", dims, {}, kQonnxDomain);
      g_.annotate(q, "BIPOLAR");
      return q;
    }
    // Signed integer codes: Quant with scale 1 and zero point 0 is the identity on them
    // (narrow when they avoid -2^(b-1), as a symmetric quantizer's codes do).
    const int32_t lo = m.lo, hi = m.hi;
    int bits = 2;
    while (lo < -(int64_t{1} << (bits - 1)) || hi > (int64_t{1} << (bits - 1)) - 1) ++bits;
    const bool narrow = lo > -(int64_t{1} << (bits - 1));
    std::vector<std::string> ins = {init, g_.scalar(p + "_wscale", 1.0f), g_.scalar(p + "_wzeropt", 0.0f),
                                    g_.scalar(p + "_wbitwidth", static_cast<float>(bits))};
    std::string q = g_.node("Quant", ins, p + "_wq", dims,
                            {Attr::integer("signed", 1), Attr::integer("narrow", narrow ? 1 : 0),
                             Attr::text("rounding_mode", "ROUND")},
                            kQonnxDomain);
    g_.annotate(q, narrow && bits == 2 ? "TERNARY" : cat("INT", bits));
    return q;
  }

  // The score map of semantics.hpp score(), one node per float operation, in its order.
  void emit_scores(const LayerDesc& l, const std::string& p) {
    if (four_d()) {
      LOWBIT_CHECK(shape_[2] == 1 && shape_[3] == 1, what_, ": the scoring layer ", l.name,
                   " has a ", shape_[2], "x", shape_[3], " map, not one score per class");
      set(g_.node("Flatten", {x_}, p + "_flat_acc", {batch_, l.out}, {Attr::integer("axis", 1)}), {batch_, l.out});
    }
    const format::ScoresDesc& s = l.score;
    struct Step {
      const char* op;
      const char* what;
      const std::vector<float>* c;
    };
    std::vector<Step> steps = {{"Mul", "scale", &s.scale}};
    if (!s.bias.empty()) steps.push_back({"Add", "bias", &s.bias});
    if (!s.bn_mean.empty()) {
      steps.push_back({"Sub", "bn_mean", &s.bn_mean});
      steps.push_back({"Mul", "bn_scale", &s.bn_scale});
      steps.push_back({"Add", "bn_shift", &s.bn_shift});
    }
    for (size_t k = 0; k < steps.size(); ++k) {
      const std::string out = k + 1 == steps.size() ? "global_out" : cat(p, "_", steps[k].what);
      std::string c = g_.constant(cat(p, "_", steps[k].what, "_c"), {l.out}, *steps[k].c);
      set(g_.node(steps[k].op, {x_, c}, out, shape_), shape_);
      if (qonnx_) g_.annotate(x_, "FLOAT32");
    }
  }

  const ModelDesc& d_;
  bool qonnx_;
  bool integer_;  // standard ONNX with ConvInteger / MatMulInteger on uint8 codes
  GraphBuilder g_;
  int64_t batch_;
  std::string what_;  // "export --format qonnx", for messages
  std::string x_;  // the current tensor
  Dims shape_;
  std::vector<std::pair<std::string, Dims>> layer_inputs_;  // each layer's input map (shortcuts read them)
  std::string codes_of_, codes_;  // integer dialect: the uint8 codes made of tensor codes_of_
};

}  // namespace

std::string onnx_model_bytes(const ModelDesc& desc, OnnxDialect dialect) {
  format::validate(desc);
  onnx::ModelProto m;
  m.set_ir_version(8);  // ONNX 1.12's IR version; ONNX Runtime 1.14+ and FINN's onnx read it
  m.set_producer_name("lowbit");
  m.set_model_version(1);
  m.set_doc_string(cat("lowbit export --format ", dialect_name(dialect), " of model '", desc.name,
                       "': input raw 8-bit pixels as float32, output class scores (docs/INTEROP.md)"));
  onnx::OperatorSetIdProto* std_opset = m.add_opset_import();
  std_opset->set_domain("");
  std_opset->set_version(13);
  if (dialect == OnnxDialect::kQonnx) {
    onnx::OperatorSetIdProto* q = m.add_opset_import();
    q->set_domain(kQonnxDomain);
    q->set_version(1);
  }
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name(desc.name.empty() ? "lowbit" : desc.name);
  Lowering(desc, dialect, g).run();
  std::string bytes;
  LOWBIT_CHECK(m.SerializeToString(&bytes), "export --format ", dialect_name(dialect), ": protobuf serialization failed");
  check_onnx(bytes, dialect, cat("export --format ", dialect_name(dialect)));
  return bytes;
}

void write_onnx(const ModelDesc& desc, OnnxDialect dialect, const std::string& path) {
  const std::string bytes = onnx_model_bytes(desc, dialect);
  write_file_atomic(path, bytes);
}

}  // namespace lowbit::interop
