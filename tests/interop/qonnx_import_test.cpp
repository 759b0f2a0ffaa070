// `lowbit import` (interop/qonnx_import.hpp): lowbit's own QONNX export read back gives the
// same IR and bit-equal scores; Brevitas-layout graphs written here with the ONNX protobuf
// classes (an LFC-like MLP with BatchNormalization and a negative gamma, a CNV-like
// convolutional net with k-bit Quant activations, per-channel weight scales and a MaxPool
// after the quantizer) give the runtime the codes a plain float32 evaluation of the same
// graph gives; unsupported and malformed files are errors naming the node; the CLI imports
// and the result runs.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "cli/cli_util.hpp"
#include "interop/onnx_models.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/core/fp_env.hpp"
#include "lowbit/core/rng.hpp"
#include "lowbit/format/model_desc.hpp"
#include "lowbit/interop/onnx_export.hpp"
#include "lowbit/interop/qonnx_import.hpp"
#include "lowbit/runtime/engine.hpp"

namespace lowbit {
namespace {

using format::ModelDesc;
using interop::ImportOptions;
using interop::ImportReport;

ModelDesc import_bytes(const std::string& bytes, const ImportOptions& opt = {}, ImportReport* rep = nullptr) {
  return interop::import_qonnx_bytes(bytes.data(), bytes.size(), opt, rep);
}

// The error message of importing `bytes`, "" when it imports.
std::string import_error(const std::string& bytes, const ImportOptions& opt = {}) {
  try {
    import_bytes(bytes, opt);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

runtime::Engine engine_of(const ModelDesc& d) { return runtime::Engine::from_bytes(format::model_desc_bytes(d), "m"); }

std::vector<uint8_t> random_pixels(int64_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<uint8_t> v(static_cast<size_t>(n));
  for (auto& p : v) p = static_cast<uint8_t>(rng.below(256));
  return v;
}

// ---- (1) lowbit's own layout: export, import, the same IR ---------------------------------

void expect_same_ir(const ModelDesc& a, const ModelDesc& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.input.shape, b.input.shape);
  EXPECT_TRUE(a.input.codes == b.input.codes) << a.input.codes.str() << " vs " << b.input.codes.str();
  EXPECT_EQ(a.input.codes.zero_point, b.input.codes.zero_point);
  EXPECT_EQ(a.input.table, b.input.table);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    SCOPED_TRACE(cat("layer ", i));
    const format::LayerDesc &x = a.layers[i], &y = b.layers[i];
    EXPECT_EQ(x.kind, y.kind);
    EXPECT_EQ(std::vector<int64_t>({x.in_h, x.in_w, x.in_c, x.out}), std::vector<int64_t>({y.in_h, y.in_w, y.in_c, y.out}));
    EXPECT_TRUE(x.input == y.input) << x.input.str() << " vs " << y.input.str();
    EXPECT_EQ(std::vector<int64_t>({x.kernel_h, x.kernel_w, x.stride, x.pad_h, x.pad_w, x.pad_value}),
              std::vector<int64_t>({y.kernel_h, y.kernel_w, y.stride, y.pad_h, y.pad_w, y.pad_value}));
    EXPECT_EQ(std::vector<int64_t>({x.pool.kernel, x.pool.stride, x.sum_pool.kernel, x.sum_pool.stride}),
              std::vector<int64_t>({y.pool.kernel, y.pool.stride, y.sum_pool.kernel, y.sum_pool.stride}));
    EXPECT_EQ(x.weights, y.weights);  // the IR's sign-corrected weights, as the graph holds them
    // `negated` is informative and not in the graph: every channel comes back increasing.
    EXPECT_EQ(y.negated, std::vector<uint8_t>(static_cast<size_t>(y.out), 0));
    EXPECT_EQ(x.scores, y.scores);
    if (x.scores) {
      EXPECT_EQ(x.score.scale, y.score.scale);
      EXPECT_EQ(x.score.bias, y.score.bias);
      EXPECT_EQ(x.score.bn_mean, y.score.bn_mean);
      EXPECT_EQ(x.score.bn_scale, y.score.bn_scale);
      EXPECT_EQ(x.score.bn_shift, y.score.bn_shift);
    } else {
      EXPECT_TRUE(x.output == y.output) << x.output.str() << " vs " << y.output.str();
      EXPECT_EQ(x.output.zero_point, y.output.zero_point);
      EXPECT_EQ(x.levels, y.levels);
      EXPECT_EQ(x.thresholds, y.thresholds);
    }
  }
}

void expect_same_predictions(const ModelDesc& a, const ModelDesc& b, int64_t n, uint64_t seed) {
  runtime::Engine ea = engine_of(a), eb = engine_of(b);
  const auto& info = ea.info();
  const int64_t size = info.channels * info.height * info.width;
  const std::vector<uint8_t> images = random_pixels(n * size, seed);
  std::vector<float> sa(static_cast<size_t>(n * info.classes)), sb(sa.size());
  std::vector<int32_t> pa(static_cast<size_t>(n)), pb(pa.size());
  ea.run(images.data(), n, info.channels, info.height, info.width, sa.data(), pa.data());
  eb.run(images.data(), n, info.channels, info.height, info.width, sb.data(), pb.data());
  EXPECT_EQ(pa, pb);
  EXPECT_EQ(sa, sb);  // bit-equal: the score map comes back as the same operations
}

// The writer's tiny models, and a few more input forms: an 8-bit identity input with a zero
// point other than 128 (the writer's Quant is then 9 bits wide), a flat input, a 2-bit input
// table into a dense layer.
std::vector<std::pair<std::string, ModelDesc>> round_trip_models() {
  using format::CodeFormat;
  using K = format::LayerKind;
  auto v = testing::interop_models();
  testing::InteropLayer c{K::kConv, 4, CodeFormat::unsigned_bits(2, 1), 1, false};
  c.pad = 1;
  v.emplace_back("zero_point_3", testing::interop_model("zp3", {1, 5, 5}, CodeFormat::unsigned_bits(8, 3), "identity",
                                                        {c, {K::kDense, 5}}, 5));
  v.emplace_back("flat_input", testing::interop_model("flat", {20}, CodeFormat::plus_minus_one(), "step",
                                                      {{K::kDense, 8}, {K::kDense, 4}}, 6));
  v.emplace_back("table_into_dense", testing::interop_model("tbl", {2, 3, 3}, CodeFormat::unsigned_bits(2), "table",
                                                            {{K::kDense, 6, CodeFormat::unsigned_bits(2, 1)},
                                                             {K::kDense, 3}}, 7));
  return v;
}

TEST(QonnxImport, LowbitsOwnExportComesBackAsTheSameIr) {
  for (const auto& [what, desc] : round_trip_models()) {
    SCOPED_TRACE(what);
    const std::string bytes = interop::onnx_model_bytes(desc, interop::OnnxDialect::kQonnx);
    ImportReport rep;
    const ModelDesc back = import_bytes(bytes, {}, &rep);
    EXPECT_TRUE(rep.exact_scores);
    expect_same_ir(desc, back);
    expect_same_predictions(desc, back, 64, 7);
    // And once more: the imported IR exports to the same graph.
    EXPECT_EQ(interop::onnx_model_bytes(back, interop::OnnxDialect::kQonnx), bytes);
  }
}

// The standard-ONNX dialect (scores and labels out; thresholds as GreaterOrEqual + ReduceSum)
// is not what the importer reads; it says so.
TEST(QonnxImport, StandardOnnxDialectIsRefused) {
  const ModelDesc desc = testing::interop_models().front().second;
  const std::string e = import_error(interop::onnx_model_bytes(desc, interop::OnnxDialect::kStandard));
  EXPECT_NE(e.find("import: a standard ONNX file"), std::string::npos) << e;
}

// ---- graphs written here -----------------------------------------------------------------

// A small builder over the protobuf classes: initializers, nodes, the input and the output.
struct GraphWriter {
  onnx::ModelProto m;
  onnx::GraphProto* g;
  explicit GraphWriter(const std::string& name) {
    m.set_ir_version(8);
    m.set_producer_name("brevitas-like (test)");
    auto* o = m.add_opset_import();
    o->set_domain("");
    o->set_version(13);
    o = m.add_opset_import();
    o->set_domain("qonnx.custom_op.general");
    o->set_version(1);
    g = m.mutable_graph();
    g->set_name(name);
  }
  std::string init(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& v) {
    onnx::TensorProto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
    return name;
  }
  std::string scalar(const std::string& name, float v) { return init(name, {}, {v}); }
  std::string ints(const std::string& name, const std::vector<int64_t>& v) {
    onnx::TensorProto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(v.size()));
    for (int64_t x : v) t->add_int64_data(x);
    return name;
  }
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& in, const std::string& out,
                        const std::string& name = "") {
    onnx::NodeProto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(name.empty() ? op + "_" + out : name);
    for (const auto& i : in) n->add_input(i);
    n->add_output(out);
    if (op == "BipolarQuant" || op == "Quant" || op == "MultiThreshold") n->set_domain("qonnx.custom_op.general");
    return n;
  }
  static void attr(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(onnx::NodeProto* n, const std::string& name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void attr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void set_dims(onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& dims) {
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
  }
  void input(const std::string& name, const std::vector<int64_t>& dims) { set_dims(g->add_input(), name, dims); }
  void output(const std::string& name, const std::vector<int64_t>& dims) { set_dims(g->add_output(), name, dims); }
  std::string bytes() const {
    std::string s;
    m.SerializeToString(&s);
    return s;
  }
};

// BatchNormalization's constants for `c` channels on accumulators of K +-1 products: means
// and variances on that scale, gammas of both signs (channel 1 negative, channel 2 zero) and
// some channels whose boundary is an exact tie (integer mean, beta 0).
struct Bn {
  std::vector<float> gamma, beta, mean, var;
  float eps = 1e-4f;
};
Bn random_bn(int64_t c, int64_t K, Rng& rng) {
  Bn b;
  const float spread = std::sqrt(static_cast<float>(K));
  for (int64_t o = 0; o < c; ++o) {
    b.gamma.push_back(o == 1 ? -0.8f : o == 2 ? 0.f : rng.uniform(-1.5f, 1.5f));
    b.beta.push_back(o % 5 == 4 ? 0.f : rng.uniform(-0.5f, 0.5f));
    b.mean.push_back(o % 5 == 4 ? static_cast<float>(static_cast<int>(K % 2) + 2 * static_cast<int>(o / 5) - 2)
                                : rng.uniform(-1.f, 1.f) * spread);
    b.var.push_back(spread * spread * rng.uniform(0.2f, 2.f));
  }
  return b;
}
void add_bn(GraphWriter& w, const std::string& in, const std::string& out, const std::string& p, const Bn& b) {
  const int64_t c = static_cast<int64_t>(b.gamma.size());
  auto* n = w.node("BatchNormalization",
                   {in, w.init(p + "_gamma", {c}, b.gamma), w.init(p + "_beta", {c}, b.beta),
                    w.init(p + "_mean", {c}, b.mean), w.init(p + "_var", {c}, b.var)},
                   out);
  GraphWriter::attr(n, "epsilon", b.eps);
  GraphWriter::attr(n, "momentum", 0.9f);
}
// ONNX BatchNormalization as its definition writes it, float32 step by step.
float bn_ref(const Bn& b, int64_t c, float x) {
  const float d = x - b.mean[static_cast<size_t>(c)];
  const float r = std::sqrt(b.var[static_cast<size_t>(c)] + b.eps);
  const float q = d / r;
  const float p = q * b.gamma[static_cast<size_t>(c)];
  return p + b.beta[static_cast<size_t>(c)];
}

std::vector<float> random_weights(int64_t n, Rng& rng) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = rng.normal() * 0.1f;
  return v;
}
float sign_of(float w) { return w >= 0.f ? 1.f : -1.f; }

// ---- (2a) Brevitas' LFC layout -----------------------------------------------------------

// BNN-PYNQ's FC (brevitas_examples/bnn_pynq/models/FC.py) at a small size: x.view(1, -1),
// 2x - 1, a bipolar input quantizer, then per layer QuantLinear (weights [out, in] ->
// BipolarQuant -> Transpose -> MatMul), BatchNorm1d, a bipolar QuantIdentity; the last
// layer's MatMul and a BatchNormalization give the scores. Layer 1's weights have scale 0.5
// and a bias (folded into its thresholds).
struct Lfc {
  int64_t in = 0, hidden = 0, classes = 0;
  std::vector<float> w0, w1, w2, bias1;  // [out, in] floats before their quantizers
  Bn bn0, bn1, bn2;
  std::string bytes;
};
constexpr float kPixelScale = 1.f / 255.f;

Lfc brevitas_lfc(int64_t h, int64_t w_, int64_t hidden, int64_t classes, uint64_t seed, bool gemm = false) {
  Rng rng(seed);
  Lfc f;
  f.in = h * w_, f.hidden = hidden, f.classes = classes;
  f.w0 = random_weights(hidden * f.in, rng);
  f.w1 = random_weights(hidden * hidden, rng);
  f.w2 = random_weights(classes * hidden, rng);
  for (int64_t o = 0; o < hidden; ++o) f.bias1.push_back(rng.uniform(-2.f, 2.f));
  f.bn0 = random_bn(hidden, f.in, rng);
  f.bn1 = random_bn(hidden, hidden, rng);
  f.bn2 = random_bn(classes, hidden, rng);
  for (float& v : f.bn2.var) v *= 0.02f;  // scores that depend on the accumulator more than on beta
  GraphWriter w("brevitas_lfc_tiny");
  w.input("global_in", {1, 1, h, w_});
  w.node("Reshape", {"global_in", w.ints("flat_shape", {1, -1})}, "flat");
  w.node("Mul", {"flat", w.scalar("two", 2.f)}, "x2");
  w.node("Sub", {"x2", w.scalar("one", 1.f)}, "xc");
  w.node("BipolarQuant", {"xc", w.scalar("in_scale", 1.f)}, "xq");
  auto linear = [&](const std::string& p, const std::string& in, const std::vector<float>& weights, int64_t out,
                    int64_t k, float scale) {
    w.node("BipolarQuant", {w.init(p + "_w", {out, k}, weights), w.scalar(p + "_wscale", scale)}, p + "_wq");
    GraphWriter::attr(w.node("Transpose", {p + "_wq"}, p + "_wt"), "perm", std::vector<int64_t>{1, 0});
    w.node("MatMul", {in, p + "_wt"}, p + "_mm");
  };
  linear("l0", "xq", f.w0, hidden, f.in, 1.f);
  add_bn(w, "l0_mm", "l0_bn", "l0", f.bn0);
  w.node("BipolarQuant", {"l0_bn", w.scalar("l0_ascale", 1.f)}, "l0_act");
  if (gemm) {  // torch's export of nn.Linear with a bias: Gemm(x, W, b, transB = 1)
    w.node("BipolarQuant", {w.init("l1_w", {hidden, hidden}, f.w1), w.scalar("l1_wscale", 0.5f)}, "l1_wq");
    auto* g = w.node("Gemm", {"l0_act", "l1_wq", w.init("l1_bias", {hidden}, f.bias1)}, "l1_biased");
    GraphWriter::attr(g, "transB", int64_t{1});
  } else {
    linear("l1", "l0_act", f.w1, hidden, hidden, 0.5f);
    w.node("Add", {"l1_mm", w.init("l1_bias", {hidden}, f.bias1)}, "l1_biased");
  }
  add_bn(w, "l1_biased", "l1_bn", "l1", f.bn1);
  w.node("BipolarQuant", {"l1_bn", w.scalar("l1_ascale", 1.f)}, "l1_act");
  linear("l2", "l1_act", f.w2, classes, hidden, 1.f);
  add_bn(w, "l2_mm", "global_out", "l2", f.bn2);
  w.output("global_out", {1, classes});
  f.bytes = w.bytes();
  return f;
}

// The graph evaluated in float32 as written: the scores, and each layer's MatMul output.
std::vector<float> lfc_ref(const Lfc& f, const uint8_t* img, std::vector<std::vector<float>>* mm = nullptr) {
  FpContractScope fp;
  std::vector<float> x(static_cast<size_t>(f.in));
  for (int64_t i = 0; i < f.in; ++i) {
    float v = static_cast<float>(img[i]) * kPixelScale;
    v = v + 0.f;
    v = v * 2.f;
    v = v - 1.f;
    x[static_cast<size_t>(i)] = sign_of(v);
  }
  auto matmul = [&](const std::vector<float>& in, const std::vector<float>& w, int64_t out, float scale) {
    std::vector<float> y(static_cast<size_t>(out), 0.f);
    const int64_t k_n = static_cast<int64_t>(in.size());
    for (int64_t o = 0; o < out; ++o)
      for (int64_t k = 0; k < k_n; ++k)
        y[static_cast<size_t>(o)] += in[static_cast<size_t>(k)] * (sign_of(w[static_cast<size_t>(o * k_n + k)]) * scale);
    if (mm) mm->push_back(y);
    return y;
  };
  std::vector<float> a = matmul(x, f.w0, f.hidden, 1.f);
  for (int64_t o = 0; o < f.hidden; ++o) a[static_cast<size_t>(o)] = sign_of(bn_ref(f.bn0, o, a[static_cast<size_t>(o)]));
  std::vector<float> b = matmul(a, f.w1, f.hidden, 0.5f);
  for (int64_t o = 0; o < f.hidden; ++o) {
    const float y = b[static_cast<size_t>(o)] + f.bias1[static_cast<size_t>(o)];
    b[static_cast<size_t>(o)] = sign_of(bn_ref(f.bn1, o, y));
  }
  std::vector<float> s = matmul(b, f.w2, f.classes, 1.f);
  for (int64_t o = 0; o < f.classes; ++o) s[static_cast<size_t>(o)] = bn_ref(f.bn2, o, s[static_cast<size_t>(o)]);
  return s;
}

TEST(QonnxImport, BrevitasLfcLayoutRunsAsItsFloatGraph) {
  const Lfc f = brevitas_lfc(6, 5, 24, 7, 11);
  ImportOptions opt;
  opt.input_scale = kPixelScale;
  ImportReport rep;
  const ModelDesc d = import_bytes(f.bytes, opt, &rep);
  EXPECT_FALSE(rep.exact_scores);  // a BatchNormalization on the scores: rounded as (x - mean) * scale + shift
  ASSERT_EQ(d.layers.size(), 3u);
  EXPECT_EQ(d.input.shape, (std::vector<int64_t>{1, 6, 5}));
  EXPECT_TRUE(d.input.codes.pm1);
  for (int p = 0; p < 256; ++p)  // 2 p / 255 - 1 >= 0 from p = 128 on, in float32
    EXPECT_EQ(d.input.table[static_cast<size_t>(p)], p >= 128 ? 1 : 0) << p;
  // Channel 1's gamma < 0: its weights are negated (and it is not the only one).
  EXPECT_EQ(d.layers[0].negated[1], 1);
  EXPECT_EQ(d.layers[1].negated[1], 1);
  EXPECT_EQ(d.layers[0].negated[0], f.bn0.gamma[0] < 0 ? 1 : 0);

  runtime::Engine e = engine_of(d);
  const int64_t n = 300, size = f.in;
  const std::vector<uint8_t> images = random_pixels(n * size, 5);
  std::vector<float> scores(static_cast<size_t>(n * f.classes));
  std::vector<int32_t> pred(static_cast<size_t>(n));
  e.run(images.data(), n, 1, 6, 5, scores.data(), pred.data());
  const std::vector<std::vector<int32_t>> acc = e.trace(images.data(), n, 1, 6, 5);
  int64_t near_ties = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<std::vector<float>> mm;
    const std::vector<float> ref = lfc_ref(f, images.data() + i * size, &mm);
    // Every layer's accumulator is the graph's MatMul output (layer 1: over its scale 0.5):
    // the hidden codes are the same, bit for bit.
    for (int l = 0; l < 3; ++l) {
      const int64_t outs = l == 2 ? f.classes : f.hidden;
      for (int64_t o = 0; o < outs; ++o)
        ASSERT_EQ(static_cast<float>(acc[static_cast<size_t>(l)][static_cast<size_t>(i * outs + o)]) * (l == 1 ? 0.5f : 1.f),
                  mm[static_cast<size_t>(l)][static_cast<size_t>(o)])
            << "image " << i << " layer " << l << " output " << o;
    }
    // Scores: the same up to the BatchNorm's rounding; the class where the top two differ.
    std::vector<float> sorted = ref;
    std::sort(sorted.begin(), sorted.end());
    const float margin = sorted[sorted.size() - 1] - sorted[sorted.size() - 2];
    for (int64_t c = 0; c < f.classes; ++c)
      EXPECT_NEAR(scores[static_cast<size_t>(i * f.classes + c)], ref[static_cast<size_t>(c)],
                  1e-5f * (1.f + std::fabs(ref[static_cast<size_t>(c)])));
    if (margin <= 1e-4f * (1.f + std::fabs(sorted.back()))) {
      ++near_ties;
      continue;
    }
    EXPECT_EQ(pred[static_cast<size_t>(i)], format::argmax_first(ref.data(), f.classes)) << "image " << i;
  }
  EXPECT_LT(near_ties, 3);
}

