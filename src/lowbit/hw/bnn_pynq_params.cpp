#include "lowbit/hw/bnn_pynq_params.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "lowbit/core/error.hpp"

namespace lowbit::hw::bnn_pynq {

namespace {

using format::CodeFormat;
using format::LayerDesc;
using format::LayerKind;
using format::ModelDesc;

// The overlay accumulator v = (mul * acc + add) / den of lowbit's accumulator acc, over
// |acc| <= bound (module comment).
struct AccMap {
  int64_t mul = 1, add = 0, den = 1, bound = 0;
  int64_t floor_v(int64_t acc) const { return floor_div(mul * acc + add, den); }
  int64_t ceil_v(int64_t acc) const { return -floor_div(-(mul * acc + add), den); }
  // T with (T < v) == (acc >= t) for every |acc| <= bound.
  int64_t threshold(int64_t t) const {
    if (t <= -bound) return ceil_v(-bound) - 1;  // every accumulator fires it
    if (t > bound) return floor_v(bound);        // none does
    return ceil_v(t) - 1;
  }
};

std::string layer_name(size_t i, const LayerDesc& l) { return cat("layer ", i, " (", l.name, ")"); }

bool is_code(const CodeFormat& c, InputCode kind) {
  switch (kind) {
    case InputCode::kBit: return c.pm1 && c.count == 1;
    case InputCode::kInt2: return !c.pm1 && c.bits == 2 && c.zero_point == 1 && c.count == 1;
    case InputCode::kFixed8: return !c.pm1 && c.bits == 8 && c.zero_point == 128 && c.count == 1;
  }
  return false;
}

const char* code_name(InputCode kind) {
  switch (kind) {
    case InputCode::kBit: return "+-1 codes (one bit)";
    case InputCode::kInt2: return "-1/0/+1 codes (ap_int<2>)";
    case InputCode::kFixed8: return "8-bit fixed-point pixels (ap_fixed<8,1>)";
  }
  return "?";
}

// What to train instead, per code kind, for messages.
const char* code_recipe(InputCode kind) {
  switch (kind) {
    case InputCode::kBit: return "--acts binary";
    case InputCode::kInt2: return "--acts ternary:0.5 (or another quantizer with codes -1, 0, +1)";
    case InputCode::kFixed8: return "--input-quantizer fixed:8,7:signed --normalize minus_one_one";
  }
  return "?";
}

class Converter {
 public:
  Converter(const ModelDesc& d, const Overlay& o) : d_(d), o_(o) {}

  OverlayParams run() {
    p_.overlay = &o_;
    if (d_.layers.size() != o_.layers.size()) {
      problem(o_.name, " has ", o_.layers.size(), " weighted layers (", shape_list(), "); this model has ",
              d_.layers.size());
      finish();
    }
    check_input();
    for (size_t i = 0; i < d_.layers.size(); ++i) check_layer(i);
    finish();  // shapes first: the conversion below indexes by them
    for (size_t i = 0; i < d_.layers.size(); ++i) convert_layer(i);
    finish();
    return std::move(p_);
  }

 private:
  template <class... A>
  void problem(A&&... a) {
    problems_.push_back(cat(std::forward<A>(a)...));
  }

  void finish() {
    if (problems_.empty()) return;
    std::string msg = cat("the model does not fit the BNN-PYNQ overlay ", o_.name, ":");
    for (const std::string& p : problems_) msg += "\n  " + p;
    fail(msg);
  }

  std::string shape_list() const {
    std::string s;
    for (const OverlayLayer& l : o_.layers) {
      if (!s.empty()) s += ", ";
      s += l.conv ? cat("conv ", l.ofm_ch) : cat("dense ", l.mh);
    }
    return s;
  }

