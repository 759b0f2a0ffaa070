// `lowbit import` (qonnx_import.hpp): the walk along the graph's chain, one handler per
// node type, building the IR layer by layer. The tensor the walk stands on is in one of three
// stages: the input's floats (kPixels: operations to evaluate on every raw pixel), integer
// codes (kCodes: an IR code format times a float step), or a layer's accumulator (kAcc: the
// float operations that follow it, up to its quantizer or the scores).
#include "lowbit/interop/qonnx_import.hpp"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <climits>
#include <cmath>
#include <set>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/core/fp_env.hpp"
#include "lowbit/format/limits.hpp"
#include "lowbit/interop/qonnx_fold.hpp"
#include "lowbit/interop/qonnx_graph_reader.hpp"

namespace lowbit::interop {

namespace {

using format::CodeFormat;
using format::LayerDesc;
using format::LayerKind;
using qonnx::ActQuant;
using qonnx::attr_float;
using qonnx::attr_int;
using qonnx::attr_ints;
using qonnx::attr_string;
using qonnx::bad_node;
using qonnx::ConstTensor;
using qonnx::FloatOp;
using qonnx::node_label;
using qonnx::TensorDims;
using qonnx::unsupported;
using onnx::NodeProto;

// The custom domains QONNX's quantizers are found in: QONNX's, FINN's (before QONNX split
// from it) and Brevitas' own (its exports before the QONNX domain).
const std::set<std::string> kQonnxDomains = {"qonnx.custom_op.general", "finn.custom_op.general", "finn",
                                             "onnx.brevitas"};
bool standard_domain(const NodeProto& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

void check_domain(const NodeProto& n) {
  if (qonnx::is_act_quant(n)) {
    if (!kQonnxDomains.count(n.domain()))
      unsupported(n, "domain '", n.domain(), "' (QONNX's quantizers are in qonnx.custom_op.general)");
  } else if (!standard_domain(n)) {
    unsupported(n, "domain '", n.domain(), "' is unknown (lowbit reads ONNX's operators and QONNX's BipolarQuant, "
                "Quant and MultiThreshold)");
  }
}

int64_t product(const std::vector<int64_t>& d) {
  int64_t p = 1;
  for (int64_t v : d) p *= v;
  return p;
}

std::string dims_str(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

// numpy broadcasting of constant k to `dims`: one float per element, row-major.
std::vector<float> broadcast(const ConstTensor& k, const std::vector<int64_t>& dims, const NodeProto& n,
                             const std::string& role) {
  LOWBIT_CHECK(k.dims.size() <= dims.size() && k.numel() >= 1, "import: ", node_label(n), ": its ", role, " ",
               k.shape_str(), " does not broadcast against ", dims_str(dims));
  const size_t r = dims.size(), off = r - k.dims.size();
  std::vector<int64_t> kstride(r, 0);
  int64_t s = 1;
  for (size_t a = r; a-- > off;) {
    const int64_t kd = k.dims[a - off];
    LOWBIT_CHECK(kd == 1 || kd == dims[a], "import: ", node_label(n), ": its ", role, " ", k.shape_str(),
                 " does not broadcast against ", dims_str(dims));
    kstride[a] = kd == 1 ? 0 : s;
    s *= kd;
  }
  const int64_t count = product(dims);
  std::vector<float> out(static_cast<size_t>(count));
  std::vector<int64_t> idx(r, 0);
  int64_t ki = 0;
  for (int64_t i = 0; i < count; ++i) {
    out[static_cast<size_t>(i)] = static_cast<float>(k.values[static_cast<size_t>(ki)]);
    for (size_t a = r; a-- > 0;) {
      if (++idx[a] < dims[a]) {
        ki += kstride[a];
        break;
      }
      ki -= kstride[a] * (dims[a] - 1);
      idx[a] = 0;
    }
  }
  return out;
}

// The integer codes of a weight tensor and each element's float scale: the graph's weight
// is codes[i] * scale[i].
struct Weights {
  std::vector<int64_t> dims;
  std::vector<int32_t> codes;
  std::vector<float> scale;
};

// A 1-D per-channel constant of `channels` values (or one): BatchNormalization's parameters,
// Conv's bias (which apply along axis 1 whatever the rank).
std::vector<float> per_channel(const ConstTensor& k, int64_t channels, const NodeProto& n, const std::string& role) {
  LOWBIT_CHECK(k.numel() == channels || k.numel() == 1, "import: ", node_label(n), ": its ", role, " has ", k.numel(),
               " values for ", channels, " channels");
  std::vector<float> v;
  for (double x : k.values) {
    LOWBIT_CHECK(std::isfinite(x), "import: ", node_label(n), ": its ", role, " holds ", x, " (not finite)");
    v.push_back(static_cast<float>(x));
  }
  return v;
}

class Importer {
 public:
  Importer(const onnx::GraphProto& g, const ImportOptions& opt, ImportReport* report)
      : g_(g), opt_(opt), report_(report) {}

  format::ModelDesc run() {
    const std::vector<int64_t>& s = g_.input_shape();
    dims_ = s.size() == 3 ? TensorDims{false, s[0], s[1], s[2]} : TensorDims{true, s[0], 1, 1};
    in_shape_ = s;
    flat_from_ = {dims_.c, dims_.h, dims_.w};
    out_.name = g_.proto().name();
    std::string cur = g_.input_name();
    for (int steps = 0; cur != g_.output_name(); ++steps) {
      LOWBIT_CHECK(steps <= g_.proto().node_size(), "import: the graph has a cycle");
      const std::vector<const NodeProto*> users = g_.consumers(cur);
      if (users.empty())
        fail("import: tensor '", cur, "' is read by no node and is not the graph's output '", g_.output_name(), "'");
      if (users.size() > 1) {
        std::string names;
        for (const NodeProto* u : users) names += (names.empty() ? "" : ", ") + node_label(*u);
        fail("import: tensor '", cur, "' is read by ", users.size(), " nodes (", names,
             "); lowbit imports a chain of layers (branches such as residual shortcuts are not supported)");
      }
      const NodeProto& n = *users[0];
      check_domain(n);
      check_outputs(n);
      visit(n, cur);
      cur = n.output(0);
    }
    finish();
    return std::move(out_);
  }

 private:
  enum class Stage { kPixels, kCodes, kAcc };

  // A node's extra outputs (MaxPool's indices, BatchNormalization's running statistics,
  // Dropout's mask) must be unused.
  void check_outputs(const NodeProto& n) const {
    if (n.output_size() < 1 || n.output(0).empty()) bad_node(n, "it has no output");
    for (int i = 1; i < n.output_size(); ++i)
      if (!n.output(i).empty() && (!g_.consumers(n.output(i)).empty() || n.output(i) == g_.output_name()))
        unsupported(n, "its output ", i, " ('", n.output(i), "') is used");
  }

  // The index of the walked tensor among n's inputs; `allowed` lists where it may be.
  int data_input(const NodeProto& n, const std::string& cur, std::initializer_list<int> allowed) const {
    int at = -1;
    for (int i = 0; i < n.input_size(); ++i)
      if (n.input(i) == cur) {
        if (at >= 0) unsupported(n, "it reads the same tensor '", cur, "' twice");
        at = i;
      }
    if (std::find(allowed.begin(), allowed.end(), at) == allowed.end())
      unsupported(n, "it reads the activations '", cur, "' as its input ", at, " (lowbit takes them as input ",
                  *allowed.begin(), ")");
    return at;
  }

  void visit(const NodeProto& n, const std::string& cur) {
    const std::string& op = n.op_type();
    if (op == "Identity") return (void)data_input(n, cur, {0});
    if (op == "Dropout") return dropout(n, cur);
    if (op == "Flatten" || op == "Reshape") return reshape(n, cur);
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") return elementwise(n, cur);
    if (op == "BatchNormalization") return batch_norm(n, cur);
    if (qonnx::is_act_quant(n)) return quantizer(n, cur);
    if (op == "MatMul" || op == "Gemm") return dense(n, cur);
    if (op == "Conv") return conv(n, cur);
    if (op == "MaxPool") return max_pool(n, cur);
    if (op == "Pad") return pad(n, cur);
    if (op == "Relu" || op == "HardTanh" || op == "Sigmoid" || op == "Tanh" || op == "Clip" || op == "LeakyRelu" ||
        op == "Softmax" || op == "LogSoftmax")
      unsupported(n, "a float activation; lowbit runs integer codes between layers, so every activation must be a "
                  "quantizer (BipolarQuant, Quant, MultiThreshold), and the graph must end in the scores");
    unsupported(n, "lowbit imports BipolarQuant, Quant (and IntQuant), MultiThreshold, MatMul, Gemm, Conv, MaxPool, "
                "Pad, Flatten, Reshape, Transpose (of weights), Constant, BatchNormalization, Add, Sub, Mul, Div, "
                "Identity and Dropout");
  }

  void dropout(const NodeProto& n, const std::string& cur) {
    data_input(n, cur, {0});
    check_attrs_known(n, {"seed", "ratio", "is_test"});
    if (attr_int(n, "is_test", 1) == 0) unsupported(n, "is_test = 0 (lowbit runs inference)");
    if (Graph_has_input(n, 2)) {
      const ConstTensor& t = g_.const_input(n, 2, "training_mode");
      if (t.numel() != 1 || t.values[0] != 0) unsupported(n, "training_mode is set (lowbit runs inference)");
    }
  }

  static bool Graph_has_input(const NodeProto& n, int i) { return qonnx::Graph::has_input(n, i); }
  static void check_attrs_known(const NodeProto& n, const std::vector<std::string>& known) {
    qonnx::check_attrs(n, known);
  }

  // ---- shapes ----------------------------------------------------------------------------

  void to_flat(const NodeProto& n) {
    if (dims_.flat) return;
    if (stage_ == Stage::kAcc) unsupported(n, "flattening a layer's accumulators before its quantizer");
    flat_from_ = {dims_.c, dims_.h, dims_.w};
    dims_ = {true, dims_.numel(), 1, 1};
  }

  void to_map(const NodeProto& n, int64_t c, int64_t h, int64_t w) {
    if (!dims_.flat && dims_.c == c && dims_.h == h && dims_.w == w) return;
    if (c * h * w != dims_.numel())
      bad_node(n, "it reshapes ", dims_.numel(), " values into [1, ", c, ", ", h, ", ", w, "]");
    if (stage_ == Stage::kPixels) {  // a view of the input: the IR's input shape is the map
      dims_ = {false, c, h, w};
      in_shape_ = {c, h, w};
      return;
    }
    const bool undo = dims_.flat && flat_from_ == std::array<int64_t, 3>{c, h, w};
    const bool column = dims_.flat && h == 1 && w == 1 && flat_from_[1] == 1 && flat_from_[2] == 1;
    if (stage_ != Stage::kCodes || !(undo || column))
      unsupported(n, "reshaping into [1, ", c, ", ", h, ", ", w, "] (lowbit's maps are the layers' own)");
    dims_ = {false, c, h, w};
  }

  void reshape(const NodeProto& n, const std::string& cur) {
    data_input(n, cur, {0});
    if (n.op_type() == "Flatten") {
      check_attrs_known(n, {"axis"});
      const int64_t axis = attr_int(n, "axis", 1);
      if (axis != 1 && axis != 0 && !(axis == -3 && !dims_.flat) && !(axis == -1 && dims_.flat))
        unsupported(n, "Flatten with axis ", axis, " (lowbit flattens [1, C, H, W] to [1, C * H * W])");
      return to_flat(n);
    }
    check_attrs_known(n, {"allowzero"});
    const ConstTensor& shape = g_.const_input(n, 1, "shape");
    LOWBIT_CHECK(shape.dims.size() == 1 && (shape.numel() == 2 || shape.numel() == 4), "import: ", node_label(n),
                 ": lowbit reshapes into [1, N] or [1, C, H, W], not ", shape.shape_str(), " dimensions");
    const std::vector<int64_t> cur_dims = dims_.dims();
    std::vector<int64_t> t;
    int64_t known = 1, infer = -1;
    for (int64_t i = 0; i < shape.numel(); ++i) {
      const double raw = shape.values[static_cast<size_t>(i)];
      LOWBIT_CHECK(raw >= -1 && raw <= static_cast<double>(dims_.numel()) && raw == std::floor(raw), "import: ",
                   node_label(n), ": shape dimension ", raw);
      int64_t v = static_cast<int64_t>(raw);
      if (v == 0 && attr_int(n, "allowzero", 0) == 0) {
        LOWBIT_CHECK(static_cast<size_t>(i) < cur_dims.size(), "import: ", node_label(n), ": shape copies dimension ", i,
                     " of a rank-", cur_dims.size(), " tensor");
        v = cur_dims[static_cast<size_t>(i)];
      }
      if (v == -1) {
        LOWBIT_CHECK(infer < 0, "import: ", node_label(n), ": two -1 in its shape");
        infer = i;
      } else {
        LOWBIT_CHECK(v >= 1 && v <= dims_.numel(), "import: ", node_label(n), ": shape dimension ", v);
        known *= v;
      }
      t.push_back(v);
    }
    if (infer >= 0) {
      LOWBIT_CHECK(dims_.numel() % known == 0, "import: ", node_label(n), ": shape does not divide ", dims_.numel());
      t[static_cast<size_t>(infer)] = dims_.numel() / known;
    }
    LOWBIT_CHECK(product(t) == dims_.numel() && t[0] == 1, "import: ", node_label(n), ": reshaping ",
                 dims_str(cur_dims), " into ", dims_str(t), " (lowbit keeps a batch of 1)");
    if (t.size() == 2) return to_flat(n);
    to_map(n, t[1], t[2], t[3]);
  }

  // ---- float operations ------------------------------------------------------------------

  void elementwise(const NodeProto& n, const std::string& cur) {
    check_attrs_known(n, {});
    const std::string& op = n.op_type();
    const int at = data_input(n, cur, {0, 1});
    LOWBIT_CHECK(n.input_size() == 2, "import: ", node_label(n), ": ", n.input_size(), " inputs");
    const ConstTensor& k = g_.constant(n.input(1 - at), n);
    FloatOp f;
    f.node = node_label(n);
    f.c = qonnx::channel_constant(k, dims_, n, "constant");
    if (op == "Add") f.kind = FloatOp::Kind::kAdd;
    if (op == "Mul") f.kind = FloatOp::Kind::kMul;
    if (op == "Sub") f.kind = at == 0 ? FloatOp::Kind::kSub : FloatOp::Kind::kRSub;
    if (op == "Div") {
      if (at == 1) unsupported(n, "dividing a constant by the activations");
      f.kind = FloatOp::Kind::kDiv;
      for (float v : f.c)
        if (v == 0.f) unsupported(n, "division by 0");
    }
    if (stage_ == Stage::kCodes) return codes_affine(n, f);
    push_op(std::move(f));
  }

  void batch_norm(const NodeProto& n, const std::string& cur) {
    data_input(n, cur, {0});
    check_attrs_known(n, {"epsilon", "momentum", "training_mode", "spatial", "is_test", "consumed_inputs"});
    if (attr_int(n, "training_mode", 0) != 0) unsupported(n, "training_mode = 1 (lowbit imports inference graphs)");
    if (attr_int(n, "spatial", 1) != 1) unsupported(n, "spatial = 0 (per-element statistics)");
    if (stage_ == Stage::kCodes)
      unsupported(n, "a BatchNormalization on quantized codes; lowbit folds a BatchNormalization between a "
                  "MatMul / Conv and its quantizer (or the scores)");
    FloatOp f;
    f.kind = FloatOp::Kind::kBatchNorm;
    f.node = node_label(n);
    f.gamma = per_channel(g_.const_input(n, 1, "scale"), dims_.c, n, "scale");
    f.beta = per_channel(g_.const_input(n, 2, "B"), dims_.c, n, "B");
    f.mean = per_channel(g_.const_input(n, 3, "mean"), dims_.c, n, "mean");
    f.var = per_channel(g_.const_input(n, 4, "var"), dims_.c, n, "var");
    f.eps = attr_float(n, "epsilon", 1e-5f);
    for (size_t c = 0; c < f.var.size(); ++c)
      if (!(f.var[c] + f.eps > 0.f))
        bad_node(n, "var + epsilon of channel ", c, " is ", f.var[c] + f.eps, " (sqrt of a value <= 0)");
    // The channel count of this operation: that of its per-channel parameters.
    for (const auto* v : {&f.gamma, &f.beta, &f.mean, &f.var})
      f.channels = std::max(f.channels, static_cast<int64_t>(v->size()));
    push_op(std::move(f));
  }

  // Appends a float operation to the input's chain or to the accumulator's.
  void push_op(FloatOp f) {
    if (f.kind != FloatOp::Kind::kBatchNorm) f.channels = static_cast<int64_t>(f.c.size());
    f.per = dims_.flat ? 1 : dims_.h * dims_.w;
    if (stage_ == Stage::kPixels) return pixel_ops_.push_back(std::move(f));
    map_.ops.push_back(std::move(f));
  }

  // Add / Sub / Mul / Div by one constant on codes: a change of step or of zero point.
  void codes_affine(const NodeProto& n, const FloatOp& f) {
    if (f.c.size() != 1) unsupported(n, "a per-channel constant on quantized codes");
    const float c = f.c[0];
    switch (f.kind) {
      case FloatOp::Kind::kMul:
      case FloatOp::Kind::kDiv: {
        if (!(c > 0.f)) unsupported(n, "scaling quantized codes by ", c, " (lowbit takes a positive step)");
        step_ = f.kind == FloatOp::Kind::kMul ? step_ * c : step_ / c;
        return;
      }
      case FloatOp::Kind::kAdd:
      case FloatOp::Kind::kSub: {
        // value = step * (level - Z) + c = step * (level - (Z - c / step)).
        const float shift = (f.kind == FloatOp::Kind::kAdd ? c : -c) / step_;
        CodeFormat& codes = codes_;
        if (codes.pm1 || codes.count != 1 || shift != std::nearbyint(shift))
          unsupported(n, "shifting ", codes.str(), " codes by ", shift, " steps (lowbit shifts single k-bit codes by "
                      "a whole number of steps: a zero point)");
        const float zf = static_cast<float>(codes.zero_point) - shift;
        if (!(zf >= 0.f && zf <= static_cast<float>((1 << codes.bits) - 1)))
          unsupported(n, "it moves the zero point of ", codes.bits, "-bit codes to ", zf);
        const int z = static_cast<int>(zf);
        codes.zero_point = z;
        if (producer_ >= 0) {
          out_.layers[static_cast<size_t>(producer_)].output.zero_point = z;
        } else {
          out_.input.codes.zero_point = z;
        }
        return;
      }
      default:
        unsupported(n, "subtracting quantized codes from a constant");
    }
  }

  // ---- quantizers ------------------------------------------------------------------------

  void quantizer(const NodeProto& n, const std::string& cur) {
    data_input(n, cur, {0});
    ActQuant q = qonnx::read_act_quant(g_, n, dims_);
    if (stage_ == Stage::kCodes)
      unsupported(n, "a quantizer on codes that are already quantized (lowbit folds one quantizer per layer)");
    if (stage_ == Stage::kPixels) {
      // The input quantizer: the table of every raw pixel.
      const std::array<int32_t, 256> levels =
          qonnx::input_levels(pixel_ops_, q, opt_.input_scale, opt_.input_bias, dims_.numel());
      qonnx::input_codes(levels, q, out_.input.table);
      out_.input.shape = in_shape_;
      out_.input.codes = q.codes;
      out_.input.quantizer = cat("qonnx ", n.op_type());
      out_.input.normalize = input_normalize();
      enter_codes(q, -1);
      return;
    }
    // A layer's quantizer: its thresholds.
    if (q.wide) unsupported(n, "bit width ", q.bits, "; lowbit's codes between layers are 1..8 bits");
    qonnx::fold_thresholds(map_, q, layer_);
    note(cat(layer_.name, ": ", layer_.kind == LayerKind::kConv ? "Conv" : "MatMul", " ", layer_.out, " x ",
             layer_.in_fan(), ", thresholds from ", node_label(n),
             map_.ops.empty() ? std::string() : cat(" after ", map_.ops.size(), " float operation(s)")));
    out_.layers.push_back(std::move(layer_));
    layer_ = {};
    enter_codes(q, static_cast<int>(out_.layers.size()) - 1);
  }

  // The input reaches a layer without a quantizer: FINN's convention for integer inputs is
  // the graph input's datatype annotation (lowbit's writer gives 8-bit inputs equal to the
  // pixel only `UINT8`). The input chain must then give every pixel an integer of that type.
  void annotated_input(const NodeProto& n) {
    const std::string t = g_.finn_datatype(g_.input_name());
    int64_t lo = 0, hi = 0;
    ActQuant q;
    q.kind = ActQuant::Kind::kInt;
    q.node = cat("graph input '", g_.input_name(), "' (finn_datatype ", t.empty() ? "none" : t, ")");
    try {
      if (t == "BIPOLAR") {
        lo = -1, hi = 1;
      } else if (t == "BINARY") {
        hi = 1;
      } else if (t.rfind("UINT", 0) == 0 && std::stoi(t.substr(4)) >= 1 && std::stoi(t.substr(4)) <= 8) {
        hi = (int64_t{1} << std::stoi(t.substr(4))) - 1;
      } else if (t.rfind("INT", 0) == 0 && std::stoi(t.substr(3)) >= 2 && std::stoi(t.substr(3)) <= 8) {
        lo = -(int64_t{1} << (std::stoi(t.substr(3)) - 1)), hi = -lo - 1;
      } else {
        lo = hi = 0;
      }
    } catch (const std::exception&) {
      lo = hi = 0;
    }
    if (lo == hi)
      unsupported(n, "the graph's input reaches it without a quantizer; lowbit's first layer reads integer codes (a "
                  "BipolarQuant, Quant or MultiThreshold on the input, or a finn_datatype annotation of the input "
                  "such as UINT8; this input's is '", t, "')");
    // An identity quantizer on [lo, hi] (a Quant of scale 1 rounding nothing), checked below.
    q.scale = 1.f;
    q.qmin = static_cast<float>(lo), q.qmax = static_cast<float>(hi);
    if (t == "BIPOLAR") {
      q.kind = ActQuant::Kind::kBipolar;
      q.codes = CodeFormat::plus_minus_one();
    } else {
      q.max_level = static_cast<int>(hi - lo);
      q.codes = format::unsigned_codes_for(q.max_level);
      q.codes.zero_point = static_cast<int>(-lo);
      q.bits = q.codes.bits;
      q.is_signed = lo < 0;
    }
    for (const FloatOp& f : pixel_ops_)
      if (f.channels > 1) unsupported(n, "per-channel constants (", f.node, ") before an input quantized by its annotation");
    for (int p = 0; p < 256; ++p) {
      float v = static_cast<float>(p) * opt_.input_scale;
      v = v + opt_.input_bias;
      for (const FloatOp& f : pixel_ops_) v = f.apply(v, 0);
      const bool ok = t == "BIPOLAR" ? (v == 1.f || v == -1.f) : (v == std::nearbyint(v) && v >= lo && v <= hi);
      if (!ok)
        unsupported(n, "the graph's input is annotated ", t, " but pixel ", p, " gives it the value ", v,
                    " (with --input-scale ", opt_.input_scale, " --input-bias ", opt_.input_bias, ")");
    }
    qonnx::input_codes(qonnx::input_levels(pixel_ops_, q, opt_.input_scale, opt_.input_bias, dims_.numel()), q,
                       out_.input.table);
    out_.input.shape = in_shape_;
    out_.input.codes = q.codes;
    out_.input.quantizer = cat("qonnx finn_datatype ", t);
    out_.input.normalize = input_normalize();
    enter_codes(q, -1);
  }

  // The informative `normalize` of the IR's input: how pixels became the graph's input.
  std::string input_normalize() const {
    if (opt_.input_scale == 1.f && opt_.input_bias == 0.f) return "raw";
    return cat("pixel * ", opt_.input_scale, " + ", opt_.input_bias);
  }

  void enter_codes(const ActQuant& q, int producer) {
    stage_ = Stage::kCodes;
    codes_ = q.codes;
    step_ = q.step;
    producer_ = producer;
  }

  // ---- weighted layers -------------------------------------------------------------------

  // The weights behind input `name` of node `user`: an initializer of integers, or one
  // through BipolarQuant / Quant, then Identity / Transpose.
  Weights read_weights(const std::string& name, const NodeProto& user, int depth = 0) const {
    LOWBIT_CHECK(depth < 16, "import: ", node_label(user), ": its weights pass through too many nodes");
    Weights w;
    if (g_.is_constant(name)) {
      const ConstTensor& k = g_.constant(name, user);
      w.dims = k.dims;
      for (double v : k.values) {
        if (!(v == std::floor(v) && std::fabs(v) <= format::kMaxWeightCode))
          unsupported(user, "its weights '", name, "' hold ", v, " without a quantizer; lowbit takes integer weight "
                      "codes (|code| <= ", format::kMaxWeightCode, "), or weights through BipolarQuant / Quant");
        w.codes.push_back(static_cast<int32_t>(v));
      }
      w.scale.assign(w.codes.size(), 1.f);
      return w;
    }
    const NodeProto* p = g_.producer(name);
    if (!p)
      unsupported(user, "its weights '", name, "' are not constant (", name == g_.input_name() ? "the graph's input"
                  : "unknown tensor", ")");
    check_domain(*p);
    const std::string& op = p->op_type();
    if (op == "Identity") return read_weights(p->input(0), user, depth + 1);
    if (op == "Transpose") {
      qonnx::check_attrs(*p, {"perm"});
      Weights in = read_weights(p->input(0), user, depth + 1);
      const size_t r = in.dims.size();
      std::vector<int64_t> perm = attr_ints(*p, "perm", {});
      if (perm.empty())
        for (size_t i = 0; i < r; ++i) perm.push_back(static_cast<int64_t>(r - 1 - i));
      LOWBIT_CHECK(perm.size() == r, "import: ", node_label(*p), ": perm of ", perm.size(), " axes on rank ", r);
      std::vector<bool> used(r, false);
      for (int64_t a : perm) {
        LOWBIT_CHECK(a >= 0 && static_cast<size_t>(a) < r && !used[static_cast<size_t>(a)], "import: ",
                     node_label(*p), ": perm is not a permutation");
        used[static_cast<size_t>(a)] = true;
      }
      std::vector<int64_t> in_stride(r, 1);
      for (size_t a = r; a-- > 1;) in_stride[a - 1] = in_stride[a] * in.dims[a];
      w.dims.resize(r);
      for (size_t a = 0; a < r; ++a) w.dims[a] = in.dims[static_cast<size_t>(perm[a])];
      const int64_t count = product(w.dims);
      w.codes.resize(static_cast<size_t>(count));
      w.scale.resize(static_cast<size_t>(count));
      std::vector<int64_t> idx(r, 0);
      for (int64_t i = 0; i < count; ++i) {
        int64_t src = 0;
        for (size_t a = 0; a < r; ++a) src += idx[a] * in_stride[static_cast<size_t>(perm[a])];
        w.codes[static_cast<size_t>(i)] = in.codes[static_cast<size_t>(src)];
        w.scale[static_cast<size_t>(i)] = in.scale[static_cast<size_t>(src)];
        for (size_t a = r; a-- > 0;) {
          if (++idx[a] < w.dims[a]) break;
          idx[a] = 0;
        }
      }
      return w;
    }
    if (op == "BipolarQuant" || op == "Quant" || op == "IntQuant") {
      const ConstTensor& x = g_.const_input(*p, 0, "weights");
      w.dims = x.dims;
      w.scale = broadcast(g_.const_input(*p, 1, "scale"), x.dims, *p, "scale");
      for (float s : w.scale)
        if (!(s > 0.f && std::isfinite(s))) unsupported(*p, "weight scale ", s, " (lowbit takes positive scales)");
      if (op == "BipolarQuant") {
        qonnx::check_attrs(*p, {});
        for (double v : x.values) w.codes.push_back(static_cast<float>(v) >= 0.f ? 1 : -1);
        return w;
      }
      qonnx::check_attrs(*p, {"signed", "narrow", "rounding_mode"});
      const std::vector<float> z = broadcast(g_.const_input(*p, 2, "zero point"), x.dims, *p, "zero point");
      for (float v : z)
        if (v != 0.f) unsupported(*p, "weights with zero point ", v, " (lowbit's weight codes are symmetric)");
      // The quantizer as an activation quantizer would read it, one element at a time with
      // its own scale (the clamp, rounding and bipolar rule of QONNX's quant()).
      const ConstTensor& bw = g_.const_input(*p, 3, "bit width");
      LOWBIT_CHECK(bw.numel() == 1, "import: ", node_label(*p), ": bit width ", bw.shape_str());
      const double b = bw.values[0];
      if (!(b >= 1 && b <= 9 && b == std::floor(b)))
        unsupported(*p, "weight bit width ", b, " (lowbit's weight codes are at most +-", format::kMaxWeightCode, ")");
      const int64_t sgn = attr_int(*p, "signed", 1), narrow = attr_int(*p, "narrow", 0);
      std::string mode = attr_string(*p, "rounding_mode", "ROUND");
      for (char& ch : mode) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      const double half = std::ldexp(1.0, static_cast<int>(b) - 1), full = std::ldexp(1.0, static_cast<int>(b));
      const float lo = static_cast<float>(sgn ? (narrow ? -half + 1 : -half) : 0);
      const float hi = static_cast<float>(sgn ? half - 1 : (narrow ? full - 2 : full - 1));
      for (size_t i = 0; i < x.values.size(); ++i) {
        float v = static_cast<float>(x.values[i]) / w.scale[i];
        if (b == 1 && sgn) {
          w.codes.push_back(v >= 0.f ? 1 : -1);
          continue;
        }
        if (std::isnan(v)) bad_node(*p, "a weight is NaN");
        v = std::clamp(v, lo, hi);
        if (mode == "ROUND" || mode == "HALF_EVEN") v = std::nearbyint(v);
        else if (mode == "CEIL") v = std::ceil(v);
        else if (mode == "FLOOR") v = std::floor(v);
        else if (mode == "UP") v = v >= 0.f ? std::ceil(v) : std::floor(v);
        else if (mode == "DOWN" || mode == "ROUND_TO_ZERO") v = std::trunc(v);
        else if (mode == "HALF_UP") v = std::round(v);
        else if (mode == "HALF_DOWN") v = (v < 0.f ? -1.f : 1.f) * std::ceil(std::fabs(v) - 0.5f);
        else unsupported(*p, "rounding_mode '", mode, "'");
        if (std::fabs(v) > format::kMaxWeightCode)
          unsupported(*p, "weight code ", v, " (lowbit's weight codes are at most +-", format::kMaxWeightCode, ")");
        w.codes.push_back(static_cast<int32_t>(v));
      }
      return w;
    }
    unsupported(user, "its weights come from ", node_label(*p), "; lowbit imports weights that are initializers, "
                "through BipolarQuant or Quant (and Identity / Transpose)");
  }

  // Weights w as out x K with scale s[o] per output channel: element (o, k) is at
  // o * o_stride + k * k_stride. The scale must not vary along k.
  std::vector<float> channel_scales(const Weights& w, int64_t out, int64_t K, int64_t o_stride, int64_t k_stride,
                                    const NodeProto& n) const {
    std::vector<float> s(static_cast<size_t>(out));
    for (int64_t o = 0; o < out; ++o) {
      s[static_cast<size_t>(o)] = w.scale[static_cast<size_t>(o * o_stride)];
      for (int64_t k = 0; k < K; ++k)
        if (w.scale[static_cast<size_t>(o * o_stride + k * k_stride)] != s[static_cast<size_t>(o)])
          unsupported(n, "its weight scales vary along the dot product of output ", o,
                      " (lowbit takes one scale per output channel)");
    }
    return s;
  }

  void need_codes(const NodeProto& n) {
    if (stage_ == Stage::kPixels) return annotated_input(n);
    if (stage_ == Stage::kAcc)
      unsupported(n, "it reads the accumulators of ", layer_.name, " without a quantizer between them");
  }

  // Starts layer `d` on the current codes (weights, input map, kind and shape set by the
  // caller) with per-channel weight scales `ws`.
  void start_layer(const NodeProto& n, LayerDesc d, const std::vector<float>& ws) {
    d.name = n.name().empty() ? cat(n.op_type(), "@", out_.layers.size()) : n.name();
    d.input = codes_;
    LOWBIT_CHECK(static_cast<int64_t>(out_.layers.size()) < format::kMaxLayers, "import: more than ",
                 format::kMaxLayers, " layers");
    if (out_.layers.empty() && producer_ >= 0) fail("import: internal: codes without a layer");
    map_ = {};
    for (float s : ws) map_.acc_scale.push_back(s * step_);
    layer_ = std::move(d);
    stage_ = Stage::kAcc;
    pad_ = {};
  }

  void dense(const NodeProto& n, const std::string& cur) {
    need_codes(n);
    data_input(n, cur, {0});
    const bool gemm = n.op_type() == "Gemm";
    if (gemm) {
      check_attrs_known(n, {"alpha", "beta", "transA", "transB"});
      if (attr_int(n, "transA", 0) != 0) unsupported(n, "transA = 1");
    } else {
      check_attrs_known(n, {});
    }
    if (!Graph_has_input(n, 1)) bad_node(n, "its weight input is missing");
    if (!dims_.flat)
      unsupported(n, "a MatMul on a 4-D tensor [1, ", dims_.c, ", ", dims_.h, ", ", dims_.w,
                  "]; lowbit's dense layers read a Flatten of the map");
    if (pad_.pending) unsupported(n, "a Pad before a MatMul");
    Weights w = read_weights(n.input(1), n);
    const bool trans = gemm && attr_int(n, "transB", 0) != 0;
    LOWBIT_CHECK(w.dims.size() == 2, "import: ", node_label(n), ": weights ", dims_str(w.dims), " are not a matrix");
    const int64_t K = trans ? w.dims[1] : w.dims[0], O = trans ? w.dims[0] : w.dims[1];
    LOWBIT_CHECK(K == dims_.c, "import: ", node_label(n), ": weights ", dims_str(w.dims), " for ", dims_.c, " inputs");
    LOWBIT_CHECK(O >= 1 && O <= format::kMaxOutputs, "import: ", node_label(n), ": ", O, " outputs (1..",
                 format::kMaxOutputs, ")");
    const int64_t o_stride = trans ? K : 1, k_stride = trans ? 1 : O;
    std::vector<float> ws = channel_scales(w, O, K, o_stride, k_stride, n);
    if (gemm) {
      const float alpha = attr_float(n, "alpha", 1.f);
      if (!(alpha > 0.f && std::isfinite(alpha))) unsupported(n, "alpha = ", alpha);
      for (float& s : ws) s *= alpha;
    }
    LayerDesc d;
    d.kind = LayerKind::kDense;
    d.out = O;
    // The IR reads the input map in (y, x, c) order; the graph's Flatten is (c, y, x).
    const bool first = producer_ < 0;
    const int64_t C = first ? K : flat_from_[0], H = first ? 1 : flat_from_[1], W = first ? 1 : flat_from_[2];
    d.in_h = H, d.in_w = W, d.in_c = C;
    d.weights.resize(static_cast<size_t>(O * K));
    for (int64_t o = 0; o < O; ++o)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t y = 0; y < H; ++y)
          for (int64_t x = 0; x < W; ++x) {
            const int64_t k = (c * H + y) * W + x;
            d.weights[static_cast<size_t>(o * K + (y * W + x) * C + c)] =
                w.codes[static_cast<size_t>(o * o_stride + k * k_stride)];
          }
    start_layer(n, std::move(d), ws);
    if (gemm && Graph_has_input(n, 2)) {
      FloatOp f;
      f.kind = FloatOp::Kind::kAdd;
      f.node = node_label(n);
      const TensorDims out_dims{true, O, 1, 1};
      f.c = qonnx::channel_constant(g_.const_input(n, 2, "C"), out_dims, n, "C");
      const float beta = attr_float(n, "beta", 1.f);
      for (float& v : f.c) v = beta * v;
      push_op(std::move(f));
    }
    dims_ = {true, O, 1, 1};
    flat_from_ = {O, 1, 1};
  }

  // Conv's attributes: square kernel and stride, no dilation, explicit or VALID padding.
  struct ConvAttrs {
    int64_t kh = 0, kw = 0, stride = 1, pad_h = 0, pad_w = 0, group = 1;
  };
  ConvAttrs conv_attrs(const NodeProto& n, const std::vector<int64_t>& wdims) const {
    check_attrs_known(n, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"});
    ConvAttrs a;
    a.kh = wdims[2], a.kw = wdims[3];
    if (a.kh < 1 || a.kw < 1 || a.kh > format::kMaxKernel || a.kw > format::kMaxKernel)
      unsupported(n, "a ", a.kh, "x", a.kw, " kernel");
    const std::vector<int64_t> ks = attr_ints(n, "kernel_shape", {a.kh, a.kw});
    if (ks != std::vector<int64_t>{a.kh, a.kw})
      bad_node(n, "kernel_shape ", dims_str(ks), " differs from its weights ", dims_str(wdims));
    const std::string ap = attr_string(n, "auto_pad", "NOTSET");
    if (ap != "NOTSET" && ap != "VALID") unsupported(n, "auto_pad ", ap, " (give explicit pads)");
    for (int64_t d : attr_ints(n, "dilations", {1, 1}))
      if (d != 1) unsupported(n, "dilations ", dims_str(attr_ints(n, "dilations", {})));
    const std::vector<int64_t> st = attr_ints(n, "strides", {1, 1});
    if (st.size() != 2 || st[0] != st[1]) unsupported(n, "strides ", dims_str(st), " (lowbit takes one stride for both axes)");
    a.stride = st[0];
    if (a.stride < 1 || a.stride > format::kMaxStride) unsupported(n, "stride ", a.stride);
    const std::vector<int64_t> p = attr_ints(n, "pads", {0, 0, 0, 0});
    if (p.size() != 4) bad_node(n, "pads ", dims_str(p));
    if (p[0] != p[2] || p[1] != p[3]) unsupported(n, "asymmetric pads ", dims_str(p));
    for (int64_t v : p)
      if (v < 0 || v >= format::kMaxKernel) unsupported(n, "pads ", dims_str(p));
    a.pad_h = p[0], a.pad_w = p[1];
    if (ap == "VALID" && (a.pad_h || a.pad_w)) bad_node(n, "auto_pad VALID with pads");
    a.group = attr_int(n, "group", 1);
    return a;
  }

  void conv(const NodeProto& n, const std::string& cur) {
    need_codes(n);
    data_input(n, cur, {0});
    if (!Graph_has_input(n, 1)) bad_node(n, "its weight input is missing");
    if (dims_.flat) unsupported(n, "a Conv on a flat tensor");
    Weights w = read_weights(n.input(1), n);
    LOWBIT_CHECK(w.dims.size() == 4, "import: ", node_label(n), ": weights ", dims_str(w.dims),
                 " are not [O, C, kh, kw]");
    const ConvAttrs a = conv_attrs(n, w.dims);
    if (a.group != 1) return sum_pool(n, w, a);
    const int64_t O = w.dims[0], C = w.dims[1], kh = a.kh, kw = a.kw;
    LOWBIT_CHECK(C == dims_.c, "import: ", node_label(n), ": weights ", dims_str(w.dims), " for ", dims_.c, " channels");
    LOWBIT_CHECK(O >= 1 && O <= format::kMaxOutputs, "import: ", node_label(n), ": ", O, " outputs");
    if (pad_.pending && (a.pad_h || a.pad_w)) unsupported(n, "pads after a Pad node");
    const int64_t K = C * kh * kw;
    const std::vector<float> ws = channel_scales(w, O, K, K, 1, n);
    LayerDesc d;
    d.kind = LayerKind::kConv;
    d.out = O;
    d.in_h = dims_.h, d.in_w = dims_.w, d.in_c = C;
    d.kernel_h = kh, d.kernel_w = kw, d.stride = a.stride;
    d.pad_h = pad_.pending ? pad_.h : a.pad_h;
    d.pad_w = pad_.pending ? pad_.w : a.pad_w;
    d.pad_value = pad_.pending ? pad_.value : 0;
    LOWBIT_CHECK(kh <= dims_.h + 2 * d.pad_h && kw <= dims_.w + 2 * d.pad_w, "import: ", node_label(n), ": kernel ",
                 kh, "x", kw, " larger than its padded input");
    d.weights.resize(static_cast<size_t>(O * K));
    for (int64_t o = 0; o < O; ++o)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t y = 0; y < kh; ++y)
          for (int64_t x = 0; x < kw; ++x)
            d.weights[static_cast<size_t>(o * K + (y * kw + x) * C + c)] =
                w.codes[static_cast<size_t>(o * K + (c * kh + y) * kw + x)];
    start_layer(n, std::move(d), ws);
    dims_ = {false, O, layer_.conv_h(), layer_.conv_w()};
    if (Graph_has_input(n, 2)) {
      FloatOp f;
      f.kind = FloatOp::Kind::kAdd;
      f.node = node_label(n);
      f.c = per_channel(g_.const_input(n, 2, "bias"), O, n, "bias");
      push_op(std::move(f));
    }
  }

  // A depthwise Conv with all-ones weights on a layer's codes: its sum pooling.
  void sum_pool(const NodeProto& n, const Weights& w, const ConvAttrs& a) {
    const int64_t C = dims_.c;
    const bool depthwise = a.group == C && w.dims[0] == C && w.dims[1] == 1;
    bool ones = true;
    for (size_t i = 0; i < w.codes.size(); ++i) ones = ones && w.codes[i] == 1 && w.scale[i] == 1.f;
    if (!depthwise || !ones || a.kh != a.kw)
      unsupported(n, "a grouped convolution (group ", a.group, "); lowbit takes group 1, or a depthwise Conv with "
                  "all-ones square kernels on a layer's codes (sum pooling)");
    if (a.pad_h || a.pad_w || pad_.pending) unsupported(n, "padding in sum pooling");
    if (Graph_has_input(n, 2)) unsupported(n, "a bias on sum pooling");
    if (producer_ < 0) unsupported(n, "sum pooling of the input codes (before the first layer)");
    LayerDesc& l = out_.layers[static_cast<size_t>(producer_)];
    if (l.kind != LayerKind::kConv || l.sum_pool.kernel || codes_.count != 1)
      unsupported(n, "a second sum pooling of ", l.name, "'s codes");
    const CodeFormat summed = codes_.summed(static_cast<int>(a.kh * a.kh));
    if (a.kh * a.kh > format::kMaxSumCount || summed.planes() > format::kMaxCodeBits)
      unsupported(n, "a ", a.kh, "x", a.kh, " sum of ", codes_.str(), " codes needs more than ", format::kMaxCodeBits,
                  " bits");
    LOWBIT_CHECK(a.kh <= dims_.h && a.kh <= dims_.w, "import: ", node_label(n), ": kernel larger than its input");
    l.sum_pool = {a.kh, a.stride};
    codes_ = summed;
    dims_ = {false, C, l.out_h(), l.out_w()};
  }

  void max_pool(const NodeProto& n, const std::string& cur) {
    data_input(n, cur, {0});
    check_attrs_known(n, {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"});
    if (dims_.flat) unsupported(n, "max pooling of a flat tensor");
    const std::vector<int64_t> ks = attr_ints(n, "kernel_shape", {});
    if (ks.size() != 2 || ks[0] != ks[1]) unsupported(n, "kernel_shape ", dims_str(ks), " (lowbit pools square windows)");
    const std::vector<int64_t> st = attr_ints(n, "strides", {1, 1});
    if (st.size() != 2 || st[0] != st[1]) unsupported(n, "strides ", dims_str(st));
    for (int64_t p : attr_ints(n, "pads", {0, 0, 0, 0}))
      if (p != 0) unsupported(n, "padding in max pooling");
    for (int64_t d : attr_ints(n, "dilations", {1, 1}))
      if (d != 1) unsupported(n, "dilations in max pooling");
    if (attr_int(n, "ceil_mode", 0) != 0) unsupported(n, "ceil_mode = 1");
    const std::string ap = attr_string(n, "auto_pad", "NOTSET");
    if (ap != "NOTSET" && ap != "VALID") unsupported(n, "auto_pad ", ap);
    const int64_t k = ks[0], s = st[0];
    if (k < 1 || k > format::kMaxPool || s < 1 || s > format::kMaxStride || k > dims_.h || k > dims_.w)
      unsupported(n, "a ", k, "x", k, " window, stride ", s, " on a ", dims_.h, "x", dims_.w, " map");
    if (pad_.pending) unsupported(n, "max pooling of a padded map");
    LayerDesc* l = nullptr;
    if (stage_ == Stage::kPixels) unsupported(n, "max pooling of the input");
    if (stage_ == Stage::kAcc) {
      l = &layer_;
      map_.pool_at = map_.ops.size();
      map_.pool_node = node_label(n);
    } else {
      if (producer_ < 0) unsupported(n, "max pooling of the input codes (before the first layer)");
      l = &out_.layers[static_cast<size_t>(producer_)];
      if (l->sum_pool.kernel) unsupported(n, "max pooling after sum pooling");
    }
    if (l->kind != LayerKind::kConv || l->pool.kernel) unsupported(n, "a second max pooling of ", l->name);
    l->pool = {k, s};
    dims_ = {false, dims_.c, l->pooled_h(), l->pooled_w()};
  }

  void pad(const NodeProto& n, const std::string& cur) {
    data_input(n, cur, {0});
    check_attrs_known(n, {"mode", "pads", "value"});
    if (stage_ != Stage::kCodes) unsupported(n, "padding outside a layer's input codes");
    if (dims_.flat) unsupported(n, "padding a flat tensor");
    if (pad_.pending) unsupported(n, "two Pad nodes in a row");
    if (attr_string(n, "mode", "constant") != "constant") unsupported(n, "mode ", attr_string(n, "mode", ""));
    if (Graph_has_input(n, 3)) unsupported(n, "its axes input");
    std::vector<int64_t> p;
    float value = attr_float(n, "value", 0.f);
    if (Graph_has_input(n, 1)) {
      for (double v : g_.const_input(n, 1, "pads").values) {
        if (!(std::fabs(v) < format::kMaxKernel && v == std::floor(v))) unsupported(n, "pad ", v);
        p.push_back(static_cast<int64_t>(v));
      }
    } else {
      p = attr_ints(n, "pads", {});
    }
    if (Graph_has_input(n, 2)) {
      const ConstTensor& v = g_.const_input(n, 2, "constant_value");
      LOWBIT_CHECK(v.numel() == 1, "import: ", node_label(n), ": constant_value ", v.shape_str());
      value = static_cast<float>(v.values[0]);
    }
    if (p.size() != 8) bad_node(n, "pads ", dims_str(p), " (8 values for [N, C, H, W])");
    if (p[0] || p[1] || p[4] || p[5]) unsupported(n, "padding of the batch or channel axis");
    if (p[2] != p[6] || p[3] != p[7] || p[2] < 0 || p[3] < 0 || p[2] >= format::kMaxKernel || p[3] >= format::kMaxKernel)
      unsupported(n, "pads ", dims_str(p), " (lowbit pads both sides of H and W alike)");
    // The IR's pad value is a value of the codes: value = step * v.
    const float v = value / step_;
    const bool ok = v == std::nearbyint(v) && (v == 0.f || (codes_.pm1 && codes_.count == 1 && std::fabs(v) == 1.f));
    if (!ok) unsupported(n, "pad value ", value, " (", v, " steps of ", codes_.str(), " codes; lowbit pads with 0, or "
                         "+-1 on +-1 codes)");
    pad_ = {true, p[2], p[3], static_cast<int>(v)};
  }

  // ---- the end ---------------------------------------------------------------------------

  void finish() {
    if (stage_ != Stage::kAcc)
      fail("import: the graph's output '", g_.output_name(), "' is ",
           stage_ == Stage::kPixels ? "the input's floats" : "quantized codes",
           "; lowbit imports graphs whose output is the float scores of a last MatMul / Gemm");
    if (layer_.kind != LayerKind::kDense || layer_.pool.kernel)
      fail("import: the last layer '", layer_.name, "' is a convolution; lowbit's score layer is a MatMul / Gemm "
           "(Flatten the map first)");
    const bool exact = qonnx::fold_scores(map_, layer_);
    note(cat(layer_.name, ": scores", exact ? " (exact)" : " (float constants composed: see qonnx_import.hpp)"));
    if (report_) report_->exact_scores = exact;
    out_.layers.push_back(std::move(layer_));
    if (out_.name.empty()) out_.name = "qonnx";
    try {
      format::validate(out_);
    } catch (const Error& e) {
      fail("import: the graph does not fit lowbit's IR: ", e.what());
    }
  }

  void note(const std::string& s) {
    if (report_) report_->notes.push_back(s);
  }

  qonnx::Graph g_;
  ImportOptions opt_;
  ImportReport* report_;
  Stage stage_ = Stage::kPixels;
  TensorDims dims_;
  std::vector<int64_t> in_shape_;
  std::array<int64_t, 3> flat_from_{};  // the map (c, h, w) a flat tensor was flattened from
  std::vector<FloatOp> pixel_ops_;      // kPixels
  CodeFormat codes_;                    // kCodes: the codes, their step, the layer that made them
  float step_ = 1.f;
  int producer_ = -1;
  struct Pad {
    bool pending = false;
    int64_t h = 0, w = 0;
    int value = 0;
  } pad_;
  LayerDesc layer_;  // kAcc: the layer being read and what follows its accumulator
  qonnx::AccMap map_;
  format::ModelDesc out_;
};

}  // namespace

format::ModelDesc import_qonnx_bytes(const void* data, size_t size, const ImportOptions& opts, ImportReport* report) {
  LOWBIT_CHECK(size > 0, "import: the file is empty; not an ONNX model");
  LOWBIT_CHECK(size <= static_cast<size_t>(INT_MAX), "import: ", size,
               " bytes; an ONNX protobuf is at most 2 GiB (larger models keep their weights in external files, "
               "which lowbit does not read)");
  LOWBIT_CHECK(std::isfinite(opts.input_scale) && std::isfinite(opts.input_bias) && opts.input_scale != 0.f,
               "import: --input-scale ", opts.input_scale, " and --input-bias ", opts.input_bias,
               " must be finite (and the scale non-zero)");
  onnx::ModelProto m;
  LOWBIT_CHECK(m.ParseFromArray(data, static_cast<int>(size)),
               "import: not an ONNX model (the protobuf does not parse: a truncated or corrupted file, or another "
               "format)");
  LOWBIT_CHECK(m.has_graph() && m.graph().node_size() > 0,
               "import: not an ONNX model (no graph, or a graph without nodes)");
  // lowbit's own standard-ONNX exports (their quantizers are comparisons, their outputs the
  // scores and `label`): say so instead of failing on the second output.
  bool custom_domain = false;
  for (const onnx::OperatorSetIdProto& o : m.opset_import())
    custom_domain = custom_domain || !(o.domain().empty() || o.domain() == "ai.onnx");
  bool label = false;
  for (const onnx::ValueInfoProto& o : m.graph().output()) label = label || o.name() == "label";
  LOWBIT_CHECK(custom_domain || !label,
               "import: a standard ONNX file (lowbit export --format onnx or onnx-int8: quantizers as comparisons, "
               "outputs scores and 'label'); import reads QONNX: export the model with --format qonnx");
  FpContractScope fp;  // the float contract export folds in (core/fp_env.hpp)
  if (report) *report = {};
  format::ModelDesc d = Importer(m.graph(), opts, report).run();
  // A table with one level for every pixel is a model that ignores its input: almost always
  // a wrong --input-scale (1/255 given to a file that reads raw pixels, or the reverse).
  const auto& t = d.input.table;
  LOWBIT_CHECK(std::any_of(t.begin(), t.end(), [&](uint8_t v) { return v != t[0]; }),
               "import: every raw pixel 0..255 reaches the same input level ", int{t[0]}, " (--input-scale ",
               opts.input_scale, ", --input-bias ", opts.input_bias,
               "): the model would ignore its input. lowbit's own files read raw pixels (--input-scale 1); "
               "Brevitas models trained on [0, 1] pixels take --input-scale 0.00392156863");
  return d;
}

format::ModelDesc import_qonnx(const std::string& path, const ImportOptions& opts, ImportReport* report) {
  const std::vector<uint8_t> bytes = read_file(path);
  try {
    return import_qonnx_bytes(bytes.data(), bytes.size(), opts, report);
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
}

}  // namespace lowbit::interop