// torch exports nn.Linear with a bias as Gemm(transB = 1): the same IR as Transpose + MatMul
// + Add.
TEST(QonnxImport, GemmWithTransposedWeightsAndBiasIsTheSameLayer) {
  ImportOptions opt;
  opt.input_scale = kPixelScale;
  const ModelDesc a = import_bytes(brevitas_lfc(6, 5, 24, 7, 11).bytes, opt);
  const ModelDesc b = import_bytes(brevitas_lfc(6, 5, 24, 7, 11, true).bytes, opt);
  EXPECT_EQ(a.layers[1].weights, b.layers[1].weights);
  EXPECT_EQ(a.layers[1].thresholds, b.layers[1].thresholds);
  EXPECT_EQ(a.layers[1].negated, b.layers[1].negated);
}

// The BatchNorm constants on the exact tie: a channel with integer mean and beta 0 is +1 at
// acc = mean (BipolarQuant's x >= 0), so its threshold is the mean itself.
TEST(QonnxImport, BatchNormThresholdIsTheSmallestAccumulatorReachingZero) {
  const Lfc f = brevitas_lfc(6, 5, 24, 7, 11);
  ImportOptions opt;
  opt.input_scale = kPixelScale;
  const ModelDesc d = import_bytes(f.bytes, opt);
  const format::LayerDesc& l = d.layers[0];
  for (int64_t o = 4; o < l.out; o += 5) {
    ASSERT_EQ(f.bn0.beta[static_cast<size_t>(o)], 0.f);
    const float g = f.bn0.gamma[static_cast<size_t>(o)];
    if (g == 0.f) continue;
    const int32_t mean = static_cast<int32_t>(f.bn0.mean[static_cast<size_t>(o)]);
    // gamma > 0: acc >= mean; gamma < 0: -acc >= -mean (the weights negated).
    EXPECT_EQ(l.thresholds[static_cast<size_t>(o)], g > 0 ? mean : -mean) << "channel " << o;
    EXPECT_EQ(l.negated[static_cast<size_t>(o)], g < 0 ? 1 : 0);
  }
  // Gamma 0 (channel 2): beta decides for every accumulator.
  const bool on = f.bn0.beta[2] >= 0.f;
  EXPECT_EQ(l.thresholds[2], on ? INT32_MIN : INT32_MAX);
}