  void check_input() {
    const format::InputDesc& in = d_.input;
    if (o_.input == OverlayInput::kMnistBits) {
      const bool shape_ok = (in.shape.size() == 3 && in.shape[0] == 1 && in.shape[1] == 28 && in.shape[2] == 28) ||
                            (in.shape.size() == 1 && in.shape[0] == 784);
      if (!shape_ok) problem("input: ", o_.name, " reads 28x28 grey images (784 pixels); this model reads ", shape(in.shape));
      if (!in.codes.pm1) {
        problem("input: ", o_.name, " binarizes the pixels (bit set when pixel >= 128); this model's input codes are ",
                in.codes.str(), "; train with --input-bits 1 (--normalize minus_one_one)");
        return;
      }
      for (int c = 0; c < 256; ++c)
        if ((in.table[static_cast<size_t>(c)] == 1) != mnist_bit(c)) {
          problem("input: pixel ", c, " gives ", in.table[static_cast<size_t>(c)] ? "+1" : "-1", " but ", o_.name,
                  " sets the bit for pixels >= 128 only; train with --input-bits 1 --normalize minus_one_one");
          return;
        }
    } else {
      const bool shape_ok = in.shape.size() == 3 && (in.shape[0] == 1 || in.shape[0] == 3) && in.shape[1] == 32 &&
                            in.shape[2] == 32;
      if (!shape_ok)
        problem("input: ", o_.name, " reads 3x32x32 images (a one-channel 1x32x32 model is replicated to R, G, B); "
                "this model reads ", shape(in.shape));
      else
        p_.replicate = in.shape[0] == 1 ? 3 : 1;
      if (!is_code(in.codes, InputCode::kFixed8)) {
        problem("input: ", o_.name, " feeds the first layer 8-bit fixed-point codes clamp(round(256c/255 - 128)); "
                "this model's input codes are ", in.codes.str(), "; train with ", code_recipe(InputCode::kFixed8));
        return;
      }
      for (int c = 0; c < 256; ++c) {
        const int32_t v = in.codes.value(in.table[static_cast<size_t>(c)]);
        if (v != cifar_fixed_code(c)) {
          problem("input: pixel ", c, " gives code ", v, " but ", o_.name, " computes ", cifar_fixed_code(c),
                  "; train with ", code_recipe(InputCode::kFixed8));
          return;
        }
      }
    }
  }

  static std::string shape(const std::vector<int64_t>& s) {
    std::string r;
    for (int64_t v : s) {
      if (!r.empty()) r += 'x';
      r += std::to_string(v);
    }
    return r;
  }

