// The training recipes of docs/HARDWARE.md produce models the BNN-PYNQ overlays take: the
// preset flags fold (export's real fold, on an initialised model after one training
// forward) into descriptions overlay_params accepts, and leaving a flag out is refused
// with the flag to use.
#include <gtest/gtest.h>

#include "lowbit/core/error.hpp"
#include "lowbit/core/rng.hpp"
#include "lowbit/export/fold.hpp"
#include "lowbit/hw/bnn_pynq_params.hpp"
#include "lowbit/nn/builder.hpp"
#include "lowbit/nn/presets.hpp"
#include "test_util.hpp"

namespace lowbit {
namespace {

namespace bp = hw::bnn_pynq;

format::ModelDesc recipe(const std::string& preset, nn::PresetOptions opt, data::Normalize normalize) {
  std::unique_ptr<nn::Model> model = nn::build_model(nn::preset_topology(preset, opt));
  model->init(3);
  Shape batch = {4};
  batch.insert(batch.end(), model->input_shape().begin(), model->input_shape().end());
  Tensor x(batch);
  Rng rng(4);
  for (float& v : x) v = rng.uniform(-1.f, 1.f);
  model->forward(x, Context{true, &rng});  // BatchNorm statistics as training sets them
  exporter::ExportOptions eo;
  eo.normalize = normalize;
  return exporter::fold(*model, eo);
}

std::string refusal(const format::ModelDesc& d, const char* network) {
  return testing::error_of([&] { (void)bp::overlay_params(d, bp::overlay(network)); });
}

TEST(BnnPynqRecipe, LfcWithBinaryInputFitsBothLfcOverlays) {
  nn::PresetOptions o;
  o.weights = "binary", o.acts = "binary", o.input_bits = 1;
  format::ModelDesc d = recipe("lfc", o, data::Normalize::MinusOneOne);
  EXPECT_EQ(refusal(d, "lfcW1A1"), "");
  o.acts = "ternary:0.5";
  d = recipe("lfc", o, data::Normalize::MinusOneOne);
  EXPECT_EQ(refusal(d, "lfcW1A2"), "");
  // dorefa:2 activations have four levels; the overlay's A2 has three.
  o.acts = "dorefa:2";
  EXPECT_NE(refusal(recipe("lfc", o, data::Normalize::MinusOneOne), "lfcW1A2").find("--acts ternary:0.5"),
            std::string::npos);
  // 8-bit input: the LFC overlay binarizes.
  o.acts = "binary", o.input_bits = 8;
  EXPECT_NE(refusal(recipe("lfc", o, data::Normalize::ZeroOne), "lfcW1A1").find("--input-bits 1"), std::string::npos);
}

TEST(BnnPynqRecipe, CnvWithSignedFixedInputAndSharedLastBatchNormFitsTheCnvOverlays) {
  nn::PresetOptions o;
  o.input = {1, 28, 28};
  o.weights = "binary", o.acts = "binary", o.input_quantizer = "fixed:8,7:signed", o.last_bn = "tensor";
  format::ModelDesc d = recipe("cnv", o, data::Normalize::MinusOneOne);
  // The input table is the overlay's 8-bit code of every byte.
  for (int c = 0; c < 256; ++c) EXPECT_EQ(d.input.codes.value(d.input.table[static_cast<size_t>(c)]), bp::cifar_fixed_code(c));
  EXPECT_EQ(refusal(d, "cnvW1A1"), "");
  o.acts = "ternary:0.5";
  EXPECT_EQ(refusal(recipe("cnv", o, data::Normalize::MinusOneOne), "cnvW1A2"), "");
  o.weights = "ternary";
  EXPECT_EQ(refusal(recipe("cnv", o, data::Normalize::MinusOneOne), "cnvW2A2"), "");
  // The per-class BatchNorm of the plain preset cannot be carried by raw accumulators.
  o.last_bn = "channel";
  EXPECT_NE(refusal(recipe("cnv", o, data::Normalize::MinusOneOne), "cnvW2A2").find("--last-bn tensor"),
            std::string::npos);
  // --input-bits 8 (dorefa:8 on [0, 1] pixels) is not the overlay's code.
  o.last_bn = "tensor", o.input_quantizer = "", o.input_bits = 8;
  EXPECT_NE(refusal(recipe("cnv", o, data::Normalize::ZeroOne), "cnvW2A2").find("--input-quantizer fixed:8,7:signed"),
            std::string::npos);
}

}  // namespace
}  // namespace lowbit
