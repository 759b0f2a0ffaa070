// The importer's float maths (qonnx_fold.hpp).
#include "lowbit/interop/qonnx_fold.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>

#include "lowbit/core/error.hpp"
// Export's threshold search (header-only; the training library is not linked): the same
// search over the integer accumulators as a trained model's export uses.
#include "lowbit/format/limits.hpp"
#include "lowbit/format/threshold_search.hpp"

namespace lowbit::interop::qonnx {

std::vector<float> channel_constant(const ConstTensor& k, const TensorDims& t, const onnx::NodeProto& n,
                                    const std::string& role) {
  const std::vector<int64_t> td = t.dims();
  LOWBIT_CHECK(k.dims.size() <= td.size(), "import: ", node_label(n), ": its ", role, " ", k.shape_str(),
               " has more dimensions than the tensor it applies to (rank ", td.size(), ")");
  LOWBIT_CHECK(k.numel() >= 1, "import: ", node_label(n), ": its ", role, " is empty");
  const size_t off = td.size() - k.dims.size();  // numpy broadcasting aligns the last dimensions
  int64_t channels = 1;
  for (size_t i = 0; i < k.dims.size(); ++i) {
    const int64_t d = k.dims[i], want = td[off + i];
    if (d == 1) continue;
    LOWBIT_CHECK(d == want, "import: ", node_label(n), ": its ", role, " ", k.shape_str(),
                 " does not broadcast against the tensor's shape [1, ", t.c,
                 t.flat ? std::string() : cat(", ", t.h, ", ", t.w), "]");
    if (off + i != 1)
      unsupported(n, "its ", role, " ", k.shape_str(), " varies along axis ", off + i,
                  " of the tensor; lowbit takes one value, or one per channel (axis 1)");
    channels = d;
  }
  std::vector<float> v;
  if (channels == 1) {
    for (double x : k.values)
      LOWBIT_CHECK(x == k.values[0], "import: ", node_label(n), ": its ", role, " has ", k.numel(), " values");
    v = {static_cast<float>(k.values[0])};
  } else {
    for (double x : k.values) v.push_back(static_cast<float>(x));
  }
  for (float x : v)
    LOWBIT_CHECK(std::isfinite(x), "import: ", node_label(n), ": its ", role, " holds ", x, " (not finite)");
  return v;
}

namespace {

float at(const std::vector<float>& v, int64_t ch) { return v.size() == 1 ? v[0] : v[static_cast<size_t>(ch)]; }

}  // namespace

float FloatOp::apply(float x, int64_t ch) const {
  switch (kind) {
    case Kind::kAdd: return x + at(c, ch);
    case Kind::kSub: return x - at(c, ch);
    case Kind::kRSub: return at(c, ch) - x;
    case Kind::kMul: return x * at(c, ch);
    case Kind::kDiv: return x / at(c, ch);
    case Kind::kBatchNorm: {
      const float d = x - at(mean, ch);
      const float r = std::sqrt(at(var, ch) + eps);
      const float q = d / r;
      const float p = q * at(gamma, ch);
      return p + at(beta, ch);
    }
  }
  return x;
}

void FloatOp::affine(int64_t ch, double& a, double& b) const {
  switch (kind) {
    case Kind::kAdd: b += at(c, ch); return;
    case Kind::kSub: b -= at(c, ch); return;
    case Kind::kRSub: a = -a, b = at(c, ch) - b; return;
    case Kind::kMul: a *= at(c, ch), b *= at(c, ch); return;
    case Kind::kDiv: a /= at(c, ch), b /= at(c, ch); return;
    case Kind::kBatchNorm: {
      const double s = static_cast<double>(at(gamma, ch)) / std::sqrt(static_cast<double>(at(var, ch)) + eps);
      b = (b - at(mean, ch)) * s + at(beta, ch);
      a *= s;
      return;
    }
  }
}

bool is_act_quant(const onnx::NodeProto& n) {
  const std::string& t = n.op_type();
  return t == "BipolarQuant" || t == "Quant" || t == "IntQuant" || t == "MultiThreshold";
}

namespace {

template <class... Args>
[[noreturn]] void unsupported_label(const std::string& label, const Args&... why) {
  fail("import: ", label, " is not supported: ", why...);
}

float one_value(const std::vector<float>& v, const onnx::NodeProto& n, const std::string& role) {
  for (float x : v)
    if (x != v[0])
      unsupported(n, "its ", role, " differs between channels (", v[0], ", ", x,
                  "); lowbit's codes between layers have one scale");
  return v[0];
}

float positive_scale(const Graph& g, const onnx::NodeProto& n, const TensorDims& t, int input) {
  const float s = one_value(channel_constant(g.const_input(n, input, "scale"), t, n, "scale"), n, "scale");
  if (!(s > 0.f)) unsupported(n, "its scale is ", s, "; lowbit takes a positive scale");
  return s;
}

// QONNX's rounding modes (IntQuant's table; ROUND is numpy's round half to even).
float round_mode(float v, const std::string& mode) {
  if (mode == "ROUND" || mode == "HALF_EVEN") return std::nearbyint(v);
  if (mode == "CEIL") return std::ceil(v);
  if (mode == "FLOOR") return std::floor(v);
  if (mode == "UP") return v >= 0.f ? std::ceil(v) : std::floor(v);
  if (mode == "DOWN" || mode == "ROUND_TO_ZERO") return std::trunc(v);
  if (mode == "HALF_UP") return std::round(v);
  // HALF_DOWN: halves toward zero.
  const float m = std::ceil(std::fabs(v) - 0.5f);
  return v < 0.f ? -m : m;
}

}  // namespace

ActQuant read_act_quant(const Graph& g, const onnx::NodeProto& n, const TensorDims& t) {
  ActQuant q;
  q.node = node_label(n);
  const std::string& op = n.op_type();
  if (op == "BipolarQuant") {
    check_attrs(n, {});
    q.kind = ActQuant::Kind::kBipolar;
    q.scale = positive_scale(g, n, t, 1);
    q.codes = format::CodeFormat::plus_minus_one();
    q.max_level = 1;
    q.step = q.scale;
    return q;
  }
  if (op == "Quant" || op == "IntQuant") {
    check_attrs(n, {"signed", "narrow", "rounding_mode"});
    q.kind = ActQuant::Kind::kInt;
    q.scale = positive_scale(g, n, t, 1);
    q.zeropt = one_value(channel_constant(g.const_input(n, 2, "zero point"), t, n, "zero point"), n, "zero point");
    const ConstTensor& bw = g.const_input(n, 3, "bit width");
    LOWBIT_CHECK(bw.numel() == 1, "import: ", node_label(n), ": its bit width is ", bw.shape_str(), ", not one number");
    const double b = bw.values[0];
    if (!(b >= 1 && b <= 16 && b == std::floor(b)))
      unsupported(n, "bit width ", b, "; lowbit's codes between layers are 1..8 bits");
    q.bits = static_cast<int>(b);
    const int64_t s = attr_int(n, "signed", 1), nr = attr_int(n, "narrow", 0);
    LOWBIT_CHECK((s == 0 || s == 1) && (nr == 0 || nr == 1), "import: ", node_label(n),
                 ": attributes signed and narrow must be 0 or 1");
    q.is_signed = s, q.narrow = nr;
    q.rounding = attr_string(n, "rounding_mode", "ROUND");
    for (char& ch : q.rounding) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    static const char* kModes[] = {"ROUND", "HALF_EVEN", "CEIL", "FLOOR", "UP", "DOWN", "ROUND_TO_ZERO", "HALF_UP", "HALF_DOWN"};
    if (std::none_of(std::begin(kModes), std::end(kModes), [&](const char* m) { return q.rounding == m; }))
      unsupported(n, "rounding_mode '", q.rounding, "' (QONNX's are ROUND, CEIL, FLOOR, UP, DOWN, HALF_UP, HALF_DOWN)");
    if (q.zeropt != std::nearbyint(q.zeropt))
      unsupported(n, "zero point ", q.zeropt, " is not an integer; lowbit's codes have integer zero points");
    q.step = q.scale;
    if (q.bits == 1 && q.is_signed) {
      // QONNX executes a signed 1-bit Quant as bipolar: +1 for x / scale + zeropt >= 0, else -1.
      if (q.zeropt != 0.f) unsupported(n, "a signed 1-bit Quant with zero point ", q.zeropt);
      q.codes = format::CodeFormat::plus_minus_one();
      q.max_level = 1;
      return q;
    }
    const double half = std::ldexp(1.0, q.bits - 1), full = std::ldexp(1.0, q.bits);
    const double lo = q.is_signed ? (q.narrow ? -half + 1 : -half) : 0;
    const double hi = q.is_signed ? half - 1 : (q.narrow ? full - 2 : full - 1);
    LOWBIT_CHECK(hi > lo, "import: ", node_label(n), ": bit width ", q.bits, " with narrow range leaves one value");
    q.qmin = static_cast<float>(lo), q.qmax = static_cast<float>(hi);
    q.max_level = static_cast<int>(hi - lo);
    if (q.max_level > 255) {  // codes from the levels reached (input_codes), or an error (layers)
      q.wide = true;
      return q;
    }
    q.codes = format::unsigned_codes_for(q.max_level);
    // The IR value of level l (= q - qmin) is l - Z; the graph's is (q - zeropt) * scale.
    const double z = q.zeropt - lo;
    if (!(z >= 0 && z <= (1 << q.codes.bits) - 1))
      unsupported(n, "zero point ", q.zeropt, " lies outside its code range ", lo, "..", hi);
    q.codes.zero_point = static_cast<int>(z);
    return q;
  }
  if (op == "MultiThreshold") {
    check_attrs(n, {"out_dtype", "out_scale", "out_bias", "data_layout"});
    q.kind = ActQuant::Kind::kThresholds;
    const std::string layout = attr_string(n, "data_layout", "NCHW");
    if (!(layout == "NCHW" || layout == "NC" || (t.flat && layout == "NHWC")))
      unsupported(n, "data_layout '", layout, "' on an NCHW tensor");
    const ConstTensor& T = g.const_input(n, 1, "thresholds");
    LOWBIT_CHECK(T.dims.size() == 2, "import: ", node_label(n), ": thresholds ", T.shape_str(),
                 " must be [channels, thresholds] or [1, thresholds]");
    q.rows = T.dims[0], q.cols = T.dims[1];
    LOWBIT_CHECK(q.rows == 1 || q.rows == t.c, "import: ", node_label(n), ": thresholds for ", q.rows,
                 " channels on a tensor of ", t.c);
    if (!(q.cols >= 1 && q.cols <= 255)) unsupported(n, q.cols, " thresholds per channel (lowbit takes 1..255)");
    for (double v : T.values) {
      LOWBIT_CHECK(!std::isnan(v), "import: ", node_label(n), ": a threshold is NaN");
      q.thresholds.push_back(static_cast<float>(v));
    }
    q.per = t.flat ? 1 : t.h * t.w;
    q.out_scale = attr_float(n, "out_scale", 1.f);
    q.out_bias = attr_float(n, "out_bias", 0.f);
    if (!(q.out_scale > 0.f && std::isfinite(q.out_scale) && std::isfinite(q.out_bias)))
      unsupported(n, "out_scale ", q.out_scale, " and out_bias ", q.out_bias, " (lowbit takes out_scale > 0)");
    q.max_level = static_cast<int>(q.cols);
    if (q.cols == 1 && q.out_bias == -q.out_scale * 0.5f) {  // levels 0, 1 -> -s, +s: +-1 codes
      q.codes = format::CodeFormat::plus_minus_one();
      q.step = q.out_scale * 0.5f;
      return q;
    }
    q.codes = format::unsigned_codes_for(q.max_level);
    q.step = q.out_scale;
    const float z = -q.out_bias / q.out_scale;  // value = out_scale * (level - Z)
    if (!(z == std::nearbyint(z) && z >= 0.f && z <= static_cast<float>((1 << q.codes.bits) - 1)))
      unsupported(n, "out_bias ", q.out_bias, " is not -Z * out_scale for a zero point Z in 0..",
                  (1 << q.codes.bits) - 1, " (nor -out_scale / 2 for +-1 codes)");
    q.codes.zero_point = static_cast<int>(z);
    return q;
  }
  unsupported(n, "not an activation quantizer");
}

int ActQuant::level(float y, int64_t ch) const {
  switch (kind) {
    case Kind::kBipolar: return y >= 0.f ? 1 : 0;  // numpy.where(x >= 0, 1, -1): NaN gives -1
    case Kind::kThresholds: {
      const float* t = thresholds.data() + (rows == 1 ? 0 : ch) * cols;
      int l = 0;
      for (int64_t i = 0; i < cols; ++i) l += y >= t[i];
      return l;
    }
    case Kind::kInt: {
      float v = y / scale;
      v = v + zeropt;
      if (bits == 1 && is_signed) return v >= 0.f ? 1 : 0;
      LOWBIT_CHECK(!std::isnan(v), "import: ", node, ": the value it quantizes is NaN");
      if (v > qmax) v = qmax;
      if (v < qmin) v = qmin;
      v = round_mode(v, rounding);
      return static_cast<int>(v - qmin);
    }
  }
  return 0;
}

float AccMap::value(int64_t acc, int64_t o, size_t end) const {
  float y = static_cast<float>(acc) * acc_scale[static_cast<size_t>(o)];
  for (size_t i = 0; i < end && i < ops.size(); ++i) y = ops[i].apply(y, o);
  return y;
}

namespace {

int direction(float lo, float hi) { return hi > lo ? 1 : hi < lo ? -1 : 0; }

}  // namespace

void fold_thresholds(const AccMap& m, const ActQuant& q, format::LayerDesc& d) {
  const int64_t M = d.out, K = d.in_fan();
  // The writer's own bound (format::LayerDesc::max_abs_accumulator), so that a threshold it
  // clamped to the range's end comes back as the "always" / "never" sentinel it was.
  const int64_t range = std::max<int64_t>(1, d.max_abs_accumulator());
  d.output = q.codes;
  d.levels = q.codes.levels();
  d.thresholds.assign(static_cast<size_t>(M * d.levels), std::numeric_limits<int32_t>::max());
  d.negated.assign(static_cast<size_t>(M), 0);
  for (int64_t o = 0; o < M; ++o) {
    auto level_of = [&](int64_t acc) { return q.level(m.value(acc, o, m.ops.size()), o); };
    const bool decreasing = level_of(range) < level_of(-range);
    if (m.pool_at <= m.ops.size() && level_of(range) != level_of(-range)) {
      // The graph max-pools g(acc), the value after the first pool_at operations; the IR pools
      // the sign-corrected accumulator: the same when g grows with it.
      const int dir = direction(m.value(-range, o, m.pool_at), m.value(range, o, m.pool_at));
      if (dir != 0 && dir != (decreasing ? -1 : 1))
        fail("import: ", m.pool_node, " is not supported: it max-pools channel ", o, " after operations that ",
             dir > 0 ? "increase" : "decrease", " with the accumulator while the quantizer's level ",
             decreasing ? "decreases" : "increases", "; lowbit max-pools sign-corrected accumulators (move the "
             "MaxPool after the quantizer)");
    }
    d.negated[static_cast<size_t>(o)] = decreasing;
    auto level = [&](int64_t acc) { return level_of(decreasing ? -acc : acc); };
    const std::vector<int32_t> t = format::channel_thresholds(level, range, d.levels);
    format::check_thresholds(level, t, range, cat("import: ", q.node), o, "the graph");
    std::copy(t.begin(), t.end(), d.thresholds.begin() + o * d.levels);
    if (decreasing)
      for (int64_t k = 0; k < K; ++k) d.weights[static_cast<size_t>(o * K + k)] *= -1;
  }
}

bool fold_scores(const AccMap& m, format::LayerDesc& d) {
  using Kind = FloatOp::Kind;
  const int64_t M = d.out;
  const auto& ops = m.ops;
  d.scores = true;
  d.negated.assign(static_cast<size_t>(M), 0);
  format::ScoresDesc& s = d.score;
  s = {};
  bool exact = std::all_of(m.acc_scale.begin(), m.acc_scale.end(), [](float v) { return v == 1.f; });
  size_t i = 0;
  s.scale = m.acc_scale;
  if (i < ops.size() && ops[i].kind == Kind::kMul) {
    for (int64_t o = 0; o < M; ++o) s.scale[static_cast<size_t>(o)] *= at(ops[i].c, o);
    ++i;
  }
  auto is_bias = [&](size_t k) { return k < ops.size() && (ops[k].kind == Kind::kAdd || ops[k].kind == Kind::kSub); };
  auto take_bias = [&](size_t k) {
    for (int64_t o = 0; o < M; ++o)  // x - c is x + (-c) exactly (IEEE 754)
      s.bias.push_back(ops[k].kind == Kind::kAdd ? at(ops[k].c, o) : -at(ops[k].c, o));
  };
  const size_t rest = ops.size() - i;
  const bool with_bias = is_bias(i) && (rest == 1 || rest == 2 || rest == 4);
  const size_t j = i + (with_bias ? 1 : 0);
  const size_t tail = ops.size() - j;
  const bool bn_ops = tail == 3 && ops[j].kind == Kind::kSub && ops[j + 1].kind == Kind::kMul &&
                      ops[j + 2].kind == Kind::kAdd;
  const bool bn_node = tail == 1 && ops[j].kind == Kind::kBatchNorm;
  if (tail == 0 || bn_ops || bn_node) {
    if (with_bias) take_bias(i);
    for (int64_t o = 0; o < M && tail; ++o) {
      if (bn_ops) {
        s.bn_mean.push_back(at(ops[j].c, o));
        s.bn_scale.push_back(at(ops[j + 1].c, o));
        s.bn_shift.push_back(at(ops[j + 2].c, o));
      } else {  // ONNX's (x - mean) / sqrt(var + eps) * gamma + beta as (x - mean) * scale + shift
        const FloatOp& bn = ops[j];
        s.bn_mean.push_back(at(bn.mean, o));
        s.bn_scale.push_back(at(bn.gamma, o) / std::sqrt(at(bn.var, o) + bn.eps));
        s.bn_shift.push_back(at(bn.beta, o));
      }
    }
    exact = exact && !bn_node;
  } else {
    // Anything else: the composed real affine map, rounded once to float32 per constant.
    s = {};
    for (int64_t o = 0; o < M; ++o) {
      double a = m.acc_scale[static_cast<size_t>(o)], b = 0;
      for (const FloatOp& op : ops) op.affine(o, a, b);
      s.scale.push_back(static_cast<float>(a));
      s.bias.push_back(static_cast<float>(b));
    }
    exact = false;
  }
  for (const auto* v : {&s.scale, &s.bias, &s.bn_mean, &s.bn_scale, &s.bn_shift})
    for (float x : *v)
      LOWBIT_CHECK(std::isfinite(x), "import: the score map of the last layer has the constant ", x,
                   " (not finite)", ops.empty() ? std::string() : cat(" (from ", ops.back().node, ")"));
  return exact;
}

std::array<int32_t, 256> input_levels(const std::vector<FloatOp>& ops, const ActQuant& q, float scale, float bias,
                                      int64_t numel) {
  auto table_of = [&](int64_t e) {
    std::array<int32_t, 256> t{};
    for (int p = 0; p < 256; ++p) {
      float x = static_cast<float>(p) * scale;
      x = x + bias;
      for (const FloatOp& op : ops) x = op.apply(x, op.channel_of(e));
      t[static_cast<size_t>(p)] = q.level(x, q.row_of(e));
    }
    return t;
  };
  const std::array<int32_t, 256> first = table_of(0);
  bool per_channel = q.rows > 1;
  for (const FloatOp& op : ops) per_channel = per_channel || op.channels > 1;
  if (!per_channel) return first;
  std::map<std::vector<int64_t>, bool> seen;  // the channel indices an element reads
  for (int64_t e = 1; e < numel; ++e) {
    std::vector<int64_t> key;
    for (const FloatOp& op : ops) key.push_back(op.channel_of(e));
    key.push_back(q.row_of(e));
    if (!seen.emplace(key, true).second) continue;
    const std::array<int32_t, 256> t = table_of(e);
    for (int p = 0; p < 256; ++p)
      LOWBIT_CHECK(t[static_cast<size_t>(p)] == first[static_cast<size_t>(p)], "import: the input chain gives pixel ",
                   p, " level ", int(t[static_cast<size_t>(p)]), " at input element ", e, " but level ",
                   int(first[static_cast<size_t>(p)]), " at element 0 (per-channel normalization or thresholds); "
                   "lowbit's input table is one for all channels");
  }
  return first;
}

void input_codes(const std::array<int32_t, 256>& levels, ActQuant& q, std::array<uint8_t, 256>& table) {
  int32_t lo = 0;
  if (q.wide) {
    lo = *std::min_element(levels.begin(), levels.end());
    const int32_t hi = *std::max_element(levels.begin(), levels.end());
    if (hi - lo > 255)
      unsupported_label(q.node, "its ", q.bits, "-bit codes take ", hi - lo + 1, " values on the pixels 0..255; "
                        "lowbit's input codes take at most 256");
    q.max_level = std::max(1, hi - lo);
    q.codes = format::unsigned_codes_for(q.max_level);
    // The value of level l is q - zeropt with q = l + lo + qmin: Z = zeropt - qmin - lo.
    const double z = static_cast<double>(q.zeropt) - q.qmin - lo;
    if (!(z >= 0 && z <= (1 << q.codes.bits) - 1))
      unsupported_label(q.node, "zero point ", q.zeropt, " lies outside the codes the pixels reach");
    q.codes.zero_point = static_cast<int>(z);
    q.qmin += static_cast<float>(lo);
    q.wide = false;
  }
  for (size_t p = 0; p < 256; ++p) table[p] = static_cast<uint8_t>(levels[p] - lo);
}

}  // namespace lowbit::interop::qonnx
