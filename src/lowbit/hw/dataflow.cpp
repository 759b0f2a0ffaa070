#include "lowbit/hw/dataflow.hpp"

#include <algorithm>
#include <bit>
#include <map>

#include "lowbit/core/error.hpp"

namespace lowbit::hw {

using format::CodeFormat;
using format::LayerDesc;
using format::LayerKind;

int64_t DataType::min() const {
  switch (kind) {
    case Kind::kBinary: return 0;
    case Kind::kBipolar: return -1;
    case Kind::kUint: return 0;
    case Kind::kInt: return -(int64_t{1} << (bits - 1));
  }
  return 0;
}

int64_t DataType::max() const {
  switch (kind) {
    case Kind::kBinary: return 1;
    case Kind::kBipolar: return 1;
    case Kind::kUint: return (int64_t{1} << bits) - 1;
    case Kind::kInt: return (int64_t{1} << (bits - 1)) - 1;
  }
  return 0;
}

std::string DataType::name() const {
  switch (kind) {
    case Kind::kBinary: return "BINARY";
    case Kind::kBipolar: return "BIPOLAR";
    case Kind::kUint: return "UINT" + std::to_string(bits);
    case Kind::kInt: return "INT" + std::to_string(bits);
  }
  return "";
}

DataType datatype_for_range(int64_t lo, int64_t hi) {
  // ceil(log2(v)) for v >= 1 is the bit width of v - 1.
  auto ceil_log2 = [](int64_t v) { return v <= 1 ? 0 : static_cast<int>(std::bit_width(static_cast<uint64_t>(v - 1))); };
  if (lo >= 0) return DataType::uint(std::max(1, ceil_log2(hi + 1)));
  return DataType::sint(ceil_log2(std::max(-lo, hi + 1)) + 1);
}

const char* op_type(NodeKind k) {
  switch (k) {
    case NodeKind::kThresholding: return "Thresholding_hls";
    case NodeKind::kFmPadding: return "FMPadding_hls";
    case NodeKind::kSwu: return "ConvolutionInputGenerator_hls";
    case NodeKind::kMvau: return "MVAU_hls";
    case NodeKind::kMaxPool: return "StreamingMaxPool_hls";
    case NodeKind::kLabelSelect: return "LabelSelect_hls";
  }
  return "";
}

int64_t Node::instream_bits() const {
  switch (kind) {
    case NodeKind::kMvau: return simd * in.bits;
    case NodeKind::kSwu:
    case NodeKind::kFmPadding: return simd * in.bits;
    case NodeKind::kThresholding: return pe * in.bits;
    case NodeKind::kMaxPool: return channels * in.bits;
    case NodeKind::kLabelSelect: return pe * in.bits;
  }
  return 0;
}

int64_t Node::outstream_bits() const {
  switch (kind) {
    case NodeKind::kMvau: return pe * out.bits;
    case NodeKind::kSwu: return simd * in.bits;
    case NodeKind::kFmPadding: return simd * out.bits;
    case NodeKind::kThresholding: return pe * out.bits;
    case NodeKind::kMaxPool: return channels * in.bits;
    case NodeKind::kLabelSelect: return out.bits;
  }
  return 0;
}

Node* Graph::find(const std::string& name) {
  for (Node& n : nodes)
    if (n.name == name) return &n;
  return nullptr;
}
const Node* Graph::find(const std::string& name) const { return const_cast<Graph*>(this)->find(name); }

int64_t Graph::weight_bits() const {
  int64_t s = 0;
  for (const Node& n : nodes) s += n.weight_bits_total;
  return s;
}
int64_t Graph::threshold_bits() const {
  int64_t s = 0;
  for (const Node& n : nodes) s += n.threshold_bits_total;
  return s;
}
int64_t Graph::ops() const {
  int64_t s = 0;
  for (const Node& n : nodes) s += n.ops();
  return s;
}

namespace {

// The stream datatype of codes (count 1): BIPOLAR for +-1, UINTb, or INTb when a zero point
// makes the values signed (the stream still carries b-bit codes).
DataType code_type(const CodeFormat& c) {
  if (c.pm1) return DataType::bipolar();
  return c.zero_point ? DataType::sint(c.bits) : DataType::uint(c.bits);
}

std::string where(const LayerDesc& l, size_t i) { return cat("layer ", i, " (", l.name, ")"); }

// FINN's MinimizeAccumulatorWidth (matrixvectoractivation.py) on the layer's weights: the
// column-wise extremes of the dot product over the input's value range (QONNX's
// calculate_matvec_accumulator_range); in XNOR mode FINN takes the weights as 2w - 1 and
// the input as BINARY {0, 1}. Thresholds are clipped into this range, so they never widen it.
DataType finn_accumulator(const LayerDesc& l, bool xnor, int64_t in_lo, int64_t in_hi) {
  if (xnor) in_lo = 0, in_hi = 1;
  const int64_t k = l.in_fan();
  int64_t acc_min = 0, acc_max = 0;
  for (int64_t o = 0; o < l.out; ++o) {
    int64_t hi = 0, lo = 0;
    for (int64_t i = 0; i < k; ++i) {
      const int64_t w = l.weight(o, i);
      hi += w * (w > 0 ? in_hi : in_lo);
      lo += w * (w > 0 ? in_lo : in_hi);
    }
    if (o == 0 || hi > acc_max) acc_max = hi;
    if (o == 0 || lo < acc_min) acc_min = lo;
  }
  return datatype_for_range(acc_min, acc_max);
}

}  // namespace

Graph build_graph(const format::ModelDesc& desc) {
  LOWBIT_CHECK(!desc.layers.empty(), "model '", desc.name, "' has no layers");
  Graph g;
  g.model = desc.name;
  g.input = desc.input.shape;
  g.input_bytes = 1;
  for (int64_t d : desc.input.shape) g.input_bytes *= d;
  std::map<NodeKind, int> counts;
  auto add = [&](Node n) {
    n.name = cat(op_type(n.kind), "_", counts[n.kind]++);
    g.nodes.push_back(std::move(n));
    return &g.nodes.back();
  };

  // The input quantizer: 8-bit pixels into the first layer's codes.
  const LayerDesc& first = desc.layers.front();
  const CodeFormat in_codes = first.input;
  const auto& table = desc.input.table;
  bool increasing = true, monotone = true;
  for (int p = 1; p < 256; ++p) increasing &= table[p] > table[p - 1], monotone &= table[p] >= table[p - 1];
  if (!(in_codes.planes() == 8 && increasing)) {
    LOWBIT_CHECK(monotone, "input: the pixel table is not monotone, so no thresholds give it (the plan maps the input "
                           "quantizer to a MultiThreshold unit on 8-bit pixels)");
    Node t;
    t.kind = NodeKind::kThresholding;
    t.layer_name = "input";
    t.channels = first.kind == LayerKind::kConv ? first.in_c : first.in_fan();
    t.ifm_h = t.ofm_h = first.kind == LayerKind::kConv ? first.in_h : 1;
    t.ifm_w = t.ofm_w = first.kind == LayerKind::kConv ? first.in_w : 1;
    t.in = DataType::uint(8), t.in_lo = 0, t.in_hi = 255;
    t.out = code_type(in_codes);
    t.thresholds = in_codes.levels();
    t.acc = DataType::uint(8);
    t.ram_style = "distributed";  // FINN's default for Thresholding
    t.threshold_bits_total = t.channels * t.thresholds * 8;
    add(t);
  }

  for (size_t i = 0; i < desc.layers.size(); ++i) {
    const LayerDesc& l = desc.layers[i];
    const std::string at = where(l, i);
    LOWBIT_CHECK(!l.has_shortcut(), at, ": a residual shortcut has no unit in the dataflow planner (FINN needs "
                                        "DuplicateStreams + AddStreams and a threshold set per shortcut level)");
    LOWBIT_CHECK(!l.grouped(), at, ": SYQ's grouped scales (a float combination of partial sums) have no unit in the "
                                   "dataflow planner");
    LOWBIT_CHECK(!l.sum_pool.kernel, at, ": sum (average) pooling has no unit in the dataflow planner (use max pooling)");
    LOWBIT_CHECK(l.input.count == 1, at, ": input codes are window sums (", l.input.str(), ")");
    const DataType in = code_type(l.input);
    const int64_t in_lo = l.input.value(0), in_hi = l.input.value(l.input.levels());
    bool all_pm1 = true;
    int64_t wmin = 0, wmax = 0;
    for (size_t k = 0; k < l.weights.size(); ++k) {
      const int64_t w = l.weights[k];
      all_pm1 &= w == 1 || w == -1;
      wmin = k ? std::min(wmin, w) : w, wmax = k ? std::max(wmax, w) : w;
    }
    DataType in_pad = in;  // the MVAU's input: INT2 after exact-zero padding of +-1 maps

    if (l.kind == LayerKind::kConv) {
      int64_t h = l.in_h, w = l.in_w;
      DataType swu_in = in;
      if (l.pad_h || l.pad_w) {
        Node p;
        p.kind = NodeKind::kFmPadding;
        p.layer = static_cast<int>(i), p.layer_name = l.name;
        p.channels = l.in_c;
        p.ifm_h = h, p.ifm_w = w;
        p.pad_top = p.pad_bottom = l.pad_h, p.pad_left = p.pad_right = l.pad_w;
        p.pad_value = l.pad_value;
        h += 2 * l.pad_h, w += 2 * l.pad_w;
        p.ofm_h = h, p.ofm_w = w;
        p.in = in, p.in_lo = in_lo, p.in_hi = in_hi;
        // Exact-zero padding of +-1 maps: no 1-bit code holds 0, so the padded map is INT2
        // (-1, 0, +1) and the layer multiplies instead of XNORing (FINN cannot: its unit pads
        // code 0, which is -1 in the bipolar code).
        p.out = l.input.pm1 && l.pad_value == 0 ? DataType::sint(2) : in;
        swu_in = p.out;
        add(p);
      }
      in_pad = swu_in;
      Node s;
      s.kind = NodeKind::kSwu;
      s.layer = static_cast<int>(i), s.layer_name = l.name;
      s.channels = l.in_c;
      s.ifm_h = h, s.ifm_w = w;
      s.ofm_h = l.conv_h(), s.ofm_w = l.conv_w();
      s.kernel_h = l.kernel_h, s.kernel_w = l.kernel_w, s.stride = l.stride;
      s.in = swu_in, s.in_lo = in_lo, s.in_hi = in_hi;
      s.ram_style = "distributed";  // FINN's default for the SWU buffer
      add(s);
    }

    const bool xnor = all_pm1 && in_pad == DataType::bipolar();
    Node m;
    m.kind = NodeKind::kMvau;
    m.layer = static_cast<int>(i), m.layer_name = l.name;
    m.mw = l.in_fan(), m.mh = l.out, m.channels = l.out;
    m.vectors = l.conv_h() * l.conv_w();
    m.ofm_h = l.conv_h(), m.ofm_w = l.conv_w();
    m.xnor = xnor;
    m.in = xnor ? DataType::binary() : in_pad;
    m.in_lo = in_lo, m.in_hi = in_hi;
    m.weight = xnor ? DataType::binary() : all_pm1 ? DataType::bipolar() : datatype_for_range(wmin, wmax);
    m.acc = finn_accumulator(l, xnor, in_lo, in_hi);
    if (l.scores) {
      m.thresholds = 0;
      m.out = m.acc;
    } else {
      m.thresholds = l.levels;
      m.out = code_type(l.output);
      if (xnor && l.output.pm1) m.out = DataType::binary();
    }
    m.weight_bits_total = m.mw * m.mh * m.weight.bits;
    m.threshold_bits_total = m.mh * m.thresholds * m.acc.bits;
    const DataType out = m.out;
    add(m);

    if (l.pool.kernel) {
      LOWBIT_CHECK(l.pool.stride == l.pool.kernel, at, ": a max pool with stride ", l.pool.stride, " != window ",
                   l.pool.kernel, " needs a sliding-window pool unit the planner does not have");
      LOWBIT_CHECK(l.conv_h() % l.pool.kernel == 0 && l.conv_w() % l.pool.kernel == 0, at, ": a ", l.pool.kernel, "x",
                   l.pool.kernel, " max pool does not tile the ", l.conv_h(), "x", l.conv_w(),
                   " map (FINN's StreamingMaxPool needs the map to be a multiple of the window)");
      Node p;
      p.kind = NodeKind::kMaxPool;
      p.layer = static_cast<int>(i), p.layer_name = l.name;
      p.channels = l.out;
      p.ifm_h = l.conv_h(), p.ifm_w = l.conv_w();
      p.ofm_h = l.pooled_h(), p.ofm_w = l.pooled_w();
      p.kernel_h = p.kernel_w = p.stride = l.pool.kernel;
      p.in = out, p.out = out;
      add(p);
    }
    if (l.scores) {
      Node s;
      s.kind = NodeKind::kLabelSelect;
      s.layer = static_cast<int>(i), s.layer_name = l.name;
      s.channels = l.out;
      s.in = out;
      s.out = datatype_for_range(0, l.out - 1);
      add(s);
    }
  }
  return g;
}

DataType worst_case_accumulator(const Node& m) {
  // In XNOR mode FINN's weight type is BINARY {0, 1} and the input BINARY too.
  const int64_t lo = m.xnor ? 0 : m.in_lo, hi = m.xnor ? 1 : m.in_hi;
  auto range = [&](int64_t w, int64_t& rmin, int64_t& rmax) {
    rmax = m.mw * w * (w > 0 ? hi : lo);
    rmin = m.mw * w * (w > 0 ? lo : hi);
  };
  int64_t lmin, lmax, umin, umax;
  range(m.weight.min(), lmin, lmax);
  range(m.weight.max(), umin, umax);
  return datatype_for_range(std::min(lmin, umin), umax);
}

std::string describe(const Node& n) {
  switch (n.kind) {
    case NodeKind::kThresholding:
      return cat(n.channels, " channels x ", n.ifm_h * n.ifm_w, " pixels, ", n.in.name(), " -> ", n.out.name(), " (",
                 n.thresholds, " thresholds)");
    case NodeKind::kFmPadding:
      return cat(n.ifm_h, "x", n.ifm_w, "x", n.channels, " -> ", n.ofm_h, "x", n.ofm_w, ", pad value ", n.pad_value,
                 n.out == n.in ? "" : cat(" (", n.in.name(), " -> ", n.out.name(), ")"));
    case NodeKind::kSwu:
      return cat(n.kernel_h, "x", n.kernel_w, " stride ", n.stride, " on ", n.ifm_h, "x", n.ifm_w, "x", n.channels, " -> ",
                 n.ofm_h, "x", n.ofm_w, " windows");
    case NodeKind::kMvau:
      return cat(n.in.name(), " x ", n.weight.name(), n.xnor ? " (XNOR)" : "", " -> ",
                 n.thresholds ? n.out.name() : "acc " + n.acc.name(), n.vectors > 1 ? cat(", ", n.vectors, " vectors") : "");
    case NodeKind::kMaxPool:
      return cat(n.kernel_h, "x", n.kernel_w, " on ", n.ifm_h, "x", n.ifm_w, "x", n.channels);
    case NodeKind::kLabelSelect: return cat("top-1 of ", n.channels, " ", n.in.name());
  }
  return "";
}

}  // namespace lowbit::hw