  void check_layer(size_t i) {
    const LayerDesc& l = d_.layers[i];
    const OverlayLayer& ol = o_.layers[i];
    const std::string at = layer_name(i, l);
    const bool last = i + 1 == d_.layers.size();
    if (l.has_shortcut()) problem(at, ": residual shortcuts do not exist in ", o_.name);
    if (l.grouped()) problem(at, ": SYQ row/pixel scales do not exist in ", o_.name, " (use one scale per layer)");
    if (l.sum_pool.kernel) problem(at, ": average pooling does not exist in ", o_.name);
    if (ol.conv) {
      if (l.kind != LayerKind::kConv) return problem(at, ": ", o_.name, " has a 3x3 convolution here, this model a dense layer");
      if (l.kernel_h != 3 || l.kernel_w != 3 || l.stride != 1 || l.pad_h || l.pad_w)
        problem(at, ": ", o_.name, " convolves 3x3, stride 1, without padding; this layer is ", l.kernel_h, "x",
                l.kernel_w, ", stride ", l.stride, ", padding ", l.pad_h, "x", l.pad_w);
      const bool grey = i == 0 && l.in_c == 1 && p_.replicate == 3;
      if (l.in_h != ol.ifm_dim || l.in_w != ol.ifm_dim || (l.in_c != ol.ifm_ch && !grey))
        problem(at, ": ", o_.name, " reads a ", ol.ifm_dim, "x", ol.ifm_dim, "x", ol.ifm_ch, " map here, this layer ",
                l.in_h, "x", l.in_w, "x", l.in_c);
      if (l.out != ol.ofm_ch) problem(at, ": ", o_.name, " has ", ol.ofm_ch, " output channels here, this layer ", l.out);
    } else {
      if (l.kind != LayerKind::kDense) return problem(at, ": ", o_.name, " has a dense layer here, this model a convolution");
      const bool padded_input = i == 0;  // only the first layer pads its columns (to the AXI width)
      if (padded_input ? l.in_fan() > ol.mw : l.in_fan() != ol.mw)
        problem(at, ": ", o_.name, " takes ", ol.mw, " inputs here, this layer ", l.in_fan());
      if (last ? (l.out > ol.mh || l.out < 1) : l.out != ol.mh)
        problem(at, ": ", o_.name, last ? " scores up to " : " has ", ol.mh, last ? " classes, this model " : " outputs here, this layer ",
                l.out);
    }
    const bool pooled = l.pool.kernel != 0;
    if (ol.pool_after && !(l.pool.kernel == 2 && l.pool.stride == 2))
      problem(at, ": ", o_.name, " max-pools 2x2 after this layer; this model ",
              pooled ? cat("pools ", l.pool.kernel, "x", l.pool.kernel, " stride ", l.pool.stride) : std::string("does not"));
    if (!ol.pool_after && pooled) problem(at, ": ", o_.name, " has no max pooling after this layer");
    // The first layer's inputs are the input table's codes: check_input says what to train.
    if (i > 0 && !is_code(l.input, ol.input))
      problem(at, ": ", o_.name, " feeds this layer ", code_name(ol.input), "; its inputs are ", l.input.str(),
              " (train with ", code_recipe(ol.input), ")");
    if (last) {
      if (!l.scores) problem(at, ": the last layer must score the classes (a dense layer with BatchNorm, no activation)");
      else if (ol.thresholds == 0) check_shared_score_map(at, l);
    } else if (l.scores) {
      problem(at, ": only the last layer may score");
    } else if (ol.thresholds == 1) {
      if (!(l.output.pm1 && l.output.count == 1))
        problem(at, ": ", o_.name, " outputs one bit per unit here (A1); this layer's codes are ", l.output.str(),
                " (train with --acts binary)");
    } else if (ol.thresholds == 2) {
      bool ok = is_code(l.output, InputCode::kInt2) && l.levels == 3;
      for (int64_t o = 0; ok && o < l.out; ++o) ok = l.thresholds[static_cast<size_t>(o * 3 + 2)] == INT32_MAX;
      if (!ok)
        problem(at, ": ", o_.name, " outputs -1/0/+1 here (A2: two thresholds); this layer's codes are ", l.output.str(),
                " (train with ", code_recipe(InputCode::kInt2), ")");
    }
    const int wmin = ol.weight_bits == 1 ? -1 : -2, wmax = 1;
    for (int64_t k = 0; k < static_cast<int64_t>(l.weights.size()); ++k) {
      const int32_t w = l.weights[static_cast<size_t>(k)];
      if (w < wmin || w > wmax || (ol.weight_bits == 1 && w == 0)) {
        problem(at, ": weight ", w, " (output ", k / l.in_fan(), ") does not fit ", o_.name, "'s ",
                ol.weight_bits == 1 ? "binary weights (-1, +1)" : "2-bit weights (-2..1)",
                ol.weight_bits == 1 ? " (train with --weights binary)" : " (train with --weights ternary)");
        break;
      }
    }
  }

  // An overlay that outputs raw accumulators ranks them as they are: every class must share
  // one score map (scale, bias, BatchNorm), which must depend on the accumulator.
  void check_shared_score_map(const std::string& at, const LayerDesc& l) {
    const format::ScoresDesc& s = l.score;
    for (int64_t c = 1; c < l.out; ++c) {
      const auto same = [&](const std::vector<float>& v) { return v.empty() || v[static_cast<size_t>(c)] == v[0]; };
      if (!same(s.scale) || !same(s.bias) || !same(s.bn_mean) || !same(s.bn_scale) || !same(s.bn_shift)) {
        problem(at, ": class ", c, "'s score map (scale, bias, BatchNorm) differs from class 0's, but ", o_.name,
                " outputs raw accumulators, so every class must share one map (train with --last-bn tensor and "
                "weights without per-channel scales)");
        return;
      }
    }
    if (s.scale[0] == 0.f || (!s.bn_scale.empty() && s.bn_scale[0] == 0.f))
      problem(at, ": the scores do not depend on the accumulators (scale 0)");
  }