// ---- (2b) a CNV-like convolutional layout ------------------------------------------------

// Brevitas' CNV pattern at a small size: 2x - 1 then an 8-bit signed input quantizer (scale
// 2^-7, BNN-PYNQ's fixed-point input); Conv (+-1 weights) -> BatchNormalization -> Quant
// 2-bit signed activations (scale 0.5: values -1, -0.5, 0, 0.5) -> MaxPool after the
// quantizer; Conv with ternary weights of a per-output-channel scale -> BatchNormalization ->
// BipolarQuant; Flatten -> MatMul -> Mul, Add (the scores, exact).
struct Cnv {
  int64_t c = 3, hw = 10, c1 = 6, c2 = 5, classes = 4;
  std::vector<float> w0, w1, w1_scale, w2, score_scale, score_bias;
  Bn bn0, bn1;
  std::string bytes;
};

Cnv brevitas_cnv(uint64_t seed) {
  Rng rng(seed);
  Cnv f;
  f.w0 = random_weights(f.c1 * f.c * 9, rng);
  f.w1 = random_weights(f.c2 * f.c1 * 9, rng);
  for (float& v : f.w1) v *= 5.f;  // ternary codes of every kind under scales 0.25 .. 0.75
  for (int64_t o = 0; o < f.c2; ++o) f.w1_scale.push_back(0.25f * static_cast<float>(1 + o % 3));
  f.w2 = random_weights(f.c2 * 4 * f.classes, rng);
  for (int64_t o = 0; o < f.classes; ++o) {
    f.score_scale.push_back(rng.uniform(0.05f, 0.3f));
    f.score_bias.push_back(rng.uniform(-1.f, 1.f));
  }
  f.bn0 = random_bn(f.c1, 27 * 64, rng);
  f.bn1 = random_bn(f.c2, 54, rng);
  for (float& m : f.bn0.mean) m *= 0.05f;  // inputs in [-1, 1]: sums of a few units
  for (float& v : f.bn0.var) v *= 2e-3f;
  for (float& m : f.bn1.mean) m *= 0.2f;
  GraphWriter w("brevitas_cnv_tiny");
  w.input("global_in", {1, f.c, f.hw, f.hw});
  w.node("Mul", {"global_in", w.scalar("two", 2.f)}, "x2");
  w.node("Sub", {"x2", w.scalar("one", 1.f)}, "xc");
  auto quant = [&](const std::string& in, const std::string& out, const std::string& p, float scale, float bits,
                   int64_t sgn, int64_t narrow) {
    auto* q = w.node("Quant", {in, w.scalar(p + "_s", scale), w.scalar(p + "_z", 0.f), w.scalar(p + "_b", bits)}, out);
    GraphWriter::attr(q, "signed", sgn);
    GraphWriter::attr(q, "narrow", narrow);
  };
  quant("xc", "xq", "in", 1.f / 128, 8, 1, 0);
  w.node("BipolarQuant", {w.init("c0_w", {f.c1, f.c, 3, 3}, f.w0), w.scalar("c0_ws", 1.f)}, "c0_wq");
  auto* c0 = w.node("Conv", {"xq", "c0_wq"}, "c0");
  GraphWriter::attr(c0, "kernel_shape", std::vector<int64_t>{3, 3});
  add_bn(w, "c0", "c0_bn", "c0", f.bn0);
  quant("c0_bn", "c0_act", "c0_a", 0.5f, 2, 1, 0);
  auto* mp = w.node("MaxPool", {"c0_act"}, "c0_pool");
  GraphWriter::attr(mp, "kernel_shape", std::vector<int64_t>{2, 2});
  GraphWriter::attr(mp, "strides", std::vector<int64_t>{2, 2});
  quant(w.init("c1_w", {f.c2, f.c1, 3, 3}, f.w1), "c1_wq", "c1_wquant", 1.f, 2, 1, 1);
  // The ternary quantizer's scale per output channel: w / s rounds to -1, 0, +1.
  w.g->mutable_node(w.g->node_size() - 1)->set_input(1, w.init("c1_wscale", {f.c2, 1, 1, 1}, f.w1_scale));
  w.node("Conv", {"c0_pool", "c1_wq"}, "c1");
  add_bn(w, "c1", "c1_bn", "c1", f.bn1);
  w.node("BipolarQuant", {"c1_bn", w.scalar("c1_as", 1.f)}, "c1_act");
  GraphWriter::attr(w.node("Flatten", {"c1_act"}, "flat"), "axis", int64_t{1});
  w.node("BipolarQuant", {w.init("d_w", {f.c2 * 4, f.classes}, f.w2), w.scalar("d_ws", 1.f)}, "d_wq");
  w.node("MatMul", {"flat", "d_wq"}, "d_mm");
  w.node("Mul", {"d_mm", w.init("d_scale", {1, f.classes}, f.score_scale)}, "d_scaled");
  w.node("Add", {"d_scaled", w.init("d_bias", {f.classes}, f.score_bias)}, "global_out");
  w.output("global_out", {1, f.classes});
  f.bytes = w.bytes();
  return f;
}

