// The ONNX writers (src/lowbit/interop/onnx_export.cpp) and the structural checks
// (onnx_check.cpp): every small IR of onnx_models.hpp exports in both dialects and passes
// ONNX's own checker; the faults users of Brevitas and FINN reported (a non-unit
// BipolarQuant scale, `IntQuant` instead of `Quant`, missing datatype annotations or
// value_info, custom ops outside their domain) are caught; the IR parts no dialect
// expresses are clear errors. The numbers are checked against evaluators nobody here
// wrote in interop_tools_test.cpp.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <climits>
#include <set>

#include "interop/onnx_models.hpp"
#include "lowbit/interop/onnx_check.hpp"
#include "lowbit/interop/onnx_export.hpp"
#include "test_util.hpp"

namespace lowbit {
namespace {

using interop::OnnxDialect;

onnx::ModelProto parse(const std::string& bytes) {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(bytes));
  return m;
}

std::string bytes_of(const onnx::ModelProto& m) {
  std::string s;
  EXPECT_TRUE(m.SerializeToString(&s));
  return s;
}

std::string problems_text(const std::string& bytes, OnnxDialect d) {
  std::string all;
  for (const std::string& p : interop::onnx_problems(bytes, d)) all += p + "\n";
  return all;
}

std::multiset<std::string> ops(const onnx::ModelProto& m) {
  std::multiset<std::string> s;
  for (const auto& n : m.graph().node()) s.insert(n.op_type());
  return s;
}

TEST(InteropOnnxExport, EveryTinyModelPassesTheCheckersInBothDialects) {
  for (const auto& [name, desc] : testing::interop_models()) {
    SCOPED_TRACE(name);
    for (OnnxDialect d : {OnnxDialect::kQonnx, OnnxDialect::kStandard, OnnxDialect::kStandardInteger}) {
      const std::string bytes = interop::onnx_model_bytes(desc, d);
      EXPECT_EQ(problems_text(bytes, d), "");
      const onnx::ModelProto m = parse(bytes);
      const auto& in = m.graph().input(0).type().tensor_type().shape();
      ASSERT_EQ(in.dim_size(), static_cast<int>(desc.input.shape.size()) + 1);
      if (d == OnnxDialect::kQonnx) {
        EXPECT_EQ(in.dim(0).dim_value(), 1);  // FINN wants a fixed batch
      } else {
        EXPECT_EQ(in.dim(0).dim_param(), "N");
        ASSERT_EQ(m.graph().output_size(), 2);
        EXPECT_EQ(m.graph().output(1).name(), "label");
      }
      EXPECT_EQ(m.graph().output(0).name(), "global_out");
      // The other dialect's rules reject it: a QONNX file is no standard file and back.
      const OnnxDialect other = d == OnnxDialect::kQonnx ? OnnxDialect::kStandard : OnnxDialect::kQonnx;
      EXPECT_NE(problems_text(bytes, other), "");
    }
  }
}

TEST(InteropOnnxExport, QonnxUsesFinnsQuantizersWhereTheIrHasThem) {
  const auto models = testing::interop_models();
  // Binary input and +-1 layers: BipolarQuant only (input, weights, activations).
  onnx::ModelProto lfc = parse(interop::onnx_model_bytes(models[0].second, OnnxDialect::kQonnx));
  EXPECT_EQ(ops(lfc).count("BipolarQuant"), 1u + 3u + 2u);
  EXPECT_EQ(ops(lfc).count("MultiThreshold"), 0u);
  EXPECT_EQ(ops(lfc).count("Quant"), 0u);
  // 8-bit identity input without a zero point: the UINT8 annotation of the input is the
  // quantizer (FINN refuses unsigned identity Quant nodes); pads -1 / +1 are Pad nodes, 0 the
  // Conv's.
  onnx::ModelProto cnv = parse(interop::onnx_model_bytes(models[1].second, OnnxDialect::kQonnx));
  EXPECT_EQ(ops(cnv).count("Quant"), 0u);
  EXPECT_EQ(cnv.graph().quantization_annotation(0).tensor_name(), "global_in");
  EXPECT_EQ(cnv.graph().quantization_annotation(0).quant_parameter_tensor_names(0).value(), "UINT8");
  EXPECT_EQ(ops(cnv).count("Pad"), 2u);
  EXPECT_EQ(ops(cnv).count("MaxPool"), 1u);
  // 2-bit activations: MultiThreshold with out_bias = -Z; integer weights behind Quant.
  onnx::ModelProto w2a2 = parse(interop::onnx_model_bytes(models[2].second, OnnxDialect::kQonnx));
  EXPECT_EQ(ops(w2a2).count("MultiThreshold"), 3u);
  int with_bias = 0;
  for (const auto& n : w2a2.graph().node())
    if (n.op_type() == "MultiThreshold")
      for (const auto& a : n.attribute())
        if (a.name() == "out_bias" && a.f() == -1.0f) ++with_bias;
  EXPECT_EQ(with_bias, 2);  // the two zero-point-1 layers; the third has Z = 0
  EXPECT_EQ(ops(w2a2).count("Quant"), 4u + 1u);  // four weight tensors, and the 8-bit identity input
}

TEST(InteropOnnxExport, StandardOnnxHasNoCustomNodesAndComparesForTheTie) {
  for (const auto& [name, desc] : testing::interop_models()) {
    onnx::ModelProto m = parse(interop::onnx_model_bytes(desc, OnnxDialect::kStandard));
    onnx::ModelProto mi = parse(interop::onnx_model_bytes(desc, OnnxDialect::kStandardInteger));
    EXPECT_EQ(ops(mi).count("ConvInteger") + ops(mi).count("MatMulInteger"), desc.layers.size()) << name;
    EXPECT_EQ(ops(mi).count("Conv") + ops(mi).count("MatMul"), ops(m).count("Conv") + ops(m).count("MatMul") -
                                                                      desc.layers.size()) << name;  // sum pooling only
    for (const auto& n : m.graph().node()) {
      EXPECT_TRUE(n.domain().empty()) << name << ": " << n.op_type();
      EXPECT_NE(n.op_type(), "Sign") << name << ": Sign(0) is 0, the IR's is +1";
    }
    EXPECT_GT(ops(m).count("GreaterOrEqual"), 0u) << name;
  }
}

// Each fault reported against Brevitas / FINN exports, made in a good file, is found.
TEST(InteropOnnxExport, ValidatorFindsTheReportedQonnxFaults) {
  const auto models = testing::interop_models();
  const std::string good = interop::onnx_model_bytes(models[2].second, OnnxDialect::kQonnx);
  auto edited = [&](const std::function<void(onnx::ModelProto&)>& edit) {
    onnx::ModelProto m = parse(good);
    edit(m);
    return problems_text(bytes_of(m), OnnxDialect::kQonnx);
  };
  auto first = [](onnx::ModelProto& m, const std::string& op) -> onnx::NodeProto& {
    for (auto& n : *m.mutable_graph()->mutable_node())
      if (n.op_type() == op) return n;
    throw Error("no " + op);
  };
  // IntQuant where FINN matches Quant.
  EXPECT_NE(edited([&](onnx::ModelProto& m) { first(m, "Quant").set_op_type("IntQuant"); }).find("not 'IntQuant'"),
            std::string::npos);
  // A custom op without its domain.
  EXPECT_NE(edited([&](onnx::ModelProto& m) { first(m, "MultiThreshold").clear_domain(); }).find("must be in domain"),
            std::string::npos);
  // Missing finn_datatype annotations.
  EXPECT_NE(edited([](onnx::ModelProto& m) { m.mutable_graph()->clear_quantization_annotation(); })
                .find("has no finn_datatype annotation"),
            std::string::npos);
  // A datatype FINN does not know.
  EXPECT_NE(edited([](onnx::ModelProto& m) {
              m.mutable_graph()->mutable_quantization_annotation(0)->mutable_quant_parameter_tensor_names(0)->set_value(
                  "INT2X");
            }).find("is no FINN datatype"),
            std::string::npos);
  // A tensor without value_info (shape inference stops at custom ops).
  EXPECT_NE(edited([](onnx::ModelProto& m) { m.mutable_graph()->mutable_value_info()->DeleteSubrange(3, 1); })
                .find("has no value_info"),
            std::string::npos);
  // The custom domain missing from opset_import.
  EXPECT_NE(edited([](onnx::ModelProto& m) { m.mutable_opset_import()->DeleteSubrange(1, 1); }).find("opset_import lacks"),
            std::string::npos);
  // An unsigned identity Quant on an activation (FINN converts signed ones only).
  EXPECT_NE(edited([&](onnx::ModelProto& m) {
              for (auto& n : *m.mutable_graph()->mutable_node())
                if (n.op_type() == "Quant" && n.name() == "in_act")
                  for (auto& a : *n.mutable_attribute())
                    if (a.name() == "signed") a.set_i(0);
            }).find("unsigned Quant in the activation path"),
            std::string::npos);
  // Quant with 3 inputs; MultiThreshold without out_dtype; descending thresholds.
  EXPECT_NE(edited([&](onnx::ModelProto& m) { first(m, "Quant").mutable_input()->RemoveLast(); }).find("needs 4 inputs"),
            std::string::npos);
  EXPECT_NE(edited([&](onnx::ModelProto& m) { first(m, "MultiThreshold").clear_attribute(); }).find("out_dtype"),
            std::string::npos);
  EXPECT_NE(edited([&](onnx::ModelProto& m) {
              const std::string tname = first(m, "MultiThreshold").input(1);
              for (auto& t : *m.mutable_graph()->mutable_initializer())
                if (t.name() == tname) {
                  std::string raw = t.raw_data();
                  float big = 1e6f;
                  std::memcpy(raw.data(), &big, sizeof big);  // channel 0's first above its second
                  t.set_raw_data(raw);
                }
            }).find("do not ascend"),
            std::string::npos);
  // Not a protobuf at all.
  EXPECT_NE(problems_text("not a model", OnnxDialect::kQonnx).find("not an ONNX ModelProto"), std::string::npos);
}

TEST(InteropOnnxExport, ValidatorRefusesANonUnitBipolarScale) {
  const auto models = testing::interop_models();
  onnx::ModelProto m = parse(interop::onnx_model_bytes(models[0].second, OnnxDialect::kQonnx));
  std::string scale;
  for (const auto& n : m.graph().node())
    if (n.op_type() == "BipolarQuant") scale = n.input(1);
  for (auto& t : *m.mutable_graph()->mutable_initializer())
    if (t.name() == scale) {
      float half = 0.5f;
      t.set_raw_data(std::string(reinterpret_cast<const char*>(&half), sizeof half));
    }
  EXPECT_NE(problems_text(bytes_of(m), OnnxDialect::kQonnx).find("scale is 0.5"), std::string::npos);
}

TEST(InteropOnnxExport, SyqGroupsAndResidualShortcutsExportInEveryDialect) {
  for (const auto& [name, desc] : testing::interop_models_export_only()) {
    SCOPED_TRACE(name);
    for (OnnxDialect d : {OnnxDialect::kQonnx, OnnxDialect::kStandard, OnnxDialect::kStandardInteger}) {
      const std::string bytes = interop::onnx_model_bytes(desc, d);
      EXPECT_EQ(problems_text(bytes, d), "");
      const onnx::ModelProto m = parse(bytes);
      if (name == "syq_row_groups") {
        // The integer dialect: one ConvInteger per group in layer 1. The float ones: one Conv
        // of all groups, Sliced apart (no Conv directly followed by a constant Mul, which
        // ONNX Runtime's Conv-Mul fusion would fold into the weights, rounding differently).
        if (d == OnnxDialect::kStandardInteger) {
          EXPECT_EQ(ops(m).count("ConvInteger"), 1u + 3u);
        } else {
          EXPECT_EQ(ops(m).count("Conv"), 2u);
          EXPECT_EQ(ops(m).count("Slice"), 3u);
        }
      } else {
        EXPECT_EQ(ops(m).count("Equal"), 2u);  // one per threshold set
        EXPECT_EQ(ops(m).count("Sum"), 1u);
      }
    }
  }
}

TEST(InteropOnnxExport, RefusedPartsAreErrorsNamingTheCause) {
  // An input table that goes down is no threshold set.
  format::ModelDesc down = testing::interop_models()[3].second;
  down.input.table[200] = 0;
  testing::expect_error_naming([&] { interop::onnx_model_bytes(down, OnnxDialect::kQonnx); }, "decreases at pixel 200");
}

TEST(InteropOnnxExport, IntegerDialectRefusesValuesBeyondEightBitCodes) {
  // Sums of 144 +-1 codes (values -144..144, 289 of them) feed the dense layer: no uint8
  // code with a zero point holds them.
  using K = format::LayerKind;
  testing::InteropLayer s0{K::kConv, 4};
  s0.sum_pool = 12;
  format::ModelDesc d = testing::interop_model("sums", {1, 14, 14}, format::CodeFormat::plus_minus_one(), "step",
                                               {s0, {K::kDense, 10}}, 6);
  EXPECT_NO_THROW(interop::onnx_model_bytes(d, OnnxDialect::kStandard));
  testing::expect_error_naming([&] { interop::onnx_model_bytes(d, OnnxDialect::kStandardInteger); },
                               "do not fit 8-bit codes");
}

TEST(InteropOnnxExport, RefusesAccumulatorsBeyondFloatExactness) {
  // 8-bit codes (|value| <= 255) times weights of |w| ~ 128 on average over a fan-in of
  // 900: about 29 M > 2^24 for every channel.
  using K = format::LayerKind;
  testing::InteropLayer big{K::kDense, 10, {}, 255, false};
  format::ModelDesc d =
      testing::interop_model("big", {1, 30, 30}, format::CodeFormat::unsigned_bits(8), "identity", {big}, 5);
  EXPECT_GT(d.layers[0].max_abs_accumulator(), int64_t{1} << 24);
  testing::expect_error_naming([&] { interop::onnx_model_bytes(d, OnnxDialect::kStandard); },
                               "beyond float32's exact integers");
}

}  // namespace
}  // namespace lowbit