  // The largest |acc| of layer l: fan-in x largest |weight| x largest |input value|.
  static int64_t acc_bound(const LayerDesc& l) {
    return l.in_fan() * std::max<int64_t>(1, l.max_abs_weight()) * l.input.max_abs_value();
  }

  // Checks that every accumulator (and threshold) fits the overlay's types.
  void check_range(const std::string& at, const OverlayLayer& ol, const AccMap& m) {
    const int bits = ol.thresholds == 0 ? 16 : ol.threshold_bits();
    const int64_t lo = -(int64_t{1} << (bits - 1)), hi = (int64_t{1} << (bits - 1)) - 1;
    if (m.floor_v(-m.bound) - 1 < lo || m.floor_v(m.bound) > hi)
      problem(at, ": accumulators reach ", m.floor_v(-m.bound), "..", m.floor_v(m.bound), ", beyond the overlay's ", bits,
              "-bit accumulator");
  }

  void convert_layer(size_t i) {
    const LayerDesc& l = d_.layers[i];
    const OverlayLayer& ol = o_.layers[i];
    const std::string at = layer_name(i, l);
    const bool last = i + 1 == d_.layers.size();
    LayerParams lp;
    lp.rows = ol.mh, lp.cols = ol.mw;
    lp.thresholds = ol.thresholds;
    const int64_t real_rows = l.out;
    const int64_t R = (i == 0 && ol.conv && l.in_c == 1 && ol.ifm_ch == 3) ? 3 : 1;
    const int64_t real_cols = l.in_fan() * R;

    // The row orientation: the IR's sign-corrected weights, except on the last layer, whose
    // rows the overlay holds so that its output increases with the score.
    std::vector<int8_t> sign(static_cast<size_t>(real_rows), 1);
    if (last) sign = last_layer_signs(at, l, ol);

    // Weights, padded: W1 padding is bit 1 (+1), W2 padding 0 (as BNN-PYNQ's finnthesizer).
    const int8_t w_pad = ol.weight_bits == 1 ? 1 : 0;
    lp.weights.assign(static_cast<size_t>(lp.rows * lp.cols), w_pad);
    for (int64_t r = 0; r < real_rows; ++r)
      for (int64_t k = 0; k < l.in_fan(); ++k) {
        const int64_t w = sign[static_cast<size_t>(r)] * l.weight(r, k);
        if (w < (ol.weight_bits == 1 ? -1 : -2) || w > 1) {
          problem(at, ": class ", r, "'s score decreases with its accumulator, so the overlay needs its weights negated, "
                  "and weight ", -w, " has no 2-bit negation (train with --weights ternary)");
          return;
        }
        for (int64_t rep = 0; rep < R; ++rep)  // grey replication: the tap's weight on R, G and B
          lp.weights[static_cast<size_t>(r * lp.cols + k * R + rep)] = static_cast<int8_t>(w);
      }

    // The accumulator map (module comment).
    AccMap m;
    m.bound = acc_bound(l);
    const int64_t pad = lp.cols - real_cols;
    switch (ol.acc) {
      case Accumulate::kXnorPopcount: m.mul = 1, m.add = real_cols, m.den = 2; break;
      case Accumulate::kSignedDot: {
        const int64_t x_pad = ol.input == InputCode::kBit ? -1 : 0;  // the host pads with 0 bits
        m.add = pad * x_pad * w_pad;
        break;
      }
      case Accumulate::kFixedInput: m.mul = 2 * R; break;
    }
    check_range(at, ol, m);

    if (ol.thresholds > 0) {
      const int64_t never_pad = (int64_t{1} << (ol.threshold_bits() - 1)) - 1;  // padded rows never fire
      lp.threshold.assign(static_cast<size_t>(lp.rows * lp.thresholds), never_pad);
      for (int64_t r = 0; r < real_rows; ++r)
        for (int j = 0; j < lp.thresholds; ++j) {
          int64_t t;
          if (last) {
            t = p_.output.class_threshold[static_cast<size_t>(r)];
            t = t == std::numeric_limits<int64_t>::min() ? -m.bound : (t == std::numeric_limits<int64_t>::max() ? m.bound + 1 : t);
          } else {
            t = l.thresholds[static_cast<size_t>(r * l.levels + j)];
          }
          lp.threshold[static_cast<size_t>(r * lp.thresholds + j)] = m.threshold(t);
        }
    }
    if (last && ol.thresholds == 0) p_.output.mul = m.mul, p_.output.add = m.add, p_.output.den = m.den;
    p_.layers.push_back(std::move(lp));
  }