float quant_ref(float x, float scale, float lo, float hi) {
  float v = x / scale;
  v = v + 0.f;
  v = std::min(std::max(v, lo), hi);
  return std::nearbyint(v) * scale;
}

// The CNV graph in float32, NCHW, as written.
std::vector<float> cnv_ref(const Cnv& f, const uint8_t* img) {
  FpContractScope fp;
  const int64_t H = f.hw;
  std::vector<float> x(static_cast<size_t>(f.c * H * H));
  for (size_t i = 0; i < x.size(); ++i) {
    float v = static_cast<float>(img[i]) * kPixelScale;
    v = v + 0.f;
    v = v * 2.f;
    v = v - 1.f;
    x[i] = quant_ref(v, 1.f / 128, -128, 127);
  }
  auto conv = [](const std::vector<float>& in, int64_t C, int64_t h, const std::function<float(int64_t)>& weight,
                 int64_t O) {
    const int64_t oh = h - 2;
    std::vector<float> y(static_cast<size_t>(O * oh * oh), 0.f);
    for (int64_t o = 0; o < O; ++o)
      for (int64_t yy = 0; yy < oh; ++yy)
        for (int64_t xx = 0; xx < oh; ++xx) {
          float s = 0.f;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t ky = 0; ky < 3; ++ky)
              for (int64_t kx = 0; kx < 3; ++kx)
                s += in[static_cast<size_t>((c * h + yy + ky) * h + xx + kx)] * weight(((o * C + c) * 3 + ky) * 3 + kx);
          y[static_cast<size_t>((o * oh + yy) * oh + xx)] = s;
        }
    return y;
  };
  // Conv 0, BN, 2-bit quantizer, 2x2 max pool.
  std::vector<float> a = conv(x, f.c, H, [&](int64_t i) { return sign_of(f.w0[static_cast<size_t>(i)]); }, f.c1);
  const int64_t h1 = H - 2;
  for (int64_t o = 0; o < f.c1; ++o)
    for (int64_t i = 0; i < h1 * h1; ++i) {
      float& v = a[static_cast<size_t>(o * h1 * h1 + i)];
      v = quant_ref(bn_ref(f.bn0, o, v), 0.5f, -2, 1);
    }
  const int64_t hp = h1 / 2;
  std::vector<float> p(static_cast<size_t>(f.c1 * hp * hp));
  for (int64_t o = 0; o < f.c1; ++o)
    for (int64_t y = 0; y < hp; ++y)
      for (int64_t xx = 0; xx < hp; ++xx) {
        float m = -INFINITY;
        for (int64_t dy = 0; dy < 2; ++dy)
          for (int64_t dx = 0; dx < 2; ++dx)
            m = std::max(m, a[static_cast<size_t>((o * h1 + 2 * y + dy) * h1 + 2 * xx + dx)]);
        p[static_cast<size_t>((o * hp + y) * hp + xx)] = m;
      }
  // Conv 1 with ternary weights times their channel's scale, BN, bipolar.
  std::vector<float> b = conv(p, f.c1, hp, [&](int64_t i) {
    const float s = f.w1_scale[static_cast<size_t>(i / (f.c1 * 9))];
    return quant_ref(f.w1[static_cast<size_t>(i)], s, -1, 1);
  }, f.c2);
  const int64_t h2 = hp - 2;
  for (int64_t o = 0; o < f.c2; ++o)
    for (int64_t i = 0; i < h2 * h2; ++i) {
      float& v = b[static_cast<size_t>(o * h2 * h2 + i)];
      v = sign_of(bn_ref(f.bn1, o, v));
    }
  // Flatten (c, y, x), MatMul, Mul, Add.
  std::vector<float> s(static_cast<size_t>(f.classes), 0.f);
  for (int64_t o = 0; o < f.classes; ++o) {
    for (int64_t k = 0; k < static_cast<int64_t>(b.size()); ++k)
      s[static_cast<size_t>(o)] += b[static_cast<size_t>(k)] * sign_of(f.w2[static_cast<size_t>(k * f.classes + o)]);
    s[static_cast<size_t>(o)] = s[static_cast<size_t>(o)] * f.score_scale[static_cast<size_t>(o)];
    s[static_cast<size_t>(o)] = s[static_cast<size_t>(o)] + f.score_bias[static_cast<size_t>(o)];
  }
  return s;
}

TEST(QonnxImport, BrevitasCnvLayoutGivesTheFloatGraphsScoresExactly) {
  const Cnv f = brevitas_cnv(3);
  ImportOptions opt;
  opt.input_scale = kPixelScale;
  ImportReport rep;
  const ModelDesc d = import_bytes(f.bytes, opt, &rep);
  EXPECT_TRUE(rep.exact_scores);
  ASSERT_EQ(d.layers.size(), 3u);
  EXPECT_EQ(d.input.codes, format::CodeFormat::unsigned_bits(8, 128));
  EXPECT_EQ(d.layers[0].output, format::CodeFormat::unsigned_bits(2, 2));  // q in -2..1: level q + 2
  EXPECT_EQ(d.layers[0].pool.kernel, 2);
  EXPECT_EQ(d.layers[0].negated[1], 1);
  EXPECT_EQ(d.layers[2].in_h, 2);
  EXPECT_EQ(d.layers[2].in_c, f.c2);

  runtime::Engine e = engine_of(d);
  const int64_t n = 200, size = f.c * f.hw * f.hw;
  const std::vector<uint8_t> images = random_pixels(n * size, 9);
  std::vector<float> scores(static_cast<size_t>(n * f.classes));
  std::vector<int32_t> pred(static_cast<size_t>(n));
  e.run(images.data(), n, f.c, f.hw, f.hw, scores.data(), pred.data());
  std::set<int32_t> classes;
  for (int64_t i = 0; i < n; ++i) {
    const std::vector<float> ref = cnv_ref(f, images.data() + i * size);
    for (int64_t c = 0; c < f.classes; ++c)
      ASSERT_EQ(scores[static_cast<size_t>(i * f.classes + c)], ref[static_cast<size_t>(c)]) << "image " << i;
    EXPECT_EQ(pred[static_cast<size_t>(i)], format::argmax_first(ref.data(), f.classes));
    classes.insert(pred[static_cast<size_t>(i)]);
  }
  EXPECT_GE(classes.size(), 2u);  // the scores carry information
}