  // The last layer's score map per class: +1 where it increases with the accumulator, -1
  // where it decreases. LFC: each class gets its threshold (score >= 0) in acc' = sign * acc;
  // CNV: every class must share one map, whose sign is then global.
  std::vector<int8_t> last_layer_signs(const std::string& at, const LayerDesc& l, const OverlayLayer& ol) {
    const format::ScoresDesc& s = l.score;
    const bool bias = !s.bias.empty(), bn = !s.bn_mean.empty();
    const auto score = [&](int64_t acc, int64_t c) {
      return format::score(acc, c, s.scale.data(), bias ? s.bias.data() : nullptr, bn ? s.bn_mean.data() : nullptr,
                           bn ? s.bn_scale.data() : nullptr, bn ? s.bn_shift.data() : nullptr);
    };
    // The sign of the map's slope: the product of the factors' signs (their float product
    // could underflow to 0).
    const auto sgn = [](float v) { return v > 0.f ? 1 : (v < 0.f ? -1 : 0); };
    const auto direction = [&](int64_t c) {
      return sgn(s.scale[static_cast<size_t>(c)]) * (bn ? sgn(s.bn_scale[static_cast<size_t>(c)]) : 1);
    };
    const int64_t n = l.out, A = acc_bound(l);
    std::vector<int8_t> sign(static_cast<size_t>(n), 1);
    p_.classes = n;
    p_.output.row_sign.assign(static_cast<size_t>(n), 1);
    if (ol.thresholds == 0) {  // raw accumulators: one shared map (check_shared_score_map)
      const int d = direction(0);
      std::fill(sign.begin(), sign.end(), static_cast<int8_t>(d < 0 ? -1 : 1));
      p_.output.row_sign = sign;
      return sign;
    }
    // Per-class threshold outputs: bit c = score_c >= 0 (sign(0) = +1, as lowbit's binary
    // quantizer), the smallest acc' in [-A, A] reaching it by bisection (score_c(sign * acc')
    // is non-decreasing in acc': each float operation rounds monotonically).
    p_.output.class_threshold.assign(static_cast<size_t>(n), 0);
    for (int64_t c = 0; c < n; ++c) {
      const int d = direction(c);
      const int8_t sg = d < 0 ? -1 : 1;
      sign[static_cast<size_t>(c)] = sg;
      const auto fires = [&](int64_t a) { return score(sg * a, c) >= 0.f; };
      int64_t t;
      if (fires(-A)) {
        t = std::numeric_limits<int64_t>::min();
      } else if (!fires(A)) {
        t = std::numeric_limits<int64_t>::max();
      } else {
        int64_t lo = -A, hi = A;  // fires(lo) false, fires(hi) true
        while (hi - lo > 1) {
          const int64_t mid = lo + (hi - lo) / 2;
          (fires(mid) ? hi : lo) = mid;
        }
        t = hi;
      }
      p_.output.class_threshold[static_cast<size_t>(c)] = t;
    }
    p_.output.row_sign = sign;
    return sign;
  }

  const ModelDesc& d_;
  const Overlay& o_;
  OverlayParams p_;
  std::vector<std::string> problems_;
};

}  // namespace

OverlayParams overlay_params(const ModelDesc& desc, const Overlay& overlay) { return Converter(desc, overlay).run(); }

const Overlay* find_overlay(const ModelDesc& desc, std::string* why) {
  for (const Overlay& o : overlays()) {
    try {
      (void)overlay_params(desc, o);
      return &o;
    } catch (const Error& e) {
      if (why) {
        std::string m = e.what();
        const size_t nl = m.find('\n');
        *why += cat(o.name, ": ", nl == std::string::npos ? m : m.substr(nl + 3, m.find('\n', nl + 1) - nl - 3), "\n");
      }
    }
  }
  return nullptr;
}

}  // namespace lowbit::hw::bnn_pynq