// ---- (3) errors ------------------------------------------------------------------------

// The Brevitas LFC with one node replaced or edited.
std::string edited_lfc(const std::function<void(onnx::ModelProto&)>& edit) {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(brevitas_lfc(4, 4, 8, 3, 1).bytes));
  edit(m);
  std::string s;
  m.SerializeToString(&s);
  return s;
}
onnx::NodeProto* node_named(onnx::ModelProto& m, const std::string& name) {
  for (auto& n : *m.mutable_graph()->mutable_node())
    if (n.name() == name) return &n;
  ADD_FAILURE() << "no node " << name;
  return m.mutable_graph()->mutable_node(0);
}

TEST(QonnxImport, UnsupportedNodesAreNamed) {
  ImportOptions opt;
  opt.input_scale = kPixelScale;
  // A Relu instead of the first activation quantizer.
  std::string e = import_error(edited_lfc([](onnx::ModelProto& m) {
    onnx::NodeProto* n = node_named(m, "BipolarQuant_l0_act");
    n->set_name("Relu_3");
    n->set_op_type("Relu");
    n->set_domain("");
    n->mutable_input()->RemoveLast();
  }), opt);
  EXPECT_NE(e.find("import: node 'Relu_3' (Relu) is not supported: a float activation"), std::string::npos) << e;
  // An unknown domain.
  e = import_error(edited_lfc([](onnx::ModelProto& m) { node_named(m, "BipolarQuant_l0_act")->set_domain("com.acme"); }), opt);
  EXPECT_NE(e.find("node 'BipolarQuant_l0_act' (BipolarQuant) is not supported: domain 'com.acme'"), std::string::npos) << e;
  // Gemm with transA.
  e = import_error(edited_lfc([](onnx::ModelProto& m) {
    onnx::NodeProto* n = node_named(m, "MatMul_l1_mm");
    n->set_op_type("Gemm");
    GraphWriter::attr(n, "transA", int64_t{1});
  }), opt);
  EXPECT_NE(e.find("node 'MatMul_l1_mm' (Gemm) is not supported: transA = 1"), std::string::npos) << e;
  // Weights that are not constants: the MatMul reads the activations twice over.
  e = import_error(edited_lfc([](onnx::ModelProto& m) { node_named(m, "MatMul_l1_mm")->set_input(1, "l0_bn"); }), opt);
  EXPECT_NE(e.find("is read by 2 nodes"), std::string::npos) << e;
  // A branch: a second reader of the activations.
  e = import_error(edited_lfc([](onnx::ModelProto& m) {
    onnx::NodeProto* n = m.mutable_graph()->add_node();
    n->set_op_type("Identity");
    n->set_name("spy");
    n->add_input("l0_act");
    n->add_output("spy_out");
  }), opt);
  EXPECT_NE(e.find("tensor 'l0_act' is read by 2 nodes"), std::string::npos) << e;
  EXPECT_NE(e.find("residual"), std::string::npos) << e;
  // A weight scale varying along the dot product.
  e = import_error(edited_lfc([](onnx::ModelProto& m) {
    for (auto& t : *m.mutable_graph()->mutable_initializer())
      if (t.name() == "l0_wscale") {
        t.add_dims(1), t.add_dims(16);
        std::vector<float> v(16, 1.f);
        v[3] = 2.f;
        t.set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), 64));
      }
  }), opt);
  EXPECT_NE(e.find("node 'MatMul_l0_mm' (MatMul) is not supported: its weight scales vary"), std::string::npos) << e;
}

TEST(QonnxImport, ConvWithDilationsOrGroupsIsRefusedNamingTheNode) {
  Cnv f = brevitas_cnv(3);
  auto edited = [&](const std::function<void(onnx::NodeProto&)>& edit) {
    onnx::ModelProto m;
    m.ParseFromString(f.bytes);
    for (auto& n : *m.mutable_graph()->mutable_node())
      if (n.name() == "Conv_c0") edit(n);
    std::string s;
    m.SerializeToString(&s);
    return import_error(s);
  };
  std::string e = edited([](onnx::NodeProto& n) { GraphWriter::attr(&n, "dilations", std::vector<int64_t>{2, 2}); });
  EXPECT_NE(e.find("node 'Conv_c0' (Conv) is not supported: dilations [2, 2]"), std::string::npos) << e;
  e = edited([](onnx::NodeProto& n) { GraphWriter::attr(&n, "group", int64_t{3}); });
  EXPECT_NE(e.find("node 'Conv_c0' (Conv) is not supported: a grouped convolution"), std::string::npos) << e;
}

TEST(QonnxImport, BipolarQuantWithoutItsScaleIsRefused) {
  std::string e = import_error(edited_lfc([](onnx::ModelProto& m) {
    node_named(m, "BipolarQuant_l0_act")->mutable_input()->RemoveLast();
  }));
  EXPECT_NE(e.find("import: node 'BipolarQuant_l0_act' (BipolarQuant): its scale input (input 1) is missing"),
            std::string::npos) << e;
  // On the weights too.
  e = import_error(edited_lfc([](onnx::ModelProto& m) {
    node_named(m, "BipolarQuant_l1_wq")->mutable_input()->RemoveLast();
  }));
  EXPECT_NE(e.find("node 'BipolarQuant_l1_wq' (BipolarQuant): its scale input (input 1) is missing"),
            std::string::npos) << e;
}

TEST(QonnxImport, GarbageAndTruncatedFilesAreClearErrors) {
  EXPECT_NE(import_error("").find("the file is empty; not an ONNX model"), std::string::npos);
  // Text, random bytes: not a protobuf, or one without a graph.
  for (const std::string& junk : {std::string("hello, this is not a model\n"), std::string("{\"kind\": \"lowbit\"}"),
                                   std::string(1000, '\xff')}) {
    const std::string e = import_error(junk);
    EXPECT_NE(e.find("import: not an ONNX model"), std::string::npos) << e;
  }
  Rng rng(4);
  std::string noise(4096, '\0');
  for (char& c : noise) c = static_cast<char>(rng.below(256));
  EXPECT_NE(import_error(noise).find("import: "), std::string::npos);
  // Every truncation of a real file is refused with a message (never a crash or a model).
  const std::string bytes = interop::onnx_model_bytes(testing::interop_models().front().second, interop::OnnxDialect::kQonnx);
  for (size_t cut : {bytes.size() / 3, bytes.size() / 2, bytes.size() - 7, bytes.size() - 1}) {
    const std::string e = import_error(bytes.substr(0, cut));
    EXPECT_NE(e.find("import: "), std::string::npos) << cut << ": " << e;
  }
  EXPECT_NE(import_error(bytes.substr(0, bytes.size() / 2)).find("not an ONNX model"), std::string::npos);
  // A tensor whose declared size is huge: refused before anything is allocated.
  std::string e = import_error(edited_lfc([](onnx::ModelProto& m) {
    auto* t = m.mutable_graph()->mutable_initializer(0);
    t->clear_dims();
    t->add_dims(int64_t{1} << 40);
    t->add_dims(int64_t{1} << 40);
  }));
  EXPECT_NE(e.find("dimension 1099511627776 outside"), std::string::npos) << e;
  e = import_error(edited_lfc([](onnx::ModelProto& m) {
    auto* t = m.mutable_graph()->mutable_initializer(0);
    t->clear_dims();
    t->add_dims(100000);
    t->add_dims(100000);
  }));
  EXPECT_NE(e.find("more than 134217728 values"), std::string::npos) << e;
  // Data shorter than its dimensions.
  e = import_error(edited_lfc([](onnx::ModelProto& m) {
    for (auto& t : *m.mutable_graph()->mutable_initializer())
      if (t.name() == "l0_w") t.set_raw_data(t.raw_data().substr(0, 12));
  }));
  EXPECT_NE(e.find("initializer 'l0_w': 12 bytes of data for"), std::string::npos) << e;
  // A missing file names the path.
  try {
    interop::import_qonnx("/nonexistent/m.onnx");
    ADD_FAILURE() << "imported a missing file";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("/nonexistent/m.onnx"), std::string::npos) << err.what();
  }
}

// Random byte edits of real files: each either imports (a valid IR) or is a lowbit::Error;
// never a crash, another exception, or an allocation sized by a lying field.
TEST(QonnxImport, MutatedFilesImportOrFailCleanly) {
  std::vector<std::string> files;
  for (const auto& [what, desc] : testing::interop_models())
    files.push_back(interop::onnx_model_bytes(desc, interop::OnnxDialect::kQonnx));
  files.push_back(brevitas_lfc(4, 4, 8, 3, 1).bytes);
  files.push_back(brevitas_cnv(3).bytes);
  ImportOptions opt;
  opt.input_scale = kPixelScale;
  Rng rng(99);
  int imported = 0, refused = 0;
  for (const std::string& f : files)
    for (int k = 0; k < 150; ++k) {
      std::string m = f;
      const uint64_t flips = 1 + rng.below(4);
      for (uint64_t j = 0; j < flips; ++j) m[rng.below(m.size())] = static_cast<char>(rng.below(256));
      try {
        format::validate(import_bytes(m, opt));
        ++imported;
      } catch (const Error&) {
        ++refused;
      }
    }
  EXPECT_GT(imported, 0);
  EXPECT_GT(refused, 0);
}

TEST(QonnxImport, PerChannelInputNormalizationMustGiveOneTable) {
  // CNV's input chain with a per-channel Mul: channels get different tables.
  Cnv f = brevitas_cnv(3);
  onnx::ModelProto m;
  m.ParseFromString(f.bytes);
  for (auto& t : *m.mutable_graph()->mutable_initializer())
    if (t.name() == "two") {
      t.add_dims(1), t.add_dims(3), t.add_dims(1), t.add_dims(1);
      const float v[3] = {2.f, 2.f, 1.5f};
      t.set_raw_data(std::string(reinterpret_cast<const char*>(v), sizeof(v)));
    }
  std::string s;
  m.SerializeToString(&s);
  ImportOptions opt;
  opt.input_scale = kPixelScale;
  const std::string e = import_error(s, opt);
  EXPECT_NE(e.find("lowbit's input table is one for all channels"), std::string::npos) << e;
}

// ---- the command line -----------------------------------------------------------------

TEST(QonnxImportCli, ImportsABrevitasLfcThatRunAndSummaryRead) {
  testing::CliWorkspace ws("qonnx_import");
  const Lfc f = brevitas_lfc(28, 28, 32, 10, 21);
  const std::string onnx_path = ws.path("brevitas_lfc_tiny.onnx"), lbm = ws.path("m.lbm");
  std::ofstream(onnx_path, std::ios::binary) << f.bytes;
  auto r = testing::run_lowbit(cat("import ", onnx_path, " -o ", lbm, " --input-scale 0.003921568627 -v"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("wrote " + lbm + ": 3 layers, 10 classes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("note: the score map's float constants were composed"), std::string::npos) << r.out;
  r = testing::run_lowbit(cat("run ", lbm, " --data ", ws.path("data")));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("test accuracy"), std::string::npos) << r.out;
  r = testing::run_lowbit(cat("summary ", lbm));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("brevitas_lfc_tiny"), std::string::npos) << r.out;
  // Garbage in: exit 1 and a message naming the file; the output is not written.
  std::ofstream(ws.path("junk.onnx")) << "not a model";
  r = testing::run_lowbit(cat("import ", ws.path("junk.onnx"), " -o ", ws.path("junk.lbm")));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("junk.onnx: import: not an ONNX model"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(ws.path("junk.lbm")));
  // -o is required; the input is never the output.
  EXPECT_EQ(testing::run_lowbit(cat("import ", onnx_path)).code, 2);
  EXPECT_EQ(testing::run_lowbit(cat("import ", onnx_path, " -o ", onnx_path)).code, 2);
  // lowbit's own export, imported: the same predictions as the model it came from.
  const std::string q = ws.path("own.onnx"), back = ws.path("back.lbm");
  ASSERT_EQ(testing::run_lowbit(cat("export ", lbm, " --format qonnx -o ", q)).code, 0);
  ASSERT_EQ(testing::run_lowbit(cat("import ", q, " -o ", back)).code, 0);
  auto p1 = testing::run_lowbit(cat("run ", lbm, " --data ", ws.path("data"), " --predictions ", ws.path("p1.txt")));
  auto p2 = testing::run_lowbit(cat("run ", back, " --data ", ws.path("data"), " --predictions ", ws.path("p2.txt")));
  ASSERT_EQ(p1.code, 0) << p1.out;
  ASSERT_EQ(p2.code, 0) << p2.out;
  std::ifstream a(ws.path("p1.txt")), b(ws.path("p2.txt"));
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(a), {}), std::string(std::istreambuf_iterator<char>(b), {}));
}

}  // namespace
}  // namespace lowbit
